"""Generation under faults the test causes on processes of its own: a Redis server restarted
mid-run, and a server that quotes the API key back. Each test runs its own Redis and Celery
worker, so killing them touches nothing else."""

import json
import time

import pytest
from django.core import serializers as django_serializers

from annotation.models import Response
from evaluation.generation.services.runs import (
    generation_run_cancel,
    generation_run_resume,
    generation_run_start,
)
from evaluation.models import GenerationItem, GenerationRun, ItemStatus, ModelEndpoint
from tests.factories import client_for, make_endpoint, make_project
from tests.fake_model_server import FakeModelServer
from tests.workers import (
    RUN_PROMPTS,
    TEST_MODEL_KEY,
    assert_each_item_answered_once,
    dispatch_runs_through,
    done_items,
    wait_for_done_items,
    wait_for_run,
)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_redis_restarted_with_its_data_delays_the_run_and_loses_nothing(
    lead, start_redis, start_worker
):
    """Redis as docker-compose.yml runs it (appendonly) is SIGKILLed mid-run and started
    again: the worker reconnects, the waiting chunk is still queued, the run completes."""
    broker = start_redis(appendonly=True)
    project = make_project(lead, prompts=RUN_PROMPTS, models=())
    with FakeModelServer(delay=0.2, require_key=TEST_MODEL_KEY) as server:
        endpoint = make_endpoint(lead, server, max_concurrency=1)
        _, log = start_worker(broker_url=broker.url)
        with pytest.MonkeyPatch.context() as patch:
            dispatch_runs_through(patch, broker.url)
            run = generation_run_start(by=lead, project_id=project.pk, endpoint_ids=[endpoint.pk])
            wait_for_done_items(run, 3)
            broker.kill()
            time.sleep(1.0)  # requests go on meanwhile, and the next slot waits for Redis
            broker.start()
            wait_for_run(run, timeout=60)
    assert run.status == "completed"
    assert_each_item_answered_once(run, project, server)
    assert "Connection to broker lost" in log.read_text()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_redis_restarted_empty_loses_the_waiting_chunk_until_the_run_is_resumed(
    lead, start_redis, start_worker
):
    """Redis without persistence forgets its queue when restarted mid-run. The chunk in a
    worker finishes; the chunk that waited in Redis is gone, so the run stops moving with its
    items pending. Cancel then resume queues them again, and each item is still answered
    exactly once. (The stale-job sweep would also dispatch the run again after
    FTAPP_STALE_JOB_SECONDS: tests/evaluation/test_job_recovery.py.)"""
    broker = start_redis(appendonly=False)
    project = make_project(lead, prompts=RUN_PROMPTS, models=())
    with FakeModelServer(delay=0.2, require_key=TEST_MODEL_KEY) as server:
        endpoint = make_endpoint(lead, server, max_concurrency=1)
        start_worker(broker_url=broker.url)
        with pytest.MonkeyPatch.context() as patch:
            dispatch_runs_through(patch, broker.url)
            run = generation_run_start(by=lead, project_id=project.pk, endpoint_ids=[endpoint.pk])
            wait_for_done_items(run, 3)
            broker.restart()
            wait_for_done_items(run, 10)
            time.sleep(2.0)  # ten requests' worth: nothing else is coming
            run.refresh_from_db()
            assert (run.status, done_items(run), len(server.requests)) == ("running", 10, 10)
            generation_run_cancel(by=lead, run_id=run.pk)
            generation_run_resume(by=lead, run_id=run.pk)
            wait_for_run(run, timeout=60)
    assert run.status == "completed"
    assert_each_item_answered_once(run, project, server)


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
        endpoint = make_endpoint(lead, server)
        _, log = start_worker(broker_url=broker.url, loglevel="DEBUG")
        with pytest.MonkeyPatch.context() as patch:
            dispatch_runs_through(patch, broker.url)
            run = generation_run_start(by=lead, project_id=project.pk, endpoint_ids=[endpoint.pk])
            wait_for_run(run)
    assert set(server.authorizations) == {f"Bearer {TEST_MODEL_KEY}"}
    (failure,) = GenerationItem.objects.filter(run=run, status=ItemStatus.FAILED)
    assert failure.error.startswith("HTTP 401") and "[redacted]" in failure.error
    assert done_items(run) == 2
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
