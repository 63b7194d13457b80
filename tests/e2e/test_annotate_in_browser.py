"""An annotator works their queue in a real browser with the keyboard alone."""

import pytest

from annotation.models import Claim, Judgment, Response
from annotation.services import prompt_records_load
from evaluation.management.commands.demo import ANCHORS, GUIDELINES
from ftapp.actors import SYSTEM
from tests.e2e.browser import SCREENSHOTS, demo_records, log_in, read_guidelines
from tests.factories import ProjectFactory, assign

pytestmark = pytest.mark.django_db(transaction=True)


def make_projects(lead, annotator):
    rating = ProjectFactory(
        created_by=lead,
        kind="rating",
        name="Support answers — rating",
        guidelines=GUIDELINES,
        rating_anchors=ANCHORS,
    )
    prompt_records_load(
        by=SYSTEM,
        project=rating,
        records=[
            {**r, "responses": r["responses"][:1]} for r in demo_records(("bank-", "insurance-"), 5)
        ],
    )
    pairwise = ProjectFactory(
        created_by=lead, kind="pairwise", name="Support answers — which is better"
    )
    prompt_records_load(
        by=SYSTEM,
        project=pairwise,
        records=[{**r, "responses": r["responses"][:2]} for r in demo_records(("code-",), 2)],
    )
    assign(rating, [annotator])
    assign(pairwise, [annotator])
    return rating, pairwise


def open_queue(page, base, annotator, project):
    """Logs in and follows the project's queue link from the home page, until the deferred
    keyboard script has loaded; reads the guidelines shown on a first visit."""
    log_in(page, base, annotator)
    page.click(f"a[href='/projects/{project.pk}/queue/']")
    page.wait_for_selector("#judge-form")
    page.wait_for_load_state("load")
    read_guidelines(page)


def shown_task(page) -> int:
    return int(page.get_attribute("#judge-form", "data-task"))


def press_and_wait_for_next(page, *keys):
    before = shown_task(page)
    for key in keys:
        page.keyboard.press(key)
    page.wait_for_function(
        "before => { const f = document.getElementById('judge-form');"
        " return !f || Number(f.dataset.task) !== before; }",
        arg=before,
    )


def test_rating_with_the_keyboard_skip_and_undo(live_server, page, lead, annotator):
    rating, _ = make_projects(lead, annotator)
    open_queue(page, live_server.url, annotator, rating)
    page.mouse.click(5, 5)  # focus the page, not a field
    page.keyboard.press("g")
    assert page.is_visible("#guidelines")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "rating.png"), full_page=True)
    page.keyboard.press("g")
    assert not page.is_visible("#guidelines")

    page.keyboard.press("?")
    assert page.is_visible("#shortcuts")
    page.keyboard.press("Escape")

    rated = []
    for key in ["5", "2", "4"]:
        task = shown_task(page)
        press_and_wait_for_next(page, key, "Enter")
        rated.append((task, int(key)))
    assert page.inner_text("#progress-text").startswith("3 judged")
    stored = list(
        Judgment.objects.filter(annotator=annotator).order_by("id").values_list("task_id", "rating")
    )
    assert stored == rated
    assert all(d and d > 0 for d in Judgment.objects.values_list("duration_ms", flat=True))

    skipped = shown_task(page)
    page.keyboard.press("s")
    page.keyboard.type("Outside my expertise")
    press_and_wait_for_next(page, "Enter")
    claim = Claim.objects.get(task_id=skipped, annotator=annotator)
    assert (claim.status, claim.skip_reason) == ("skipped", "Outside my expertise")

    page.keyboard.press("u")
    page.keyboard.press("u")  # the second u confirms
    page.wait_for_function(
        "task => Number(document.getElementById('judge-form').dataset.task) === task",
        arg=rated[-1][0],
    )
    assert page.is_visible("text=Your last judgment was withdrawn")
    assert list(Judgment.objects.values_list("task_id", flat=True).order_by("id")) == [
        rated[0][0],
        rated[1][0],
    ]
    press_and_wait_for_next(page, "3", "Enter")
    assert Judgment.objects.get(task_id=rated[-1][0]).rating == 3


def test_pairwise_choice_matches_what_was_on_screen(live_server, page, lead, annotator):
    _, pairwise = make_projects(lead, annotator)
    open_queue(page, live_server.url, annotator, pairwise)
    page.screenshot(path=str(SCREENSHOTS / "pairwise.png"), full_page=True)
    page.mouse.click(5, 5)
    outcomes = []
    for key in ["b", "a"]:
        task = shown_task(page)
        left = page.input_value("textarea.raw[data-position='A']")
        right = page.input_value("textarea.raw[data-position='B']")
        page.keyboard.press(key)
        if key == "b":
            page.keyboard.press("r")  # the rewrite starts from the chosen (right) response
            assert page.input_value("#rewrite") == right
            page.keyboard.press("Escape")
            page.fill("#rewrite", right + "\n\nAlso check the edge case.")
            page.keyboard.press("Escape")
        press_and_wait_for_next(page, "Enter")
        outcomes.append((task, left, right, key))
    assert page.is_visible("#queue-empty")

    for task, left, right, key in outcomes:
        judgment = Judgment.objects.get(task_id=task, annotator=annotator)
        chosen = Response.objects.get(pk=judgment.chosen_response_id).text
        rejected = Response.objects.get(pk=judgment.rejected_response_id).text
        expected = (right, left) if key == "b" else (left, right)
        assert (chosen, rejected) == expected
        assert judgment.choice == key.upper()
    assert Judgment.objects.get(task_id=outcomes[0][0]).rewrite.endswith("edge case.")
    assert "ft-r" not in page.content() and "base-v1" not in page.content()


def test_narrow_screen_stacks_the_pair(live_server, browser, lead, annotator):
    _, pairwise = make_projects(lead, annotator)
    context = browser.new_context(viewport={"width": 420, "height": 900})
    page = context.new_page()
    log_in(page, live_server.url, annotator)
    page.goto(f"{live_server.url}/projects/{pairwise.pk}/queue/")
    boxes = [page.locator(".pair .response").nth(i).bounding_box() for i in range(2)]
    assert boxes[1]["y"] > boxes[0]["y"] + boxes[0]["height"] - 1
    context.close()
