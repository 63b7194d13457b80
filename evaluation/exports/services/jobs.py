"""Starting an export, cancelling it, retrying it, and queueing again those whose builder
vanished (the sweep, ``exports_recover``: see ``build`` for the lock that tells)."""

import functools
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from annotation.models import Project
from annotation.selectors import project_get_for_lead
from evaluation.exports.judge import judge_labels_admit
from evaluation.exports.options import export_options_clean
from evaluation.exports.selectors import export_get_for_lead
from evaluation.exports.services.build import LOCK_CLASS, UNFINISHED, gave_up_message
from evaluation.exports.services.files import partial_dir
from evaluation.models import Export, ExportStatus
from ftapp.actors import Actor, System, user_or_none
from ftapp.errors import Conflict, InvalidInput
from ftapp.queueing import enqueue_on_commit

logger = logging.getLogger(__name__)


def export_start(
    *,
    by: Actor,
    project: Project | None = None,
    project_id: int | None = None,
    kind: str,
    format: str,
    filters: dict[str, Any] | None = None,
    test_fraction: float = 0.1,
    seed: int = 0,
) -> Export:
    """Records an export and queues its build. Leads only. The system (the command line)
    passes the project itself and builds the export in its own process. An export asking
    for judge labels is refused here unless the judge's calibration allows it."""
    if not isinstance(by, System):
        project = (
            None if project_id is None else project_get_for_lead(user=by, project_id=project_id)
        )
    if project is None:
        raise InvalidInput("Name the project.", fields={"project": ["Required."]})
    if isinstance(test_fraction, bool) or not 0.0 <= test_fraction <= 0.9:
        raise InvalidInput(
            "Invalid test fraction.", fields={"test_fraction": ["A number from 0 to 0.9."]}
        )
    options = export_options_clean(kind=kind, format=format, filters=filters)
    # Read once, here: the judge's calibration as the export was asked, kept with it.
    options = judge_labels_admit(project=project, options=options)
    if kind == "judgments":
        format = "trl"  # one shape whatever was asked; recorded as such
    with transaction.atomic():
        export = Export.objects.create(
            project=project,
            kind=kind,
            format=format,
            options=options,
            test_fraction=test_fraction,
            seed=seed,
            created_by=user_or_none(by),
            heartbeat_at=timezone.now(),
        )
        if not isinstance(by, System):
            enqueue_on_commit(
                lambda: _queue_build(export.pk),
                undo=lambda: Export.objects.filter(
                    pk=export.pk, status=ExportStatus.QUEUED
                ).delete(),
            )
    return export


def _queue_build(export_id: int) -> None:
    from evaluation.tasks import build_export

    build_export.apply_async([export_id], ignore_result=True)


@contextmanager
def _unless_building(export_id: int) -> Iterator[bool]:
    """Yields whether no process builds the export, holding its lock meanwhile so that none
    starts to. (Without PostgreSQL there is no lock: only builds in this process exist.)"""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_CLASS, export_id])
        free = bool(cursor.fetchone()[0])
    try:
        yield free
    finally:
        if free:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_CLASS, export_id])


def export_cancel(*, by: User, export_id: int) -> Export:
    """Stops a queued or running export: its build stops at its next progress report (within
    about a second) and removes what it had written. Leads only."""
    export = export_get_for_lead(user=by, export_id=export_id)
    with transaction.atomic():
        locked = Export.objects.select_for_update().get(pk=export.pk)
        if locked.status not in UNFINISHED:
            raise Conflict(f"The export is already {locked.status}.")
        Export.objects.filter(pk=export.pk).update(
            status=ExportStatus.CANCELLED, finished_at=timezone.now()
        )
    with _unless_building(export.pk) as nobody_builds:
        if nobody_builds:  # else its builder removes its own files as it stops
            shutil.rmtree(partial_dir(export), ignore_errors=True)
    export.refresh_from_db()
    return export


def export_retry(*, by: User, export_id: int) -> Export:
    """Queues a failed or cancelled export again, with the same options. It is a new build:
    it reads the judgments as they are when it starts (a new snapshot time) and has its
    attempts back. Leads only."""
    export = export_get_for_lead(user=by, export_id=export_id)
    with _unless_building(export.pk) as nobody_builds, transaction.atomic():
        locked = Export.objects.select_for_update().get(pk=export.pk)
        if locked.status not in (ExportStatus.FAILED, ExportStatus.CANCELLED):
            raise Conflict(
                f"Only a failed or cancelled export can be retried; this one is {locked.status}."
            )
        if not nobody_builds:
            raise Conflict("The export is still stopping; retry it in a moment.")
        shutil.rmtree(partial_dir(export), ignore_errors=True)
        previous = locked.status
        _requeue(locked, attempts=0)
    # Queued once the lock is let go: a worker quick to take it must find it free.
    enqueue_on_commit(
        lambda: _queue_build(export.pk),
        undo=lambda: Export.objects.filter(pk=export.pk, status=ExportStatus.QUEUED).update(
            status=previous,
            finished_at=timezone.now(),
            error="Not queued again: the task queue (Redis) was not taking work.",
        ),
    )
    export.refresh_from_db()
    return export


def _requeue(export: Export, *, attempts: int) -> None:
    export.status, export.attempts = ExportStatus.QUEUED, attempts
    export.heartbeat_at, export.error, export.files, export.card = timezone.now(), "", {}, {}
    export.progress_done = export.progress_total = 0
    export.snapshot_at = export.started_at = export.finished_at = None
    export.save(
        update_fields=[
            "status",
            "attempts",
            "heartbeat_at",
            "error",
            "files",
            "card",
            "progress_done",
            "progress_total",
            "snapshot_at",
            "started_at",
            "finished_at",
        ]
    )


def exports_recover(*, now: datetime | None = None) -> dict[str, int]:
    """The sweep's part for exports. A ``running`` export nobody builds lost its builder: it is
    queued again from nothing (its snapshot time cleared, so it blocks no undo meanwhile), or
    marked failed once its worker died ``JOB_MAX_ATTEMPTS`` times. A ``queued`` export that
    nothing took up for ``STALE_JOB_SECONDS`` may have lost its message (a Redis restarted
    empty): it is sent again; a copy that turns out to be extra finds the export taken or done
    and returns at once."""
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.STALE_JOB_SECONDS)
    counts = {"exports_requeued": 0, "exports_failed": 0, "exports_resent": 0}
    running = Export.objects.filter(status=ExportStatus.RUNNING)
    if connection.vendor != "postgresql":
        running = running.filter(heartbeat_at__lt=stale_before)
    for export_id in running.order_by("id").values_list("id", flat=True):
        with _unless_building(export_id) as nobody_builds:
            outcome = _recover(export_id, now) if nobody_builds else None
        if outcome is not None:
            logger.warning("Export %s lost its builder: %s", export_id, outcome)
            counts[f"exports_{outcome}"] += 1
        if outcome == "requeued":
            # Queued once the lock is let go: a worker quick to take it must find it free.
            transaction.on_commit(functools.partial(_queue_build, export_id))
    waiting = Export.objects.filter(status=ExportStatus.QUEUED).filter(
        Q(heartbeat_at__lt=stale_before) | Q(heartbeat_at__isnull=True, created_at__lt=stale_before)
    )
    for export_id in waiting.values_list("id", flat=True):
        # Conditional, so that two sweeps at once send it once.
        if waiting.filter(pk=export_id).update(heartbeat_at=now):
            transaction.on_commit(functools.partial(_queue_build, export_id))
            counts["exports_resent"] += 1
    return counts


@transaction.atomic
def _recover(export_id: int, now: datetime) -> str | None:
    export = Export.objects.select_for_update().get(pk=export_id)
    if export.status != ExportStatus.RUNNING:
        return None
    shutil.rmtree(partial_dir(export), ignore_errors=True)
    if export.attempts >= settings.JOB_MAX_ATTEMPTS:
        export.status, export.finished_at = ExportStatus.FAILED, now
        export.error = gave_up_message(export.attempts)
        export.save(update_fields=["status", "finished_at", "error"])
        return "failed"
    _requeue(export, attempts=export.attempts)
    return "requeued"
