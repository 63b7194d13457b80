"""Archiving a project: it leaves home pages, queues and the project list; its data stays."""

import pytest
from django.urls import reverse

from annotation.models import Judgment, Project
from annotation.services import claim_next, judgment_submit, project_update
from ftapp.errors import Conflict
from tests.factories import assign, client_for, make_project

pytestmark = pytest.mark.django_db


def test_an_archived_project_leaves_home_queues_and_the_list_and_keeps_its_data(
    client, lead, annotator
):
    project = make_project(lead, prompts=2)
    assign(project, [annotator])
    claim = claim_next(user=annotator, project_id=project.pk)
    judgment_submit(user=annotator, task_id=claim.task_id, rating=3)

    project_update(by=lead, project=project, archived=True)

    with pytest.raises(Conflict, match="archived"):
        claim_next(user=annotator, project_id=project.pk)
    client.force_login(annotator)
    assert project.name not in client.get(reverse("home")).content.decode()
    assert client.get(reverse("queue", args=[project.pk])).status_code == 403
    api = client_for(lead)
    assert api.get("/api/v1/projects/").json() == []
    (listed,) = api.get("/api/v1/projects/?archived=1").json()
    assert listed["archived_at"] is not None
    assert api.get(f"/api/v1/projects/{project.pk}/judgments/").json()["results"]
    assert Judgment.objects.filter(task__project=project).count() == 1
    client.force_login(lead)
    home = client.get(reverse("home")).content.decode()
    assert "Archived projects you lead" in home and project.name in home

    restored = api.patch(f"/api/v1/projects/{project.pk}/", {"archived": False}, format="json")
    assert restored.json()["archived_at"] is None
    assert claim_next(user=annotator, project_id=project.pk) is not None


def test_the_settings_page_archives_and_restores(client, lead):
    project = make_project(lead, prompts=1)
    client.force_login(lead)
    url = reverse("project-settings", args=[project.pk])
    page = client.post(url, {"action": "archive"}, follow=True).content.decode()
    assert "Project archived" in page and page.count("Restore the project") == 1
    assert f"<title>Settings · {project.name} · ftapp</title>" in page
    assert Project.objects.get(pk=project.pk).archived_at is not None
    client.post(url, {"action": "restore"})
    assert Project.objects.get(pk=project.pk).archived_at is None
