"""A lead removes a member in a real browser, by keyboard: the confirmation page says what
becomes of their open tasks and their judgments; afterwards they are off the list, their lease
is released, their judgment stays, and the project's queue is closed to them."""

import pytest

from annotation.models import Claim, ClaimStatus, Judgment, Membership
from annotation.services import claim_next, judgment_submit
from tests.e2e.browser import log_in
from tests.factories import AnnotatorFactory, assign, make_project

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_lead_removes_a_member_by_keyboard(live_server, browser, page, lead):
    project = make_project(lead, prompts=4)
    dana, eli = AnnotatorFactory(username="dana"), AnnotatorFactory(username="eli")
    assign(project, [dana, eli], overlap=2)
    judged = claim_next(user=dana, project_id=project.pk)
    judgment_submit(user=dana, task_id=judged.task_id, rating=4)
    held = claim_next(user=dana, project_id=project.pk)  # a lease she holds now
    base = live_server.url

    log_in(page, base, lead)
    page.goto(f"{base}/projects/{project.pk}/members/")
    remove = page.get_by_role("link", name="Remove dana…")
    remove.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/projects/{project.pk}/members/dana/remove/")
    said = page.inner_text("main")
    assert "Remove dana from" in said
    assert "the tasks they hold now go back to the other annotators" in said
    assert "The judgments they gave stay and keep counting" in said
    page.get_by_role("button", name="Remove dana").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/projects/{project.pk}/members/")
    assert "dana was removed from the project." in page.inner_text(".messages")
    members = page.inner_text("main table")
    assert "dana" not in members and "eli" in members

    assert not Membership.objects.filter(project=project, user=dana).exists()
    assert Claim.objects.get(pk=held.pk).status == ClaimStatus.RELEASED
    assert Judgment.objects.filter(task_id=judged.task_id, annotator=dana).exists()

    # Dana, signed in on her own browser, finds the project's queue closed.
    context = browser.new_context()
    hers = context.new_page()
    hers.set_default_timeout(15_000)
    log_in(hers, base, dana)
    response = hers.goto(f"{base}/projects/{project.pk}/queue/")
    assert response.status in (403, 404)
    assert hers.query_selector("#judge-form") is None
    context.close()
