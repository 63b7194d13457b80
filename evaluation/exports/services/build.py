"""Building an export's files, by a Celery worker on the ``exports`` queue or in-process by
``manage.py export``.

A build holds a PostgreSQL advisory lock on its export for as long as it runs, on a connection
of its own: PostgreSQL drops it with the connection when the process dies, however it dies. So
an export that is ``running`` while nobody holds its lock has lost its builder, and the sweep
(``jobs.exports_recover``) queues it again; the build is deterministic, so the files it then
writes are byte for byte those the first build would have written on the same judgments.
"""

import hashlib
import json
import logging
import shutil
import time
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import F
from django.utils import timezone

from annotation.judgment_rules import Pseudonyms
from annotation.models import Project
from evaluation.exports.card import CardStats, card_markdown
from evaluation.exports.consensus import consensus_fit
from evaluation.exports.examples import Example, group_examples
from evaluation.exports.formats import ROWS
from evaluation.exports.services.files import (
    JUDGMENTS_FILE,
    SPLITS,
    VERDICTS_FILE,
    JsonLinesWriter,
    RedactedTexts,
    export_dir,
    partial_dir,
    write_ids,
)
from evaluation.exports.source import (
    PromptData,
    TaskData,
    excluded_annotators,
    prompts_read,
    tasks_to_read,
)
from evaluation.models import Export, ExportStatus, Round

logger = logging.getLogger(__name__)

PROGRESS_EVERY_SECONDS = 1.0
LOCK_CLASS = 0x6578  # "ex": advisory lock keys of exports
UNFINISHED = (ExportStatus.QUEUED, ExportStatus.RUNNING)


class _Stopped(Exception):
    """The export stopped being this build's to finish: cancelled meanwhile."""


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
            shutil.rmtree(partial_dir(export), ignore_errors=True)
            export.refresh_from_db()
        except Exception as error:
            logger.exception("Export %s failed", export.pk)
            Export.objects.filter(pk=export.pk, status=ExportStatus.RUNNING).update(
                status=ExportStatus.FAILED,
                finished_at=timezone.now(),
                error=f"{type(error).__name__}: {error}",
            )
            shutil.rmtree(partial_dir(export), ignore_errors=True)
            raise
    finally:
        progress.close()
    return export


def gave_up_message(attempts: int) -> str:
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
        export.error = gave_up_message(locked.attempts)
        export.save(update_fields=["status", "finished_at", "error"])
        return False
    export.status, export.started_at, export.finished_at = ExportStatus.RUNNING, now, None
    export.attempts, export.heartbeat_at, export.error = locked.attempts + 1, now, ""
    export.progress_done = export.progress_total = 0
    export.snapshot_at = None
    export.save(
        update_fields=[
            "status",
            "started_at",
            "finished_at",
            "attempts",
            "heartbeat_at",
            "error",
            "progress_done",
            "progress_total",
            "snapshot_at",
        ]
    )
    return True


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


def split_examples(
    *,
    project: Project,
    kind: str,
    options: dict[str, Any],
    seed: int,
    test_fraction: float,
    excluded: dict[int, str],
    dropped: Counter,
) -> Iterator[tuple[int, list[PromptData], str, list[Example]]]:
    """The examples of an export as its build reads, selects and splits them: per group of
    identical prompts, the tasks read so far, the group, its split and its examples (none
    when the group gave none; ``dropped`` counts why)."""
    consensus = None
    if options.get("consensus") == "dawid_skene":
        consensus = consensus_fit(project=project, options=options, excluded=sorted(excluded))
    prompts = prompts_read(
        project_id=project.pk,
        options=options,
        excluded=sorted(excluded),
        details=kind == "judgments",
    )
    done = 0
    for group in _groups(prompts, options["dedupe"]):
        done += sum(len(p.tasks) for p in group)
        examples = group_examples(group, kind, options, dropped, consensus)
        split = split_of(group[0].content_hash, seed=seed, test_fraction=test_fraction)
        yield done, group, split, examples


def export_rows_expected(
    *, project: Project, kind: str, options: dict[str, Any], test_fraction: float, seed: int
) -> dict[str, int]:
    """The rows per split a build with these (cleaned) options would write from the
    judgments as they are now, counted by the build's own reading, selection and split
    without writing anything."""
    excluded = excluded_annotators(
        project_id=project.pk, min_gold_accuracy=options["min_gold_accuracy"]
    )
    rows = dict.fromkeys(SPLITS, 0)
    with transaction.atomic():
        for _done, _group, split, examples in split_examples(
            project=project,
            kind=kind,
            options=options,
            seed=seed,
            test_fraction=test_fraction,
            excluded=excluded,
            dropped=Counter(),
        ):
            rows[split] += len(examples)
    return rows


def _build(export: Export, progress: _Progress) -> None:
    options, kind, fmt = export.options, export.kind, export.format
    partial = partial_dir(export)
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    writers = {split: JsonLinesWriter(partial / f"{split}.jsonl") for split in SPLITS}
    texts = RedactedTexts(options["redact_pii"])
    stats = CardStats()
    used, verdicts = array("q"), array("q")
    to_row = ROWS[kind]
    try:
        with _snapshot() as snapshot_at:
            progress.snapshot_taken(snapshot_at)
            excluded = excluded_annotators(
                project_id=export.project_id, min_gold_accuracy=options["min_gold_accuracy"]
            )
            pseudonyms = Pseudonyms(project_id=export.project_id)
            total = tasks_to_read(project_id=export.project_id, options=options)
            progress.report(0, total, force=True)
            for done, group, split, examples in split_examples(
                project=export.project,
                kind=kind,
                options=options,
                seed=export.seed,
                test_fraction=export.test_fraction,
                excluded=excluded,
                dropped=stats.dropped,
            ):
                progress.report(done, total)
                if not examples:
                    continue
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
                verdicts.extend(t.verdict.id for t in used_tasks if t.verdict is not None)
        files = {split: writer.close() for split, writer in writers.items()}
        progress.report(total, total, force=True)
    finally:
        for writer in writers.values():
            writer.file.close()
    judgments_file = write_ids(partial / JUDGMENTS_FILE, used)
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
    if options.get("judge_fill"):
        recorded = options["judge_calibration"]
        card["judge"] = {
            "judge": recorded["judge"],
            "prompt_version": recorded["prompt_version"],
            "min_agreement": options["judge_min_agreement"],
            "calibration": recorded["figures"],
            "rows": {split: stats.judge_rows[split] for split in SPLITS},
            "tasks": len(verdicts),
            "verdicts_file": write_ids(partial / VERDICTS_FILE, verdicts),
        }
    (partial / "card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    (partial / "card.md").write_text(card_markdown(card))
    final = export_dir(export)
    with transaction.atomic():
        # Under the row's lock, so that a cancel comes either before (and nothing is
        # published) or after (and finds it completed).
        if (
            not Export.objects.select_for_update()
            .filter(pk=export.pk, status=ExportStatus.RUNNING)
            .exists()
        ):
            raise _Stopped
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
        export.files, export.card, export.snapshot_at = files, card, snapshot_at
        export.status, export.finished_at = ExportStatus.COMPLETED, timezone.now()
        export.progress_done = export.progress_total = total
        export.save(
            update_fields=[
                "files",
                "card",
                "snapshot_at",
                "status",
                "finished_at",
                "progress_done",
                "progress_total",
            ]
        )


def _used_judgments(kind: str, examples, used_tasks: list[TaskData]) -> Iterator[int]:
    if kind == "judgments":
        return (e.vote.id for e in examples if e.vote is not None)
    return (v.id for t in used_tasks for v in t.votes)


def split_of(content_hash: str, *, seed: int, test_fraction: float) -> str:
    """A stable draw per normalized prompt: the same prompt lands in the same split in
    every export with this seed, whatever else the project holds."""
    digest = hashlib.sha256(f"{seed}:{content_hash}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") < test_fraction * 2**64 else "train"
