import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from rest_framework.test import APIClient

from annotation.models import ApiToken, Membership
from tests.factories import (
    PASSWORD,
    AnnotatorFactory,
    ProjectFactory,
    UserFactory,
    add_member,
    client_for,
)

pytestmark = pytest.mark.django_db


def test_token_for_username_and_password_authenticates_later_calls(lead):
    anonymous = APIClient()
    response = anonymous.post(
        "/api/v1/auth/token/", {"username": lead.username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 201
    key = response.json()["token"]
    stored = ApiToken.objects.get(user=lead)
    assert key not in (stored.key_hash, stored.prefix) and key.startswith(stored.prefix)
    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert anonymous.get("/api/v1/projects/").status_code == 200


def test_wrong_password_gets_a_json_error(lead):
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": lead.username, "password": "nope"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Wrong username or password."
    assert not ApiToken.objects.exists()


def test_missing_and_revoked_tokens_get_401(lead):
    assert APIClient().get("/api/v1/projects/").status_code == 401
    client = client_for(lead)
    ApiToken.objects.update(revoked_at=timezone.now())
    response = client.get("/api/v1/projects/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_create_project_makes_the_caller_lead_with_guidelines_v1(lead):
    response = client_for(lead).post(
        "/api/v1/projects/",
        {"name": "Bank QA", "kind": "pairwise", "guidelines": "Be *strict*.", "overlap": 3},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["kind"] == "pairwise" and body["overlap"] == 3 and body["role"] == "lead"
    assert body["guidelines"] == "Be *strict*." and body["guidelines_version"] == 1
    assert body["progress"] == {
        "prompts": 0,
        "tasks": 0,
        "tasks_in_batches": 0,
        "gold_tasks": 0,
        "judgments": 0,
    }
    assert Membership.objects.get(project_id=body["id"], user=lead).role == "lead"


def test_creating_projects_needs_the_permission():
    response = client_for(UserFactory()).post(
        "/api/v1/projects/", {"name": "x", "kind": "rating"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "kind": "ranking"}, "kind"),
        ({"name": "x", "kind": "rating", "overlap": 0}, "overlap"),
        ({"name": "x", "kind": "rating", "colour": "red"}, "colour"),
        ({"kind": "rating"}, "name"),
        ({"name": "x", "kind": "pairwise", "pairing": "baseline"}, "baseline_model"),
    ],
)
def test_bad_project_input_names_the_field(lead, payload, field):
    response = client_for(lead).post("/api/v1/projects/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_a_nul_character_anywhere_in_the_input_is_a_400_not_a_crash(rating_project, lead):
    # PostgreSQL stores no NUL in text or JSON; DRF's text fields refuse it, but a free-form
    # object let it through to the database. Found by tests/test_schema_fuzz.py.
    client = client_for(lead)
    batch = client.post(
        f"/api/v1/projects/{rating_project.pk}/batches/",
        {"name": "b", "size": 1, "filter": {"metadata": {"topic": "loans\x00"}}},
        format="json",
    )
    assert batch.status_code == 400
    assert batch.json()["error"]["fields"] == {
        "filter.metadata": ["Null characters are not allowed."]
    }
    lead.user_permissions.add(
        Permission.objects.get(content_type__app_label="evaluation", codename="add_modelendpoint")
    )
    model = client.post(
        "/api/v1/models/",
        {"name": "m", "base_url": "http://127.0.0.1:9/v1", "model": "m", "params": {"\x00": 1}},
        format="json",
    )
    assert model.status_code == 400
    assert model.json()["error"]["fields"] == {"params": ["Null characters are not allowed."]}


def test_list_shows_only_the_callers_projects(lead, annotator):
    mine = ProjectFactory(created_by=lead)
    ProjectFactory()
    add_member(mine, annotator)
    assert [p["id"] for p in client_for(lead).get("/api/v1/projects/").json()] == [mine.pk]
    listed = client_for(annotator).get("/api/v1/projects/").json()
    assert [(p["id"], p["role"]) for p in listed] == [(mine.pk, "annotator")]


def test_non_members_get_404_and_annotators_cannot_change_a_project(rating_project, annotator):
    outsider = client_for(UserFactory())
    assert outsider.get(f"/api/v1/projects/{rating_project.pk}/").status_code == 404
    add_member(rating_project, annotator)
    member = client_for(annotator)
    assert member.get(f"/api/v1/projects/{rating_project.pk}/").status_code == 200
    response = member.patch(f"/api/v1/projects/{rating_project.pk}/", {"overlap": 5}, format="json")
    assert response.status_code == 403


def test_patch_changes_settings_and_publishes_new_guidelines(rating_project, lead):
    client = client_for(lead)
    url = f"/api/v1/projects/{rating_project.pk}/"
    response = client.patch(url, {"overlap": 2, "guidelines": "Version two."}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["overlap"] == 2 and response.json()["guidelines_version"] == 2
    same = client.patch(url, {"guidelines": "Version two."}, format="json")
    assert same.json()["guidelines_version"] == 2
    fixed = client.patch(url, {"kind": "pairwise"}, format="json")
    assert fixed.status_code == 400 and "kind" in fixed.json()["error"]["fields"]
    assert list(rating_project.guidelines.values_list("version", flat=True)) == [2, 1]


def test_lead_adds_members_and_changes_roles(rating_project, lead):
    user = AnnotatorFactory()
    client = client_for(lead)
    url = f"/api/v1/projects/{rating_project.pk}/members/"
    added = client.post(url, {"username": user.username, "role": "annotator"}, format="json")
    assert added.status_code == 200
    assert added.json()["pseudonym"].startswith("ann-")
    client.post(url, {"username": user.username, "role": "lead"}, format="json")
    assert Membership.objects.get(project=rating_project, user=user).role == "lead"
    missing = client.post(url, {"username": "nobody", "role": "annotator"}, format="json")
    assert missing.status_code == 400 and "username" in missing.json()["error"]["fields"]


def test_schema_and_docs_are_served(lead):
    client = APIClient()
    client.force_login(lead)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    spec = schema.json()
    assert spec["openapi"].startswith("3.")
    for path in [
        "/api/v1/auth/token/",
        "/api/v1/projects/",
        "/api/v1/projects/{project_id}/",
        "/api/v1/projects/{project_id}/members/",
    ]:
        assert path in spec["paths"]
    assert "tokenAuth" in spec["components"]["securitySchemes"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content
