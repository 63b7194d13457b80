"""The annotator's keys in a real browser: no keystroke lands in a text box after a swap,
undo gives the work back, the shortcuts can be turned off, and login to the first judgment
takes four keys."""

import pytest

from annotation.models import Judgment
from tests.e2e.browser import log_in, read_guidelines
from tests.factories import PASSWORD, assign, make_project

pytestmark = pytest.mark.django_db(transaction=True)

FOCUS_IN_TEXT = "() => document.activeElement.matches('textarea, input[type=text]')"


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


def open_queue(page, base, annotator, project):
    log_in(page, base, annotator)
    page.goto(f"{base}/projects/{project.pk}/queue/")
    read_guidelines(page)  # a first visit shows them before the task
    page.wait_for_selector("#judge-form")
    page.wait_for_load_state("load")


def test_twenty_judgments_with_comments_and_rewrites_and_no_key_in_a_text_box(
    live_server, page, lead, annotator
):
    project = make_project(lead, prompts=21)
    assign(project, [annotator])
    open_queue(page, live_server.url, annotator, project)
    expected = {}
    for i in range(20):
        task = shown_task(page)
        assert not page.evaluate(FOCUS_IN_TEXT), f"focus in a text box before judgment {i}"
        rating = str(i % 5 + 1)
        page.keyboard.press(rating)
        comment = rewrite = ""
        if i % 3 == 0:
            comment = f"Comment {i}"
            page.keyboard.press("c")
            page.keyboard.type(comment)
            press_and_wait_for_next(page, "Control+Enter")
        elif i % 3 == 1:
            rewrite = f"Rewritten answer {i}."
            page.keyboard.press("r")
            page.keyboard.press("Control+a")
            page.keyboard.type(rewrite)
            press_and_wait_for_next(page, "Control+Enter")
        else:
            press_and_wait_for_next(page, "Enter")
        expected[task] = (int(rating), comment, rewrite)
    stored = {
        j.task_id: (j.rating, j.comment, j.rewrite)
        for j in Judgment.objects.filter(annotator=annotator)
    }
    assert stored == expected
    assert not page.evaluate(FOCUS_IN_TEXT)
    assert page.input_value("#comment") == ""


def test_undo_asks_twice_and_gives_back_choice_comment_and_rewrite(
    live_server, page, lead, annotator
):
    project = make_project(lead, kind="pairwise", prompts=2, models=("m1", "m2"))
    assign(project, [annotator])
    open_queue(page, live_server.url, annotator, project)
    task = shown_task(page)
    right = page.input_value("textarea.raw[data-position='B']")
    page.keyboard.press("b")
    page.keyboard.press("c")
    page.keyboard.type("B cites the manual.")
    page.keyboard.press("Escape")
    assert not page.evaluate(FOCUS_IN_TEXT)
    page.keyboard.press("r")
    page.keyboard.press("Control+End")
    addition = " And it names the version." * 15  # a long rewrite, as in the issue
    page.keyboard.insert_text(addition)
    press_and_wait_for_next(page, "Control+Enter")
    judgment = Judgment.objects.get(task_id=task)
    assert judgment.rewrite == (right + addition).strip()

    page.keyboard.press("u")
    assert page.is_visible("#undo-confirm")
    page.wait_for_timeout(300)
    assert Judgment.objects.filter(pk=judgment.pk).exists()  # one u does nothing yet
    page.keyboard.press("u")
    page.wait_for_function(
        "task => Number(document.getElementById('judge-form').dataset.task) === task", arg=task
    )
    assert not Judgment.objects.filter(annotator=annotator).exists()
    assert page.is_checked("input[name=choice][value=B]")
    assert page.input_value("#comment") == "B cites the manual."
    assert page.input_value("#rewrite") == (right + addition).strip()
    assert page.is_visible("#rewrite")
    assert not page.evaluate(FOCUS_IN_TEXT)
    press_and_wait_for_next(page, "Enter")
    again = Judgment.objects.get(task_id=task)
    assert (again.choice, again.comment, again.rewrite) == (
        "B",
        "B cites the manual.",
        (right + addition).strip(),
    )


def tab_to(page, condition: str, limit: int = 40):
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => {{ const e = document.activeElement; return {condition}; }}"):
            return
    raise AssertionError(f"Tab never reached {condition}")


def test_shortcuts_off_the_queue_works_by_tab_and_enter(live_server, page, lead, annotator):
    project = make_project(lead, prompts=3)
    assign(project, [annotator])
    open_queue(page, live_server.url, annotator, project)
    tab_to(page, "e.closest('#shortcuts-setting') !== null")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-shortcuts=off]")
    page.reload()
    page.wait_for_selector("#judge-form")
    page.wait_for_load_state("load")
    assert page.get_attribute(".workspace-head", "data-shortcuts") == "off"

    for expected in (2, 4):
        task = shown_task(page)
        page.keyboard.press("4")  # no single key acts
        page.keyboard.press("u")
        assert page.locator("input[name=rating]:checked").count() == 0
        assert not page.is_visible("#undo-confirm")
        tab_to(page, "e.name === 'rating'")
        while page.evaluate("() => document.activeElement.value") != str(expected):
            page.keyboard.press("ArrowDown")
        page.keyboard.press("Space")
        tab_to(page, "e.matches('#judge-form button[type=submit]')")
        press_and_wait_for_next(page, "Enter")
        assert Judgment.objects.get(task_id=task).rating == expected
        assert not page.evaluate(FOCUS_IN_TEXT)


def test_from_the_password_field_to_the_first_judgment_in_four_keys(
    live_server, page, lead, annotator
):
    other = make_project(lead, prompts=2, name="Another project")
    project = make_project(lead, prompts=2, name="Worked in last")
    assign(other, [annotator])
    assign(project, [annotator])
    base = live_server.url
    log_in(page, base, annotator)
    page.goto(f"{base}/projects/{project.pk}/queue/")  # worked in last: holds a task there
    read_guidelines(page)  # read on that first visit: a returning annotator's day starts here
    page.wait_for_selector("#judge-form")
    page.context.clear_cookies()

    page.goto(f"{base}/login/")
    page.fill("#id_username", annotator.username)
    page.fill("#id_password", PASSWORD)
    page.keyboard.press("Enter")  # 1
    page.wait_for_url(f"{base}/")
    page.wait_for_load_state("load")
    assert page.evaluate("() => document.activeElement.id") == "continue"
    assert page.get_attribute("#continue", "href") == f"/projects/{project.pk}/queue/"
    page.keyboard.press("Enter")  # 2
    page.wait_for_selector("#judge-form")
    page.wait_for_load_state("load")
    page.keyboard.press("3")  # 3
    page.keyboard.press("Enter")  # 4
    page.wait_for_function("() => /1<\\/strong> judged/.test(document.body.innerHTML)")
    assert Judgment.objects.get(annotator=annotator).rating == 3
