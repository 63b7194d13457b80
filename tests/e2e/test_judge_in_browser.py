"""A lead sets up the LLM judge in a real browser, keyboard only: edits the proposed judge
prompt and publishes it with a note, starts a judge run over tasks named by id against a
loopback judge, and watches its progress to the end; the pages fit a 390 px screen."""

import json

import pytest

from annotation.models import Task
from annotation.services import claim_next
from evaluation.models import GenerationRun, JudgePrompt, JudgeVerdict
from tests.e2e.browser import SCREENSHOTS, log_in
from tests.factories import AnnotatorFactory, assign, judge, make_endpoint, make_project
from tests.fake_model_server import FakeModelServer
from tests.workers import TEST_MODEL_KEY

pytestmark = pytest.mark.django_db(transaction=True)

NOTE = "Asks the judge to be strict about facts."


def focused(page) -> str:
    return page.evaluate("() => document.activeElement?.id || document.activeElement?.name || ''")


def verdict(choice: str) -> tuple:
    content = json.dumps({"rationale": "The first is more precise.", "choice": choice})
    return (
        "reply",
        200,
        {
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 80, "completion_tokens": 12},
        },
    )


@pytest.mark.worker
def test_publish_a_judge_prompt_and_run_it_by_keyboard(celery_worker, live_server, page, lead):
    project = make_project(lead, kind="pairwise", models=("m1", "m2"), prompts=3)
    first, second, _ = Task.objects.filter(project=project).order_by("id")
    # An expert's verdict on the first task, for the calibration section to compare with.
    annotator = AnnotatorFactory()
    assign(project, [annotator], tasks=[first])
    judge(annotator, claim_next(user=annotator, project_id=project.pk), choice="A")
    base = live_server.url
    page.set_viewport_size({"width": 1440, "height": 900})
    with FakeModelServer(delay=0.3, require_key=TEST_MODEL_KEY) as server:
        # Task one keeps its verdict when swapped (A, then B: the same answer); task two
        # does not (A both times: the first-shown answer).
        server.script.extend([verdict("A"), verdict("B"), verdict("A"), verdict("A")])
        endpoint = make_endpoint(lead, server, name="judge-llm", max_concurrency=1)
        log_in(page, base, lead)
        page.goto(f"{base}/projects/{project.pk}/")
        page.click("nav.subnav >> text=Judge")
        page.wait_for_url(f"{base}/projects/{project.pk}/judge/")
        assert "No version published yet" in page.inner_text("#current-version")
        assert "Asked swapped" in page.inner_text("#preview")

        page.focus("#template")
        page.keyboard.press("Control+End")
        page.keyboard.type("\nBe strict about facts.")
        page.keyboard.press("Tab")
        assert focused(page) == "change_note"
        page.keyboard.type(NOTE)
        for expected in ("preview-task", "action", "publish"):
            page.keyboard.press("Tab")
            assert focused(page) == expected
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "Published version 1 of the judge prompt" in page.inner_text(".messages")
        published = JudgePrompt.objects.get(project=project)
        assert published.template.endswith("Be strict about facts.")
        assert "Current: version 1" in page.inner_text("#current-version")
        assert "Be strict about facts." in page.inner_text("#preview")

        page.focus("#judge-model")
        page.keyboard.press("Tab")
        assert focused(page) == "prompt-version"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.value") == "judged"
        # Arrow keys walk the radio group to "These tasks"; Tab goes on to its field.
        for _ in range(3):
            page.keyboard.press("ArrowDown")
        assert page.evaluate("document.activeElement.value") == "ids"
        page.keyboard.press("Tab")
        assert focused(page) == "task_ids"
        page.keyboard.type(f"{first.pk}, {second.pk}")
        page.keyboard.press("Tab")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        run = GenerationRun.objects.get(project=project, purpose="judge")
        page.wait_for_url(f"{base}/judge-runs/{run.pk}/")
        assert page.inner_text("#run-status") in ("queued", "running", "completed")
        page.wait_for_function(
            "() => document.querySelector('#run-status').textContent === 'completed'",
            timeout=30_000,
        )
    progress = page.inner_text("#run-progress")
    assert "4 done · 0 failed · 0 remaining of 4" in progress
    assert (
        page.inner_text("#verdict-count") == "2" and page.inner_text("#inconsistent-count") == "1"
    )
    assert page.get_attribute("#run-progress", "hx-trigger") is None
    assert {v.task_id: v.consistent for v in JudgeVerdict.objects.filter(run=run)} == {
        first.pk: True,
        second.pk: False,
    }
    assert endpoint.name in page.inner_text("h1")
    verdicts = page.inner_text("#verdicts")
    assert "A is better" in verdicts and "Tie inconsistent" in verdicts
    assert "A as given, then B swapped" in verdicts
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "judge-run-1440.png"), full_page=True)
    page.goto(f"{base}/projects/{project.pk}/judge/")
    assert "completed" in page.inner_text("#judge-runs")
    assert page.locator("#calibration .calibration-judge").count() == 1
    page.screenshot(path=str(SCREENSHOTS / "judge-1440.png"), full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    for path, name in (
        (f"/projects/{project.pk}/judge/", "judge-390.png"),
        (f"/judge-runs/{run.pk}/", "judge-run-390.png"),
    ):
        page.goto(base + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
        page.screenshot(path=str(SCREENSHOTS / name), full_page=True)
