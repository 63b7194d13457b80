"""A lead browses a project's data in a real browser: filters by batch, ticks rows, sends them
for review, puts every unbatched match into a new batch, then opens a task and walks the view
with j and k."""

import pytest

from annotation.models import Batch, Task
from tests.e2e.browser import SCREENSHOTS, log_in
from tests.factories import AnnotatorFactory, assign, make_project

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
