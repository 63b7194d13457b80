"""Crawling the app as a user would: every route reachable by links from a role's start pages,
one page each, watching what the browser reports on the way."""

from collections import deque
from urllib.parse import urlsplit

from django.urls import Resolver404, resolve

from tests.factories import PASSWORD

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
