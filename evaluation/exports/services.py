"""Writes of exports: start one, build its files (run by a Celery worker on the ``exports``
queue, or in-process by ``manage.py export``), cancel it, retry it, and queue again those whose
builder vanished.

A build holds a PostgreSQL advisory lock on its export for as long as it runs, on a connection
of its own: PostgreSQL drops it with the connection when the process dies, however it dies. So
an export that is ``running`` while nobody holds its lock has lost its builder, and the sweep
(``exports_recover``) queues it again; the build is deterministic, so the files it then writes
are byte for byte those the first build would have written on the same judgments.
"""

import functools
import hashlib
import json
import logging
import shutil
import time
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from annotation.judgment_rules import Pseudonyms
from annotation.models import Project
from annotation.selectors import project_get_for_lead
from evaluation.exports.card import CardStats, card_markdown
from evaluation.exports.consensus import consensus_fit
from evaluation.exports.formats import ROWS
from evaluation.exports.options import export_options_clean
from evaluation.exports.select import group_examples
from evaluation.exports.source import (
    PromptData,
    TaskData,
    excluded_annotators,
    prompts_read,
    tasks_to_read,
)
from evaluation.models import Export, ExportStatus, Round
from ftapp.actors import Actor, System, user_or_none
from ftapp.errors import Conflict, InvalidInput
from ftapp.queueing import enqueue_on_commit

logger = logging.getLogger(__name__)

SPLITS = ("train", "test")
JUDGMENTS_FILE = "judgments_used.txt"
PROGRESS_EVERY_SECONDS = 1.0
LOCK_CLASS = 0x6578  # "ex": advisory lock keys of exports
UNFINISHED = (ExportStatus.QUEUED, ExportStatus.RUNNING)


class _Stopped(Exception):
    """The export stopped being this build's to finish: cancelled meanwhile."""


def export_dir(export: Export) -> Path:
    return Path(settings.EXPORTS_DIR) / str(export.pk)


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
    passes the project itself and builds the export in its own process."""
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


def export_build(*, export_id: int) -> Export:
    """Builds the files of a queued export. A redelivered task (the worker died half-way)
    starts again from nothing, as long as the export has attempts left; a finished,
    failed or cancelled export is never built again here (see ``export_retry``)."""
    export = Export.objects.select_related("project").get(pk=export_id)
    if export.status not in UNFINISHED:
        return export
    progress = _Progress(export)
    try:
        if not progress.lock():
            # Another process is building it (a task delivered twice): leave it to that one.
            return export
        if not _begin(export):
            return export
        try:
            _build(export, progress)
        except _Stopped:
            shutil.rmtree(_partial_dir(export), ignore_errors=True)
            export.refresh_from_db()
        except Exception as error:
            logger.exception("Export %s failed", export.pk)
            Export.objects.filter(pk=export.pk, status=ExportStatus.RUNNING).update(
                status=ExportStatus.FAILED,
                finished_at=timezone.now(),
                error=f"{type(error).__name__}: {error}",
            )
            shutil.rmtree(_partial_dir(export), ignore_errors=True)
            raise
    finally:
        progress.close()
    return export


def _gave_up_message(attempts: int) -> str:
    return (
        f"The worker building this export stopped {attempts} times before the end (killed, "
        "or out of memory); it is not tried again by itself. Retry it once the cause is fixed."
    )


@transaction.atomic
def _begin(export: Export) -> bool:
    """Marks the build begun and counts it, unless the export was cancelled meanwhile or has
    used up its attempts (each of which ended with its worker's death: a build that fails
    otherwise marks the export failed)."""
    locked = Export.objects.select_for_update().get(pk=export.pk)
    if locked.status not in UNFINISHED:
        export.status = locked.status
        return False
    now = timezone.now()
    if locked.attempts >= settings.JOB_MAX_ATTEMPTS:
        export.status, export.finished_at = ExportStatus.FAILED, now
        export.error = _gave_up_message(locked.attempts)
        export.save(update_fields=["status", "finished_at", "error"])
        return False
    export.status, export.started_at, export.finished_at = ExportStatus.RUNNING, now, None
    export.attempts, export.heartbeat_at, export.error = locked.attempts + 1, now, ""
    export.progress_done = export.progress_total = 0
    export.snapshot_at = None
    export.save(
        update_fields=[
            "status", "started_at", "finished_at", "attempts", "heartbeat_at", "error",
            "progress_done", "progress_total", "snapshot_at",
        ]
    )
    return True


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
    from evaluation.exports.selectors import export_get_for_lead

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
            shutil.rmtree(_partial_dir(export), ignore_errors=True)
    export.refresh_from_db()
    return export


def export_retry(*, by: User, export_id: int) -> Export:
    """Queues a failed or cancelled export again, with the same options. It is a new build:
    it reads the judgments as they are when it starts (a new snapshot time) and has its
    attempts back. Leads only."""
    from evaluation.exports.selectors import export_get_for_lead

    export = export_get_for_lead(user=by, export_id=export_id)
    with _unless_building(export.pk) as nobody_builds, transaction.atomic():
        locked = Export.objects.select_for_update().get(pk=export.pk)
        if locked.status not in (ExportStatus.FAILED, ExportStatus.CANCELLED):
            raise Conflict(
                f"Only a failed or cancelled export can be retried; this one is {locked.status}."
            )
        if not nobody_builds:
            raise Conflict("The export is still stopping; retry it in a moment.")
        shutil.rmtree(_partial_dir(export), ignore_errors=True)
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
            "status", "attempts", "heartbeat_at", "error", "files", "card", "progress_done",
            "progress_total", "snapshot_at", "started_at", "finished_at",
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
    shutil.rmtree(_partial_dir(export), ignore_errors=True)
    if export.attempts >= settings.JOB_MAX_ATTEMPTS:
        export.status, export.finished_at = ExportStatus.FAILED, now
        export.error = _gave_up_message(export.attempts)
        export.save(update_fields=["status", "finished_at", "error"])
        return "failed"
    _requeue(export, attempts=export.attempts)
    return "requeued"


def _partial_dir(export: Export) -> Path:
    final = export_dir(export)
    return final.with_name(final.name + ".partial")


def split_of(content_hash: str, *, seed: int, test_fraction: float) -> str:
    """A stable draw per normalized prompt: the same prompt lands in the same split in
    every export with this seed, whatever else the project holds."""
    digest = hashlib.sha256(f"{seed}:{content_hash}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") < test_fraction * 2**64 else "train"


class _Writer:
    """A JSON Lines file hashed as it is written."""

    encode = json.JSONEncoder(ensure_ascii=False).encode

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = path.open("wb")
        self.sha256 = hashlib.sha256()
        self.rows = 0
        self.bytes = 0

    def write(self, row: dict[str, Any]) -> None:
        line = (self.encode(row) + "\n").encode()
        self.file.write(line)
        self.sha256.update(line)
        self.rows += 1
        self.bytes += len(line)

    def close(self) -> dict[str, Any]:
        self.file.close()
        return {
            "name": self.path.name,
            "rows": self.rows,
            "bytes": self.bytes,
            "sha256": self.sha256.hexdigest(),
        }


class _Texts:
    """Applies PII redaction to every text that goes into a row, remembering each text's
    result within a prompt group (a prompt repeats in many rows), and counts what was
    replaced in the rows as written."""

    def __init__(self, redact: bool) -> None:
        self.redactor = None
        if redact:
            from evaluation.exports.pii import Redactor

            self.redactor = Redactor()
        self.cache: dict[str, tuple[str, Counter]] = {}
        self.counts: Counter[str] = Counter()

    def __call__(self, text: str) -> str:
        if self.redactor is None or not text:
            return text
        hit = self.cache.get(text)
        if hit is None:
            before = Counter(self.redactor.counts)
            redacted = self.redactor.redact(text)
            hit = self.cache[text] = (redacted, self.redactor.counts - before)
        self.counts.update(hit[1])
        return hit[0]

    def next_group(self) -> None:
        self.cache.clear()


class _Progress:
    """Progress goes through a connection of its own: the build reads in one long
    transaction whose writes nobody would see until it ends. Each report is also the build's
    heartbeat and its look at the cancel flag (the export's status). The same connection
    holds the export's advisory lock while it is built (see the module's docstring).
    (SQLite would lock against that reader, and its exports are the demo's small, in-process
    ones: neither progress nor a lock there.)"""

    def __init__(self, export: Export) -> None:
        self.export_id = export.pk
        self.connection = (
            connections.create_connection(DEFAULT_DB_ALIAS)
            if connection.vendor == "postgresql"
            else None
        )
        self.last = 0.0

    def lock(self) -> bool:
        if self.connection is None:
            return True
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_CLASS, self.export_id])
            return bool(cursor.fetchone()[0])

    def report(self, done: int, total: int, *, force: bool = False) -> None:
        """Raises ``_Stopped`` when the export was cancelled."""
        now = time.monotonic()
        if self.connection is None or (not force and now - self.last < PROGRESS_EVERY_SECONDS):
            return
        self.last = now
        with self.connection.cursor() as cursor:
            cursor.execute(
                "UPDATE evaluation_export SET progress_done = %s, progress_total = %s, "
                "heartbeat_at = now() WHERE id = %s RETURNING status",
                [done, total, self.export_id],
            )
            row = cursor.fetchone()
        # No row: the export is not committed yet (a build inside the caller's transaction).
        if row is not None and row[0] != ExportStatus.RUNNING:
            raise _Stopped

    def snapshot_taken(self, snapshot_at: datetime) -> None:
        """Made visible at once: from now on the judgments it holds can't be undone."""
        if self.connection is not None:
            with self.connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE evaluation_export SET snapshot_at = %s WHERE id = %s",
                    [snapshot_at, self.export_id],
                )

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


@contextmanager
def _snapshot() -> Iterator[datetime]:
    """One consistent view of the judgments for the whole build: judgments made meanwhile
    are in no part of it."""
    nested = connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql" and not nested:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                # One long sorted read: compiling it (JIT) cost 2.4 s of 14 s at 1M judgments,
                # and parallel workers each recompute the per-task vote aggregate (9.5 s
                # against 6.9 s in one process).
                cursor.execute("SET LOCAL jit = off")
                cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
                cursor.execute("SELECT transaction_timestamp()")
                yield cursor.fetchone()[0]
        else:
            yield timezone.now()


def _groups(prompts: Iterable[PromptData], dedupe: bool) -> Iterator[list[PromptData]]:
    group: list[PromptData] = []
    for prompt in prompts:
        if group and (not dedupe or prompt.content_hash != group[0].content_hash):
            yield group
            group = []
        group.append(prompt)
    if group:
        yield group


def _build(export: Export, progress: _Progress) -> None:
    options, kind, fmt = export.options, export.kind, export.format
    partial = _partial_dir(export)
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    writers = {split: _Writer(partial / f"{split}.jsonl") for split in SPLITS}
    texts = _Texts(options["redact_pii"])
    stats = CardStats()
    used = array("q")
    to_row = ROWS[kind]
    try:
        with _snapshot() as snapshot_at:
            progress.snapshot_taken(snapshot_at)
            excluded = excluded_annotators(
                project_id=export.project_id, min_gold_accuracy=options["min_gold_accuracy"]
            )
            pseudonyms = Pseudonyms(project_id=export.project_id)
            consensus = None
            if options.get("consensus") == "dawid_skene":
                consensus = consensus_fit(
                    project=export.project, options=options, excluded=sorted(excluded)
                )
            total = tasks_to_read(project_id=export.project_id, options=options)
            done = 0
            progress.report(done, total, force=True)
            prompts = prompts_read(
                project_id=export.project_id,
                options=options,
                excluded=sorted(excluded),
                details=kind == "judgments",
            )
            for group in _groups(prompts, options["dedupe"]):
                done += sum(len(p.tasks) for p in group)
                progress.report(done, total)
                examples = group_examples(group, kind, options, stats.dropped, consensus)
                if not examples:
                    continue
                split = split_of(
                    group[0].content_hash, seed=export.seed, test_fraction=export.test_fraction
                )
                used_tasks = list({t.id: t for e in examples for t in e.tasks}.values())
                stats.group(group, split, used_tasks)
                writer = writers[split]
                texts.next_group()
                for example in examples:
                    if example.vote is not None:
                        example.annotator = pseudonyms.name(example.vote.annotator_id)
                    writer.write(to_row(example, fmt, texts))
                    stats.example(example, split)
                used.extend(_used_judgments(kind, examples, used_tasks))
        files = {split: writer.close() for split, writer in writers.items()}
        progress.report(total, total, force=True)
    finally:
        for writer in writers.values():
            writer.file.close()
    judgments_file = _write_judgment_ids(partial / JUDGMENTS_FILE, used)
    card = {
        "export_id": export.pk,
        "project": {"id": export.project_id, "name": export.project.name},
        "kind": kind,
        "format": fmt,
        "seed": export.seed,
        "test_fraction": export.test_fraction,
        "snapshot_at": snapshot_at.isoformat(),
        "options": options,
        "rounds": list(
            Round.objects.filter(project_id=export.project_id, pk__in=options.get("rounds", []))
            .order_by("number")
            .values("id", "number", "name", "previous_model", model_name=F("model__name"))
        ),
        "excluded_annotators": dict(Counter(excluded.values())),
        "files": files,
        "dataset_sha256": hashlib.sha256(
            "".join(files[s]["sha256"] for s in SPLITS).encode()
        ).hexdigest(),
        "judgments_file": judgments_file,
        "redactions": dict(sorted(texts.counts.items())),
        "stats": stats.as_dict(),
    }
    (partial / "card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    (partial / "card.md").write_text(card_markdown(card))
    final = export_dir(export)
    with transaction.atomic():
        # Under the row's lock, so that a cancel comes either before (and nothing is
        # published) or after (and finds it completed).
        if not Export.objects.select_for_update().filter(
            pk=export.pk, status=ExportStatus.RUNNING
        ).exists():
            raise _Stopped
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
        export.files, export.card, export.snapshot_at = files, card, snapshot_at
        export.status, export.finished_at = ExportStatus.COMPLETED, timezone.now()
        export.progress_done = export.progress_total = total
        export.save(
            update_fields=[
                "files", "card", "snapshot_at", "status", "finished_at", "progress_done",
                "progress_total",
            ]
        )




def _used_judgments(kind: str, examples, used_tasks: list[TaskData]) -> Iterator[int]:
    if kind == "judgments":
        return (e.vote.id for e in examples)
    return (v.id for t in used_tasks for v in t.votes)


def _write_judgment_ids(path: Path, ids: array) -> dict[str, Any]:
    """The ids of exactly the judgments the rows came from, one a line, ascending."""
    digest = hashlib.sha256()
    with path.open("wb") as file:
        for judgment_id in sorted(ids):
            line = f"{judgment_id}\n".encode()
            file.write(line)
            digest.update(line)
    return {"name": path.name, "count": len(ids), "sha256": digest.hexdigest()}
