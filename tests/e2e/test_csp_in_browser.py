"""Every page a lead, an annotator and an admin can reach works under the Content-Security-
Policy: on the demo data, the browser reports no policy violation and no console error.

The pages are found by following links from each role's start pages, one page per route (and
set of query keys), so a page added later is checked without being listed here."""

import pytest

from annotation.models import Project
from tests.e2e.browser import read_guidelines
from tests.e2e.crawl import Watch, crawl, log_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_page_works_under_the_policy(live_server, browser, demo):
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    watch = Watch(page)

    for path in ("/login/", "/admin/login/", "/api/docs/"):
        page.goto(base + path)
        watch.settle()
    page.wait_for_selector(".swagger-ui .opblock")  # the docs rendered from the schema

    # Too many wrong passwords: the lock-out page.
    for _ in range(5):
        page.goto(f"{base}/login/")
        page.fill("#id_username", "nobody")
        page.fill("#id_password", "wrong")
        with page.expect_navigation():
            page.keyboard.press("Enter")
    assert "Try again in 15 minutes" in page.inner_text("#lockout")
    watch.settle()
    # Chromium logs a page answered with an error status as a failed load: expected here.
    assert len(watch.take("the server responded with a status of 429")) == 1

    # The annotator judges with the keyboard, which swaps the workspace through htmx.
    log_in(page, base, "/login/", "annotator1")
    rating = Project.objects.get(name="Support answers — rating")
    page.goto(f"{base}/projects/{rating.pk}/queue/")
    page.wait_for_selector("#judge-form")
    read_guidelines(page)
    watch.settle()
    page.mouse.click(5, 5)
    for key in ("g", "?", "Escape"):  # guidelines panel, shortcuts dialog
        page.keyboard.press(key)
    before = page.get_attribute("#judge-form", "data-task")
    page.keyboard.press("4")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "before => document.getElementById('judge-form')?.dataset.task !== before", arg=before
    )
    watch.settle()
    assert page.inner_text("#progress-text").startswith("1 judged")
    annotator_routes = crawl(page, watch, base, ["/"])
    assert {"home", "queue", "tokens", "api-docs"} <= annotator_routes
    context.clear_cookies()

    # The lead: the dashboard polls through htmx; charts, exports, runs and rounds.
    log_in(page, base, "/login/", "lead")
    page.goto(f"{base}/projects/{demo['judged'].pk}/")
    with page.expect_response(lambda response: response.request.headers.get("hx-request")):
        pass
    watch.settle()
    lead_routes = crawl(page, watch, base, ["/", f"/runs/{demo['run'].pk}/"])
    assert {
        "project",
        "project-import",
        "batch-new",
        "batch",
        "conflicts",
        "task-review",
        "guidelines",
        "run-new",
        "run",
        "export-new",
        "export",
        "leaderboard",
        "agreement",
        "round-new",
        "round",
        "models",
    } <= lead_routes
    context.clear_cookies()

    # The admin, through the admin's own login page.
    log_in(page, base, "/admin/login/", "admin")
    admin_routes = crawl(page, watch, base, ["/admin/"])
    assert {
        "admin:index",
        "admin:auth_user_changelist",
        "admin:auth_user_change",
        "admin:auth_user_add",
    } <= admin_routes

    context.close()
    assert watch.problems == []
