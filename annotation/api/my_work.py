"""An annotator's own judgments over the API: list them, change one while it may change."""

from django.core.paginator import EmptyPage, Paginator
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import Choice, Judgment, ProjectKind
from annotation.selectors.my_work import judgment_state, my_judgment_get, my_judgments
from annotation.services import judgment_change
from ftapp.api_schema import error_response
from ftapp.api_serializers import StrictSerializer, id_field, request_body

MAX_PAGE_SIZE = 100
STATES = ["can change", "adjudicated", "exported", "archived"]


class MyJudgmentQuerySerializer(StrictSerializer):
    batch = id_field(required=False, help_text="Only the judgments of this batch's tasks.")
    page = serializers.IntegerField(min_value=1, max_value=2**31 - 1, default=1)
    page_size = serializers.IntegerField(min_value=1, max_value=MAX_PAGE_SIZE, default=50)


class MyJudgmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    task_id = serializers.IntegerField()
    batch_id = serializers.IntegerField(allow_null=True)
    kind = serializers.ChoiceField(ProjectKind.choices)
    rating = serializers.IntegerField(allow_null=True)
    choice = serializers.CharField(
        allow_blank=True,
        help_text="As pressed: A is the response shown on the left to the caller; blank in "
        "a rating task.",
    )
    rubric_scores = serializers.DictField(child=serializers.IntegerField())
    comment = serializers.CharField(allow_blank=True)
    rewrite = serializers.CharField(allow_blank=True)
    state = serializers.ChoiceField(
        STATES,
        help_text="Whether it may still change: not once adjudicated, in an export snapshot "
        "or in an archived project.",
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class MyJudgmentPageSerializer(serializers.Serializer):
    results = MyJudgmentSerializer(many=True)
    count = serializers.IntegerField()
    page = serializers.IntegerField()
    pages = serializers.IntegerField()


class JudgmentChangeSerializer(StrictSerializer):
    rating = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=5)
    choice = serializers.ChoiceField(choices=Choice.choices, required=False, allow_blank=True)
    rubric_scores = serializers.DictField(
        child=serializers.IntegerField(min_value=1, max_value=5), required=False
    )
    comment = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    rewrite = serializers.CharField(
        required=False, allow_blank=True, max_length=200_000, trim_whitespace=False
    )


def _item(judgment: Judgment, state: str) -> dict:
    return {
        "id": judgment.pk,
        "task_id": judgment.task_id,
        "batch_id": judgment.task.batch_id,
        "kind": judgment.task.kind,
        "rating": judgment.rating,
        "choice": judgment.choice,
        "rubric_scores": judgment.rubric_scores or {},
        "comment": judgment.comment,
        "rewrite": judgment.rewrite,
        "state": state,
        "created_at": judgment.created_at,
        "updated_at": judgment.updated_at,
    }


class MyJudgmentListView(APIView):
    @extend_schema(
        parameters=[MyJudgmentQuerySerializer],
        responses=MyJudgmentPageSerializer,
        summary="The caller's own judgments in a project, newest first, page by page",
    )
    def get(self, request, project_id: int):
        query = MyJudgmentQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        data = query.validated_data
        _, judgments = my_judgments(
            user=request.user, project_id=project_id, batch_id=data.get("batch")
        )
        paginator = Paginator(judgments, data["page_size"])
        try:
            found = list(paginator.page(data["page"]).object_list)
        except EmptyPage:
            found = []
        results = [_item(j, judgment_state(j, adjudicated=j.adjudicated)) for j in found]
        page = {
            "results": results,
            "count": paginator.count,
            "page": data["page"],
            "pages": paginator.num_pages if paginator.count else 0,
        }
        return Response(MyJudgmentPageSerializer(page).data)


class MyJudgmentView(APIView):
    @extend_schema(
        request=JudgmentChangeSerializer,
        responses={
            200: MyJudgmentSerializer,
            409: error_response("Adjudicated, maybe in an export already, or archived."),
        },
        summary="Change the caller's own judgment while it may still change",
    )
    def patch(self, request, judgment_id: int):
        data = request_body(request, JudgmentChangeSerializer)
        changed = judgment_change(user=request.user, judgment_id=judgment_id, **data)
        judgment = my_judgment_get(user=request.user, judgment_id=changed.pk)
        return Response(MyJudgmentSerializer(_item(judgment, judgment_state(judgment))).data)
