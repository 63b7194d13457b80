"""Browser tests: Debian's Chromium, headless, driven by Playwright for Python against
pytest-django's live server (a real HTTP server on the test database)."""

import os
import shutil
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from annotation.models import Project
from evaluation.exports.services.build import export_build
from evaluation.exports.services.jobs import export_start
from ftapp.actors import SYSTEM
from tests.factories import PASSWORD, make_run_and_round

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def pytest_collection_modifyitems(config, items):
    present = os.path.exists(CHROMIUM)
    for item in items:
        if "browser" in item.fixturenames:
            item.add_marker(
                pytest.mark.skipif(not present, reason=f"Chromium not found at {CHROMIUM}")
            )


@pytest.fixture(scope="session")
def browser():
    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # between browser steps are ordinary blocking calls.
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


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
    finished = export_start(by=SYSTEM, project=judged, kind="dpo", format="trl")
    export_build(export_id=finished.pk)
    export_start(by=SYSTEM, project=judged, kind="sft", format="trl")
    run, _ = make_run_and_round(
        lead, judged, model="ft-r3", previous_model="ft-r2", export=finished
    )
    return {"judged": judged, "run": run}
