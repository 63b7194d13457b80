"""REST endpoints of the model side: model endpoints and generation runs."""

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from evaluation.generation.model_keys import PREFIX
from evaluation.generation.selectors import (
    generation_run_figures,
    generation_run_get_for_lead,
    model_endpoint_list,
)
from evaluation.generation.services.endpoints import model_endpoint_create, model_endpoint_update
from evaluation.generation.services.runs import (
    generation_run_cancel,
    generation_run_resume,
    generation_run_start,
)
from evaluation.models import GenerationRun, TaskCreation
from ftapp.api_schema import error_response
from ftapp.api_serializers import StrictSerializer, id_field, request_body


class ModelEndpointSerializer(StrictSerializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=200)
    base_url = serializers.URLField(
        max_length=500, help_text="http or https, without a user name or password."
    )
    model = serializers.CharField(max_length=200)
    params = serializers.DictField(required=False, default=dict)
    api_key_env = serializers.RegexField(
        r"^[A-Z_][A-Z0-9_]*$",
        required=False,
        allow_blank=True,
        default="",
        help_text="The NAME of the environment variable holding the key, never the key: one "
        f"declared as a model key (starting with {PREFIX}, or listed by the operator in "
        "FTAPP_MODEL_KEYS).",
    )
    max_concurrency = serializers.IntegerField(min_value=1, max_value=256, default=4)
    timeout_seconds = serializers.IntegerField(min_value=1, max_value=3600, default=120)
    retired_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When a lead retired the model, if one did."
    )
    created_at = serializers.DateTimeField(read_only=True)


class ModelUpdateSerializer(ModelEndpointSerializer):
    retired = serializers.BooleanField(
        required=False,
        write_only=True,
        help_text="True retires the model (no new run or round uses it; what was made with it "
        "stays); false offers it again.",
    )

    class Meta:
        ref_name = "ModelEndpointUpdate"


class ModelListView(APIView):
    @extend_schema(
        responses=ModelEndpointSerializer(many=True),
        summary="Registered models (project leads and those who manage models)",
    )
    def get(self, request):
        endpoints = model_endpoint_list(user=request.user)
        return Response(ModelEndpointSerializer(endpoints, many=True).data)

    @extend_schema(
        request=ModelEndpointSerializer,
        responses={201: ModelEndpointSerializer},
        summary="Register an OpenAI-compatible model endpoint",
    )
    def post(self, request):
        data = request_body(request, ModelEndpointSerializer)
        endpoint = model_endpoint_create(by=request.user, **data)
        return Response(ModelEndpointSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class ModelDetailView(APIView):
    @extend_schema(
        request=ModelUpdateSerializer,
        responses=ModelEndpointSerializer,
        summary="Change a model endpoint, or retire it",
    )
    def patch(self, request, endpoint_id: int):
        serializer = ModelUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        endpoint = model_endpoint_update(
            by=request.user, endpoint_id=endpoint_id, **serializer.validated_data
        )
        return Response(ModelEndpointSerializer(endpoint).data)


class SelectionSerializer(StrictSerializer):
    scope = serializers.ChoiceField(["all", "batch", "metadata", "missing"], default="all")
    batch_id = id_field(required=False)
    metadata = serializers.DictField(required=False)


class RunRequestSerializer(StrictSerializer):
    models = serializers.ListField(child=id_field(), min_length=1, source="endpoint_ids")
    samples = serializers.IntegerField(min_value=1, max_value=20, default=1)
    params = serializers.DictField(required=False, default=dict)
    prompts = SelectionSerializer(required=False, source="selection")
    create_tasks = serializers.ChoiceField(TaskCreation.choices, default=TaskCreation.ON_FINISH)
    batch = id_field(required=False, allow_null=True, source="target_batch_id")


class FailureSerializer(serializers.Serializer):
    item = serializers.IntegerField(source="pk")
    prompt = serializers.CharField(source="prompt.external_id")
    model = serializers.CharField(source="endpoint.name")
    sample = serializers.IntegerField()
    attempts = serializers.IntegerField()
    error = serializers.CharField()


class RunSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    project = serializers.IntegerField(source="project_id")
    status = serializers.CharField(
        help_text="queued, running, completed (every request answered), "
        "completed_with_failures (some failed: see failures), cancelled, or failed (not one "
        "request answered)."
    )
    error = serializers.SerializerMethodField(
        help_text="Why a failed run failed, or how many of a run's requests failed; else empty."
    )
    models = serializers.SerializerMethodField()
    samples = serializers.IntegerField()
    params = serializers.DictField()
    create_tasks = serializers.CharField()
    tasks_created = serializers.IntegerField()
    progress = serializers.SerializerMethodField()
    failures = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_error(self, run) -> str:
        return self.context["figures"]["error"]

    def get_models(self, run) -> list[str]:
        return self.context["figures"]["models"]

    def get_progress(self, run) -> dict:
        return self.context["figures"]["progress"]

    def get_failures(self, run) -> list[dict]:
        failures = FailureSerializer(self.context["figures"]["failures"], many=True)
        # The stubs give the data of a serializer made with many=True the type of one item's.
        return failures.data  # type: ignore[return-value]


def _run_data(run: GenerationRun) -> dict:
    """The run as the API shows it, its figures read by the selector."""
    return RunSerializer(run, context={"figures": generation_run_figures(run=run)}).data


class RunStartView(APIView):
    @extend_schema(
        request=RunRequestSerializer,
        responses={202: RunSerializer},
        summary="Start a generation run: prompts × models × samples",
    )
    def post(self, request, project_id: int):
        data = request_body(request, RunRequestSerializer)
        run = generation_run_start(by=request.user, project_id=project_id, **data)
        run.refresh_from_db()
        return Response(_run_data(run), status=status.HTTP_202_ACCEPTED)


class RunDetailView(APIView):
    @extend_schema(responses=RunSerializer, summary="A run's progress and failures")
    def get(self, request, run_id: int):
        run = generation_run_get_for_lead(user=request.user, run_id=run_id)
        return Response(_run_data(run))


class RunCancelView(APIView):
    @extend_schema(
        request=None,
        responses={200: RunSerializer, 409: error_response("The run is finished or cancelled.")},
        summary="Stop a run's further calls",
    )
    def post(self, request, run_id: int):
        return Response(_run_data(generation_run_cancel(by=request.user, run_id=run_id)))


class RunResumeView(APIView):
    @extend_schema(
        request=None,
        parameters=[
            OpenApiParameter(
                "retry_failed", bool, default=False, description="Also retry the failed items."
            )
        ],
        responses={202: RunSerializer, 409: error_response("The run is running.")},
        summary="Queue a run's unfinished items again",
    )
    def post(self, request, run_id: int):
        retry = request.query_params.get("retry_failed", "").lower() in {"1", "true", "yes"}
        run = generation_run_resume(by=request.user, run_id=run_id, retry_failed=retry)
        return Response(_run_data(run), status=status.HTTP_202_ACCEPTED)


urlpatterns = [
    path("models/", ModelListView.as_view(), name="api-models"),
    path("models/<int:endpoint_id>/", ModelDetailView.as_view(), name="api-model"),
    path(
        "projects/<int:project_id>/generation-runs/",
        RunStartView.as_view(),
        name="api-generation-runs",
    ),
    path("generation-runs/<int:run_id>/", RunDetailView.as_view(), name="api-generation-run"),
    path(
        "generation-runs/<int:run_id>/cancel/",
        RunCancelView.as_view(),
        name="api-generation-run-cancel",
    ),
    path(
        "generation-runs/<int:run_id>/resume/",
        RunResumeView.as_view(),
        name="api-generation-run-resume",
    ),
]
