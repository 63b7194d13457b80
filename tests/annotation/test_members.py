"""Members: changing a role and removing someone, from the page and the API, through one
service each."""

import pytest
from django.urls import reverse

from annotation.models import BatchAssignment, Claim, ClaimStatus, Judgment, Membership, Role
from annotation.services import (
    claim_next,
    judgment_submit,
    membership_remove,
    membership_set_role,
)
from annotation.services.leads import membership_set_aside
from ftapp.errors import Conflict, Forbidden, NotFound
from tests.factories import (
    AnnotatorFactory,
    LeadFactory,
    add_member,
    assign,
    client_for,
    make_project,
)

pytestmark = pytest.mark.django_db


def _worked_project(lead, annotator, other):
    """One task needing one judgment, claimed by ``annotator``; another task judged by them."""
    project = make_project(lead, prompts=2)
    assign(project, [annotator, other])
    judged = claim_next(user=annotator, project_id=project.pk)
    judgment_submit(user=annotator, task_id=judged.task_id, rating=4)
    held = claim_next(user=annotator, project_id=project.pk)
    return project, held


def test_removing_a_member_ends_their_leases_and_assignments_and_keeps_their_judgments(
    lead, annotator
):
    other = AnnotatorFactory()
    project, held = _worked_project(lead, annotator, other)
    assert claim_next(user=other, project_id=project.pk) is None  # every slot is taken

    membership_remove(by=lead, project=project, username=annotator.username)

    assert not Membership.objects.filter(project=project, user=annotator).exists()
    assert not BatchAssignment.objects.filter(annotator=annotator).exists()
    assert Claim.objects.get(pk=held.pk).status == ClaimStatus.RELEASED
    assert claim_next(user=other, project_id=project.pk).task_id == held.task_id
    (pulled,) = client_for(lead).get(f"/api/v1/projects/{project.pk}/judgments/").json()["results"]
    assert pulled["annotator"].startswith("former-")
    assert Judgment.objects.filter(annotator=annotator).count() == 1


def test_the_last_lead_can_neither_leave_nor_step_down(lead, annotator):
    project = make_project(lead, prompts=1)
    add_member(project, annotator)
    for change in (
        lambda: membership_remove(by=lead, project=project, username=lead.username),
        lambda: membership_set_role(
            by=lead, project=project, username=lead.username, role=Role.ANNOTATOR
        ),
    ):
        with pytest.raises(Conflict, match="needs a lead"):
            change()
    membership_set_role(by=lead, project=project, username=annotator.username, role=Role.LEAD)
    membership_set_role(by=lead, project=project, username=lead.username, role=Role.ANNOTATOR)
    assert Membership.objects.get(project=project, user=lead).role == Role.ANNOTATOR


def test_an_annotator_made_lead_leaves_the_batches_and_their_leases_end(lead, annotator):
    project, held = _worked_project(lead, annotator, AnnotatorFactory())
    membership_set_role(by=lead, project=project, username=annotator.username, role=Role.LEAD)
    assert Claim.objects.get(pk=held.pk).status == ClaimStatus.RELEASED
    assert not BatchAssignment.objects.filter(annotator=annotator).exists()


def test_a_member_whose_judgments_are_set_aside_is_not_removed(lead, annotator):
    project = make_project(lead, prompts=1)
    add_member(project, annotator)
    membership_set_aside(
        by=lead, project_id=project.pk, username=annotator.username, set_aside=True
    )
    with pytest.raises(Conflict, match="set aside"):
        membership_remove(by=lead, project=project, username=annotator.username)
    assert Membership.objects.filter(project=project, user=annotator).exists()


def test_only_a_lead_of_the_project_changes_its_members(lead, annotator):
    project = make_project(lead, prompts=1)
    add_member(project, annotator)
    for someone, refusal in ((annotator, Forbidden), (LeadFactory(), NotFound)):
        with pytest.raises(refusal):
            membership_remove(by=someone, project=project, username=annotator.username)


def test_the_api_changes_a_role_and_removes_a_member(lead, annotator):
    project = make_project(lead, prompts=1)
    add_member(project, annotator)
    api = client_for(lead)
    url = f"/api/v1/projects/{project.pk}/members/{annotator.username}/"
    changed = api.patch(url, {"role": "lead"}, format="json")
    assert changed.status_code == 200 and changed.json()["role"] == "lead"
    assert api.delete(url).status_code == 204
    assert api.delete(url).status_code == 404
    last = api.delete(f"/api/v1/projects/{project.pk}/members/{lead.username}/")
    assert last.status_code == 409


def test_the_members_page_changes_roles_and_removes_after_saying_what_happens(
    client, lead, annotator
):
    project = make_project(lead, prompts=1)
    add_member(project, annotator)
    client.force_login(lead)
    page = client.get(reverse("members", args=[project.pk])).content.decode()
    assert (
        annotator.username in page
        and reverse("member-remove", args=[project.pk, annotator.username]) in page
    )
    remove = reverse("member-remove", args=[project.pk, annotator.username])
    confirm = client.get(remove).content.decode()
    assert "judgments they gave stay and keep counting" in confirm
    assert Membership.objects.filter(project=project, user=annotator).exists()
    client.post(reverse("member-role", args=[project.pk, annotator.username]), {"role": "lead"})
    assert Membership.objects.get(project=project, user=annotator).role == Role.LEAD
    after = client.post(remove, follow=True).content.decode()
    assert f"{annotator.username} was removed" in after
    assert not Membership.objects.filter(project=project, user=annotator).exists()
    refused = client.post(
        reverse("member-remove", args=[project.pk, lead.username]), follow=True
    ).content.decode()
    assert "A project needs a lead" in refused


def test_the_settings_page_shows_and_saves_the_project(client, lead):
    project = make_project(lead, prompts=1)
    client.force_login(lead)
    url = reverse("project-settings", args=[project.pk])
    assert 'name="description"' in client.get(url).content.decode()
    client.post(url, {"name": "Renamed", "description": "What it is for."})
    project.refresh_from_db()
    assert (project.name, project.description) == ("Renamed", "What it is for.")
