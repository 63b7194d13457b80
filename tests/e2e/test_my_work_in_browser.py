"""An annotator corrects a judgment from "My work" with the keyboard alone, and the label
pull reports the change."""

import pytest

from annotation.models import Judgment, JudgmentRevision, Response
from annotation.services import claim_next
from tests.e2e.browser import log_in
from tests.factories import assign, client_for, judge, make_project
from tests.pulls import pull_until

pytestmark = pytest.mark.django_db(transaction=True)


def tab_to(page, selector: str, *, most: int = 60) -> None:
    """Presses Tab until the focused element matches ``selector``."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_change_a_judgment_from_my_work(live_server, page, lead, annotator):
    project = make_project(lead, kind="pairwise", prompts=1, models=("m1", "m2"))
    for response in Response.objects.filter(prompt__project=project):
        response.text = f"Reply number {response.pk}."
        response.save(update_fields=["text"])
    assign(project, [annotator])
    judgment = judge(
        annotator,
        claim_next(user=annotator, project_id=project.pk),
        choice="A",
        comment="first look",
    )
    pull = client_for(lead)
    (row,), cursor = pull_until(pull, project, 1)

    log_in(page, live_server.url, annotator)
    # Typed into the address bar: the queue page's script takes Enter for its own (it submits
    # the judgment), so its "My work" link is followed by a click, not by the keyboard.
    page.goto(f"{live_server.url}/projects/{project.pk}/my-work/")
    assert page.inner_text("h1").startswith("My work")
    assert "first look" in page.inner_text("#my-work")
    tab_to(page, f"a[href='/my-work/{judgment.pk}/']")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.inner_text("#verdict") == "A is better"

    # Into the choices: focus lands on the checked one; the arrow moves it to "B is better".
    tab_to(page, "input[name=choice]:checked")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.querySelector('input[name=choice]:checked').value") == "B"
    tab_to(page, "#comment")
    page.keyboard.press("Control+A")
    page.keyboard.type("on second look, B")
    tab_to(page, "#save-change")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Your change is saved." in page.inner_text(".messages")
    assert page.inner_text("#verdict") == "B is better"
    assert "A is better" in page.inner_text("#history")

    changed = Judgment.objects.get(pk=judgment.pk)
    assert (changed.choice, changed.comment) == ("B", "on second look, B")
    assert JudgmentRevision.objects.get(judgment=judgment).previous["choice"] == "A"

    (pulled,), _ = pull_until(pull, project, 1, cursor)
    assert pulled["id"] == judgment.pk
    assert pulled["comment"] == "on second look, B"
    # The pull speaks the task's terms: the verdict flipped from one response to the other.
    assert pulled["choice"] != row["choice"]
    assert pulled["chosen_response_id"] == row["rejected_response_id"]
    assert pulled["updated_at"] > row["updated_at"]
