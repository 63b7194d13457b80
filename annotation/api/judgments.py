"""Label pulls: ``GET /api/v1/projects/{id}/judgments/``, for training pipelines."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.choices import CHOICES
from annotation.judgment_feed import DEFAULT_PAGE, MAX_PAGE, judgments_page
from annotation.selectors import project_get_for_lead
from ftapp.api_serializers import StrictSerializer, id_field


class JudgmentQuerySerializer(StrictSerializer):
    cursor = serializers.CharField(
        required=False, help_text="The next_cursor of the previous page; omit to start."
    )
    updated_after = serializers.DateTimeField(
        required=False, help_text="Only judgments written after this time (ISO 8601)."
    )
    page_size = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=DEFAULT_PAGE)
    batch = id_field(required=False)
    model = serializers.CharField(required=False, help_text="Either response's model name.")
    annotator = serializers.CharField(required=False, help_text="An annotator's pseudonym.")
    kind = serializers.ChoiceField(["rating", "pairwise"], required=False)
    gold = serializers.BooleanField(required=False, allow_null=True, default=None)


class PulledJudgmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    task_id = serializers.IntegerField()
    prompt_id = serializers.IntegerField()
    prompt_external_id = serializers.CharField()
    kind = serializers.ChoiceField(["rating", "pairwise"])
    annotator = serializers.CharField(help_text="A stable pseudonym, never the username.")
    rating = serializers.IntegerField(allow_null=True)
    choice = serializers.ChoiceField(
        list(CHOICES),
        allow_null=True,
        help_text="In the task's terms: A is response_ids[0], whatever side it was shown on.",
    )
    chosen_response_id = serializers.IntegerField(allow_null=True)
    rejected_response_id = serializers.IntegerField(allow_null=True)
    response_ids = serializers.ListField(child=serializers.IntegerField())
    models = serializers.ListField(child=serializers.CharField())
    comment = serializers.CharField(allow_blank=True)
    rewrite = serializers.CharField(allow_blank=True)
    rubric_scores = serializers.DictField(child=serializers.IntegerField())
    duration_ms = serializers.IntegerField(allow_null=True)
    guidelines_version = serializers.IntegerField(allow_null=True)
    late = serializers.BooleanField()
    is_gold = serializers.BooleanField()
    batch_id = serializers.IntegerField(allow_null=True)
    shown_swapped = serializers.BooleanField(help_text="response_ids[1] was shown on the left.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class JudgmentPageSerializer(serializers.Serializer):
    results = PulledJudgmentSerializer(many=True)
    next_cursor = serializers.CharField(
        allow_null=True, help_text="Pass as ?cursor= for the next page, now or in a later sync."
    )
    has_more = serializers.BooleanField(help_text="false once the pull has caught up.")


class JudgmentListView(APIView):
    @extend_schema(
        parameters=[JudgmentQuerySerializer],
        responses=JudgmentPageSerializer,
        summary="Pull a project's judgments, page by page (cursor; incremental sync)",
    )
    def get(self, request, project_id: int):
        project = project_get_for_lead(user=request.user, project_id=project_id)
        query = JudgmentQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        data = query.validated_data
        page = judgments_page(
            project=project,
            cursor=data.get("cursor"),
            updated_after=data.get("updated_after"),
            page_size=data["page_size"],
            batch_id=data.get("batch"),
            model=data.get("model"),
            annotator=data.get("annotator"),
            kind=data.get("kind"),
            gold=data.get("gold"),
        )
        return Response(page)
