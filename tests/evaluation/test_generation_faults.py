"""Generation under faults the test causes on processes of its own: a Redis server restarted
mid-run, and a server that quotes the API key back. Each test runs its own Redis and Celery
worker, so killing them touches nothing else."""

import json
import time

import pytest
from celery import Celery
from django.core import serializers as django_serializers

from annotation.models import Response
from evaluation.models import GenerationItem, GenerationRun, ItemStatus, ModelEndpoint
from evaluation.services import generation_run_cancel, generation_run_resume, generation_run_start
from tests.annotation.test_api_projects import client_for
from tests.annotation.test_queue import make_project
from tests.conftest import TEST_MODEL_KEY
from tests.evaluation.test_generation import _endpoint, _wait
from tests.fake_model_server import FakeModelServer

PROMPTS = 20  # two chunks of ten: one in a worker, one waiting in Redis


def _dispatch_through(patch: pytest.MonkeyPatch, broker_url: str) -> None:
    """Runs go to the test's own Redis, where only the test's own worker listens."""
    producer = Celery("producer", broker=broker_url, set_as_current=False)
    patch.setattr(
        "evaluation.services._dispatch",
        lambda run_id: producer.send_task(
            "generation.dispatch_run", args=[run_id], queue="generation"
        ),
    )


def _done(run) -> int:
    return GenerationItem.objects.filter(run=run, status=ItemStatus.DONE).count()


def _wait_for_done(run, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while _done(run) < count:
        assert time.monotonic() < deadline, f"only {_done(run)} items done"
        time.sleep(0.05)


def _assert_each_item_answered_once(run, project, server) -> None:
    items = GenerationItem.objects.filter(run=run)
    assert set(items.values_list("status", flat=True)) == {ItemStatus.DONE}
    responses = Response.objects.filter(prompt__project=project)
    assert responses.count() == PROMPTS
    assert sorted(responses.values_list("generation__sample", flat=True)) == [0] * PROMPTS
    assert len({r.prompt_id for r in responses}) == PROMPTS
    # Not one request was made twice: the item in flight at the restart was stored, not redone.
    assert len(server.requests) == PROMPTS


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_redis_restarted_with_its_data_delays_the_run_and_loses_nothing(
    lead, start_redis, start_worker
):
    """Redis as docker-compose.yml runs it (appendonly) is SIGKILLed mid-run and started
    again: the worker reconnects, the waiting chunk is still queued, the run completes."""
    broker = start_redis(appendonly=True)
    project = make_project(lead, prompts=PROMPTS, models=())
    with FakeModelServer(delay=0.2, require_key=TEST_MODEL_KEY) as server:
        endpoint = _endpoint(lead, server, max_concurrency=1)
        _, log = start_worker(broker_url=broker.url)
        with pytest.MonkeyPatch.context() as patch:
            _dispatch_through(patch, broker.url)
            run = generation_run_start(by=lead, project_id=project.pk, endpoint_ids=[endpoint.pk])
            _wait_for_done(run, 3)
            broker.kill()
            time.sleep(1.0)  # requests go on meanwhile, and the next slot waits for Redis
            broker.start()
            _wait(run, timeout=60)
    assert run.status == "completed"
    _assert_each_item_answered_once(run, project, server)
    assert "Connection to broker lost" in log.read_text()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_redis_restarted_empty_loses_the_waiting_chunk_until_the_run_is_resumed(
    lead, start_redis, start_worker
):
    """Redis without persistence forgets its queue when restarted mid-run. The chunk in a
    worker finishes; the chunk that waited in Redis is gone, so the run stops moving with its
    items pending. Cancel then resume queues them again, and each item is still answered
    exactly once."""
    broker = start_redis(appendonly=False)
    project = make_project(lead, prompts=PROMPTS, models=())
    with FakeModelServer(delay=0.2, require_key=TEST_MODEL_KEY) as server:
        endpoint = _endpoint(lead, server, max_concurrency=1)
        start_worker(broker_url=broker.url)
        with pytest.MonkeyPatch.context() as patch:
            _dispatch_through(patch, broker.url)
            run = generation_run_start(by=lead, project_id=project.pk, endpoint_ids=[endpoint.pk])
            _wait_for_done(run, 3)
            broker.restart()
            _wait_for_done(run, 10)
            time.sleep(2.0)  # ten requests' worth: nothing else is coming
            run.refresh_from_db()
            assert (run.status, _done(run), len(server.requests)) == ("running", 10, 10)
            generation_run_cancel(by=lead, run_id=run.pk)
            generation_run_resume(by=lead, run_id=run.pk)
            _wait(run, timeout=60)
    assert run.status == "completed"
    _assert_each_item_answered_once(run, project, server)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_api_key_reaches_the_model_server_and_nowhere_else(
    client, lead, start_redis, start_worker
):
    """The key lives only in the worker's environment: it goes out in the Authorization
    header, and neither the database, the worker's debug log, the API nor the pages show it,
    even when a server quotes it back in an error."""
    broker = start_redis()
    project = make_project(lead, prompts=3, models=())
    with FakeModelServer(require_key=TEST_MODEL_KEY) as server:
        server.script.append(("echo_auth", 401))
        endpoint = _endpoint(lead, server)
        _, log = start_worker(broker_url=broker.url, loglevel="DEBUG")
        with pytest.MonkeyPatch.context() as patch:
            _dispatch_through(patch, broker.url)
            run = generation_run_start(by=lead, project_id=project.pk, endpoint_ids=[endpoint.pk])
            _wait(run)
    assert set(server.authorizations) == {f"Bearer {TEST_MODEL_KEY}"}
    (failure,) = GenerationItem.objects.filter(run=run, status=ItemStatus.FAILED)
    assert failure.error.startswith("HTTP 401") and "[redacted]" in failure.error
    assert _done(run) == 2
    api = client_for(type(lead).objects.get(pk=lead.pk))
    client.force_login(lead)
    shown = [
        api.get(f"/api/v1/generation-runs/{run.pk}/").content.decode(),
        api.get("/api/v1/models/").content.decode(),
        client.get(f"/runs/{run.pk}/").content.decode(),
        client.get("/models/").content.decode(),
    ]
    assert "[redacted]" in shown[0]
    stored = [
        django_serializers.serialize("json", model.objects.all())
        for model in (ModelEndpoint, GenerationRun, GenerationItem, Response)
    ]
    worker_log = log.read_text()
    assert "DEBUG" in worker_log  # the log really was verbose
    for text in [*shown, json.dumps(stored), worker_log]:
        assert TEST_MODEL_KEY not in text
