"""The annotator's queue over the API: claim the next task, judge it, skip it, undo."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import Choice
from annotation.selectors import claim_view, guidelines_due
from annotation.services import (
    claim_next,
    guidelines_acknowledge,
    judgment_submit,
    judgment_undo,
    task_skip,
)
from ftapp.api_schema import error_response
from ftapp.api_serializers import StrictSerializer, request_body
from ftapp.database import AuthenticationRetried, retry_once_on_lost_connection


class MessageSerializer(serializers.Serializer):
    role = serializers.CharField()
    content = serializers.CharField()


class ShownResponseSerializer(serializers.Serializer):
    position = serializers.CharField(
        allow_null=True, help_text="A (left) or B (right) in a pairwise task; null in rating."
    )
    text = serializers.CharField()


class LeaseSerializer(serializers.Serializer):
    claim_id = serializers.IntegerField()
    expires_at = serializers.DateTimeField()


class QueueTaskSerializer(serializers.Serializer):
    task_id = serializers.IntegerField()
    kind = serializers.CharField()
    system = serializers.CharField(allow_blank=True)
    turns = MessageSerializer(many=True)
    responses = ShownResponseSerializer(many=True)
    rubric = serializers.ListField(child=serializers.CharField())
    lease = LeaseSerializer()
    guidelines_unread = serializers.IntegerField(
        allow_null=True,
        help_text="The project's current guidelines version when the caller has not read it "
        "yet: show it (and what changed) before the task, then POST its version to "
        "`/api/v1/projects/{id}/guidelines/read/`. Null once read.",
    )


class WithdrawnSerializer(serializers.Serializer):
    rating = serializers.IntegerField(allow_null=True)
    choice = serializers.CharField(
        allow_blank=True, help_text="As pressed: A and B are the left and right shown."
    )
    rubric_scores = serializers.DictField(child=serializers.IntegerField())
    comment = serializers.CharField(allow_blank=True)
    rewrite = serializers.CharField(allow_blank=True)


class QueueUndoSerializer(QueueTaskSerializer):
    withdrawn = WithdrawnSerializer(help_text="The withdrawn judgment's work, to judge again.")


class JudgmentRequestSerializer(StrictSerializer):
    rating = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=5)
    choice = serializers.ChoiceField(choices=Choice.choices, required=False, allow_blank=True)
    rubric_scores = serializers.DictField(
        child=serializers.IntegerField(min_value=1, max_value=5), required=False
    )
    comment = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    rewrite = serializers.CharField(
        required=False, allow_blank=True, max_length=200_000, trim_whitespace=False
    )
    duration_ms = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=2**31 - 1
    )
    idempotency_key = serializers.CharField(required=False, allow_blank=True, max_length=128)


class JudgmentSerializer(serializers.Serializer):
    """Declared field by field (not a ModelSerializer): this runs on every submit."""

    id = serializers.IntegerField()
    task_id = serializers.IntegerField()
    rating = serializers.IntegerField(allow_null=True)
    choice = serializers.CharField(allow_blank=True)
    rubric_scores = serializers.DictField(child=serializers.IntegerField())
    swapped = serializers.BooleanField(
        help_text="Pairwise: response B of the task was on the left."
    )
    chosen_response_id = serializers.IntegerField(allow_null=True)
    rejected_response_id = serializers.IntegerField(allow_null=True)
    comment = serializers.CharField(allow_blank=True)
    rewrite = serializers.CharField(allow_blank=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    guidelines_version = serializers.IntegerField(allow_null=True)
    idempotency_key = serializers.CharField(allow_blank=True)
    late = serializers.BooleanField(help_text="Arrived after its lease had expired.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class SkipRequestSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=2000)


class SkipSerializer(serializers.Serializer):
    task_id = serializers.IntegerField()
    status = serializers.CharField()
    reason = serializers.CharField()


def _task_payload(claim, user) -> dict:
    view = claim_view(claim=claim)
    due = guidelines_due(user=user, project=claim.task.project)
    return {
        "task_id": view["task_id"],
        "kind": view["kind"],
        "system": view["system"],
        "turns": view["turns"],
        "responses": view["responses"],
        "rubric": claim.task.project.rubric,
        "lease": {"claim_id": view["claim_id"], "expires_at": view["expires_at"]},
        "guidelines_unread": due.current.version if due else None,
    }


class QueueNextView(AuthenticationRetried, APIView):
    @extend_schema(
        request=None,
        responses={200: QueueTaskSerializer, 204: OpenApiResponse(description="Queue empty.")},
        summary="Claim the caller's next task (or get the one they hold)",
    )
    def post(self, request, project_id: int):
        def claimed() -> dict | None:
            claim = claim_next(user=request.user, project_id=project_id)
            return (
                None
                if claim is None
                else QueueTaskSerializer(_task_payload(claim, request.user)).data
            )

        # Safe twice: a claim made before the connection died is the one held, returned again.
        payload = retry_once_on_lost_connection(claimed)
        if payload is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(payload)


class GuidelinesReadRequestSerializer(StrictSerializer):
    version = serializers.IntegerField(min_value=1)


class GuidelinesReadSerializer(serializers.Serializer):
    version = serializers.IntegerField(source="guidelines.version")
    acknowledged_at = serializers.DateTimeField()


class GuidelinesReadView(APIView):
    @extend_schema(
        request=GuidelinesReadRequestSerializer,
        responses={200: GuidelinesReadSerializer},
        summary="Record that the caller has read a version of the project's guidelines",
    )
    def post(self, request, project_id: int):
        data = request_body(request, GuidelinesReadRequestSerializer)
        acknowledgment = guidelines_acknowledge(
            user=request.user, project_id=project_id, version=data["version"]
        )
        return Response(GuidelinesReadSerializer(acknowledgment).data)


class QueueUndoView(APIView):
    @extend_schema(
        request=None,
        responses={
            200: QueueUndoSerializer,
            204: OpenApiResponse(description="Nothing to undo."),
            409: error_response("Adjudicated, or maybe in an export already: not undoable."),
        },
        summary="Withdraw the caller's last judgment; its task comes back under a new lease",
    )
    def post(self, request, project_id: int):
        undone = judgment_undo(user=request.user, project_id=project_id)
        if undone is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        payload = {
            **_task_payload(undone.claim, request.user),
            "withdrawn": undone.withdrawn,
        }
        return Response(QueueUndoSerializer(payload).data)


class JudgmentCreateView(AuthenticationRetried, APIView):
    @extend_schema(
        request=JudgmentRequestSerializer,
        responses={
            201: JudgmentSerializer,
            200: OpenApiResponse(JudgmentSerializer, description="Same idempotency key again."),
            409: error_response("Judged already, or the idempotency key is another task's."),
        },
        summary="Judge a task claimed by the caller",
    )
    def post(self, request, task_id: int):
        data = request_body(request, JudgmentRequestSerializer)

        def submit():
            return judgment_submit(user=request.user, task_id=task_id, **data)

        # Safe twice only with a key: it returns a judgment stored before the connection died,
        # where a second try without one would answer that the task is judged already.
        if data.get("idempotency_key", "").strip():
            result = retry_once_on_lost_connection(submit)
        else:
            result = submit()
        return Response(
            JudgmentSerializer(result.judgment).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class SkipView(APIView):
    @extend_schema(
        request=SkipRequestSerializer,
        responses={200: SkipSerializer, 409: error_response("The caller judged the task.")},
        summary="Skip a claimed task, with a reason; it is not offered to the caller again",
    )
    def post(self, request, task_id: int):
        data = request_body(request, SkipRequestSerializer)
        claim = task_skip(user=request.user, task_id=task_id, **data)
        return Response(
            {"task_id": claim.task_id, "status": claim.status, "reason": claim.skip_reason}
        )
