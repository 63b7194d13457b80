"""A lead cancels an export and retries it from its page in a real browser: the buttons post
through htmx (with the CSRF token) and the status swaps in place, then follows the build the
worker makes."""

import pytest

from evaluation.exports.services.jobs import export_start
from evaluation.models import Export
from ftapp.actors import SYSTEM
from tests.e2e.browser import log_in
from tests.factories import make_rated_project

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_cancel_then_retry_an_export_from_its_page(celery_worker, live_server, page, lead):
    project = make_rated_project(lead)
    # Recorded as the command line records it, so no worker takes it before the click.
    export = export_start(by=SYSTEM, project=project, kind="sft", format="trl")
    log_in(page, live_server.url, lead)
    page.goto(f"{live_server.url}/exports/{export.pk}/")
    assert page.text_content("#export-state") == "queued"
    page.evaluate("window.notReloaded = true")
    page.click("#export-cancel")
    page.wait_for_selector("#export-retry")
    assert page.text_content("#export-state") == "cancelled"
    assert page.evaluate("window.notReloaded === true")  # htmx swapped it in place
    page.click("#export-retry")
    page.wait_for_selector("text=Download train.jsonl", timeout=60_000)
    assert page.text_content("#export-state") == "completed"
    assert page.evaluate("window.notReloaded === true")
    assert Export.objects.get(pk=export.pk).attempts == 1
