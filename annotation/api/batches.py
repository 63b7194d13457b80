from typing import TYPE_CHECKING

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import ADAPTIVE_OVERLAP_CAP, Batch
from annotation.selectors import BatchTaskCount, batch_list, project_get_for_lead
from annotation.services.leads import batch_cut
from ftapp.api_schema import error_response
from ftapp.api_serializers import StrictSerializer, request_body

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class BatchFilterSerializer(StrictSerializer):
    metadata = serializers.DictField(required=False, help_text="Prompt metadata key → value.")
    model = serializers.CharField(required=False, help_text="A response's model name.")
    unjudged = serializers.BooleanField(required=False, help_text="Only tasks never judged.")
    gold = serializers.BooleanField(
        required=False, allow_null=True, help_text="true: only gold; false: no gold."
    )


class BatchRequestSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    size = serializers.IntegerField(min_value=1, max_value=1_000_000)
    annotators = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    overlap = serializers.IntegerField(min_value=1, max_value=50, required=False)
    filter = BatchFilterSerializer(required=False, source="filters")
    due_at = serializers.DateTimeField(required=False, allow_null=True)
    adaptive_max_overlap = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=ADAPTIVE_OVERLAP_CAP,
        help_text="Adaptive overlap: a task whose labels call for more eyes gets one more "
        "human slot at a time, up to this many judgments in all (from the batch's overlap to "
        f"{ADAPTIVE_OVERLAP_CAP}). Null or absent: off.",
    )
    adaptive_on_split = serializers.BooleanField(
        required=False, default=True, help_text="Add a slot when the humans split."
    )
    adaptive_on_judge = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Add a slot when the newest LLM judge verdict disagrees with the human majority.",
    )


class BatchSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    position = serializers.IntegerField()
    overlap = serializers.IntegerField()
    adaptive_max_overlap = serializers.IntegerField(
        allow_null=True, help_text="Adaptive overlap's maximum; null: off."
    )
    adaptive_on_split = serializers.BooleanField()
    adaptive_on_judge = serializers.BooleanField()
    due_at = serializers.DateTimeField(allow_null=True)
    status = serializers.CharField()
    closed_reason = serializers.CharField(
        help_text="Why ftapp closed the batch itself (a round's whose generation created no "
        "task); else empty."
    )
    tasks = serializers.IntegerField()
    annotators = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()


def batch_data(batch: "WithAnnotations[Batch, BatchTaskCount]") -> dict:
    """A batch from ``batch_list``, or one just cut (read again through it)."""
    return {
        "id": batch.pk,
        "name": batch.name,
        "position": batch.position,
        "overlap": batch.overlap,
        "adaptive_max_overlap": batch.adaptive_max_overlap,
        "adaptive_on_split": batch.adaptive_on_split,
        "adaptive_on_judge": batch.adaptive_on_judge,
        "due_at": batch.due_at,
        "status": batch.status,
        "closed_reason": batch.closed_reason,
        "tasks": batch.task_count,
        "annotators": sorted(a.annotator.username for a in batch.assignments.all()),
        "created_at": batch.created_at,
    }


class BatchListView(APIView):
    @extend_schema(responses=BatchSerializer(many=True), summary="The project's batches")
    def get(self, request, project_id: int):
        project = project_get_for_lead(user=request.user, project_id=project_id)
        batches = batch_list(project=project)
        return Response(BatchSerializer([batch_data(b) for b in batches], many=True).data)

    @extend_schema(
        request=BatchRequestSerializer,
        responses={
            201: BatchSerializer,
            409: error_response("A concurrent request took some of the tasks; try again."),
        },
        summary="Cut a batch from unbatched tasks and assign it",
    )
    def post(self, request, project_id: int):
        data = request_body(request, BatchRequestSerializer)
        batch = batch_cut(by=request.user, project_id=project_id, **data)
        batch = batch_list(project=batch.project).get(pk=batch.pk)
        return Response(BatchSerializer(batch_data(batch)).data, status=status.HTTP_201_CREATED)
