"""403 and 404 are the site's pages: its navigation, what went wrong in the user's words and a
way back, with DEBUG off (production) and on (the demo)."""

import pytest
from django.urls import reverse

from annotation.models import Task
from tests.factories import AnnotatorFactory, add_member, make_project

pytestmark = pytest.mark.django_db

NAVIGATION = '<header class="topbar">'
WAY_BACK = 'href="/">Back to your projects</a>'


@pytest.mark.parametrize("debug", [False, True])
def test_a_page_not_found_has_the_navigation_and_a_way_back(client, settings, lead, debug):
    settings.DEBUG = debug
    client.force_login(lead)
    for path in ("/projects/999999/", "/no-such-page/"):
        response = client.get(path)
        html = response.content.decode()
        assert response.status_code == 404
        assert NAVIGATION in html and WAY_BACK in html and "Page not found" in html, path
        assert "URLconf" not in html


def test_an_api_address_not_found_still_answers_in_the_apis_format(client, settings, lead):
    settings.DEBUG = True
    client.force_login(lead)
    response = client.get("/api/v1/nothing-here/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("debug", [False, True])
def test_a_forbidden_page_says_why_with_the_navigation_and_a_way_back(
    client, settings, lead, debug
):
    settings.DEBUG = debug
    project = make_project(lead, prompts=1)
    annotator = AnnotatorFactory()
    add_member(project, annotator)
    client.force_login(annotator)
    task = Task.objects.get(project=project)
    response = client.get(reverse("task-review", args=[task.pk]))
    html = response.content.decode()
    assert response.status_code == 403
    assert NAVIGATION in html and WAY_BACK in html
    assert "Only a lead of this project can do that." in html
