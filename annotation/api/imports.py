import shutil
import tempfile

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.selectors import project_get_for_lead
from annotation.services import prompts_import
from ftapp.api_errors import ErrorDetailSerializer, error_body

# What the request's Content-Type says about the body, as a file name the service reads.
_NAMES = {
    "application/x-ndjson": "body.jsonl",
    "application/jsonl": "body.jsonl",
    "application/json": "body",
    "text/csv": "body.csv",
}
SPOOL_IN_MEMORY = 8 * 1024 * 1024


class IssueSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    field = serializers.CharField(allow_blank=True)
    message = serializers.CharField()


class ImportReportSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    committed = serializers.BooleanField()
    records = serializers.IntegerField()
    prompts = serializers.IntegerField(help_text="Prompts created.")
    prompts_updated = serializers.IntegerField(help_text="Unjudged prompts whose content changed.")
    prompts_kept = serializers.IntegerField(help_text="Judged prompts left as they were.")
    responses = serializers.IntegerField(help_text="Responses created.")
    tasks = serializers.IntegerField(help_text="Tasks created.")
    # Not Serializer.errors, as the stubs take it to: DRF's metaclass takes declared fields
    # out of the class.
    errors = IssueSerializer(many=True)  # type: ignore[assignment]
    error_count = serializers.IntegerField()
    warnings = IssueSerializer(many=True)
    warning_count = serializers.IntegerField()


class ImportRejectedSerializer(ImportReportSerializer):
    """The report of a file with errors, beside the API's usual error."""

    error = ErrorDetailSerializer()


class ImportView(APIView):
    @extend_schema(
        summary="Import prompts and responses, all or nothing",
        description=(
            "The body is JSON Lines (`application/x-ndjson`), a JSON list of records "
            "(`application/json`) or CSV (`text/csv`), optionally gzipped. With `dry_run=1` "
            "the file is only validated."
        ),
        request={
            "application/x-ndjson": OpenApiTypes.BINARY,
            "application/json": OpenApiTypes.ANY,
            "text/csv": OpenApiTypes.BINARY,
        },
        parameters=[OpenApiParameter("dry_run", OpenApiTypes.BOOL, required=False)],
        responses={
            200: ImportReportSerializer,
            400: OpenApiResponse(ImportRejectedSerializer, description="Nothing was imported."),
        },
    )
    def post(self, request, project_id: int):
        project = project_get_for_lead(user=request.user, project_id=project_id)
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        dry_run = request.query_params.get("dry_run", "").lower() in {"1", "true", "yes"}
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as body:
            # DRF has no stream for an empty body: that is a file with no records.
            if request.stream is not None:
                shutil.copyfileobj(request.stream, body, length=1024 * 1024)
            body.seek(0)
            report = prompts_import(
                project=project,
                stream=body,
                name=_NAMES.get(content_type, "body"),
                commit=not dry_run,
                by=request.user,
            )
        data = ImportReportSerializer(report.as_dict()).data
        if report.ok:
            return Response(data)
        message = f"{report.error_count} error(s); nothing was imported."
        return Response(
            {**error_body("invalid", message), **data}, status=status.HTTP_400_BAD_REQUEST
        )
