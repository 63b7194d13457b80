"""A run ends as what happened to its requests, its retry count agrees with the attempts
shown per item, and its page stops polling once it has ended."""

import pytest

from annotation.services.projects import batch_create
from evaluation.generation.selectors import generation_run_progress
from evaluation.generation.services.runs import (
    generation_run_finish_if_done,
    generation_run_mark_running,
    generation_run_start,
)
from evaluation.models import GenerationItem, GenerationRun
from tests.factories import client_for, make_endpoint, make_project
from tests.fake_model_server import FakeModelServer
from tests.workers import wait_for_run

POLLING = 'hx-trigger="every 2s"'


def _run_held_back(lead, *, prompts: int) -> GenerationRun:
    """A running run whose items no worker touches: the test ends them itself."""
    project = make_project(lead, prompts=prompts, models=())
    with FakeModelServer() as server, pytest.MonkeyPatch.context() as patch:
        endpoint = make_endpoint(lead, server)
        patch.setattr("evaluation.generation.services.runs._dispatch", lambda run_id: None)
        run = generation_run_start(by=lead, project_id=project.pk, endpoint_ids=[endpoint.pk])
    generation_run_mark_running(run_id=run.pk)
    return run


def _end_items(run: GenerationRun, outcomes: list[tuple[str, int]]) -> None:
    for item, (status, attempts) in zip(run.items.order_by("id"), outcomes, strict=True):
        item.status, item.attempts = status, attempts
        item.error = "HTTP 503 (after 6 attempts)" if status == "failed" else ""
        item.save()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("outcomes", "status"),
    [
        (["done", "done", "done"], "completed"),
        (["done", "failed", "done"], "completed_with_failures"),
        (["failed", "failed", "failed"], "failed"),
    ],
)
def test_a_run_ends_as_what_happened_to_its_requests(lead, outcomes, status):
    run = _run_held_back(lead, prompts=3)
    _end_items(run, [(outcome, 1) for outcome in outcomes])
    assert generation_run_finish_if_done(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == status and run.ended and run.finished_at is not None


@pytest.mark.django_db
def test_the_retry_count_is_the_attempts_after_the_first_of_every_ended_item(lead):
    """Done after 3 attempts (2 retries), failed after 6 (5 retries), refused unsent (0
    attempts, no retry), done at once (none): 7 retries, as the attempts column shows."""
    run = _run_held_back(lead, prompts=5)
    _end_items(run, [("done", 3), ("failed", 6), ("failed", 0), ("done", 1), ("pending", 4)])
    progress = generation_run_progress(run=run)
    assert (progress["done"], progress["failed"], progress["remaining"]) == (2, 2, 1)
    assert progress["retries"] == 7


@pytest.mark.django_db
def test_the_run_page_polls_while_the_run_works_and_stops_once_it_has_ended(client, lead):
    run = _run_held_back(lead, prompts=2)
    client.force_login(lead)
    assert POLLING in client.get(f"/runs/{run.pk}/").content.decode()
    assert POLLING in client.get(f"/runs/{run.pk}/", HTTP_HX_REQUEST="true").content.decode()
    _end_items(run, [("done", 1), ("failed", 2)])
    generation_run_finish_if_done(run_id=run.pk)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    partial = client.get(f"/runs/{run.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'id="run-status">completed with failures' in page
    assert POLLING not in page and "hx-trigger" not in partial
    listed = client.get(f"/projects/{run.project_id}/generate/").content.decode()
    assert f"Run {run.pk}</a> · completed with failures ·" in listed


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_run_with_some_failed_requests_says_so_with_its_counts(celery_worker, client, lead):
    project = make_project(lead, prompts=3, models=())
    with FakeModelServer() as server:
        server.script.append(("reply", 400, {"error": "prompt too long"}))
        endpoint = make_endpoint(lead, server, max_concurrency=1)
        run = generation_run_start(by=lead, project_id=project.pk, endpoint_ids=[endpoint.pk])
        wait_for_run(run)
    assert run.status == "completed_with_failures"
    assert GenerationItem.objects.filter(run=run, status="failed").count() == 1
    api = client_for(type(lead).objects.get(pk=lead.pk))
    shown = api.get(f"/api/v1/generation-runs/{run.pk}/").json()
    assert shown["status"] == "completed_with_failures"
    assert (shown["progress"]["done"], shown["progress"]["failed"]) == (2, 1)
    assert (
        shown["error"].startswith("1 of 3 requests failed") and "prompt too long" in shown["error"]
    )
    assert [f["attempts"] for f in shown["failures"]] == [1] and shown["progress"]["retries"] == 0
    client.force_login(lead)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert "2 done · 1 failed" in page and "1 of 3 requests failed" in page


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_run_stopped_early_closes_the_empty_batch_it_was_to_fill(celery_worker, lead):
    project = make_project(lead, prompts=8, models=())
    batch = batch_create(by=lead, project=project, name="to fill", tasks=[])
    with FakeModelServer() as server:
        server.script.extend([("reply", 400, {"error": "no such model"})] * 8)
        endpoint = make_endpoint(lead, server, max_concurrency=1)
        run = generation_run_start(
            by=lead, project_id=project.pk, endpoint_ids=[endpoint.pk], target_batch_id=batch.pk
        )
        wait_for_run(run)
    batch.refresh_from_db()
    assert run.status == "failed" and batch.status == "closed"
    assert batch.closed_reason.startswith(f"Generation run {run.pk} ended failed without")
