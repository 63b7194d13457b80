"""Every page a lead, an annotator and an admin can reach works under the Content-Security-
Policy: on the demo data, the browser reports no policy violation and no console error.

The pages are found by following links from each role's start pages, one page per route (and
set of query keys), so a page added later is checked without being listed here."""

from collections import deque
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import Resolver404, resolve

from annotation.models import Project
from evaluation.exports.services.build import export_build
from evaluation.exports.services.jobs import export_start
from evaluation.models import GenerationRun, ModelEndpoint, Round
from ftapp.actors import SYSTEM
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

# Routes not worth a visit: they change state, leave the app, or answer a file or JSON.
SKIPPED_ROUTES = {"logout", "admin:logout", "admin:view_on_site", "api-export-download"}
SKIPPED_SUFFIXES = ("_delete", "_history", "_password_change")
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportViolation(
    `${event.violatedDirective} blocked ${event.blockedURI || "inline"}`
    + ` at ${event.sourceFile}:${event.lineNumber} ${event.sample}`);
});
"""


class Watch:
    """Collects what the browser reports: policy violations (the DOM event), console errors
    (Chromium logs each violation there too) and uncaught exceptions, by page."""

    def __init__(self, page):
        self.page = page
        self.problems: list[str] = []
        page.expose_binding(
            "reportViolation",
            lambda source, text: self.problems.append(f"{source['frame'].url}: CSP {text}"),
        )
        page.add_init_script(REPORT_VIOLATIONS)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"{page.url}: {error}"))

    def _console(self, message):
        if message.type == "error":
            self.problems.append(f"{self.page.url}: console: {message.text}")

    def take(self, text: str) -> list[str]:
        """Removes and returns the problems reported so far that contain ``text``."""
        taken = [problem for problem in self.problems if text in problem]
        self.problems = [problem for problem in self.problems if text not in problem]
        return taken

    def settle(self):
        """Lets queued events (violations are reported in a task of their own) arrive."""
        self.page.wait_for_load_state("load")
        self.page.evaluate("() => new Promise((done) => setTimeout(done, 50))")


def route_of(url: str) -> str | None:
    try:
        match = resolve(urlsplit(url).path)
    except Resolver404:
        return None
    return match.view_name or match.route


def crawl(page, watch: Watch, base: str, starts: list[str], on_page=None) -> set[str]:
    """Visits one page of every route reachable by links from ``starts`` (the first link
    found: a route's other pages, sorted, filtered or paged, use the same templates), calling
    ``on_page(page)`` on each once it has loaded; returns the route names."""
    seen: set[str] = set()
    queue = deque(base + path for path in starts)
    while queue:
        url = queue.popleft()
        name = route_of(url)
        if name is None or name in seen:
            continue
        if name in SKIPPED_ROUTES or name.endswith(SKIPPED_SUFFIXES):
            continue
        if urlsplit(url).path.startswith("/api/") and name != "api-docs":
            continue
        seen.add(name)
        response = page.goto(url)
        assert response.status == 200, (url, response.status)
        assert "frame-ancestors 'none'" in response.headers.get("content-security-policy", ""), url
        watch.settle()
        if on_page is not None:
            on_page(page)
        links = page.eval_on_selector_all(
            "a[href]:not([download])", "links => links.map((a) => a.href.split('#')[0])"
        )
        queue.extend(link for link in links if link.startswith(base))
    return seen


def log_in(page, base: str, path: str, username: str) -> None:
    page.goto(f"{base}{path}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "login" not in urlsplit(page.url).path, page.url


@pytest.fixture
def demo(settings, tmp_path):
    """The demo's users and projects, with a run, two exports (one finished, one waiting)
    and a round added, so the pages that show them have something to show."""
    settings.VAR_DIR = tmp_path
    settings.LOCAL_MODEL_URL = ""
    call_command("demo", no_serve=True, stdout=StringIO())
    users = {user.username: user for user in get_user_model().objects.all()}
    for user in users.values():
        user.set_password(PASSWORD)
        user.save()
    judged = Project.objects.get(name="Support answers — already judged")
    lead = users["lead"]
    endpoint = ModelEndpoint.objects.create(
        name="ft-r3", base_url="http://127.0.0.1:9/v1", model="ft-r3", created_by=lead
    )
    run = GenerationRun.objects.create(project=judged, created_by=lead, status="running")
    run.endpoints.set([endpoint])
    finished = export_start(by=SYSTEM, project=judged, kind="dpo", format="trl")
    export_build(export_id=finished.pk)
    export_start(by=SYSTEM, project=judged, kind="sft", format="trl")
    Round.objects.create(
        project=judged,
        number=1,
        model=endpoint,
        previous_model="ft-r2",
        export=finished,
        created_by=lead,
    )
    return {"judged": judged, "run": run}


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
