"""Starting a run or a round asks each model's server first whether it answers at all: one
that does not (connection refused, a timeout) refuses the start with its connection error and
nothing is created; one that answers, even with an error, lets the run start and fail its
items instead."""

import socket

import pytest

from annotation.models import Batch
from evaluation.generation.services.runs import generation_run_start
from evaluation.models import GenerationItem, GenerationRun, Round
from evaluation.rounds.services import round_start
from ftapp.errors import InvalidInput
from tests.factories import client_for, make_endpoint, make_project, make_trained_project
from tests.fake_model_server import FakeModelServer
from tests.workers import TEST_MODEL_KEY, TEST_MODEL_KEY_ENV

pytestmark = pytest.mark.django_db


@pytest.fixture
def gone(lead):
    """An endpoint whose server has stopped: its port refuses connections."""
    with FakeModelServer() as server:
        endpoint = make_endpoint(lead, server, "gone")
    return endpoint


@pytest.fixture
def silent(lead):
    """An endpoint whose server takes the connection and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]

    class Server:
        base_url = f"http://127.0.0.1:{port}/v1"

    yield make_endpoint(lead, Server, "silent")
    listener.close()


def nothing_created() -> bool:
    return not (
        GenerationRun.objects.exists()
        or GenerationItem.objects.exists()
        or Round.objects.exists()
        or Batch.objects.filter(name__startswith="Round").exists()
    )


def test_a_run_on_a_server_that_refuses_the_connection_is_not_started(lead, gone):
    project = make_project(lead, prompts=2, models=())
    with pytest.raises(InvalidInput) as refused:
        generation_run_start(by=lead, project_id=project.pk, endpoint_ids=[gone.pk])
    assert refused.value.message == "A model's server does not answer, so nothing was started."
    [problem] = refused.value.fields["models"]
    assert problem.startswith(f"gone does not answer at {gone.base_url}: ConnectError")
    assert "refused" in problem
    assert nothing_created()


def test_a_run_on_a_server_that_never_answers_is_refused_after_the_probe_timeout(
    lead, silent, settings
):
    settings.MODEL_PROBE_TIMEOUT_SECONDS = 0.3
    project = make_project(lead, prompts=2, models=())
    with pytest.raises(InvalidInput) as refused:
        generation_run_start(by=lead, project_id=project.pk, endpoint_ids=[silent.pk])
    [problem] = refused.value.fields["models"]
    assert problem.startswith("silent does not answer at") and "ReadTimeout" in problem
    assert nothing_created()


def test_every_model_of_a_run_is_probed_and_each_that_does_not_answer_named(lead, gone):
    project = make_project(lead, prompts=2, models=())
    with FakeModelServer() as server:
        alive = make_endpoint(lead, server, "alive")
        with pytest.raises(InvalidInput) as refused:
            generation_run_start(by=lead, project_id=project.pk, endpoint_ids=[alive.pk, gone.pk])
    assert [p.split(" ")[0] for p in refused.value.fields["models"]] == ["gone"]
    assert nothing_created()


@pytest.mark.parametrize("status", [200, 401, 404, 500])
def test_a_server_that_answers_the_probe_at_all_lets_the_run_start(lead, status):
    """Some servers list no models, or want a key for it: an answer is enough. Whether the
    generations succeed is the run's to find out, item by item."""
    project = make_project(lead, prompts=2, models=())
    with FakeModelServer() as server:
        server.models_status = status
        endpoint = make_endpoint(lead, server)
        run = generation_run_start(by=lead, project_id=project.pk, endpoint_ids=[endpoint.pk])
    assert run.items.count() == 2


def test_choices_are_checked_before_the_server_is_asked(lead, gone):
    project = make_project(lead, prompts=2, models=())
    with pytest.raises(InvalidInput) as refused:
        generation_run_start(by=lead, project_id=project.pk, endpoint_ids=[gone.pk], samples=99)
    assert set(refused.value.fields) == {"samples"}


def test_the_api_refuses_the_run_with_the_connection_error(lead, gone):
    project = make_project(lead, prompts=2, models=())
    response = client_for(lead).post(
        f"/api/v1/projects/{project.pk}/generation-runs/", {"models": [gone.pk]}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["message"] == "A model's server does not answer, so nothing was started."
    assert "ConnectError" in error["fields"]["models"][0]
    assert nothing_created()


def test_the_run_page_says_why_nothing_was_started(client, lead, gone):
    project = make_project(lead, prompts=2, models=())
    client.force_login(lead)
    page = client.post(f"/projects/{project.pk}/generate/", {"models": [str(gone.pk)]}, follow=True)
    assert page.redirect_chain[-1][0] == f"/projects/{project.pk}/generate/"
    html = page.content.decode()
    assert "A model&#x27;s server does not answer, so nothing was started." in html
    assert f"gone does not answer at {gone.base_url}: ConnectError" in html
    assert nothing_created()


def test_a_round_on_a_server_that_does_not_answer_is_not_started(client, lead, gone):
    project, _, export = make_trained_project(lead)
    arguments = {"model": gone.pk, "export": export.pk, "previous_model": "base"}
    with pytest.raises(InvalidInput) as refused:
        round_start(
            by=lead,
            project_id=project.pk,
            model_id=gone.pk,
            export_id=export.pk,
            previous_model="base",
        )
    assert "ConnectError" in refused.value.fields["model"][0]
    response = client_for(lead).post(
        f"/api/v1/projects/{project.pk}/rounds/", arguments, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["model"][0].startswith("gone does not answer at")
    client.force_login(lead)
    page = client.post(f"/projects/{project.pk}/rounds/", arguments, follow=True)
    assert "gone does not answer at" in page.content.decode()
    assert nothing_created()


def test_a_round_checks_its_choices_before_asking_the_server(lead, gone):
    project, _, export = make_trained_project(lead)
    with pytest.raises(InvalidInput) as refused:
        round_start(
            by=lead,
            project_id=project.pk,
            model_id=gone.pk,
            export_id=export.pk,
            previous_model="nobody",
        )
    assert set(refused.value.fields) == {"previous_model"}


def test_the_probe_sends_no_key(lead, monkeypatch):
    """The key is the workers' to send with the generations; the web process's probe is
    answered without it."""
    monkeypatch.setenv(TEST_MODEL_KEY_ENV, TEST_MODEL_KEY)
    project = make_project(lead, prompts=1, models=())
    with FakeModelServer(require_key=TEST_MODEL_KEY) as server:
        endpoint = make_endpoint(lead, server)
        generation_run_start(by=lead, project_id=project.pk, endpoint_ids=[endpoint.pk])
    assert server.listings == [""]
