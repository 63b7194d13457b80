"""Jobs whose worker vanished come back by themselves: a worker killed whole (main process
and pool) in the middle of an export, a Redis restarted empty that lost the messages of an
export and of a generation run, an export whose worker dies every time. Each test runs its
own Redis and its own Celery workers (each in a process group of its own, so that SIGKILL
reaches the main process and its pool at once) against the test database."""

import hashlib
import json
from pathlib import Path

import pytest
import redis
from celery import Celery

from annotation.models import Project, Response
from evaluation.exports.services.build import export_build
from evaluation.exports.services.files import export_dir
from evaluation.exports.services.jobs import export_start
from evaluation.generation.services.runs import generation_run_start
from evaluation.models import Export, ExportStatus, GenerationItem, ItemStatus
from ftapp.actors import SYSTEM
from tests.factories import (
    make_bulk_pairwise_project,
    make_endpoint,
    make_project,
    make_rated_project,
)
from tests.fake_model_server import FakeModelServer
from tests.workers import (
    RUN_PROMPTS,
    TEST_MODEL_KEY,
    Workers,
    assert_each_item_answered_once,
    dispatch_runs_through,
    wait_for_done_items,
    wait_for_run,
    wait_until,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Enough rows, with PII redaction on every text, that a build lasts seconds: a kill lands in
# the middle of it.
BULK_PROMPTS = 8000
OPTIONS = {"kind": "dpo", "format": "trl", "filters": {"redact_pii": True}, "seed": 7}
DATA_FILES = ("train.jsonl", "test.jsonl", "judgments_used.txt")


@pytest.fixture
def workers(start_worker):
    return Workers(start_worker)


def _send_builds_through(patch: pytest.MonkeyPatch, broker_url: str) -> None:
    """Exports started here go to the test's own Redis, where only its own workers listen."""
    producer = Celery("producer", broker=broker_url, set_as_current=False)
    patch.setattr(
        "evaluation.exports.services.jobs._queue_build",
        lambda export_id: producer.send_task("exports.build", args=[export_id], queue="exports"),
    )


def _mid_build(export: Export, attempt: int) -> bool:
    export.refresh_from_db()
    return (
        export.status == ExportStatus.RUNNING
        and export.attempts == attempt
        and 0 < export.progress_done < export.progress_total
    )


def _partial(export: Export) -> Path:
    final = export_dir(export)
    return final.with_name(final.name + ".partial")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _card_without_identity(export: Export) -> dict:
    card = json.loads((export_dir(export) / "card.json").read_text())
    for key in ("export_id", "snapshot_at"):
        card.pop(key)
    return card


def test_worker_killed_whole_mid_export_builds_it_again_by_itself_with_identical_files(
    lead, start_redis, workers
):
    """SIGKILL of the whole worker while it writes an export leaves the export running with
    a .partial directory and its message unacknowledged in Redis (for the visibility
    timeout). The next worker's sweep sees that nobody builds it and queues it again; the
    files are byte-identical to those of an uninterrupted build."""
    broker = start_redis(appendonly=True)  # as docker-compose.yml runs it
    project = Project.objects.get(pk=make_bulk_pairwise_project(lead, prompts=BULK_PROMPTS))
    with pytest.MonkeyPatch.context() as patch:
        _send_builds_through(patch, broker.url)
        export = export_start(by=lead, project_id=project.pk, **OPTIONS)
        victim, _ = workers.start(broker_url=broker.url)
        wait_until(lambda: _mid_build(export, attempt=1), "the build to be under way")
        workers.kill_whole(victim)
    export.refresh_from_db()
    assert export.status == ExportStatus.RUNNING and export.snapshot_at is not None
    assert _partial(export).is_dir() and not export_dir(export).exists()

    _, log = workers.start(broker_url=broker.url, rescuer=True)
    wait_until(
        lambda: (
            Export.objects.get(pk=export.pk).status
            not in (ExportStatus.QUEUED, ExportStatus.RUNNING)
        ),
        "the export to be built again",
    )
    workers.stop_all()
    export.refresh_from_db()
    assert export.status == ExportStatus.COMPLETED, export.error
    assert export.attempts == 2
    assert not _partial(export).exists()
    assert "lost its builder: requeued" in log.read_text()

    reference = export_start(by=SYSTEM, project=project, **OPTIONS)
    reference = export_build(export_id=reference.pk)
    assert reference.status == ExportStatus.COMPLETED
    for name in DATA_FILES:
        assert _sha256(export_dir(export) / name) == _sha256(export_dir(reference) / name), name
    assert export.files == reference.files
    assert _card_without_identity(export) == _card_without_identity(reference)


def test_an_export_whose_worker_dies_every_time_ends_failed(lead, start_redis, workers):
    """With two attempts allowed: killed in its first build, queued again by the sweep,
    killed in its second, it is then marked failed with a message that says why, and no
    worker builds it again."""
    broker = start_redis(appendonly=True)
    project = Project.objects.get(pk=make_bulk_pairwise_project(lead, prompts=BULK_PROMPTS))
    with pytest.MonkeyPatch.context() as patch:
        _send_builds_through(patch, broker.url)
        export = export_start(by=lead, project_id=project.pk, **OPTIONS)
    for attempt in (1, 2):
        victim, _ = workers.start(broker_url=broker.url, rescuer=attempt > 1, max_attempts=2)
        wait_until(lambda a=attempt: _mid_build(export, attempt=a), f"build {attempt}")
        workers.kill_whole(victim)
    workers.start(broker_url=broker.url, rescuer=True, max_attempts=2)
    wait_until(
        lambda: Export.objects.get(pk=export.pk).status == ExportStatus.FAILED,
        "the export to be given up",
    )
    export.refresh_from_db()
    assert export.attempts == 2
    assert "stopped 2 times" in export.error and "Retry it" in export.error
    assert not _partial(export).exists() and not export_dir(export).exists()


def test_redis_restarted_empty_loses_an_export_message_the_sweep_sends_again(
    lead, start_redis, workers
):
    broker = start_redis(appendonly=False)
    project = make_rated_project(lead)
    with pytest.MonkeyPatch.context() as patch:
        _send_builds_through(patch, broker.url)
        export = export_start(by=lead, project_id=project.pk, kind="sft", format="trl")
    client = redis.Redis.from_url(broker.url)
    assert client.llen("exports") == 1
    broker.restart()
    assert client.llen("exports") == 0  # the message is gone
    workers.start(broker_url=broker.url, rescuer=True)
    wait_until(
        lambda: Export.objects.get(pk=export.pk).status == ExportStatus.COMPLETED,
        "the export to be sent again and built",
    )
    export.refresh_from_db()
    assert export.attempts == 1 and export.files["train"]["rows"] > 0


def test_redis_restarted_empty_mid_run_the_sweep_dispatches_the_lost_chunk(
    lead, start_redis, workers
):
    """The chunk in the worker finishes; the one waiting in Redis is gone. The sweep finds
    the run with items pending, no chunk at work and no heartbeat, and dispatches it again:
    the run completes with each item answered exactly once."""
    broker = start_redis(appendonly=False)
    project = make_project(lead, prompts=RUN_PROMPTS, models=())
    with FakeModelServer(delay=0.2, require_key=TEST_MODEL_KEY) as server:
        endpoint = make_endpoint(lead, server, max_concurrency=1)
        # One process, one message at a time: the second chunk waits in Redis.
        _, log = workers.start(broker_url=broker.url, rescuer=True, concurrency=1)
        with pytest.MonkeyPatch.context() as patch:
            dispatch_runs_through(patch, broker.url)
            run = generation_run_start(by=lead, project_id=project.pk, endpoint_ids=[endpoint.pk])
            wait_for_done_items(run, 3)
            broker.restart()
            wait_for_run(run, timeout=120)
    assert run.status == "completed"
    assert_each_item_answered_once(run, project, server)
    assert "dispatched again" in log.read_text()
    assert set(GenerationItem.objects.filter(run=run).values_list("starts", flat=True)) == {0}
    assert not GenerationItem.objects.filter(run=run, status=ItemStatus.FAILED).exists()


def test_worker_killed_whole_mid_run_the_sweep_dispatches_it_again(lead, start_redis, workers):
    """The chunk in the killed worker stays unacknowledged in Redis for the visibility
    timeout; the sweep sees no chunk at work and no heartbeat, and dispatches the run again.
    Each item gets exactly one response; at most the call in flight at the kill is made
    twice."""
    broker = start_redis(appendonly=True)
    project = make_project(lead, prompts=RUN_PROMPTS, models=())
    with FakeModelServer(delay=0.2, require_key=TEST_MODEL_KEY) as server:
        # Two slots: the killed process's one lapses only after the request's timeout.
        endpoint = make_endpoint(lead, server, max_concurrency=2)
        victim, _ = workers.start(broker_url=broker.url, concurrency=1)
        with pytest.MonkeyPatch.context() as patch:
            dispatch_runs_through(patch, broker.url)
            run = generation_run_start(by=lead, project_id=project.pk, endpoint_ids=[endpoint.pk])
            wait_for_done_items(run, 3)
            workers.kill_whole(victim)
            done_at_kill = GenerationItem.objects.filter(run=run, status=ItemStatus.DONE).count()
            assert done_at_kill < RUN_PROMPTS
            _, log = workers.start(broker_url=broker.url, rescuer=True)
            wait_for_run(run, timeout=120)
    assert run.status == "completed"
    items = GenerationItem.objects.filter(run=run)
    assert set(items.values_list("status", "starts")) == {(ItemStatus.DONE, 0)}
    responses = Response.objects.filter(prompt__project=project)
    assert responses.count() == RUN_PROMPTS and len({r.prompt_id for r in responses}) == RUN_PROMPTS
    assert RUN_PROMPTS <= len(server.requests) <= RUN_PROMPTS + 1
    assert "dispatched again" in log.read_text()
