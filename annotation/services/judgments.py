"""Judging a claimed task, skipping it, and undoing the latest judgment.

A judgment or a skip ends a claim only while that claim is still open (active or released),
in one conditional UPDATE of the claim's row: a skip racing a submit wins or loses on that
row lock, never both. A submitted claim keeps holding its slot (see
``annotation.services.claims``); undo turns it back into an active claim under a fresh lease,
so the annotator keeps the slot.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Case, Exists, F, OuterRef, Subquery, Value, When
from django.utils import timezone

from annotation.choices import task_choice
from annotation.models import (
    Adjudication,
    Choice,
    Claim,
    ClaimStatus,
    Guidelines,
    Judgment,
    Membership,
    Project,
    ProjectKind,
    Repeat,
    Task,
)
from annotation.selectors import NotAMember, membership_get
from annotation.services.claims import _annotator_project
from annotation.services.overlap import overlap_extend_if_called_for
from annotation.services.repeats import repeat_schedule_if_due
from ftapp.errors import Conflict, Forbidden, InvalidInput


class NotClaimed(Forbidden):
    def __init__(self) -> None:
        super().__init__("This task is not claimed by you; take the next task from your queue.")


class AlreadyJudged(Conflict):
    def __init__(self) -> None:
        super().__init__("You have already judged this task.")


@dataclass(frozen=True)
class SubmitResult:
    judgment: Judgment
    created: bool


@dataclass(frozen=True)
class Undone:
    """What undo gave back: the claim (or, on the annotator's page, the repeat) active
    again, and the withdrawn work as the annotator entered it (``choice`` as pressed,
    left/right of their screen), so the form can be filled in again with it."""

    claim: "Claim | Repeat"
    withdrawn: dict[str, Any]

    @property
    def task_id(self) -> int:
        return self.claim.task_id


def _validate(task: Task, project: Project, data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    rating, choice = data.get("rating"), data.get("choice") or ""
    if task.kind == ProjectKind.RATING:
        if choice:
            errors["choice"] = ["A rating task takes a rating, not a choice."]
        if rating is None:
            errors["rating"] = ["Give a rating from 1 to 5."]
        elif isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            errors["rating"] = ["A rating is a whole number from 1 to 5."]
    else:
        if rating is not None:
            errors["rating"] = ["A pairwise task takes a choice, not a rating."]
        if choice not in Choice.values:
            errors["choice"] = [f"Choose one: {', '.join(map(str, Choice.labels))}."]
    scores = data.get("rubric_scores") or {}
    if not isinstance(scores, dict):
        errors["rubric_scores"] = ["Give rubric scores as an object of dimension: 1..5."]
    else:
        for name, value in scores.items():
            if name not in project.rubric:
                errors.setdefault("rubric_scores", []).append(f"Unknown dimension “{name}”.")
            elif isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
                errors.setdefault("rubric_scores", []).append(f"{name}: a whole number 1 to 5.")
    duration = data.get("duration_ms")
    if duration is not None and (not isinstance(duration, int) or duration < 0):
        errors["duration_ms"] = ["A duration is a non-negative number of milliseconds."]
    if errors:
        raise InvalidInput("The judgment is not valid.", fields=errors)
    return {
        "rating": rating if task.kind == ProjectKind.RATING else None,
        "choice": choice if task.kind == ProjectKind.PAIRWISE else "",
        "rubric_scores": scores,
        "comment": (data.get("comment") or "").strip(),
        "rewrite": (data.get("rewrite") or "").strip(),
        "duration_ms": duration,
    }


def _resolve_pair(task: Task, swapped: bool, choice: str):
    """A choice as pressed (``A`` is the left response) → chosen/rejected responses."""
    verdict = task_choice(choice, swapped)
    if verdict == Choice.A:
        return task.response_a, task.response_b
    if verdict == Choice.B:
        return task.response_b, task.response_a
    return None, None


def _count_judgment(task: Task, overlap: int | None, delta: int) -> None:
    """Adds ``delta`` to the task's judgment count and sets ``is_complete`` (as many
    judgments as its slots: the overlap plus its extra slots) in one UPDATE: the row lock it
    takes serializes concurrent submits, and each sees the other's count."""
    count = F("judgment_count") + delta
    complete = (
        Value(False)
        if task.is_gold or overlap is None
        else Case(
            When(judgment_count__gte=F("extra_slots") + (overlap - delta), then=True),
            default=False,
        )
    )
    Task.objects.filter(pk=task.pk).update(judgment_count=count, is_complete=complete)


def judgment_submit(
    *, user: User, task_id: int, idempotency_key: str = "", **data: Any
) -> SubmitResult:
    """Records a judgment on a task the annotator claimed. The same idempotency key again
    returns the first judgment. A judgment whose lease expired is kept and marked ``late``."""
    key = (idempotency_key or "").strip()[:128]
    if key:
        existing = Judgment.objects.filter(annotator=user, idempotency_key=key).first()
        if existing is not None:
            if existing.task_id != task_id:
                raise Conflict(
                    "This idempotency key was used for another task.",
                    fields={"idempotency_key": ["Already used for another task."]},
                )
            return SubmitResult(existing, created=False)
    try:
        with transaction.atomic():
            return SubmitResult(_submit(user, task_id, key, data), created=True)
    except IntegrityError:
        # A concurrent request with the same key or for the same task won the race.
        if key:
            existing = Judgment.objects.filter(annotator=user, idempotency_key=key).first()
            if existing is not None and existing.task_id == task_id:
                return SubmitResult(existing, created=False)
        raise AlreadyJudged() from None


def _submit(user: User, task_id: int, key: str, data: dict[str, Any]) -> Judgment:
    current_version = (
        Guidelines.objects.filter(project=OuterRef("task__project"))
        .order_by("-version")
        .values("version")[:1]
    )
    claim = (
        Claim.objects.select_related(
            "task__project", "task__batch", "task__response_a", "task__response_b"
        )
        .annotate(
            is_member=Exists(
                Membership.objects.filter(project=OuterRef("task__project"), user=user)
            ),
            guidelines_version=Subquery(current_version),
        )
        .filter(task_id=task_id, annotator=user)
        .first()
    )
    if claim is None or not claim.is_member:
        task = Task.objects.filter(pk=task_id).only("project_id").first()
        if task is None:
            raise NotAMember()
        membership_get(user=user, project_id=task.project_id)
        raise NotClaimed()
    if claim.status == ClaimStatus.SKIPPED:
        raise NotClaimed()
    if claim.status == ClaimStatus.SUBMITTED:
        raise AlreadyJudged()
    task = claim.task
    clean = _validate(task, task.project, data)
    now = timezone.now()
    if clean["duration_ms"] is None:
        # No client timing (a plain form post): the time since the claim is the best estimate.
        clean["duration_ms"] = int((now - claim.claimed_at).total_seconds() * 1000)
    originals = {task.response_a.text.strip()}
    if task.response_b is not None:
        originals.add(task.response_b.text.strip())
    if clean["rewrite"] in originals:
        clean["rewrite"] = ""  # an unedited copy of a response is not a rewrite
    chosen = rejected = None
    if task.kind == ProjectKind.PAIRWISE:
        chosen, rejected = _resolve_pair(task, claim.swapped, clean["choice"])
    # Only a claim still open turns into a judgment: a skip racing this submit wins or loses
    # on the claim's row lock, never both.
    moved = Claim.objects.filter(
        pk=claim.pk, status__in=[ClaimStatus.ACTIVE, ClaimStatus.RELEASED]
    ).update(status=ClaimStatus.SUBMITTED, updated_at=now)
    if not moved:
        raise AlreadyJudged()
    judgment = Judgment.objects.create(
        task=task,
        annotator=user,
        claim=claim,
        swapped=claim.swapped,
        chosen_response=chosen,
        rejected_response=rejected,
        guidelines_version=claim.guidelines_version,
        idempotency_key=key,
        late=claim.status != ClaimStatus.ACTIVE or claim.expires_at <= now,
        **clean,
    )
    _count_judgment(task, task.batch.overlap if task.batch else None, +1)
    if task.batch and task.batch.adaptive_max_overlap is not None and not task.is_gold:
        overlap_extend_if_called_for(task_id=task.pk)
    repeat_schedule_if_due(judgment=judgment, project=task.project)
    return judgment


@transaction.atomic
def task_skip(*, user: User, task_id: int, reason: str) -> Claim:
    """Gives the slot back; the task is never offered to this annotator again."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Say why you skip.", fields={"reason": ["This field is required."]})
    task = Task.objects.filter(pk=task_id).only("project_id").first()
    if task is None:
        raise NotAMember()
    membership_get(user=user, project_id=task.project_id)
    claim = Claim.objects.filter(task_id=task_id, annotator=user).first()
    if claim is None:
        raise NotClaimed()
    skipped = Claim.objects.filter(
        pk=claim.pk, status__in=[ClaimStatus.ACTIVE, ClaimStatus.RELEASED]
    ).update(status=ClaimStatus.SKIPPED, skip_reason=reason[:2000], updated_at=timezone.now())
    if not skipped:
        raise AlreadyJudged() if claim.status == ClaimStatus.SUBMITTED else NotClaimed()
    claim.refresh_from_db()
    return claim


UndoCheck = Callable[[Judgment], None]
_undo_checks: list[UndoCheck] = []


def judgment_undo_check_register(check: UndoCheck) -> None:
    """Lets the part of the server that keeps judgments elsewhere refuse their undo: ``check``
    raises a domain error when the judgment must stay as it is. Registered from an
    ``AppConfig.ready``, so that this app depends on none of those that read it."""
    if check not in _undo_checks:
        _undo_checks.append(check)


def judgment_check_changeable(judgment: Judgment) -> None:
    """Raises a domain error when the judgment must stay as it is: its task is adjudicated,
    or a registered check refuses (an export may hold it). The one rule for undo and change."""
    if Adjudication.objects.filter(task_id=judgment.task_id).exists():
        raise Conflict("A lead has adjudicated this task; the judgment can no longer change.")
    for check in _undo_checks:
        check(judgment)


@transaction.atomic
def judgment_undo(*, user: User, project_id: int) -> Undone | None:
    """Withdraws the annotator's most recent judgment in the project and gives them the task
    back under a fresh lease, with what the judgment held (to judge again from it). ``None``
    when there is nothing to undo."""
    project = _annotator_project(user, project_id)
    judgment = (
        Judgment.objects.select_for_update(of=("self",))
        .select_related("task__batch", "claim")
        .filter(annotator=user, task__project=project)
        .order_by("-created_at", "-id")
        .first()
    )
    if judgment is None:
        return None
    judgment_check_changeable(judgment)
    task, claim = judgment.task, judgment.claim
    if claim is None:
        raise Conflict("This judgment has no claim to give back; it can't be undone.")
    withdrawn = {
        "rating": judgment.rating,
        "choice": judgment.choice,
        "rubric_scores": dict(judgment.rubric_scores or {}),
        "comment": judgment.comment,
        "rewrite": judgment.rewrite,
    }
    judgment.delete()
    _count_judgment(task, task.batch.overlap if task.batch else None, -1)
    now = timezone.now()
    claim.status = ClaimStatus.ACTIVE
    claim.claimed_at = now
    claim.expires_at = now + timedelta(minutes=project.lease_minutes)
    claim.save(update_fields=["status", "claimed_at", "expires_at", "updated_at"])
    claim.task = task
    task.project = project
    return Undone(claim=claim, withdrawn=withdrawn)
