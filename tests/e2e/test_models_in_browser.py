"""A lead's model, in a real browser: registered, tested and edited on the Models page; a
run against a server that fails every generation opens at once and is then shown failed; a
run against a server that does not answer is refused on the form."""

import threading

import pytest

from evaluation.models import GenerationRun, ModelEndpoint
from tests.e2e.browser import log_in
from tests.factories import make_project
from tests.fake_model_server import FakeModelServer

pytestmark = pytest.mark.django_db(transaction=True)


def register(page, base, *, name, base_url, model="fake-model"):
    page.goto(f"{base}/models/")
    page.fill("#name", name)
    page.fill("#base_url", base_url)
    page.fill("#model", model)
    page.fill("#max_concurrency", "2")
    page.fill("#params", '{"temperature": 0.2}')
    with page.expect_navigation():
        page.click("#register button[type=submit]")
    assert page.url == f"{base}/models/"
    assert f"Registered {name}." in page.inner_text(".messages")


def test_a_lead_registers_tests_and_edits_a_model(live_server, page, lead):
    """The lead is no staff member, only a project's lead."""
    make_project(lead, prompts=1, models=())
    assert not lead.is_staff
    base = live_server.url
    with FakeModelServer() as server:
        server.models = ["fake-model", "fake-model-instruct"]
        log_in(page, base, lead)
        page.click("a[href='/models/']")
        register(page, base, name="ft-r2", base_url=server.base_url)
        row = page.locator("#models tr", has_text="ft-r2")
        assert server.base_url in row.inner_text()

        row.locator("button", has_text="Test connection").focus()
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.url == f"{base}/models/"
        message = page.inner_text(".messages")
        assert "the server offers fake-model, fake-model-instruct" in message
        assert "“Answer to: Say hello in one word." in message
        assert server.requests[-1]["messages"][-1]["content"] == "Say hello in one word."

        page.click("text=Edit ft-r2")
        page.fill("#model", "fake-model-instruct")
        page.fill("#max_concurrency", "3")
        page.click("button:has-text('Save')")
        page.wait_for_url(f"{base}/models/")
        assert "Model saved." in page.inner_text(".messages")
    endpoint = ModelEndpoint.objects.get(name="ft-r2")
    assert (endpoint.model, endpoint.max_concurrency) == ("fake-model-instruct", 3)
    assert endpoint.params == {"temperature": 0.2} and endpoint.created_by == lead
    assert "fake-model-instruct" in page.locator("#models tr", has_text="ft-r2").inner_text()


@pytest.mark.worker
def test_a_run_on_a_server_failing_its_generations_opens_at_once_then_shows_failed(
    celery_worker, live_server, page, lead
):
    project = make_project(lead, prompts=3, models=())
    base = live_server.url
    gate = threading.Event()
    with FakeModelServer(gate=gate) as server:
        # The model list answers; every completion is held, then answered with no completion.
        server.script.extend([("reply", 200, {"choices": []})] * 10)
        log_in(page, base, lead)
        register(page, base, name="never-right", base_url=server.base_url)
        page.goto(f"{base}/projects/{project.pk}/generate/")
        page.check("text=never-right")
        page.click("text=Start run")
        page.wait_for_url(f"{base}/runs/*/")
        # The run's page is open and the server has not answered once.
        assert server.answered == 0
        assert page.inner_text("#run-status") in ("queued", "running")
        assert page.get_attribute("#run-progress", "hx-trigger") == "every 2s"
        gate.set()
        page.wait_for_function(
            "() => document.querySelector('#run-status').textContent === 'failed'",
            timeout=30_000,
        )
    run = GenerationRun.objects.get(project=project)
    assert run.status == "failed"
    progress = page.inner_text("#run-progress")
    assert "0 done · 3 failed · 0 remaining of 3" in progress
    assert "Unexpected response body" in progress
    # Ended: the page polls no more.
    assert page.get_attribute("#run-progress", "hx-trigger") is None


def test_a_run_on_a_server_that_does_not_answer_is_refused_on_the_form(live_server, page, lead):
    project = make_project(lead, prompts=2, models=())
    base = live_server.url
    with FakeModelServer() as server:
        gone_url = server.base_url
    log_in(page, base, lead)
    register(page, base, name="switched-off", base_url=gone_url)
    page.goto(f"{base}/projects/{project.pk}/generate/")
    page.check("text=switched-off")
    page.click("text=Start run")
    page.wait_for_url(f"{base}/projects/{project.pk}/generate/")
    message = page.inner_text(".messages")
    assert "A model's server does not answer, so nothing was started." in message
    assert f"switched-off does not answer at {gone_url}: ConnectError" in message
    assert not GenerationRun.objects.exists()
