"""Reads of an annotator's claim: the task they hold and what they see of it."""

from django.contrib.auth.models import User
from django.utils import timezone

from annotation.models import (
    BatchStatus,
    Claim,
    ClaimStatus,
    Project,
    Repeat,
    RepeatStatus,
    Task,
)


def claim_held(*, user: User, project: Project) -> Claim | None:
    """The annotator's unexpired claim in an open batch, newest first: what ``claim_next``
    would give back without leasing anything. A page shown on a GET reads this, so a
    prefetch or a link preview never takes a task."""
    return (
        Claim.objects.filter(
            annotator=user,
            task__project=project,
            task__batch__status=BatchStatus.OPEN,
            status=ClaimStatus.ACTIVE,
            expires_at__gt=timezone.now(),
        )
        .order_by("-claimed_at")
        .first()
    )


def repeat_held(*, user: User, project: Project) -> Repeat | None:
    """The repeat the annotator holds under an unexpired lease in the project, if any."""
    return (
        Repeat.objects.filter(
            annotator=user,
            task__project=project,
            task__batch__status=BatchStatus.OPEN,
            status=RepeatStatus.ACTIVE,
            expires_at__gt=timezone.now(),
        )
        .select_related("task")
        .order_by("-claimed_at")
        .first()
    )


def workspace_held(*, user: User, project: Project) -> Claim | Repeat | None:
    """What the annotator's page shows on a GET, leasing nothing: the repeat they hold (while
    the project repeats pairs), else the claim they hold."""
    held = repeat_held(user=user, project=project) if project.repeat_share > 0 else None
    return held or claim_held(user=user, project=project)


def claim_view(*, claim: Claim | Repeat) -> dict:
    """What an annotator sees of a claimed task (or of a repeat, which looks the same): the
    conversation and the responses in the order shown to them. Never the model names."""
    task = (
        Task.objects.select_related("prompt", "response_a", "response_b")
        .only(
            "id",
            "kind",
            "prompt__system",
            "prompt__text",
            "prompt__messages",
            "response_a__text",
            "response_b__text",
        )
        .get(pk=claim.task_id)
    )
    shown = [task.response_a] if task.response_b is None else [task.response_a, task.response_b]
    if claim.swapped:
        shown.reverse()
    labels: list[str | None] = ["A", "B"] if len(shown) == 2 else [None]
    return {
        "task_id": task.pk,
        "kind": task.kind,
        "system": task.prompt.system,
        "turns": task.prompt.turns(),
        "responses": [
            {"position": label, "text": response.text}
            for label, response in zip(labels, shown, strict=True)
        ],
        "expires_at": claim.expires_at,
        "claim_id": claim.pk,
    }
