"""A round never hides a failure: it does not start without held-out prompts, and its page
and API say when its generation failed and what the lead can do."""

import pytest

from evaluation.generation.services.runs import (
    generation_run_finish_if_done,
    generation_run_mark_running,
)
from evaluation.rounds.services import round_start
from ftapp.errors import InvalidInput
from tests.factories import build, client_for, make_endpoint, make_trained_project
from tests.fake_model_server import FakeModelServer


@pytest.mark.django_db
def test_a_round_refuses_an_export_whose_test_split_is_empty(lead):
    project, _, _ = make_trained_project(lead)
    everything_trained = build(project, "dpo", test_fraction=0.0)
    train_rows = everything_trained.files["train"]["rows"]
    with FakeModelServer() as server:
        tuned = make_endpoint(lead, server, "tuned-r1")
    with pytest.raises(InvalidInput) as refused:
        round_start(
            by=lead,
            project_id=project.pk,
            model_id=tuned.pk,
            export_id=everything_trained.pk,
            previous_model="base",
        )
    assert refused.value.fields["export"][0].startswith(
        f"The export's test split has 0 rows (train {train_rows})"
    )
    assert not project.rounds.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("failed", "status", "problem"),
    [
        ("all", "failed", "Generation failed: not one of its"),
        ("one", "completed with failures", "the 1 that failed have no task to judge"),
    ],
)
def test_a_round_whose_generation_failed_says_so_and_what_to_do(
    client, lead, failed, status, problem
):
    project, _, export = make_trained_project(lead)
    with FakeModelServer() as server:
        tuned = make_endpoint(lead, server, "tuned-r1")
        rnd = round_start(
            by=lead,
            project_id=project.pk,
            model_id=tuned.pk,
            export_id=export.pk,
            previous_model="base",
        )
    run = rnd.generation_run
    generation_run_mark_running(run_id=run.pk)
    items = list(run.items.order_by("id"))
    for index, item in enumerate(items):
        item.status = "failed" if failed == "all" or index == 0 else "done"
        item.error = "HTTP 503 (after 6 attempts)" if item.status == "failed" else ""
        item.save()
    generation_run_finish_if_done(run_id=run.pk)
    client.force_login(lead)
    page = client.get(f"/rounds/{rnd.pk}/").content.decode()
    assert f'id="round-generation">{status}<' in page
    assert problem in page and "Resume the run, retrying its failures" in page
    assert f'action="/runs/{run.pk}/"' in page and "Start a new round" in page
    shown = client_for(lead).get(f"/api/v1/rounds/{rnd.pk}/").json()["generation"]
    assert problem in shown["problem"] and shown["failed"] == (len(items) if failed == "all" else 1)
    # No task came of it (no response was stored): the round's batch is not left open empty.
    batch = rnd.batch
    batch.refresh_from_db()
    assert batch.status == "closed" and not batch.tasks.exists()
    assert batch.closed_reason.startswith(f"Generation run {run.pk} ended {status} without")
    assert batch.closed_reason in client.get(f"/batches/{batch.pk}/").content.decode()
    listed = client_for(lead).get(f"/api/v1/projects/{project.pk}/batches/").json()
    assert [b["closed_reason"] for b in listed if b["id"] == batch.pk] == [batch.closed_reason]
    client.post(f"/runs/{run.pk}/", {"action": "resume", "retry": "1"})
    batch.refresh_from_db()
    assert (batch.status, batch.closed_reason) == ("open", "")
