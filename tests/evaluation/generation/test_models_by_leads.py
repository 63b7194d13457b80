"""Model endpoints set up by leads: any project lead registers, changes and retires them; a
retired model is offered for no new run or round."""

import pytest
from django.urls import reverse

from evaluation.models import ModelEndpoint
from tests.factories import AnnotatorFactory, add_member, client_for, make_project

pytestmark = pytest.mark.django_db


def test_a_lead_without_the_permission_registers_changes_and_retires_a_model(client, lead):
    project = make_project(lead, prompts=1)
    api = client_for(lead)
    created = api.post(
        "/api/v1/models/",
        {"name": "ft-r1", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
        format="json",
    )
    assert created.status_code == 201
    url = f"/api/v1/models/{created.json()['id']}/"
    changed = api.patch(url, {"name": "ft-r1b", "max_concurrency": 2}, format="json").json()
    assert (changed["name"], changed["max_concurrency"], changed["retired_at"]) == (
        "ft-r1b",
        2,
        None,
    )
    assert api.patch(url, {"api_key_env": "HOME"}, format="json").status_code == 400
    assert api.patch(url, {"retired": True}, format="json").json()["retired_at"] is not None

    refused = api.post(
        f"/api/v1/projects/{project.pk}/generation-runs/",
        {"models": [created.json()["id"]]},
        format="json",
    )
    assert refused.status_code == 400 and "Retired" in refused.content.decode()
    client.force_login(lead)
    assert "ft-r1b" not in client.get(reverse("run-new", args=[project.pk])).content.decode()
    assert "ft-r1b" not in client.get(reverse("round-new", args=[project.pk])).content.decode()
    assert "Offer again" in client.get(reverse("models")).content.decode()


def test_the_models_page_retires_and_offers_again(client, lead):
    make_project(lead, prompts=1)
    endpoint = ModelEndpoint.objects.create(
        name="old", base_url="http://127.0.0.1:9/v1", model="m", created_by=lead
    )
    client.force_login(lead)
    url = reverse("model-retire", args=[endpoint.pk])
    page = client.post(url, {"action": "retire"}, follow=True).content.decode()
    assert "old is retired" in page
    endpoint.refresh_from_db()
    assert endpoint.retired_at is not None
    client.post(url, {"action": "restore"})
    endpoint.refresh_from_db()
    assert endpoint.retired_at is None


def test_an_annotator_changes_no_model(lead):
    project = make_project(lead, prompts=1)
    annotator = AnnotatorFactory()
    add_member(project, annotator)
    endpoint = ModelEndpoint.objects.create(
        name="kept", base_url="http://127.0.0.1:9/v1", model="m", created_by=lead
    )
    answer = client_for(annotator).patch(
        f"/api/v1/models/{endpoint.pk}/", {"retired": True}, format="json"
    )
    assert answer.status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.retired_at is None


def test_the_edit_page_changes_a_model_under_the_key_rule(client, lead):
    make_project(lead, prompts=1)
    endpoint = ModelEndpoint.objects.create(
        name="edit-me", base_url="http://127.0.0.1:9/v1", model="m", created_by=lead
    )
    client.force_login(lead)
    url = reverse("model-edit", args=[endpoint.pk])
    assert 'value="edit-me"' in client.get(url).content.decode()
    form = {"name": "edited", "base_url": "http://127.0.0.1:8/v1", "model": "m2"}
    refused = client.post(url, {**form, "api_key_env": "HOME"})
    assert refused.status_code == 200 and 'class="error"' in refused.content.decode()
    assert client.post(url, form).status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.name, endpoint.base_url, endpoint.model) == (
        "edited",
        "http://127.0.0.1:8/v1",
        "m2",
    )
