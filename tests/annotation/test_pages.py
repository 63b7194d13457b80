import pytest
from django.urls import reverse

from annotation.models import Task
from annotation.services import batch_create, guidelines_publish, prompt_records_load
from ftapp.actors import SYSTEM
from tests.factories import PASSWORD, ProjectFactory, UserFactory, add_member

pytestmark = pytest.mark.django_db


def test_login_page_logs_in_and_lands_on_home(client, lead):
    assert client.get(reverse("home")).status_code == 302
    page = client.get(reverse("login"))
    assert page.status_code == 200 and b'name="password"' in page.content
    response = client.post(
        reverse("login"), {"username": lead.username, "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("home")
    assert response.context["user"] == lead


def test_wrong_password_says_so(client, lead):
    response = client.post(reverse("login"), {"username": lead.username, "password": "x"})
    assert response.status_code == 200 and b"Wrong username or password" in response.content


def test_logout_is_a_post(client, lead):
    client.force_login(lead)
    assert client.get(reverse("logout")).status_code == 405
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("home")).status_code == 302


def test_home_lists_projects_with_a_queue_link_for_annotators(client, lead, annotator):
    project = ProjectFactory(created_by=lead, name="Bank answers")
    ProjectFactory(name="Someone else's")
    add_member(project, annotator)
    prompt_records_load(
        by=SYSTEM,
        project=project,
        records=[
            {"id": "q1", "prompt": "Hi?", "responses": [{"model": "m1", "text": "Hello."}]},
            {"id": "q2", "prompt": "Bye?", "responses": [{"model": "m1", "text": "Bye."}]},
        ],
    )
    batch_create(
        by=SYSTEM,
        project=project,
        name="b1",
        tasks=Task.objects.filter(project=project),
        annotators=[annotator],
    )
    client.force_login(annotator)
    page = client.get(reverse("home")).content.decode()
    assert "Bank answers" in page and "Someone else" not in page
    assert reverse("queue", args=[project.pk]) in page
    assert "0 judged, 2 to go" in page

    client.force_login(lead)
    page = client.get(reverse("home")).content.decode()
    assert "Bank answers" in page and "2 prompts, 2 tasks, 0 judgments" in page
    assert reverse("queue", args=[project.pk]) not in page


def test_queue_page_shows_progress_and_sanitized_guidelines(client, rating_project, annotator):
    add_member(rating_project, annotator)
    guidelines_publish(
        by=SYSTEM,
        project=rating_project,
        body="# Rules\n\nBe **fair**. <script>alert(1)</script> [x](javascript:alert(1))",
    )
    client.force_login(annotator)
    page = client.get(reverse("queue", args=[rating_project.pk])).content.decode()
    assert "<strong>fair</strong>" in page and "version 2" in page
    assert "<script>alert" not in page and 'href="javascript:' not in page
    assert "Your queue is empty" in page


def test_queue_page_is_404_for_non_members(client, rating_project):
    client.force_login(UserFactory())
    assert client.get(reverse("queue", args=[rating_project.pk])).status_code == 404


def test_admin_is_reachable_for_staff(client):
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    assert client.get("/admin/annotation/judgment/").status_code == 200
