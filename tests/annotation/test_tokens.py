"""The API tokens page: create (key shown once, only a hash stored), list, revoke; and what the
API then makes of the tokens."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from annotation.models import ApiToken
from annotation.models.tokens import hash_token_key
from annotation.services import api_token_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def create(client: Client, name: str) -> str:
    """Creates a token through the page and returns the key it shows."""
    response = client.post("/tokens/", {"name": name})
    assert response.status_code == 200
    return re.search(r'id="new-key" value="([^"]+)"', response.content.decode()).group(1)


def api_status(key: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/projects/").status_code


def test_a_new_key_is_shown_once_and_only_its_hash_is_stored():
    client = page_client(UserFactory())
    assert "No tokens yet." in client.get("/tokens/").content.decode()
    response = client.post("/tokens/", {"name": "training pipeline"})
    page = response.content.decode()
    key = re.search(r'id="new-key" value="([^"]+)"', page).group(1)
    assert "will not be shown again" in page
    assert "no-store" in response.headers["Cache-Control"]
    token = ApiToken.objects.get()
    assert token.name == "training pipeline"
    assert token.key_hash == hash_token_key(key) and key.startswith(token.prefix)
    assert len(token.prefix) < len(key)
    listed = client.get("/tokens/").content.decode()
    assert key not in listed
    assert "training pipeline" in listed and f"{token.prefix}…" in listed
    assert api_status(key) == 200


def test_a_user_has_several_named_tokens_and_revoking_one_leaves_the_others():
    user = UserFactory()
    client = page_client(user)
    first, second = create(client, "nightly sync"), create(client, "notebook")
    assert ApiToken.objects.filter(user=user).count() == 2
    notebook = ApiToken.objects.get(user=user, name="notebook")
    response = client.post(f"/tokens/{notebook.pk}/revoke/")
    assert response.status_code == 302 and response.url == "/tokens/"
    notebook.refresh_from_db()
    assert notebook.revoked_at is not None
    revoked = APIClient()
    revoked.credentials(HTTP_AUTHORIZATION=f"Token {second}")
    response = revoked.get("/api/v1/projects/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert api_status(first) == 200
    page = client.get("/tokens/").content.decode()
    assert "revoked: the API now refuses it" in page
    assert page.count('<span class="muted">revoked ') == 1
    assert page.count(">Revoke</button>") == 1


def test_a_user_cannot_revoke_or_see_another_users_token():
    owner, other = UserFactory(), UserFactory()
    token, key = api_token_create(user=owner, name="owner's pipeline")
    client = page_client(other)
    assert client.post(f"/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None and api_status(key) == 200
    assert "owner&#x27;s pipeline" not in client.get("/tokens/").content.decode()


def test_a_token_needs_a_name():
    user = UserFactory()
    response = page_client(user).post("/tokens/", {"name": "   "})
    assert response.status_code == 200
    assert "A token needs a name." in response.content.decode()
    assert not ApiToken.objects.filter(user=user).exists()


def test_the_forms_are_plain_posts_protected_by_csrf():
    user = UserFactory()
    token, _ = api_token_create(user=user, name="ci")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    page = client.get("/tokens/").content.decode()
    assert page.count('name="csrfmiddlewaretoken"') >= 3  # create, revoke, log out
    assert client.post("/tokens/", {"name": "forged"}).status_code == 403
    assert client.post(f"/tokens/{token.pk}/revoke/").status_code == 403
    assert page_client(user).get(f"/tokens/{token.pk}/revoke/").status_code == 405
    assert ApiToken.objects.filter(user=user, revoked_at__isnull=True).count() == 1


def test_the_header_links_to_the_tokens_page_for_signed_in_users():
    assert 'href="/tokens/"' in page_client(UserFactory()).get("/").content.decode()


def test_last_used_is_written_at_most_once_a_minute():
    user = UserFactory()
    token, key = api_token_create(user=user, name="sync")
    assert token.last_used_at is None
    assert api_status(key) == 200
    token.refresh_from_db()
    first_use = token.last_used_at
    assert first_use is not None
    assert api_status(key) == 200
    token.refresh_from_db()
    assert token.last_used_at == first_use
    two_minutes_ago = timezone.now() - timedelta(minutes=2)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=two_minutes_ago)
    assert api_status(key) == 200
    token.refresh_from_db()
    assert token.last_used_at > two_minutes_ago
    listed = page_client(user).get("/tokens/").content.decode()
    assert timezone.localtime(token.last_used_at).strftime("%Y-%m-%d %H:%M") in listed
