"""Claiming: the annotator's next task, taken from a free slot under a lease.

A task has ``overlap + extra_slots`` slots: its batch's overlap, and the slots adaptive
overlap added (``annotation.services.overlap``; they only ever grow, under the task's row
lock). A slot is held by an unexpired active claim or by a submitted one; a skipped, released
or expired claim holds none. Every claim on a task is made while holding that task's row lock
and after counting its slots afresh (reading ``extra_slots`` under that lock), so two
annotators never take the same slot. On PostgreSQL the candidate is picked with
``FOR UPDATE SKIP LOCKED``, so concurrent annotators pass over each other's rows instead of
queueing on them; SQLite serializes writers (``BEGIN IMMEDIATE``), which is equally safe.
"""

import random
from datetime import timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.models import (
    Batch,
    BatchStatus,
    Claim,
    ClaimStatus,
    Project,
    ProjectKind,
    Role,
    Task,
)
from annotation.selectors import membership_get
from ftapp.errors import Conflict, Forbidden

# Each claim is first tried in the gold pool with this probability (the project's gold rate).
_random = random.SystemRandom()


def _slot_holders(now) -> Q:
    """Claims that hold a slot: submitted ones, and active ones whose lease runs."""
    return Q(status=ClaimStatus.SUBMITTED) | Q(status=ClaimStatus.ACTIVE, expires_at__gt=now)


def _annotator_project(user: User, project_id: int) -> Project:
    membership = membership_get(user=user, project_id=project_id)
    if membership.role != Role.ANNOTATOR:
        raise Forbidden("Only annotators of this project have a queue in it.")
    if membership.project.archived_at is not None:
        raise Conflict("This project is archived: it serves no more tasks.")
    return membership.project


def _held_claim(user: User, project: Project, now) -> Claim | None:
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


def _candidates(batch: Batch, user: User, *, gold: bool, now) -> QuerySet[Task]:
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
        tasks = tasks.alias(taken=Coalesce(Subquery(taken), 0)).filter(
            taken__lt=F("extra_slots") + batch.overlap
        )
    return tasks.order_by("id")


def _lock_first_free(batch: Batch, user: User, *, gold: bool, now) -> Task | None:
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
            .only("id", "kind", "project_id", "batch_id", "is_gold", "extra_slots")
            .first()
        )
        if task is None or gold:
            return task
        slots = batch.overlap + task.extra_slots
        if Claim.objects.filter(_slot_holders(now), task=task).count() < slots:
            return task
        # Filled in the meantime. The row stays locked until commit, so the next query
        # skips it.


def _open_batches(user: User, project: Project) -> list[Batch]:
    return list(
        Batch.objects.filter(
            project=project, status=BatchStatus.OPEN, assignments__annotator=user
        ).order_by(F("due_at").asc(nulls_last=True), "position", "id")
    )


@transaction.atomic
def claim_next(*, user: User, project_id: int) -> Claim | None:
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


def _lease(task: Task, user: User, project: Project, now) -> Claim:
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
