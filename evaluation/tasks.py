"""Celery tasks of the model side. Thin: each calls a service. Generation tasks are named
``generation.*`` and so routed to the ``generation`` queue.

Jobs whose worker vanished (a worker killed whole, whose messages wait in Redis for the
broker's visibility timeout, or a Redis restarted empty, which lost them) are found by a sweep
and queued again, with no one to ask: ``recover_stale_jobs`` runs on every worker's start and
from Celery beat (``CELERY_BEAT_SCHEDULE``); exports have their part in
``evaluation.exports.services.jobs``, runs theirs in ``evaluation.generation.recovery``."""

import logging
import socket
from collections.abc import Callable
from functools import partial

from celery import shared_task
from django.utils import timezone

from evaluation.exports.services.build import export_build
from evaluation.exports.services.jobs import exports_recover
from evaluation.generation.recovery import (
    generation_item_begin,
    generation_item_claimed,
    generation_item_end,
    generation_run_heartbeat,
    generation_run_worked_on,
    generation_runs_recover,
)
from evaluation.generation.selectors import (
    generation_items_pending_chunks,
    generation_run_purpose,
)
from evaluation.generation.services.runs import (
    generation_run_finish_if_done,
    generation_run_mark_running,
)
from evaluation.generation.services.worker import generation_item_process, worker_heartbeat_record
from evaluation.judging.services.worker import judge_item_process, judge_run_context
from evaluation.models import RunPurpose

logger = logging.getLogger(__name__)

# Nobody waits for the result of the tasks sent and forgotten (``ignore_result=True``): with
# Redis down, storing a result would hang the sender on the result backend for ~19 s.


@shared_task(name="ops.heartbeat", bind=True)
def heartbeat(self, queue: str) -> dict[str, str]:
    """Sent with ``apply_async(args=[queue], queue=queue)``: records that a worker consumes
    that queue."""
    if self.request.is_eager:
        hostname = f"in-process@{socket.gethostname()}"
    else:
        hostname = self.request.hostname
    worker_heartbeat_record(queue=queue, hostname=hostname, seen_at=timezone.now())
    return {"queue": queue, "hostname": hostname}


@shared_task(name="ops.recover_stale_jobs", ignore_result=True)
def recover_stale_jobs() -> dict[str, int]:
    """The sweep, sent by every worker as it starts and by Celery beat: exports, then
    generation runs."""
    now = timezone.now()
    counts = {**exports_recover(now=now), **generation_runs_recover(now=now)}
    if any(counts.values()):
        logger.warning("Stale jobs recovered: %s", counts)
    return counts


@shared_task(name="generation.dispatch_run", ignore_result=True)
def dispatch_run(run_id: int) -> int:
    generation_run_heartbeat(run_id=run_id)
    generation_run_mark_running(run_id=run_id)
    chunks = generation_items_pending_chunks(run_id=run_id)
    for item_ids in chunks:
        process_chunk.delay(run_id, item_ids)
    if not chunks:
        generation_run_finish_if_done(run_id=run_id)
    return len(chunks)


@shared_task(name="generation.process_chunk", ignore_result=True)
def process_chunk(run_id: int, item_ids: list[int]) -> None:
    """Acknowledged late: a worker killed half-way leaves the chunk to be redelivered (or to
    the sweep), and the items it finished are skipped then. A judge run's items ask for
    verdicts, a generation run's for responses."""
    process: Callable[..., object] = generation_item_process
    if generation_run_purpose(run_id=run_id) == RunPurpose.JUDGE:
        # Read once for the chunk: what its items share (run, prompt, guidelines, schema).
        process = partial(judge_item_process, context=judge_run_context(run_id=run_id))
    with generation_run_worked_on(run_id=run_id):
        for item_id in item_ids:
            with generation_item_claimed(item_id=item_id) as mine:
                if mine and generation_item_begin(item_id=item_id):
                    process(item_id=item_id)
                    generation_item_end(item_id=item_id)
    generation_run_finish_if_done(run_id=run_id)


@shared_task(name="exports.build", ignore_result=True)
def build_export(export_id: int) -> str:
    """Routed to the ``exports`` queue by its name."""
    return export_build(export_id=export_id).status
