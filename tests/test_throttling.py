"""API throttling: anonymous clients by address, token clients by user, the token endpoint by a
stricter scope of its own; over the limit, a 429 in the API's error format with Retry-After."""

import uuid

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from annotation.models import ApiToken
from annotation.services import api_token_create
from tests.factories import PASSWORD, UserFactory
from tests.fresh_interpreter import show

pytestmark = pytest.mark.django_db

GENEROUS = "1000/min"


@pytest.fixture
def rates(settings, monkeypatch):
    """Sets the throttle rates for one test, counted in a cache namespace of the test's own:
    no counts carry over from other tests or from other runs sharing the same Redis, and there
    is nothing to clear afterwards (DRF gives each key the rate's period as its lifetime)."""
    settings.CACHES = {
        "default": {
            **django_settings.CACHES["default"],
            "KEY_PREFIX": f"test-throttle-{uuid.uuid4().hex}",
        }
    }

    def set_rates(*, anon: str = GENEROUS, user: str = GENEROUS, auth: str = GENEROUS) -> None:
        # The throttle classes took their own reference to DEFAULT_THROTTLE_RATES when DRF was
        # imported, so overriding REST_FRAMEWORK would not reach them.
        monkeypatch.setattr(
            SimpleRateThrottle, "THROTTLE_RATES", {"anon": anon, "user": user, "auth": auth}
        )

    return set_rates


def token_client(user) -> APIClient:
    client = APIClient()
    _, key = api_token_create(user=user, name="throttling")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def assert_throttled(response) -> None:
    assert response.status_code == 429, response.content[:300]
    assert 0 < int(response.headers["Retry-After"]) <= 60
    error = response.json()["error"]
    assert error["code"] == "throttled"
    assert "throttled" in error["message"] and error["fields"] == {}


def test_an_anonymous_client_gets_429_after_its_rate(rates):
    rates(anon="3/min")
    anonymous = APIClient()
    wrong = {"username": "nobody", "password": "guess"}
    for _ in range(3):
        assert anonymous.post("/api/v1/auth/token/", wrong, format="json").status_code == 400
    assert_throttled(anonymous.post("/api/v1/auth/token/", wrong, format="json"))
    # One count per address across the API (the docs page answers in HTML, hence no body check).
    assert anonymous.get("/api/docs/").status_code == 429
    assert APIClient(REMOTE_ADDR="198.51.100.4").get("/api/docs/").status_code == 200


def test_a_token_client_is_limited_per_user_and_other_users_are_not(rates):
    rates(user="3/min")
    ada, bob = UserFactory(), UserFactory()
    client = token_client(ada)
    for _ in range(3):
        assert client.get("/api/v1/projects/").status_code == 200
    assert_throttled(client.get("/api/v1/projects/"))
    # The count is the user's, not the token's: a second token does not buy more requests.
    assert_throttled(token_client(ada).get("/api/v1/projects/"))
    assert token_client(bob).get("/api/v1/projects/").status_code == 200


def test_the_token_endpoint_has_a_stricter_scope_of_its_own(rates):
    rates(auth="3/min")
    user = UserFactory()
    anonymous = APIClient()
    for _ in range(3):
        response = anonymous.post(
            "/api/v1/auth/token/", {"username": user.username, "password": "guess"}, format="json"
        )
        assert response.status_code == 400
    # Refused before the password is even checked, so the right one gets no token either; and
    # an X-Forwarded-For header does not make the client a new address.
    response = anonymous.post(
        "/api/v1/auth/token/",
        {"username": user.username, "password": PASSWORD},
        format="json",
        HTTP_X_FORWARDED_FOR="203.0.113.7",
    )
    assert_throttled(response)
    assert not ApiToken.objects.filter(user=user).exists()
    # The scope is the token endpoint's alone: the anonymous rate elsewhere is untouched.
    assert anonymous.get("/api/docs/").status_code == 200


def test_rates_and_the_cache_come_from_the_environment(tmp_path):
    expression = (
        "settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES'], "
        "settings.REST_FRAMEWORK['NUM_PROXIES'], settings.CACHES['default']['BACKEND']"
    )
    unset = dict.fromkeys(
        ["API_THROTTLE_ANON", "API_THROTTLE_USER", "API_THROTTLE_AUTH", "API_NUM_PROXIES"], ""
    )
    defaults = show(tmp_path, expression, DEBUG="true", **unset)
    assert defaults.returncode == 0, defaults.stderr
    assert defaults.stdout.strip() == (
        "{'anon': '100/minute', 'user': '10000/minute', 'auth': '20/minute'} 0 "
        "django.core.cache.backends.locmem.LocMemCache"
    )
    configured = show(
        tmp_path,
        expression + ", settings.CACHES['default']['LOCATION']",
        DEBUG="true",
        API_THROTTLE_ANON="10/hour",
        API_THROTTLE_USER="50/s",
        API_THROTTLE_AUTH="5/min",
        API_NUM_PROXIES="1",
        REDIS_URL="redis://cache.internal:6379/2",
    )
    assert configured.returncode == 0, configured.stderr
    assert configured.stdout.strip() == (
        "{'anon': '10/hour', 'user': '50/s', 'auth': '5/min'} 1 "
        "django.core.cache.backends.redis.RedisCache redis://cache.internal:6379/2"
    )


def test_a_malformed_rate_stops_the_start(tmp_path):
    result = show(tmp_path, "settings.REST_FRAMEWORK", DEBUG="true", API_THROTTLE_USER="lots")
    assert result.returncode != 0
    assert "API_THROTTLE_USER must be a rate such as 100/minute" in result.stderr
