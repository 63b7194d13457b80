"""A new guidelines version is in front of the annotator before their next task, keyboard
only: the lead publishes it with a note on what changed, the annotator's next task opens
under a panel with that note, the task's keys do nothing until they press Enter on "I have
read them", their reading is recorded, and they judge under the new version."""

import pytest

from annotation.models import GuidelinesAcknowledgment, Judgment
from tests.e2e.browser import SCREENSHOTS, log_in
from tests.factories import assign, make_project

pytestmark = pytest.mark.django_db(transaction=True)

NOTE = "Both bad now also covers answers that ignore the customer's language."


def panel_is_modal(page) -> bool:
    return page.evaluate(
        "() => document.getElementById('guidelines-due')?.matches(':modal') ?? false"
    )


def focused_id(page) -> str:
    return page.evaluate("() => document.activeElement?.id ?? ''")


def shown_task(page) -> int:
    return int(page.get_attribute("#judge-form", "data-task"))


def test_a_new_version_is_shown_before_the_next_task_and_its_reading_recorded(
    live_server, browser, lead, annotator
):
    base = live_server.url
    project = make_project(lead, kind="pairwise", models=("m1", "m2"), prompts=4)
    assign(project, [annotator])

    # The annotator's first visit: the whole guidelines, over the task, focus on the button.
    theirs = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    theirs.set_default_timeout(15_000)
    log_in(theirs, base, annotator)
    theirs.goto(f"{base}/projects/{project.pk}/queue/")
    theirs.wait_for_selector("#judge-form")
    theirs.wait_for_function("() => document.getElementById('guidelines-due')?.matches(':modal')")
    assert theirs.is_visible("text=Before you start: the guidelines")
    assert focused_id(theirs) == "guidelines-ack"
    theirs.keyboard.press("Enter")
    theirs.wait_for_selector("#guidelines-due", state="detached")
    first = shown_task(theirs)
    theirs.keyboard.press("a")
    theirs.keyboard.press("Enter")
    theirs.wait_for_function(
        "t => Number(document.getElementById('judge-form')?.dataset.task) !== t", arg=first
    )

    # The lead publishes version 2 with a note, from the keyboard.
    leads = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    leads.set_default_timeout(15_000)
    log_in(leads, base, lead)
    leads.goto(f"{base}/projects/{project.pk}/guidelines/")
    assert not leads.is_visible("#anchor_1")  # a pairwise project has no rating scale
    leads.focus("#body")
    leads.keyboard.press("Control+End")
    leads.keyboard.type("\n\nAn answer in the wrong language is Both bad.")
    leads.keyboard.press("Tab")
    assert focused_id(leads) == "change_note"
    leads.keyboard.type(NOTE)
    leads.keyboard.press("Tab")
    with leads.expect_navigation():
        leads.keyboard.press("Enter")
    assert leads.is_visible("text=Published version 2")

    # The annotator's next task opens under the panel with the note; the task's keys wait.
    second = shown_task(theirs)
    theirs.keyboard.press("b")
    theirs.keyboard.press("Enter")
    theirs.wait_for_function(
        "t => Number(document.getElementById('judge-form')?.dataset.task) !== t", arg=second
    )
    theirs.wait_for_function("() => document.getElementById('guidelines-due')?.matches(':modal')")
    assert theirs.is_visible("text=The guidelines changed")
    assert theirs.inner_text(".what-changed") == f"What changed\nVersion 2: {NOTE}"
    assert focused_id(theirs) == "guidelines-ack"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    theirs.screenshot(path=str(SCREENSHOTS / "guidelines-changed.png"))
    third = shown_task(theirs)
    theirs.keyboard.press("g")  # the whole guidelines, one key away
    assert theirs.is_visible("text=An answer in the wrong language is Both bad.")
    theirs.keyboard.press("t")  # no verdict is picked behind the panel
    assert not theirs.is_checked("input[name=choice][value=tie]")
    theirs.keyboard.press("Escape")  # and Esc does not dismiss it unread
    assert panel_is_modal(theirs)
    assert not GuidelinesAcknowledgment.objects.filter(guidelines__version=2).exists()

    theirs.keyboard.press("Enter")
    theirs.wait_for_selector("#guidelines-due", state="detached")
    assert GuidelinesAcknowledgment.objects.filter(
        user=annotator, guidelines__project=project, guidelines__version=2
    ).exists()
    assert shown_task(theirs) == third  # the same task, now theirs to judge
    theirs.keyboard.press("t")
    theirs.keyboard.press("Enter")
    theirs.wait_for_function(
        "t => Number(document.getElementById('judge-form')?.dataset.task) !== t", arg=third
    )
    judged = Judgment.objects.get(task_id=third, annotator=annotator)
    assert (judged.choice, judged.guidelines_version) == ("tie", 2)
    assert Judgment.objects.get(task_id=first, annotator=annotator).guidelines_version == 1
    assert not theirs.is_visible("#guidelines-due")  # read once: not shown again
    theirs.context.close()
    leads.context.close()


def test_the_panel_fits_a_phone(live_server, browser, lead, annotator):
    project = make_project(lead, kind="rating", prompts=2)
    assign(project, [annotator])
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(15_000)
    log_in(page, live_server.url, annotator)
    page.goto(f"{live_server.url}/projects/{project.pk}/queue/")
    page.wait_for_function("() => document.getElementById('guidelines-due')?.matches(':modal')")
    box = page.locator("#guidelines-due").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    context.close()
