"""A lead settles conflicts by keyboard alone: the verdict list has the focus, a letter picks
the verdict, Enter saves it and opens the next conflict."""

import pytest

from annotation.models import Adjudication
from annotation.selectors import conflicts
from tests.e2e.browser import SCREENSHOTS, log_in
from tests.factories import AnnotatorFactory, assign, judge_all, make_project

pytestmark = pytest.mark.django_db(transaction=True)


def test_three_conflicts_settled_with_save_and_next_by_keyboard(live_server, page, lead):
    project = make_project(lead, kind="pairwise", prompts=3, models=("m1", "m2"), overlap=2)
    annotators = [AnnotatorFactory() for _ in range(2)]
    assign(project, annotators, overlap=2)
    judge_all(project, annotators, lambda i, task: {"choice": "AB"[i]})
    first = conflicts(project=project)[0]["task"]
    base = live_server.url
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, base, lead)
    page.goto(f"{base}/tasks/{first.pk}/review/")
    for left in (3, 2, 1):
        assert (
            page.inner_text("#conflicts-left") == f"{left} conflict{'s' if left > 1 else ''} left"
        )
        page.keyboard.press("b")  # the verdict list has the focus: "B is better"
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "Final label saved" in page.inner_text(".messages")
    page.wait_for_url(f"{base}/projects/{project.pk}/conflicts/")
    assert "No open conflicts" in page.inner_text("main")
    assert sorted(Adjudication.objects.values_list("choice", flat=True)) == ["B", "B", "B"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "conflicts-1440.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/tasks/{first.pk}/review/")
    # The verdict form fits a phone; the judgments table's width is the layout work of issue 14 §6.
    assert (
        page.evaluate("document.getElementById('final-label').getBoundingClientRect().right") <= 390
    )
    page.screenshot(path=str(SCREENSHOTS / "conflict-task-390.png"), full_page=True)
