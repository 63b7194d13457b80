"""The annotator's queue: claiming the next task, judging it, skipping it, undoing a judgment.

A task has ``overlap`` slots (its batch's). A slot is held by an unexpired active claim or by
a submitted one; a skipped, released or expired claim holds none. Every claim on a task is
made while holding that task's row lock and after counting its slots afresh, so two
annotators never take the same slot. On PostgreSQL the candidate is picked with
``FOR UPDATE SKIP LOCKED``, so concurrent annotators pass over each other's rows instead of
queueing on them; SQLite serializes writers (``BEGIN IMMEDIATE``), which is equally safe.
"""

import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.choices import task_choice
from annotation.models import (
    Adjudication,
    Batch,
    BatchStatus,
    Choice,
    Claim,
    ClaimStatus,
    Guidelines,
    Judgment,
    Membership,
    Project,
    ProjectKind,
    Role,
    Task,
)
from annotation.selectors import NotAMember, membership_get
from ftapp.errors import Conflict, Forbidden, InvalidInput

# Each claim is first tried in the gold pool with this probability (the project's gold rate).
_random = random.SystemRandom()


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


def _slot_holders(now) -> Q:
    """Claims that hold a slot: submitted ones, and active ones whose lease runs."""
    return Q(status=ClaimStatus.SUBMITTED) | Q(status=ClaimStatus.ACTIVE, expires_at__gt=now)


def _annotator_project(user: AbstractBaseUser, project_id: int) -> Project:
    membership = membership_get(user=user, project_id=project_id)
    if membership.role != Role.ANNOTATOR:
        raise Forbidden("Only annotators of this project have a queue in it.")
    return membership.project


def _held_claim(user: AbstractBaseUser, project: Project, now) -> Claim | None:
    """The annotator's unexpired claim in an open batch, newest first (an undone task,
    re-leased, comes back before the task shown after it). Their lapsed leases are released
    on the way: they hold nothing, their tasks can come back to them or go to someone else,
    and a judgment still sent for one is kept as late."""
    active = list(
        Claim.objects.select_related("task")
        .filter(annotator=user, task__project=project, status=ClaimStatus.ACTIVE)
        .order_by("-claimed_at")
    )
    lapsed = [c.pk for c in active if c.expires_at <= now]
    if lapsed:
        Claim.objects.filter(pk__in=lapsed, status=ClaimStatus.ACTIVE).update(
            status=ClaimStatus.RELEASED, updated_at=now
        )
    held = [c for c in active if c.expires_at > now]
    if not held:
        return None
    open_batches = set(
        Batch.objects.filter(
            pk__in={c.task.batch_id for c in held}, status=BatchStatus.OPEN
        ).values_list("pk", flat=True)
    )
    return next((c for c in held if c.task.batch_id in open_batches), None)


def _candidates(batch: Batch, user: AbstractBaseUser, *, gold: bool, now) -> QuerySet[Task]:
    mine = Claim.objects.filter(
        task=OuterRef("pk"),
        annotator=user,
        status__in=[ClaimStatus.ACTIVE, ClaimStatus.SUBMITTED, ClaimStatus.SKIPPED],
    )
    tasks = Task.objects.filter(batch=batch, is_complete=False, is_gold=gold).exclude(Exists(mine))
    if not gold:
        # Gold tasks are shown to every assigned annotator; others only fill their slots.
        taken = (
            Claim.objects.filter(_slot_holders(now), task=OuterRef("pk"))
            .order_by()
            .values("task")
            .annotate(n=Count("id"))
            .values("n")
        )
        tasks = tasks.alias(taken=Coalesce(Subquery(taken), 0)).filter(taken__lt=batch.overlap)
    return tasks.order_by("id")


def _lock_first_free(batch: Batch, user: AbstractBaseUser, *, gold: bool, now) -> Task | None:
    """Locks the first task of the batch with a free slot for this annotator, skipping rows
    other transactions hold.

    The search starts after the last task the annotator was given in this batch, so someone
    working far ahead of the others does not re-scan every task they already judged; only
    when nothing is free there does it look from the start again (a lease that lapsed or a
    skip may have freed a slot behind them)."""
    candidates = _candidates(batch, user, gold=gold, now=now)
    last_given = (
        Claim.objects.filter(annotator=user, task__batch=batch)
        .order_by("-task_id")
        .values("task_id")[:1]
    )
    after_last = candidates.filter(id__gt=Coalesce(Subquery(last_given), 0))
    for scope in (after_last, candidates):
        task = _first_free(scope, batch, gold=gold, now=now)
        if task is not None:
            return task
    return None


def _first_free(candidates: QuerySet[Task], batch: Batch, *, gold: bool, now) -> Task | None:
    """Re-counts after the lock: the candidate query's snapshot may predate a claim that was
    committed just before the lock was granted."""
    while True:
        task = (
            candidates.select_for_update(skip_locked=True, no_key=True)
            .only("id", "kind", "project_id", "batch_id", "is_gold")
            .first()
        )
        if task is None or gold:
            return task
        if Claim.objects.filter(_slot_holders(now), task=task).count() < batch.overlap:
            return task
        # Filled in the meantime. The row stays locked until commit, so the next query
        # skips it.


def _open_batches(user: AbstractBaseUser, project: Project) -> list[Batch]:
    return list(
        Batch.objects.filter(
            project=project, status=BatchStatus.OPEN, assignments__annotator=user
        ).order_by(F("due_at").asc(nulls_last=True), "position", "id")
    )


@transaction.atomic
def claim_next(*, user: AbstractBaseUser, project_id: int) -> Claim | None:
    """The annotator's current claim if they hold one, else a new claim on the next task with
    a free slot in their open batches (due date, batch order, task order); ``None`` when the
    queue is empty. Gold tasks are drawn at the project's gold rate."""
    project = _annotator_project(user, project_id)
    now = timezone.now()
    held = _held_claim(user, project, now)
    if held is not None:
        held.task.project = project
        return held
    batches = _open_batches(user, project)
    gold_first = project.gold_rate > 0 and _random.random() < project.gold_rate
    for gold in (gold_first, not gold_first):
        for batch in batches:
            task = _lock_first_free(batch, user, gold=gold, now=now)
            if task is not None:
                task.project = project
                return _lease(task, user, project, now)
    return None


def _lease(task: Task, user: AbstractBaseUser, project: Project, now) -> Claim:
    """One statement: a new claim, or the annotator's released claim on the task renewed."""
    expires = now + timedelta(minutes=project.lease_minutes)
    swapped = task.kind == ProjectKind.PAIRWISE and _random.random() < 0.5
    (claim,) = Claim.objects.bulk_create(
        [
            Claim(
                task=task,
                annotator=user,
                status=ClaimStatus.ACTIVE,
                claimed_at=now,
                expires_at=expires,
                swapped=swapped,
                skip_reason="",
                updated_at=now,
            )
        ],
        update_conflicts=True,
        unique_fields=["task", "annotator"],
        update_fields=[
            "status",
            "claimed_at",
            "expires_at",
            "swapped",
            "skip_reason",
            "updated_at",
        ],
    )
    if claim.pk is None:  # backends that cannot return ids from an upsert (SQLite < 3.35)
        claim = Claim.objects.get(task=task, annotator=user)
    claim.task = task
    return claim


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
            errors["choice"] = [f"Choose one of {', '.join(Choice.values)}."]
    scores = data.get("rubric_scores") or {}
    if not isinstance(scores, dict):
        errors["rubric_scores"] = ["Give rubric scores as an object of dimension: 1..5."]
    else:
        for name, value in scores.items():
            if name not in project.rubric:
                errors.setdefault("rubric_scores", []).append(f"Unknown dimension {name!r}.")
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
    """Adds ``delta`` to the task's judgment count and sets ``is_complete`` in one UPDATE:
    the row lock it takes serializes concurrent submits, and each sees the other's count."""
    count = F("judgment_count") + delta
    complete = (
        Value(False)
        if task.is_gold or overlap is None
        else Case(When(judgment_count__gte=overlap - delta, then=True), default=False)
    )
    Task.objects.filter(pk=task.pk).update(judgment_count=count, is_complete=complete)


def judgment_submit(
    *, user: AbstractBaseUser, task_id: int, idempotency_key: str = "", **data: Any
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


def _submit(user: AbstractBaseUser, task_id: int, key: str, data: dict[str, Any]) -> Judgment:
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
    return judgment


@transaction.atomic
def task_skip(*, user: AbstractBaseUser, task_id: int, reason: str) -> Claim:
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


def _exported(judgment: Judgment) -> bool:
    """Whether an export may hold the judgment: one whose snapshot was taken after the
    judgment was made. Exports are immutable, so such a judgment must stay as it is."""
    from evaluation.models import Export, ExportStatus

    return Export.objects.filter(
        project_id=judgment.task.project_id,
        status__in=[ExportStatus.RUNNING, ExportStatus.COMPLETED],
        snapshot_at__gte=judgment.created_at,
    ).exists()


@transaction.atomic
def judgment_undo(*, user: AbstractBaseUser, project_id: int) -> Claim | None:
    """Withdraws the annotator's most recent judgment in the project and gives them the task
    back under a fresh lease. ``None`` when there is nothing to undo."""
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
    if Adjudication.objects.filter(task_id=judgment.task_id).exists():
        raise Conflict("A lead has adjudicated this task; the judgment can no longer be undone.")
    if _exported(judgment):
        raise Conflict("This judgment may be in a dataset export already; it can't be undone.")
    task, claim = judgment.task, judgment.claim
    judgment.delete()
    _count_judgment(task, task.batch.overlap if task.batch else None, -1)
    now = timezone.now()
    claim.status = ClaimStatus.ACTIVE
    claim.claimed_at = now
    claim.expires_at = now + timedelta(minutes=project.lease_minutes)
    claim.save(update_fields=["status", "claimed_at", "expires_at", "updated_at"])
    claim.task = task
    task.project = project
    return claim
