"""Generation runs whose worker vanished, found by the stale-job sweep
(``evaluation.tasks.recover_stale_jobs``) and dispatched again.

While a worker processes a chunk of a run's items it holds a shared advisory lock on the
run, and records the run's heartbeat as it begins each item. A run with items
still pending, no chunk in progress (the lock is free) and no heartbeat for
``STALE_JOB_SECONDS`` has lost its messages: it is dispatched again. Items stay exactly-once: a
chunk skips the items already answered and, through a lock per item, those another chunk is
answering at that moment (a message thought lost may only have been waiting in a long queue).
An item that a worker began ``JOB_MAX_ATTEMPTS`` times and never finished (its worker died each
time) is marked failed instead of being tried again.
"""

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from evaluation.models import GenerationItem, GenerationRun, ItemStatus, RunStatus

logger = logging.getLogger(__name__)

RUN_LOCK_CLASS = 0x6772  # "gr": advisory lock keys of generation runs
ITEM_LOCK_CLASS = 0x6769  # "gi": of generation items
HEARTBEAT_EVERY = timedelta(seconds=1)


def _locks() -> bool:
    return connection.vendor == "postgresql"


def _query(sql: str, params: list[int]) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return bool(cursor.fetchone()[0])


def _unlock(sql: str, params: list[int]) -> None:
    # A connection that broke meanwhile took its locks with it; its error is the one to see.
    with suppress(DatabaseError):
        _query(sql, params)


@contextmanager
def generation_run_worked_on(*, run_id: int) -> Iterator[None]:
    """Held by a chunk while it works, so that the sweep leaves the run alone."""
    if not _locks():
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock_shared(%s, %s)", [RUN_LOCK_CLASS, run_id])
    try:
        yield
    finally:
        _unlock("SELECT pg_advisory_unlock_shared(%s, %s)", [RUN_LOCK_CLASS, run_id])


@contextmanager
def generation_item_claimed(*, item_id: int) -> Iterator[bool]:
    """Yields whether this process may answer the item: no other chunk is answering it."""
    if not _locks():
        yield True
        return
    mine = _query("SELECT pg_try_advisory_lock(%s, %s)", [ITEM_LOCK_CLASS, item_id])
    try:
        yield mine
    finally:
        if mine:
            _unlock("SELECT pg_advisory_unlock(%s, %s)", [ITEM_LOCK_CLASS, item_id])


def _heartbeat(runs: QuerySet[GenerationRun]) -> None:
    now = timezone.now()
    runs.filter(Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - HEARTBEAT_EVERY)).update(
        heartbeat_at=now
    )


def generation_run_heartbeat(*, run_id: int) -> None:
    _heartbeat(GenerationRun.objects.filter(pk=run_id))


def _gave_up_message(starts: int) -> str:
    return (
        f"Work on this item stopped {starts} times before the end (its worker was killed, ran "
        "out of memory or crashed); it is not tried again by itself. Resume the run with its "
        "failures once the cause is fixed."
    )


def generation_item_begin(*, item_id: int) -> bool:
    """Counts a worker's start on a pending item; whether it may go on. ``False`` when the
    item is no longer pending, or when workers began it ``JOB_MAX_ATTEMPTS`` times already
    without ending (it is then marked failed). The usual case is two statements, paid on
    every item: the heartbeat and the conditional count."""
    _heartbeat(
        GenerationRun.objects.filter(
            pk=Subquery(GenerationItem.objects.filter(pk=item_id).order_by().values("run_id"))
        )
    )
    if (
        GenerationItem.objects.filter(
            pk=item_id, status=ItemStatus.PENDING, starts__lt=settings.JOB_MAX_ATTEMPTS
        ).update(starts=F("starts") + 1)
        == 1
    ):
        return True
    with transaction.atomic():
        gave_up = (
            GenerationItem.objects.select_for_update()
            .filter(pk=item_id, status=ItemStatus.PENDING, starts__gte=settings.JOB_MAX_ATTEMPTS)
            .first()
        )
        if gave_up is not None:
            gave_up.status, gave_up.error = ItemStatus.FAILED, _gave_up_message(gave_up.starts)
            gave_up.save(update_fields=["status", "error", "updated_at"])
    return False


def generation_item_end(*, item_id: int) -> None:
    """The worker got to the end of the item, whatever the answer: it did not die on it."""
    GenerationItem.objects.filter(pk=item_id).update(starts=0)


def generation_runs_recover(*, now: datetime | None = None) -> dict[str, int]:
    """The sweep's part for generation runs (see the module's docstring)."""
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.STALE_JOB_SECONDS)
    stale = GenerationRun.objects.filter(
        status__in=[RunStatus.QUEUED, RunStatus.RUNNING]
    ).alias(last_sign=Coalesce("heartbeat_at", "started_at", "created_at")).filter(
        last_sign__lt=stale_before
    )
    redispatched = 0
    for run_id in stale.order_by("id").values_list("id", flat=True):
        if _locks() and not _query(
            "SELECT pg_try_advisory_lock(%s, %s)", [RUN_LOCK_CLASS, run_id]
        ):
            continue  # a chunk is at work on it: slow, not lost
        try:
            # Conditional, so that two sweeps at once dispatch it once.
            taken = stale.filter(pk=run_id).update(heartbeat_at=now)
        finally:
            if _locks():
                _query("SELECT pg_advisory_unlock(%s, %s)", [RUN_LOCK_CLASS, run_id])
        if taken:
            logger.warning("Generation run %s made no progress: dispatched again", run_id)
            transaction.on_commit(functools.partial(_dispatch, run_id))
            redispatched += 1
    return {"runs_redispatched": redispatched}


def _dispatch(run_id: int) -> None:
    from evaluation.tasks import dispatch_run

    dispatch_run.delay(run_id)
