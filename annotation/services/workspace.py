"""The annotator's page: the next thing it shows them (a task under a claim, or a repeat)
and the answers to a repeat. The API's queue serves claims alone (``claim_next``): a repeat
has no judgment, and an API client would be given an id it cannot use as one.

Repeats are scheduled by ``annotation.services.repeats``; their rules are in its docstring.
"""

from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from annotation.models import BatchStatus, Claim, Judgment, Project, Repeat, RepeatStatus
from annotation.selectors.claims import claim_held, repeat_held
from annotation.services.claims import _annotator_project, claim_next
from annotation.services.judgments import Undone, _validate, judgment_undo
from annotation.services.repeats import judged_count
from ftapp.errors import Conflict, InvalidInput


def _servable(user: User, project: Project):
    """The annotator's repeats in the project's open batches still assigned to them."""
    return Repeat.objects.filter(
        annotator=user,
        task__project=project,
        task__batch__status=BatchStatus.OPEN,
        task__batch__assignments__annotator=user,
    )


@transaction.atomic
def workspace_next(*, user: User, project_id: int) -> Claim | Repeat | None:
    """What the annotator's page shows next: a repeat they hold, the claim they hold, a
    repeat whose turn has come, a new claim (``claim_next``), or, when their queue is empty,
    any repeat still waiting. ``None`` when there is nothing. With the project's repeat
    share at 0, repeats still waiting are not served."""
    project = _annotator_project(user, project_id)
    if project.repeat_share <= 0:
        # Repeats off (or turned off since): the queue alone, at its own cost.
        return claim_next(user=user, project_id=project.pk)
    held = repeat_held(user=user, project=project)
    if held is not None:
        return held
    if claim_held(user=user, project=project) is not None:
        return claim_next(user=user, project_id=project.pk)
    now = timezone.now()
    waiting = _servable(user, project).filter(
        Q(status=RepeatStatus.WAITING) | Q(status=RepeatStatus.ACTIVE, expires_at__lte=now)
    )
    judged = judged_count(user=user, project_id=project.pk)
    due = _lease(waiting.filter(due_after__lte=judged), project, now)
    if due is not None:
        return due
    claim = claim_next(user=user, project_id=project.pk)
    if claim is not None:
        return claim
    latest = (
        Judgment.objects.filter(annotator=user, task__project=project)
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)
        .first()
    )
    return _lease(waiting.exclude(first_id=latest), project, now)


def _lease(candidates, project: Project, now) -> Repeat | None:
    repeat = (
        candidates.select_for_update(skip_locked=True, of=("self",))
        .select_related("task")
        .order_by("due_after", "id")
        .first()
    )
    if repeat is None:
        return None
    repeat.status = RepeatStatus.ACTIVE
    repeat.claimed_at = now
    repeat.expires_at = now + timedelta(minutes=project.lease_minutes)
    repeat.save(update_fields=["status", "claimed_at", "expires_at", "updated_at"])
    return repeat


def _repeat_for(user: User, task_id: int) -> Repeat | None:
    return (
        Repeat.objects.select_for_update(of=("self",))
        .select_related("task__project")
        .filter(annotator=user, task_id=task_id)
        .first()
    )


def repeat_answer(
    *, user: User, task_id: int, idempotency_key: str = "", **data: Any
) -> Repeat | None:
    """Records the annotator's answer to the repeat of ``task_id`` they were shown; the same
    idempotency key again returns it. ``None`` when they hold no repeat of that task (the
    answer is then a judgment's, for ``judgment_submit``)."""
    key = (idempotency_key or "").strip()[:128]
    try:
        with transaction.atomic():
            repeat = _repeat_for(user, task_id)
            if repeat is None:
                return None
            if repeat.status == RepeatStatus.ANSWERED and key and repeat.idempotency_key == key:
                return repeat
            if repeat.status != RepeatStatus.ACTIVE:
                return None
            task = repeat.task
            clean = _validate(task, task.project, data)
            now = timezone.now()
            if clean["duration_ms"] is None:
                shown = repeat.claimed_at or now
                clean["duration_ms"] = int((now - shown).total_seconds() * 1000)
            repeat.status = RepeatStatus.ANSWERED
            repeat.choice = clean["choice"]
            repeat.comment = clean["comment"]
            repeat.duration_ms = clean["duration_ms"]
            repeat.idempotency_key = key
            repeat.late = repeat.expires_at is not None and repeat.expires_at <= now
            repeat.answered_at = now
            repeat.save()
            return repeat
    except IntegrityError:
        raise Conflict(
            "This idempotency key was used for another task.",
            fields={"idempotency_key": ["Already used for another task."]},
        ) from None


@transaction.atomic
def repeat_skip(*, user: User, task_id: int, reason: str) -> Repeat | None:
    """Skips the repeat of ``task_id`` the annotator was shown; it is not shown again.
    ``None`` when they hold no repeat of that task (the skip is then a claim's)."""
    if not (reason or "").strip():
        raise InvalidInput("Say why you skip.", fields={"reason": ["This field is required."]})
    repeat = _repeat_for(user, task_id)
    if repeat is None or repeat.status != RepeatStatus.ACTIVE:
        return None
    repeat.status = RepeatStatus.SKIPPED
    repeat.comment = reason.strip()[:2000]
    repeat.save(update_fields=["status", "comment", "updated_at"])
    return repeat


@transaction.atomic
def workspace_undo(*, user: User, project_id: int) -> Undone | None:
    """Undo on the annotator's page: when the last thing they answered was a repeat, it is
    shown again under a fresh lease with their answer to give again; otherwise their last
    judgment is withdrawn (``judgment_undo``)."""
    project = _annotator_project(user, project_id)
    repeat = (
        _servable(user, project)
        .select_for_update(of=("self",))
        .filter(status=RepeatStatus.ANSWERED)
        .order_by("-answered_at", "-id")
        .first()
    )
    latest = (
        Judgment.objects.filter(annotator=user, task__project=project)
        .order_by("-created_at", "-id")
        .values_list("created_at", flat=True)
        .first()
    )
    if repeat is None or repeat.answered_at is None or (latest and latest > repeat.answered_at):
        return judgment_undo(user=user, project_id=project.pk)
    withdrawn = {
        "rating": None,
        "choice": repeat.choice,
        "rubric_scores": {},
        "comment": repeat.comment,
        "rewrite": "",
    }
    now = timezone.now()
    repeat.status, repeat.choice, repeat.comment = RepeatStatus.ACTIVE, "", ""
    repeat.claimed_at, repeat.answered_at, repeat.late = now, None, False
    repeat.expires_at = now + timedelta(minutes=project.lease_minutes)
    repeat.idempotency_key = ""
    repeat.save()
    return Undone(claim=repeat, withdrawn=withdrawn)
