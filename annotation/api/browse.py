"""The lead's data browser over the API: ``GET /api/v1/projects/{id}/tasks/``, the listing of
``/projects/{id}/data/`` with the same filters (``annotation.selectors.browse``) and cursors."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import ProjectKind
from annotation.selectors import project_get_for_lead
from annotation.selectors.browse import (
    COUNT_CAP,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    QUERY_FIELDS,
    TASK_SORTS,
    TASK_STATES,
    BrowsePage,
    task_filter_from_query,
    tasks_browse,
)
from ftapp.errors import InvalidInput

PAGE_FIELDS = ("cursor", "page_size")


def _flag(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.BOOL, description=description)


PARAMETERS = [
    OpenApiParameter("batch", OpenApiTypes.INT, description="A batch's id."),
    OpenApiParameter("model", str, description="A model's name, on either response."),
    OpenApiParameter(
        "meta",
        str,
        many=True,
        explode=True,
        description="A prompt metadata key and value, `key:value` (repeat for more keys; "
        'a value that reads as JSON is JSON: `shard:3` a number, `shard:"3"` a string).',
    ),
    OpenApiParameter(
        "state",
        str,
        enum=list(TASK_STATES),
        description="Agreement state: none yet (unjudged), fewer judgments than the overlap "
        "(partial), all the same (unanimous), agreeing under the project's conflict rule "
        "(majority), a conflict under it (split), or settled by a lead (adjudicated).",
    ),
    OpenApiParameter("annotator", str, description="Judged by the annotator of this pseudonym."),
    _flag("gold", "Gold tasks (true) or the others (false)."),
    _flag("rewrite", "With (true) or without (false) a judgment with a rewrite."),
    _flag("comment", "With (true) or without (false) a judgment with a comment."),
    _flag("skipped", "Skipped (true) or never skipped (false) by an annotator."),
    _flag("late", "With (true) or without (false) a judgment sent after its lease ended."),
    OpenApiParameter("judged_from", OpenApiTypes.DATE, description="Judged on or after this day."),
    OpenApiParameter("judged_to", OpenApiTypes.DATE, description="Judged on or before this day."),
    OpenApiParameter(
        "q",
        str,
        description="Search the prompt and both responses: full-text, web search syntax "
        '("a phrase", or, -word) on PostgreSQL; a substring on SQLite.',
    ),
    OpenApiParameter(
        "sort",
        str,
        enum=list(TASK_SORTS),
        description="id (oldest first, the default), -id, judgments, -judgments.",
    ),
    OpenApiParameter(
        "cursor", str, description="A next_cursor or previous_cursor of a page with this sort."
    ),
    OpenApiParameter(
        "page_size", OpenApiTypes.INT, description=f"1 to {MAX_LIMIT}; {DEFAULT_LIMIT} by default."
    ),
]


class TaskRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(ProjectKind.choices)
    prompt_id = serializers.IntegerField()
    prompt_external_id = serializers.CharField()
    excerpt = serializers.CharField(allow_blank=True, help_text="The prompt's start, one line.")
    batch_id = serializers.IntegerField(allow_null=True)
    batch = serializers.CharField(allow_null=True, help_text="The batch's name.")
    response_ids = serializers.ListField(child=serializers.IntegerField())
    models = serializers.ListField(child=serializers.CharField())
    is_gold = serializers.BooleanField()
    judgments = serializers.IntegerField()
    overlap = serializers.IntegerField(
        allow_null=True,
        help_text="Judgments the task needs: its batch's overlap plus the slots adaptive "
        "overlap gave it. null: in no batch.",
    )
    state = serializers.ChoiceField(list(TASK_STATES))
    skips = serializers.IntegerField()
    rewrites = serializers.IntegerField()
    comments = serializers.IntegerField()
    last_activity = serializers.DateTimeField(allow_null=True)


class TaskPageSerializer(serializers.Serializer):
    results = TaskRowSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    previous_cursor = serializers.CharField(allow_null=True)
    count = serializers.IntegerField(
        help_text=f"How many tasks match; at least this many when count_is_estimate (counted "
        f"up to {COUNT_CAP:,}, and not at all when that would be slow)."
    )
    count_is_estimate = serializers.BooleanField()


def page_representation(page: BrowsePage) -> dict:
    return {
        "results": [
            {
                "id": row["task"].pk,
                "kind": row["task"].kind,
                "prompt_id": row["task"].prompt_id,
                "prompt_external_id": row["task"].prompt.external_id,
                "excerpt": row["excerpt"],
                "batch_id": row["task"].batch_id,
                "batch": row["task"].batch.name if row["task"].batch else None,
                "response_ids": [
                    pk for pk in (row["task"].response_a_id, row["task"].response_b_id) if pk
                ],
                "models": row["models"],
                "is_gold": row["task"].is_gold,
                "judgments": row["judgments"],
                "overlap": row["overlap"],
                "state": row["state"],
                "skips": row["skips"],
                "rewrites": row["rewrites"],
                "comments": row["comments"],
                "last_activity": row["last_activity"],
            }
            for row in page.rows
        ],
        "next_cursor": page.next_cursor,
        "previous_cursor": page.previous_cursor,
        "count": page.count,
        "count_is_estimate": page.count_is_estimate,
    }


def _page_size(value: str | None) -> int:
    if not value:
        return DEFAULT_LIMIT
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise InvalidInput("Invalid page size.", fields={"page_size": [f"1 to {MAX_LIMIT}."]})
    return int(value)


class TaskListView(APIView):
    @extend_schema(
        parameters=PARAMETERS,
        responses=TaskPageSerializer,
        summary="The lead's data browser: the project's tasks, filtered, searched and "
        "cursor-paginated, each with its judgments summary",
    )
    def get(self, request, project_id: int):
        project = project_get_for_lead(user=request.user, project_id=project_id)
        params = request.query_params
        unknown = sorted(set(params) - set(QUERY_FIELDS) - set(PAGE_FIELDS))
        if unknown:
            raise InvalidInput(
                "Unknown parameter.", fields={name: ["Unknown field."] for name in unknown}
            )
        for name in set(params) - {"meta"}:
            if len(params.getlist(name)) > 1:
                raise InvalidInput("Invalid filter.", fields={name: ["Give it once."]})
        task_filter = task_filter_from_query(params)
        page = tasks_browse(
            project=project,
            task_filter=task_filter,
            cursor=params.get("cursor") or None,
            limit=_page_size(params.get("page_size")),
        )
        return Response(TaskPageSerializer(page_representation(page)).data)
