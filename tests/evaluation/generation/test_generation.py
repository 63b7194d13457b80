import json
import time

import pytest
from django.contrib.auth.models import Permission
from django.core import serializers as django_serializers

from annotation.models import Response, Task
from evaluation.generation.client import ModelCallFailed, chat_completion
from evaluation.generation.services.runs import generation_run_cancel, generation_run_start
from evaluation.models import GenerationItem, GenerationRun, ModelEndpoint
from ftapp.errors import InvalidInput
from tests.factories import AnnotatorFactory, add_member, client_for, make_endpoint, make_project
from tests.fake_model_server import FakeModelServer
from tests.workers import TEST_MODEL_KEY, TEST_MODEL_KEY_ENV, wait_for_run

MESSAGES = [{"role": "user", "content": "Hello?"}]


def test_client_retries_429_then_500_then_a_hang_and_honours_retry_after():
    waits = []
    with FakeModelServer() as server:
        server.script.extend([("status", 429, 1), ("status", 503, None), ("hang", 1.5)])
        completion = chat_completion(
            base_url=server.base_url,
            model="m",
            messages=MESSAGES,
            params={"seed": 3},
            timeout=0.5,
            backoff_base=0.01,
            sleep=waits.append,
        )
    assert completion.attempts == 4 and completion.text.startswith("Answer to: Hello?")
    assert completion.tokens_out == 7 and completion.finish_reason == "stop"
    assert waits[0] >= 1.0  # Retry-After: 1
    assert all(w <= 0.08 for w in waits[1:])


def test_client_gives_up_at_once_on_a_client_error_and_after_max_attempts():
    with FakeModelServer() as server:
        server.script.extend([("status", 400, None)])
        with pytest.raises(ModelCallFailed, match="HTTP 400") as failed:
            chat_completion(base_url=server.base_url, model="m", messages=MESSAGES, params={})
        assert failed.value.attempts == 1
        server.script.extend([("status", 500, None)] * 3)
        with pytest.raises(ModelCallFailed, match="after 3 attempts"):
            chat_completion(
                base_url=server.base_url,
                model="m",
                messages=MESSAGES,
                params={},
                max_attempts=3,
                sleep=lambda s: None,
            )


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_run_on_the_real_worker_survives_faults_and_creates_tasks(celery_worker, lead):
    project = make_project(lead, prompts=3, models=())
    with FakeModelServer(require_key=TEST_MODEL_KEY) as server:
        server.script.extend([("status", 429, 0), ("status", 500, None)])
        a, b = make_endpoint(lead, server, "fake-a"), make_endpoint(lead, server, "fake-b")
        run = generation_run_start(
            by=lead,
            project_id=project.pk,
            endpoint_ids=[a.pk, b.pk],
            samples=2,
            params={"temperature": 0.2},
        )
        wait_for_run(run)
    assert run.status == "completed"
    items = GenerationItem.objects.filter(run=run)
    assert items.count() == 12 and set(items.values_list("status", flat=True)) == {"done"}
    responses = Response.objects.filter(prompt__project=project)
    assert responses.count() == 12
    assert {r.model_name for r in responses} == {"fake-a", "fake-b"}
    first = responses.first()
    assert first.generation["tokens_out"] == 7 and first.generation["latency_ms"] >= 0
    assert first.generation["params"]["temperature"] == 0.2
    assert sorted({r.generation["sample"] for r in responses}) == [0, 1]
    assert Task.objects.filter(project=project).count() == 12 and run.tasks_created == 12
    assert sum(items.values_list("attempts", flat=True)) == 14  # two retried calls
    assert set(server.authorizations) == {f"Bearer {TEST_MODEL_KEY}"}
    dump = json.dumps(
        [
            django_serializers.serialize("json", m.objects.all())
            for m in (ModelEndpoint, GenerationRun, GenerationItem, Response)
        ]
    )
    assert TEST_MODEL_KEY not in dump


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_concurrency_limit_holds_across_worker_processes(celery_worker, lead):
    project = make_project(lead, prompts=30, models=())
    with FakeModelServer(delay=0.15, require_key=TEST_MODEL_KEY) as server:
        endpoint = make_endpoint(lead, server, max_concurrency=1)
        run = generation_run_start(by=lead, project_id=project.pk, endpoint_ids=[endpoint.pk])
        wait_for_run(run)
        assert len(server.requests) == 30
        assert server.max_in_flight == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_cancel_stops_further_calls(celery_worker, lead):
    project = make_project(lead, prompts=40, models=())
    with FakeModelServer(delay=0.2, require_key=TEST_MODEL_KEY) as server:
        endpoint = make_endpoint(lead, server, max_concurrency=1)
        run = generation_run_start(by=lead, project_id=project.pk, endpoint_ids=[endpoint.pk])
        while len(server.requests) < 3:
            time.sleep(0.05)
        generation_run_cancel(by=lead, run_id=run.pk)
        time.sleep(1.0)
        calls = len(server.requests)
        time.sleep(1.0)
        assert len(server.requests) == calls < 10
    run.refresh_from_db()
    assert run.status == "cancelled"
    done = GenerationItem.objects.filter(run=run, status="done").count()
    assert Response.objects.filter(prompt__project=project).count() == done


@pytest.mark.django_db
def test_models_and_runs_api(lead, settings):
    project = make_project(lead, prompts=2, models=())
    with FakeModelServer(require_key=TEST_MODEL_KEY) as server:
        endpoint = make_endpoint(lead, server)
        client = client_for(type(lead).objects.get(pk=lead.pk))
        listed = client.get("/api/v1/models/").json()
        assert listed[0]["api_key_env"] == TEST_MODEL_KEY_ENV and "key" not in listed[0]
        bad = client.post(
            "/api/v1/models/",
            {
                "name": "x",
                "base_url": "http://127.0.0.1:1/v1",
                "model": "m",
                "api_key_env": "sk-123",
            },
            format="json",
        )
        assert bad.status_code == 400 and "api_key_env" in bad.json()["error"]["fields"]
        annotator = AnnotatorFactory()
        add_member(project, annotator)
        url = f"/api/v1/projects/{project.pk}/generation-runs/"
        assert (
            client_for(annotator).post(url, {"models": [endpoint.pk]}, format="json").status_code
            == 403
        )
        assert client.post(url, {"models": [999]}, format="json").status_code == 400
        assert (
            client.post(
                url, {"models": [endpoint.pk], "params": {"n": 3}}, format="json"
            ).status_code
            == 400
        )


@pytest.mark.django_db
def test_models_page_registers_and_tests_a_connection(client, lead):
    lead.user_permissions.add(
        Permission.objects.get(content_type__app_label="evaluation", codename="add_modelendpoint")
    )
    client.force_login(lead)
    with FakeModelServer() as server:
        client.post(
            "/models/",
            {
                "name": "local-fake",
                "base_url": server.base_url,
                "model": "fake-model",
                "max_concurrency": "2",
                "params": '{"temperature": 0.5}',
            },
        )
        endpoint = ModelEndpoint.objects.get(name="local-fake")
        assert endpoint.params == {"temperature": 0.5} and endpoint.max_concurrency == 2
        page = client.post(f"/models/{endpoint.pk}/test/", follow=True).content.decode()
        assert "offers fake-model" in page and "Answer to: Say hello" in page
    closed = ModelEndpoint.objects.create(
        name="nowhere", base_url="http://127.0.0.1:9/v1", model="m", created_by=lead
    )
    page = client.post(f"/models/{closed.pk}/test/", follow=True).content.decode()
    assert "Listing models failed" in page
    bad = client.post(
        "/models/", {"name": "x", "base_url": "h", "model": "m", "params": "[1]"}, follow=True
    )
    assert b"JSON object" in bad.content


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_run_pages_start_and_show_progress(celery_worker, client, lead):
    project = make_project(lead, prompts=2, models=())
    with FakeModelServer(require_key=TEST_MODEL_KEY) as server:
        endpoint = make_endpoint(lead, server)
        client.force_login(lead)
        response = client.post(
            f"/projects/{project.pk}/generate/",
            {
                "models": [str(endpoint.pk)],
                "samples": "2",
                "temperature": "0.3",
                "scope": "all",
                "create_tasks": "as_arrive",
            },
        )
        run = GenerationRun.objects.get(project=project)
        assert response.url == f"/runs/{run.pk}/"
        wait_for_run(run)
    page = client.get(f"/runs/{run.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'id="run-status">completed' in page and "4 done" in page and "4 tasks created" in page
    assert run.params == {"temperature": 0.3}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_process_killed_mid_chunk_loses_nothing_and_duplicates_nothing(lead, tmp_path):
    """SIGKILL the pool process while it works a chunk: late acknowledgement puts the chunk
    back, a fresh process redoes it, and finished items are not asked again."""
    import os
    import signal
    import subprocess

    from evaluation.generation.selectors import generation_items_pending_chunks
    from evaluation.generation.services.runs import generation_run_mark_running
    from evaluation.tasks import process_chunk
    from tests.workers import start_celery_worker, stop_process, wait_for_done_items

    queue = f"generation-kill-{os.getpid()}"
    project = make_project(lead, prompts=20, models=())
    with FakeModelServer(delay=0.25, require_key=TEST_MODEL_KEY) as server:
        # A short timeout: the killed process's concurrency slot lapses 10 s after it.
        endpoint = make_endpoint(lead, server, max_concurrency=1, timeout_seconds=3)
        with pytest.MonkeyPatch.context() as patch:
            # Start the run without dispatching it, to send its one chunk to our own worker.
            patch.setattr("evaluation.generation.services.runs._dispatch", lambda run_id: None)
            run = generation_run_start(by=lead, project_id=project.pk, endpoint_ids=[endpoint.pk])
        generation_run_mark_running(run_id=run.pk)
        (chunk,) = generation_items_pending_chunks(run_id=run.pk, size=20)
        log_path = tmp_path / "worker.log"
        worker = start_celery_worker(
            name=f"killtest-{os.getpid()}@localhost", queues=queue, log_path=log_path
        )
        try:
            process_chunk.apply_async(args=[run.pk, chunk], queue=queue)
            wait_for_done_items(run, 5)
            children = subprocess.run(
                ["ps", "-o", "pid=", "--ppid", str(worker.pid)], capture_output=True, text=True
            ).stdout.split()
            assert children, "no pool process to kill"
            for pid in children:
                os.kill(int(pid), signal.SIGKILL)
            wait_for_run(run, timeout=90)
        finally:
            stop_process(worker)
    items = GenerationItem.objects.filter(run=run)
    assert set(items.values_list("status", flat=True)) == {"done"}
    assert Response.objects.filter(prompt__project=project).count() == 20
    assert len(server.requests) >= 20  # the call in flight at the kill was made again
    assert "WorkerLostError" in log_path.read_text()


REFUSAL = {
    "error": {
        "message": "Unrecognized request argument supplied: top_k",
        "type": "invalid_request_error",
    }
}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_run_whose_requests_are_all_refused_stops_early_as_failed(celery_worker, client, lead):
    """A server that refuses the run's parameters refuses every request alike: the run stops
    after the first few identical refusals, as failed, and says why on its page and API."""
    project = make_project(lead, prompts=30, models=())
    with FakeModelServer() as server:
        server.script.extend([("reply", 400, REFUSAL)] * 30)
        endpoint = make_endpoint(lead, server, max_concurrency=1)
        run = generation_run_start(by=lead, project_id=project.pk, endpoint_ids=[endpoint.pk])
        wait_for_run(run)
        asked = len(server.requests)
    assert run.status == "failed" and run.finished_at is not None
    assert asked < 10  # not one request per item
    shown = client_for(type(lead).objects.get(pk=lead.pk)).get(
        f"/api/v1/generation-runs/{run.pk}/"
    ).json()
    assert shown["status"] == "failed"
    assert "Unrecognized request argument supplied: top_k" in shown["error"]
    assert shown["progress"]["done"] == 0 and shown["progress"]["remaining"] > 0
    client.force_login(lead)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert 'id="run-status">failed' in page and "Unrecognized request argument" in page


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_run_in_which_no_request_succeeded_ends_failed_not_completed(celery_worker, lead):
    project = make_project(lead, prompts=3, models=())
    with FakeModelServer() as server:
        server.script.extend([("reply", 400, {"error": f"prompt {i} refused"}) for i in range(3)])
        endpoint = make_endpoint(lead, server, max_concurrency=1)
        run = generation_run_start(by=lead, project_id=project.pk, endpoint_ids=[endpoint.pk])
        wait_for_run(run)
    assert run.status == "failed"
    assert GenerationItem.objects.filter(run=run, status="failed").count() == 3


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_run_with_unusable_stored_parameters_ends_failed(celery_worker, lead):
    """Parameters stored before they were checked (a seed that is not a number) fail each
    item with a clear error instead of crashing the worker's task and leaving the run
    running."""
    project = make_project(lead, prompts=3, models=())
    with FakeModelServer() as server:
        endpoint = make_endpoint(lead, server)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("evaluation.generation.services.runs._dispatch", lambda run_id: None)
            run = generation_run_start(by=lead, project_id=project.pk, endpoint_ids=[endpoint.pk])
        GenerationRun.objects.filter(pk=run.pk).update(params={"seed": "abc"})
        from evaluation.tasks import dispatch_run

        dispatch_run.delay(run.pk)
        wait_for_run(run, timeout=30)
    assert run.status == "failed" and server.requests == []
    errors = set(GenerationItem.objects.filter(run=run).values_list("error", flat=True))
    assert len(errors) == 1 and "seed" in errors.pop()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"seed": "abc"},
        {"seed": 1.5},
        {"temperature": "hot"},
        {"temperature": True},
        {"top_p": 2},
        {"max_tokens": 0},
        {"stop": [1]},
        {"system": {"role": "x"}},
    ],
)
def test_unusable_parameters_are_refused_when_given(params, client, lead):
    project = make_project(lead, prompts=1, models=())
    with FakeModelServer() as server:
        endpoint = make_endpoint(lead, server)
    api = client_for(type(lead).objects.get(pk=lead.pk))
    started = api.post(
        f"/api/v1/projects/{project.pk}/generation-runs/",
        {"models": [endpoint.pk], "params": params},
        format="json",
    )
    assert started.status_code == 400 and "params" in started.json()["error"]["fields"]
    registered = api.post(
        "/api/v1/models/",
        {"name": "p", "base_url": "http://127.0.0.1:9/v1", "model": "m", "params": params},
        format="json",
    )
    assert registered.status_code == 400 and "params" in registered.json()["error"]["fields"]
    assert not GenerationRun.objects.exists() and ModelEndpoint.objects.count() == 1


@pytest.mark.django_db
def test_a_number_too_large_for_a_float_is_refused_as_a_parameter(lead):
    project = make_project(lead, prompts=1, models=())
    with FakeModelServer() as server:
        endpoint = make_endpoint(lead, server)
    started = client_for(type(lead).objects.get(pk=lead.pk)).post(
        f"/api/v1/projects/{project.pk}/generation-runs/",
        data=f'{{"models": [{endpoint.pk}], "params": {{"temperature": 1e400}}}}',
        content_type="application/json",
    )
    # The API's JSON parser refuses it before any view runs; a caller in Python (a page, a
    # command) meets the service's own check.
    assert started.status_code == 400 and started.json()["error"]["code"] == "parse_error"
    with pytest.raises(InvalidInput) as refused:
        generation_run_start(
            by=lead,
            project_id=project.pk,
            endpoint_ids=[endpoint.pk],
            params={"temperature": float("inf")},
        )
    assert "params" in refused.value.fields
    assert not GenerationRun.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["nan", "inf", "1e400"])
def test_the_generate_page_refuses_a_non_finite_temperature(value, client, lead):
    project = make_project(lead, prompts=1, models=())
    with FakeModelServer() as server:
        endpoint = make_endpoint(lead, server)
    client.force_login(lead)
    page = client.post(
        f"/projects/{project.pk}/generate/",
        {"models": [str(endpoint.pk)], "temperature": value, "scope": "all"},
        follow=True,
    ).content.decode()
    assert "temperature" in page and "finite" in page
    assert not GenerationRun.objects.exists()


@pytest.mark.django_db
def test_a_batch_selection_without_its_batch_is_refused(lead):
    # Read as "the prompts of tasks in no batch" it would generate for the unbatched ones.
    project = make_project(lead, prompts=2)
    with FakeModelServer() as server:
        endpoint = make_endpoint(lead, server)
    with pytest.raises(InvalidInput) as refused:
        generation_run_start(
            by=lead,
            project_id=project.pk,
            endpoint_ids=[endpoint.pk],
            selection={"scope": "batch"},
        )
    assert "prompts" in refused.value.fields
    assert not GenerationRun.objects.exists()
