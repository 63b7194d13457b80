"""One task for its lead, and the data browser's bulk actions, over the API: the same
selector as the lead's task page and the same services as the browser's bulk form."""

from django.http import QueryDict
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.selectors import task_detail, task_get_for_lead
from annotation.selectors.browse import task_filter_from_query
from annotation.services.bulk import BULK_ACTIONS, BULK_SCOPES, FILTER_NAMES, tasks_bulk_act
from ftapp.api_serializers import StrictSerializer, id_field, request_body
from ftapp.errors import InvalidInput


class TurnSerializer(serializers.Serializer):
    role = serializers.CharField()
    content = serializers.CharField(allow_blank=True)


class TaskResponseSerializer(serializers.Serializer):
    side = serializers.ChoiceField(
        choices=["A", "B"], help_text="The task's A (`response_a`) or B (`response_b`)."
    )
    id = serializers.IntegerField()
    model = serializers.CharField()
    text = serializers.CharField(allow_blank=True)


class TaskJudgmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    annotator = serializers.CharField(help_text="The annotator's pseudonym in the project.")
    rating = serializers.IntegerField(allow_null=True)
    choice = serializers.CharField(
        allow_null=True, help_text="Pairwise: the verdict in the task's terms (A = response_a)."
    )
    shown_left = serializers.CharField(
        allow_null=True, help_text="Pairwise: the response (A or B) shown on the left."
    )
    rubric_scores = serializers.DictField()
    comment = serializers.CharField(allow_blank=True)
    rewrite = serializers.CharField(allow_blank=True)
    rewrite_of = serializers.CharField(
        allow_blank=True, help_text="The response (A or B) the rewrite replaces; empty: none."
    )
    duration_ms = serializers.IntegerField(allow_null=True)
    late = serializers.BooleanField()
    guidelines_version = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class TaskSkipSerializer(serializers.Serializer):
    annotator = serializers.CharField(help_text="The annotator's pseudonym in the project.")
    reason = serializers.CharField(allow_blank=True)
    skipped_at = serializers.DateTimeField()


class TaskAdjudicationSerializer(serializers.Serializer):
    rating = serializers.IntegerField(allow_null=True)
    choice = serializers.CharField(allow_blank=True, help_text="In the task's terms.")
    note = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class TaskGoldSerializer(serializers.Serializer):
    rating_min = serializers.IntegerField(allow_null=True)
    rating_max = serializers.IntegerField(allow_null=True)
    choice = serializers.CharField(allow_blank=True, help_text="In the task's terms.")


class TaskDetailSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project_id = serializers.IntegerField()
    kind = serializers.CharField()
    batch_id = serializers.IntegerField(allow_null=True)
    prompt_id = serializers.IntegerField()
    prompt_external_id = serializers.CharField()
    metadata = serializers.DictField()
    conversation = TurnSerializer(many=True, help_text="The system prompt first, if any.")
    responses = TaskResponseSerializer(many=True)
    judgments = TaskJudgmentSerializer(many=True)
    skips = TaskSkipSerializer(many=True)
    adjudication = TaskAdjudicationSerializer(allow_null=True)
    gold = TaskGoldSerializer(allow_null=True, help_text="The expected answer of a gold task.")
    review_requested_at = serializers.DateTimeField(
        allow_null=True, help_text="When a lead sent it for review (listed among conflicts)."
    )


def task_data(task) -> dict:
    """The task as ``task_detail`` reads it, in the API's shape."""
    detail = task_detail(task=task)
    adjudication = detail["adjudication"]
    return {
        "id": task.pk,
        "project_id": task.project_id,
        "kind": task.kind,
        "batch_id": task.batch_id,
        "prompt_id": task.prompt_id,
        "prompt_external_id": task.prompt.external_id,
        "metadata": task.prompt.metadata,
        "conversation": detail["conversation"],
        "responses": [
            {
                "side": r["side"],
                "id": r["response"].pk,
                "model": r["response"].model_name,
                "text": r["response"].text,
            }
            for r in detail["responses"]
        ],
        "judgments": [
            {
                "id": row["judgment"].pk,
                "annotator": row["pseudonym"],
                "rating": row["judgment"].rating,
                "choice": row["choice"],
                "shown_left": row["left"] if task.response_b_id else None,
                "rubric_scores": dict(row["rubric_scores"]),
                "comment": row["judgment"].comment,
                "rewrite": row["judgment"].rewrite,
                "rewrite_of": row["rewrite_of"],
                "duration_ms": row["judgment"].duration_ms,
                "late": row["judgment"].late,
                "guidelines_version": row["judgment"].guidelines_version,
                "created_at": row["judgment"].created_at,
                "updated_at": row["judgment"].updated_at,
            }
            for row in detail["judgments"]
        ],
        "skips": [
            {"annotator": s["pseudonym"], "reason": s["reason"], "skipped_at": s["at"]}
            for s in detail["skips"]
        ],
        "adjudication": (
            {
                "rating": adjudication.rating,
                "choice": adjudication.choice,
                "note": adjudication.note,
                "created_at": adjudication.created_at,
                "updated_at": adjudication.updated_at,
            }
            if adjudication
            else None
        ),
        "gold": (
            {k: detail["gold"][k] for k in ("rating_min", "rating_max", "choice")}
            if detail["gold"]
            else None
        ),
        "review_requested_at": task.review_requested_at,
    }


class TaskDetailView(APIView):
    @extend_schema(
        responses=TaskDetailSerializer,
        summary="One task for its lead",
        description="The conversation, the responses with their models, every judgment "
        "(annotators by pseudonym), the skips, the adjudication and the gold answer. Leads "
        "of the task's project only.",
    )
    def get(self, request, task_id: int):
        task = task_get_for_lead(user=request.user, task_id=task_id)
        return Response(TaskDetailSerializer(task_data(task)).data)


_filter_fields: dict[str, serializers.Field] = {
    name: serializers.CharField(required=False, allow_blank=True, max_length=1000)
    for name in FILTER_NAMES
}
_filter_fields["meta"] = serializers.ListField(
    child=serializers.CharField(max_length=1000),
    required=False,
    max_length=50,
    help_text='Prompt metadata, each "key:value".',
)
BrowseFilterSerializer = type(
    "BrowseFilterSerializer",
    (StrictSerializer,),
    {
        **_filter_fields,
        "__doc__": "The data browser's filter, by its query-string names (booleans 1 or 0).",
    },
)


class TaskBulkRequestSerializer(StrictSerializer):
    action = serializers.ChoiceField(
        choices=BULK_ACTIONS,
        help_text="add_to_batch: a new batch of the tasks in no batch yet; gold / ungold: "
        "mark gold with the answer of the adjudication or of agreeing judgments, or unmark; "
        "adjudicate: send for review (listed among the conflicts until adjudicated).",
    )
    scope = serializers.ChoiceField(
        choices=BULK_SCOPES,
        help_text="selected: the tasks in `task`; all: every match of `filter`.",
    )
    task = serializers.ListField(child=id_field(), required=False, default=list, max_length=10_000)
    filter = BrowseFilterSerializer(required=False)
    batch_name = serializers.CharField(required=False, default="", allow_blank=True, max_length=200)
    overlap = serializers.IntegerField(required=False, min_value=1, max_value=50)
    annotators = serializers.ListField(
        child=serializers.CharField(max_length=150), required=False, default=list, max_length=1000
    )


class TaskBulkResultSerializer(serializers.Serializer):
    done = serializers.IntegerField(help_text="Tasks changed.")
    left_out = serializers.IntegerField(help_text="Tasks left as they were (see message).")
    message = serializers.CharField()
    batch_id = serializers.IntegerField(allow_null=True, help_text="add_to_batch: the new batch.")


class TaskBulkView(APIView):
    @extend_schema(
        request=TaskBulkRequestSerializer,
        responses=TaskBulkResultSerializer,
        summary="Act on many tasks of the data browser",
    )
    def post(self, request, project_id: int):
        data = request_body(request, TaskBulkRequestSerializer)
        params = QueryDict(mutable=True)
        for name, value in (data.get("filter") or {}).items():
            params.setlist(name, value if isinstance(value, list) else [value])
        task_ids, task_filter = None, None
        if data["scope"] == "all":
            task_filter = task_filter_from_query(params)
        elif data.get("filter"):
            raise InvalidInput(
                "A filter is for every match.", fields={"filter": ["Give it with scope all."]}
            )
        else:
            task_ids = data["task"]
        result = tasks_bulk_act(
            by=request.user,
            project_id=project_id,
            action=data["action"],
            task_ids=task_ids,
            task_filter=task_filter,
            batch_name=data["batch_name"],
            overlap=data.get("overlap"),
            annotators=data["annotators"],
        )
        return Response(
            TaskBulkResultSerializer(
                {
                    "done": result.done,
                    "left_out": result.left_out,
                    "message": result.message,
                    "batch_id": result.batch.pk if result.batch else None,
                }
            ).data
        )
