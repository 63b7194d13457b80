"""REST endpoints of the judge: start a judge run and follow it, pull verdicts. Leads (and
their tokens) only: annotators judge blind, so every view goes through a lead's check."""

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.judgment_feed import DEFAULT_PAGE, MAX_PAGE
from annotation.models import Choice, ProjectKind
from annotation.selectors import project_get_for_lead
from evaluation.generation.services.runs import generation_run_cancel, generation_run_resume
from evaluation.judging.feed import judge_verdicts_page
from evaluation.judging.selectors import judge_run_figures, judge_run_get_for_lead
from evaluation.judging.services.runs import (
    PARSE_ATTEMPTS_DEFAULT,
    PARSE_ATTEMPTS_MAX,
    SCOPES,
    TASK_IDS_MAX,
    judge_run_start,
)
from evaluation.models import GenerationRun
from ftapp.api_schema import error_response
from ftapp.api_serializers import StrictSerializer, id_field, request_body


class JudgeSelectionSerializer(StrictSerializer):
    scope = serializers.ChoiceField(
        list(SCOPES),
        help_text="batch (batch_id), filter (query: the data browser's parameters), judged "
        "(tasks with a human judgment, for calibration) or ids (task_ids).",
    )
    batch_id = id_field(required=False)
    query = serializers.DictField(
        required=False,
        help_text='The data browser\'s query parameters, e.g. {"model": "m1", "meta": '
        '["topic:tax"]}.',
    )
    task_ids = serializers.ListField(child=id_field(), required=False, max_length=TASK_IDS_MAX)


class JudgeRunRequestSerializer(StrictSerializer):
    judge = id_field(source="endpoint_id", help_text="The model endpoint that judges.")
    prompt_version = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="The judge prompt version; the current one when omitted.",
    )
    selection = JudgeSelectionSerializer()
    params = serializers.DictField(
        required=False, default=dict, help_text="Overrides of the endpoint's parameters."
    )
    parse_attempts = serializers.IntegerField(
        min_value=1,
        max_value=PARSE_ATTEMPTS_MAX,
        default=PARSE_ATTEMPTS_DEFAULT,
        help_text="Times an answer is asked for before an item whose answers do not follow "
        "the schema fails.",
    )


class JudgeRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class JudgeProgressSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Items: one per rating task, two per pair.")
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    remaining = serializers.IntegerField()
    percent = serializers.IntegerField()
    retries = serializers.IntegerField()
    tokens_in = serializers.IntegerField()
    tokens_out = serializers.IntegerField()
    latency_ms = serializers.IntegerField(help_text="Summed over the verdicts' requests.")
    elapsed_seconds = serializers.FloatField()
    eta_seconds = serializers.FloatField(allow_null=True)
    verdicts = serializers.IntegerField()
    inconsistent = serializers.IntegerField(
        help_text="Pairwise verdicts whose choice did not survive the swap (counted as ties)."
    )


class JudgeFailureSerializer(serializers.Serializer):
    item = serializers.IntegerField(source="pk")
    task_id = serializers.IntegerField()
    order = serializers.IntegerField(
        source="sample", help_text="0: response_a shown first; 1: response_b shown first."
    )
    attempts = serializers.IntegerField()
    error = serializers.CharField()
    raw_output = serializers.CharField(help_text="The judge's last answer, as it wrote it.")


class JudgeRunSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    project = serializers.IntegerField(source="project_id")
    status = serializers.CharField(
        help_text="queued, running, completed, completed_with_failures (see failures), "
        "cancelled, or failed (not one item answered)."
    )
    error = serializers.SerializerMethodField(
        help_text="Why a failed run failed, or how many of its items failed; else empty."
    )
    judge = serializers.SerializerMethodField()
    prompt_version = serializers.SerializerMethodField()
    selection = serializers.DictField()
    params = serializers.DictField()
    progress = serializers.SerializerMethodField()
    failures = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_error(self, run) -> str:
        return self.context["figures"]["error"]

    @extend_schema_field(JudgeRefSerializer)
    def get_judge(self, run):
        return self.context["figures"]["judge"]

    def get_prompt_version(self, run) -> int:
        return self.context["figures"]["prompt_version"]

    @extend_schema_field(JudgeProgressSerializer)
    def get_progress(self, run):
        return self.context["figures"]["progress"]

    @extend_schema_field(JudgeFailureSerializer(many=True))
    def get_failures(self, run):
        return JudgeFailureSerializer(self.context["figures"]["failures"], many=True).data


def _run_data(run: GenerationRun) -> dict:
    return JudgeRunSerializer(run, context={"figures": judge_run_figures(run=run)}).data


class JudgeRunStartView(APIView):
    @extend_schema(
        request=JudgeRunRequestSerializer,
        responses={202: JudgeRunSerializer},
        summary="Start a judge run: a model judges the selected tasks (pairs in both orders)",
    )
    def post(self, request, project_id: int):
        data = request_body(request, JudgeRunRequestSerializer)
        run = judge_run_start(by=request.user, project_id=project_id, **data)
        run.refresh_from_db()
        return Response(_run_data(run), status=status.HTTP_202_ACCEPTED)


class JudgeRunDetailView(APIView):
    @extend_schema(responses=JudgeRunSerializer, summary="A judge run's progress and failures")
    def get(self, request, run_id: int):
        return Response(_run_data(judge_run_get_for_lead(user=request.user, run_id=run_id)))


class JudgeRunCancelView(APIView):
    @extend_schema(
        request=None,
        responses={200: JudgeRunSerializer, 409: error_response("The run has ended already.")},
        summary="Stop a judge run's further calls",
    )
    def post(self, request, run_id: int):
        run = judge_run_get_for_lead(user=request.user, run_id=run_id)
        return Response(_run_data(generation_run_cancel(by=request.user, run_id=run.pk)))


class JudgeRunResumeView(APIView):
    @extend_schema(
        request=None,
        parameters=[
            OpenApiParameter(
                "retry_failed", bool, default=False, description="Also retry the failed items."
            )
        ],
        responses={202: JudgeRunSerializer, 409: error_response("The run is running.")},
        summary="Queue a judge run's unfinished items again",
    )
    def post(self, request, run_id: int):
        run = judge_run_get_for_lead(user=request.user, run_id=run_id)
        retry = request.query_params.get("retry_failed", "").lower() in {"1", "true", "yes"}
        run = generation_run_resume(by=request.user, run_id=run.pk, retry_failed=retry)
        return Response(_run_data(run), status=status.HTTP_202_ACCEPTED)


class VerdictQuerySerializer(StrictSerializer):
    cursor = serializers.CharField(
        required=False, help_text="The next_cursor of the previous page; omit to start."
    )
    updated_after = serializers.DateTimeField(
        required=False, help_text="Only verdicts written after this time (ISO 8601)."
    )
    page_size = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=DEFAULT_PAGE)
    judge = id_field(required=False, help_text="Only this model endpoint's verdicts.")
    prompt_version = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False)
    run = id_field(required=False)


class TokensSerializer(serializers.Serializer):
    # "in" is a Python keyword: declared by name.
    out = serializers.IntegerField(allow_null=True)

    def get_fields(self):
        fields = super().get_fields()
        fields["in"] = serializers.IntegerField(allow_null=True)
        return fields


class PulledVerdictSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    task_id = serializers.IntegerField()
    prompt_id = serializers.IntegerField()
    prompt_external_id = serializers.CharField()
    kind = serializers.ChoiceField(ProjectKind.choices)
    judge = JudgeRefSerializer(help_text="The model endpoint that judged.")
    prompt_version = serializers.IntegerField()
    rating = serializers.IntegerField(allow_null=True)
    rubric_scores = serializers.DictField(child=serializers.IntegerField())
    choice = serializers.ChoiceField(
        Choice.choices,
        allow_null=True,
        help_text="In the task's terms (A is response_ids[0]); tie when the orders disagree.",
    )
    chosen_response_id = serializers.IntegerField(allow_null=True)
    rejected_response_id = serializers.IntegerField(allow_null=True)
    response_ids = serializers.ListField(child=serializers.IntegerField())
    models = serializers.ListField(child=serializers.CharField())
    consistent = serializers.BooleanField(
        allow_null=True, help_text="Pairwise: both orders gave the same choice; null for ratings."
    )
    order_choices = serializers.ListField(
        child=serializers.CharField(),
        help_text="The choice (A, B, tie or both_bad) in each order asked: response_a shown "
        "first, then response_b shown first; in the task's terms.",
    )
    rationale = serializers.CharField(allow_blank=True)
    tokens = TokensSerializer()
    latency_ms = serializers.IntegerField(allow_null=True)
    run_id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class VerdictPageSerializer(serializers.Serializer):
    results = PulledVerdictSerializer(many=True)
    next_cursor = serializers.CharField(
        allow_null=True, help_text="Pass as ?cursor= for the next page, now or in a later sync."
    )
    has_more = serializers.BooleanField(help_text="false once the pull has caught up.")


class VerdictListView(APIView):
    @extend_schema(
        parameters=[VerdictQuerySerializer],
        responses=VerdictPageSerializer,
        summary="Pull a project's judge verdicts, page by page (cursor; incremental sync)",
    )
    def get(self, request, project_id: int):
        project = project_get_for_lead(user=request.user, project_id=project_id)
        query = VerdictQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        data = query.validated_data
        page = judge_verdicts_page(
            project=project,
            cursor=data.get("cursor"),
            updated_after=data.get("updated_after"),
            page_size=data["page_size"],
            endpoint_id=data.get("judge"),
            prompt_version=data.get("prompt_version"),
            run_id=data.get("run"),
        )
        return Response(page)


urlpatterns = [
    path(
        "projects/<int:project_id>/judge-runs/",
        JudgeRunStartView.as_view(),
        name="api-judge-runs",
    ),
    path("judge-runs/<int:run_id>/", JudgeRunDetailView.as_view(), name="api-judge-run"),
    path(
        "judge-runs/<int:run_id>/cancel/", JudgeRunCancelView.as_view(), name="api-judge-run-cancel"
    ),
    path(
        "judge-runs/<int:run_id>/resume/", JudgeRunResumeView.as_view(), name="api-judge-run-resume"
    ),
    path(
        "projects/<int:project_id>/judge-verdicts/",
        VerdictListView.as_view(),
        name="api-judge-verdicts",
    ),
]
