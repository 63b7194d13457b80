"""REST endpoints of exports: start one, follow it, cancel or retry it, download its files."""

from django.http import FileResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.selectors import project_get_for_lead
from evaluation.exports.selectors import (
    export_file,
    export_get_for_lead,
    export_list,
    export_progress,
)
from evaluation.exports.services.jobs import export_cancel, export_retry, export_start
from evaluation.models import ExportFormat, ExportKind
from ftapp.api_schema import error_response
from ftapp.api_serializers import StrictSerializer, request_body


class ExportRequestSerializer(StrictSerializer):
    kind = serializers.ChoiceField(ExportKind.choices)
    format = serializers.ChoiceField(ExportFormat.choices, default=ExportFormat.TRL)
    filters = serializers.DictField(
        required=False,
        default=dict,
        help_text="Selection rules and filters; see the README for each key and its default.",
    )
    test_fraction = serializers.FloatField(min_value=0.0, max_value=0.9, default=0.1)
    seed = serializers.IntegerField(min_value=-(2**31), max_value=2**31 - 1, default=0)


class ExportSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    project = serializers.IntegerField(source="project_id")
    kind = serializers.CharField()
    format = serializers.CharField()
    status = serializers.CharField()
    error = serializers.CharField()
    options = serializers.DictField()
    test_fraction = serializers.FloatField()
    seed = serializers.IntegerField()
    progress = serializers.SerializerMethodField()
    attempts = serializers.IntegerField(
        help_text="Builds begun since it was queued; one whose worker died counts."
    )
    heartbeat_at = serializers.DateTimeField(
        allow_null=True, help_text="Last sign of its build, or when it was queued."
    )
    rows = serializers.SerializerMethodField()
    files = serializers.DictField(help_text="Per split: name, rows, bytes, sha256.")
    card = serializers.DictField()
    snapshot_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_progress(self, export) -> dict:
        return export_progress(export=export)

    def get_rows(self, export) -> dict[str, int]:
        return {split: info["rows"] for split, info in export.files.items()}


class ExportListView(APIView):
    @extend_schema(responses=ExportSerializer(many=True), summary="A project's exports")
    def get(self, request, project_id: int):
        project = project_get_for_lead(user=request.user, project_id=project_id)
        return Response(ExportSerializer(export_list(project=project), many=True).data)

    @extend_schema(
        request=ExportRequestSerializer,
        responses={202: ExportSerializer},
        summary="Start an export (built by a worker on the exports queue)",
    )
    def post(self, request, project_id: int):
        data = request_body(request, ExportRequestSerializer)
        export = export_start(by=request.user, project_id=project_id, **data)
        export.refresh_from_db()
        return Response(ExportSerializer(export).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailView(APIView):
    @extend_schema(
        responses=ExportSerializer, summary="An export: status, progress, rows, sha256, card"
    )
    def get(self, request, export_id: int):
        return Response(
            ExportSerializer(export_get_for_lead(user=request.user, export_id=export_id)).data
        )


class ExportCancelView(APIView):
    @extend_schema(
        request=None,
        responses={
            200: ExportSerializer,
            409: error_response("The export is already completed, failed or cancelled."),
        },
        summary="Cancel a queued or running export (its build stops and removes its files)",
    )
    def post(self, request, export_id: int):
        return Response(ExportSerializer(export_cancel(by=request.user, export_id=export_id)).data)


class ExportRetryView(APIView):
    @extend_schema(
        request=None,
        responses={
            202: ExportSerializer,
            409: error_response("The export is not failed or cancelled, or is still stopping."),
        },
        summary="Build a failed or cancelled export again (same options, a new snapshot)",
    )
    def post(self, request, export_id: int):
        export = export_retry(by=request.user, export_id=export_id)
        return Response(ExportSerializer(export).data, status=status.HTTP_202_ACCEPTED)


class ExportDownloadView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("split", str, enum=["train", "test"], default="train"),
            OpenApiParameter(
                "ETag",
                str,
                OpenApiParameter.HEADER,
                response=[200],
                description="The file's sha256, quoted.",
            ),
        ],
        responses={
            (200, "application/jsonl"): OpenApiResponse(OpenApiTypes.BINARY, "JSON Lines"),
            409: error_response("The export is not finished (or failed): no files yet."),
        },
        summary="Download a split of a finished export (streamed JSON Lines)",
    )
    def get(self, request, export_id: int):
        export = export_get_for_lead(user=request.user, export_id=export_id)
        split = request.query_params.get("split", "train")
        path = export_file(export=export, split=split)
        response = FileResponse(
            path.open("rb"),
            as_attachment=True,
            filename=f"{export.project_id}-{export.kind}-{export.format}-{export.pk}-{split}.jsonl",
            content_type="application/jsonl",
        )
        response["ETag"] = f'"{export.files[split]["sha256"]}"'
        return response


urlpatterns = [
    path(
        "projects/<int:project_id>/exports/",
        ExportListView.as_view(),
        name="api-project-exports",
    ),
    path("exports/<int:export_id>/", ExportDetailView.as_view(), name="api-export"),
    path("exports/<int:export_id>/cancel/", ExportCancelView.as_view(), name="api-export-cancel"),
    path("exports/<int:export_id>/retry/", ExportRetryView.as_view(), name="api-export-retry"),
    path(
        "exports/<int:export_id>/download/",
        ExportDownloadView.as_view(),
        name="api-export-download",
    ),
]
