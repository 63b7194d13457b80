"""No page scrolls sideways, on a phone (390 px) or on a desktop (1440 px): every page a lead,
an annotator and an admin reach, found by the same crawl as the policy test. And the app's own
pages speak the user's words: no internal name (``both_bad``, ``fresh_batch``) in their text."""

import pytest
from django.contrib.auth.models import User

from annotation.models import Project
from annotation.services import claim_next, judgment_change
from evaluation.models import Export, ExportStatus
from tests.e2e.browser import SCREENSHOTS, read_guidelines
from tests.e2e.crawl import Watch, crawl, log_in
from tests.factories import judge

pytestmark = pytest.mark.django_db(transaction=True)


WIDTHS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1440, "height": 900}}

# The document's width, and the element whose right edge lies furthest right (the innermost
# one, as it is the one to fix).
MEASURE = """() => {
  let widest = null, right = 0;
  for (const element of document.body.querySelectorAll("*")) {
    const box = element.getBoundingClientRect();
    // What overflows a box (a long line in a <pre>) reaches past the box's own right edge.
    const overflows = getComputedStyle(element).overflowX === "visible";
    const edge = overflows ? Math.max(box.right, box.left + element.scrollWidth) : box.right;
    if (edge >= right) { widest = element; right = edge; }
  }
  const name = widest && (widest.tagName.toLowerCase() + (widest.id ? "#" + widest.id : "")
    + [...widest.classList].map((c) => "." + c).join(""));
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
          widest: name, right: Math.round(right)};
}"""


# The page's text but what quotes data: model output, code, form fields, samples, cards.
SNAKE_CASE = """() => {
  // The data card quotes the dataset's own names (models, metadata) in <code>; the API docs
  // describe the API in its own terms.
  const quoted = "pre, code, textarea, .markdown, .turn, .sample, .swagger-ui, script";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const found = [];
  while (walker.nextNode()) {
    if (!walker.currentNode.parentElement.closest(quoted)) {
      found.push(...(walker.currentNode.textContent.match(/\\b[a-z]+_[a-z_]+\\b/g) || []));
    }
  }
  return found;
}"""


class PageChecks:
    """Measures every page it is shown at each width and keeps what scrolls sideways or says
    an internal name."""

    def __init__(self, role: str):
        self.role = role
        self.problems: list[str] = []

    def __call__(self, page):
        for label, size in WIDTHS.items():
            page.set_viewport_size(size)
            found = page.evaluate(MEASURE)
            if found["scrollWidth"] > found["innerWidth"]:
                self.problems.append(
                    f"{self.role} {label} {page.url}: {found['scrollWidth']} px wide in "
                    f"{found['innerWidth']}, widest {found['widest']} to {found['right']} px"
                )
        if self.role != "admin":  # Django's admin pages are Django's
            for word in page.evaluate(SNAKE_CASE):
                self.problems.append(f"{self.role} {page.url}: says {word!r}")


def test_no_page_scrolls_sideways_or_says_an_internal_name(live_server, browser, demo):
    base = live_server.url
    context = browser.new_context(viewport=WIDTHS["desktop"])
    page = context.new_page()
    page.set_default_timeout(15_000)
    watch = Watch(page)
    problems: list[str] = []

    rating = Project.objects.get(name="Support answers — rating")
    # A judgment of annotator1's, changed once, so that "My work" and its history show.
    annotator1 = User.objects.get(username="annotator1")
    judged = judge(
        annotator1,
        claim_next(user=annotator1, project_id=rating.pk),
        rating=4,
        comment="A comment long enough to wrap on a phone screen, " * 4,
    )
    judgment_change(user=annotator1, judgment_id=judged.pk, rating=3, rewrite="A rewrite. " * 40)
    log_in(page, base, "/login/", "annotator1")
    page.goto(f"{base}/projects/{rating.pk}/queue/")
    page.wait_for_selector("#judge-form")
    read_guidelines(page)
    annotator = PageChecks("annotator")
    annotator(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in WIDTHS.items():
        page.set_viewport_size(size)
        page.screenshot(path=SCREENSHOTS / f"queue-{label}.png", full_page=True)
    page.goto(f"{base}/")
    page.screenshot(path=SCREENSHOTS / "home-annotator-desktop.png", full_page=True)
    page.set_viewport_size(WIDTHS["phone"])
    page.screenshot(path=SCREENSHOTS / "home-annotator-phone.png", full_page=True)
    # Every queue link and the log out button are on the phone's screen, not past its edge.
    reachable = page.locator("a[href$='/queue/'], .topbar button")
    assert reachable.count() >= 2
    for i in range(reachable.count()):
        box = reachable.nth(i).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTHS["phone"]["width"]
    # The workspace on the phone: the progress line and the task's actions on screen.
    page.goto(f"{base}/projects/{rating.pk}/queue/")
    page.wait_for_selector("#judge-form")
    for selector in (
        "#progress-text",
        "#undo",
        "#judge-form .actions button",
        "#shortcuts-setting",
    ):
        box = page.locator(selector).first.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTHS["phone"]["width"], selector
    page.set_viewport_size(WIDTHS["desktop"])
    reached = crawl(page, watch, base, ["/", f"/projects/{rating.pk}/my-work/"], on_page=annotator)
    assert {"my-work", "my-judgment"} <= reached
    problems += annotator.problems
    context.clear_cookies()

    log_in(page, base, "/login/", "lead")
    lead = PageChecks("lead")
    # The built export, whose page (files, data card) is the wide one, not the waiting one.
    built = f"/exports/{Export.objects.get(status=ExportStatus.COMPLETED).pk}/"
    crawl(page, watch, base, ["/", f"/runs/{demo['run'].pk}/", built], on_page=lead)
    problems += lead.problems
    judged = demo["judged"].pk
    for name, path in (
        ("dashboard", f"/projects/{judged}/"),
        ("exports", f"/projects/{judged}/exports/"),
        ("export", built),
    ):
        for label, size in WIDTHS.items():
            page.set_viewport_size(size)
            page.goto(base + path)
            page.screenshot(path=SCREENSHOTS / f"{name}-{label}.png", full_page=True)
    context.clear_cookies()

    log_in(page, base, "/admin/login/", "admin")
    admin = PageChecks("admin")
    crawl(page, watch, base, ["/admin/"], on_page=admin)
    problems += admin.problems

    context.close()
    assert not problems, "\n".join(problems)
