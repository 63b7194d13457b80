"""One write path for the guidelines, from the page and the API alike: a new version only
when the text or the rating anchors change, and the lead is told which happened."""

import pytest
from django.urls import reverse

from tests.factories import client_for

pytestmark = pytest.mark.django_db


def versions(project) -> list[int]:
    return list(project.guidelines.order_by("version").values_list("version", flat=True))


def test_saving_the_page_unchanged_publishes_nothing_and_says_so(client, rating_project, lead):
    client.force_login(lead)
    url = reverse("guidelines", args=[rating_project.pk])
    form = {"body": "Be **kind**.\r\nAlways.", "anchor_5": "Perfect"}
    client.post(url, form)
    again = client.post(url, form, follow=True).content.decode()
    assert versions(rating_project) == [1, 2]
    assert "Nothing changed: version 2 stays current." in again
    client.post(url, {**form, "anchor_1": "Wrong"})
    assert versions(rating_project) == [1, 2, 3]
    assert rating_project.guidelines.get(version=3).rating_anchors == {
        "1": "Wrong",
        "5": "Perfect",
    }


def test_the_api_sets_anchors_and_publishes_only_on_a_change(rating_project, lead):
    client = client_for(lead)
    url = f"/api/v1/projects/{rating_project.pk}/"
    response = client.patch(url, {"rating_anchors": {"1": "Wrong", "5": "Perfect"}}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["guidelines_version"] == 2
    assert body["rating_anchors"] == {"1": "Wrong", "5": "Perfect"}
    same = client.patch(url, {"rating_anchors": {"5": "Perfect", "1": "Wrong"}}, format="json")
    assert same.json()["guidelines_version"] == 2
    assert versions(rating_project) == [1, 2]
    bad = client.patch(url, {"rating_anchors": {"7": "Beyond"}}, format="json")
    assert bad.status_code == 400 and "rating_anchors" in bad.json()["error"]["fields"]
    assert versions(rating_project) == [1, 2]


def test_page_and_api_share_the_rule(client, rating_project, lead):
    """Text the API stored, saved back unchanged from the page's textarea (which sends CRLF),
    is no change."""
    api = client_for(lead)
    api.patch(f"/api/v1/projects/{rating_project.pk}/", {"guidelines": "One.\nTwo."}, format="json")
    client.force_login(lead)
    client.post(reverse("guidelines", args=[rating_project.pk]), {"body": "One.\r\nTwo."})
    assert versions(rating_project) == [1, 2]
