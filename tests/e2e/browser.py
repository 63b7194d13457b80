"""What the browser tests share: logging in, the demo's records, where screenshots go."""

import json
from pathlib import Path

from evaluation.management.commands.demo import FIXTURE
from tests.factories import PASSWORD

# Written on every run where git does not track them; the README's images in docs/screenshots/
# are refreshed from here by hand when a page's look changes.
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def demo_records(domain_prefixes: tuple[str, ...], count: int) -> list[dict]:
    records = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    return [r for r in records if r["id"].startswith(domain_prefixes)][:count]


def log_in(page, base, user):
    page.goto(f"{base}/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/")


def read_guidelines(page):
    """Answers the guidelines panel an annotator meets before their first task (and after a
    new version) with its key, and waits until the task is theirs again."""
    page.wait_for_selector("#guidelines-due:modal")
    page.keyboard.press("Enter")
    page.wait_for_selector("#guidelines-due", state="detached")
