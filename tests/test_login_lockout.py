"""Login lock-out: after a few wrong passwords an account, and an address, may not log in for
a cool-off, the right password neither, on the login page, the admin's login and the token
endpoint; the page says how long to wait; a success clears the account's count."""

import uuid
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.db.models import F
from django.test import Client
from rest_framework.test import APIClient

from annotation.models import ApiToken
from tests.factories import PASSWORD, UserFactory
from tests.fresh_interpreter import show

pytestmark = pytest.mark.django_db

LOGIN_PAGES = ["/login/", "/admin/login/"]
HOME = {"/login/": "/", "/admin/login/": "/admin/"}


@pytest.fixture(autouse=True)
def limits(settings):
    """The defaults, stated here so the tests read against them; a test may lower them. The
    API's throttle counts get a namespace of the test's own (the token endpoint is used)."""
    settings.AXES_FAILURE_LIMIT = 5
    settings.LOGIN_FAILURES_PER_ADDRESS = 20
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    settings.CACHES = {
        "default": {
            **django_settings.CACHES["default"],
            "KEY_PREFIX": f"test-lockout-{uuid.uuid4().hex}",
        }
    }
    return settings


@pytest.fixture
def staff():
    user = UserFactory()
    user.is_staff = user.is_superuser = True
    user.save()
    return user


def log_in(client: Client, page: str, user, password: str, **headers):
    username = getattr(user, "username", user)
    data = {"username": username, "password": password, "next": HOME[page]}
    return client.post(page, data, **headers)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def assert_locked_out(response, minutes: int = 15) -> None:
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= minutes * 60
    page = response.content.decode()
    assert "Too many failed logins" in page
    assert f"Try again in {minutes} minute" in page


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_five_wrong_passwords_lock_the_account_the_right_one_included(page, staff):
    client = Client()
    for _ in range(4):
        response = log_in(client, page, staff, "wrong")
        assert response.status_code == 200 and not logged_in(client)
    assert_locked_out(log_in(client, page, staff, "wrong"))
    assert_locked_out(log_in(client, page, staff, PASSWORD))
    assert not logged_in(client)
    # A try during the lock-out does not lengthen it.
    assert AccessAttempt.objects.get(username=staff.username).failures_since_start == 5


def test_the_lock_out_holds_on_the_other_login_page_and_the_token_endpoint(staff):
    for _ in range(5):
        log_in(Client(), "/login/", staff, "wrong")
    assert_locked_out(log_in(Client(), "/admin/login/", staff, PASSWORD))
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": staff.username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 400
    assert not ApiToken.objects.filter(user=staff).exists()


def test_an_address_over_its_limit_may_not_log_in_to_another_account(limits):
    limits.LOGIN_FAILURES_PER_ADDRESS = 8
    tried = [UserFactory() for _ in range(2)]
    client = Client()
    responses = [log_in(client, "/login/", user, "wrong") for user in tried for _ in range(4)]
    # Four each: no account reaches its limit of five, but the address reaches its eight.
    assert [r.status_code for r in responses] == [200] * 7 + [429]
    another = UserFactory()
    assert_locked_out(log_in(client, "/login/", another, PASSWORD))
    assert not logged_in(client)
    # The same account from another address is not held back by this one's failures.
    elsewhere = Client(REMOTE_ADDR="198.51.100.7")
    assert log_in(elsewhere, "/login/", another, PASSWORD).status_code == 302
    assert logged_in(elsewhere)


def test_a_forwarded_for_header_does_not_make_a_new_address(limits):
    limits.LOGIN_FAILURES_PER_ADDRESS = 3
    client = Client()
    for n in range(3):
        log_in(client, "/login/", f"guess{n}", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    response = log_in(
        client, "/login/", UserFactory(), PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.99"
    )
    assert_locked_out(response)


def test_behind_a_trusted_proxy_the_address_is_the_one_it_forwards(limits):
    limits.LOGIN_FAILURES_PER_ADDRESS = 3
    limits.REST_FRAMEWORK = {**django_settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = Client(REMOTE_ADDR="10.0.0.2")
    for n in range(3):
        log_in(proxy, "/login/", f"guess{n}", "wrong", HTTP_X_FORWARDED_FOR="203.0.113.5")
    user = UserFactory()
    assert_locked_out(log_in(proxy, "/login/", user, PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.5"))
    # Another client behind the same proxy is another address.
    response = log_in(proxy, "/login/", user, PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.6")
    assert response.status_code == 302
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.5"}


def test_the_lock_out_ends_after_the_cool_off(staff):
    client = Client()
    for _ in range(5):
        log_in(client, "/login/", staff, "wrong")
    assert_locked_out(log_in(client, "/login/", staff, PASSWORD))
    # Ten minutes on, five are left to wait.
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=10))
    assert_locked_out(log_in(client, "/login/", staff, PASSWORD), minutes=5)
    # Past the cool-off, the right password logs in.
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=5))
    assert log_in(client, "/login/", staff, PASSWORD).status_code == 302
    assert logged_in(client)


def test_a_success_clears_the_accounts_failures_not_the_addresses(limits, staff):
    limits.LOGIN_FAILURES_PER_ADDRESS = 10
    client = Client()
    for _ in range(4):
        log_in(client, "/login/", "someone-else", "wrong")
    for _ in range(4):
        log_in(client, "/login/", staff, "wrong")
    assert log_in(client, "/login/", staff, PASSWORD).status_code == 302
    assert not AccessAttempt.objects.filter(username=staff.username).exists()
    # Four more wrong ones do not lock the account: its count started again.
    client = Client()
    for _ in range(4):
        assert log_in(client, "/login/", staff, "wrong").status_code == 200
    # The address kept someone else's four: with these four it is at 8 of its 10, and two
    # more lock it. Logging in to one's own account does not wipe what the address tried.
    for _ in range(2):
        log_in(client, "/login/", "nobody", "wrong")
    assert_locked_out(log_in(client, "/login/", UserFactory(), PASSWORD))


def test_the_lock_out_needs_no_cache(limits, staff):
    limits.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    for _ in range(5):
        log_in(Client(), "/login/", staff, "wrong")
    assert_locked_out(log_in(Client(), "/login/", staff, PASSWORD))


def test_the_test_clients_logins_do_not_count_as_failures(staff):
    client = Client()
    for _ in range(10):
        client.force_login(staff)
        assert client.login(username=staff.username, password=PASSWORD)
    assert not client.login(username=staff.username, password="wrong")
    assert log_in(Client(), "/login/", staff, PASSWORD).status_code == 302


def test_an_over_long_username_is_a_failure_not_an_error():
    name = "x" * 1000
    assert log_in(Client(), "/login/", name, "wrong").status_code == 200
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": name, "password": "wrong"}, format="json"
    )
    assert response.status_code == 400
    assert AccessAttempt.objects.filter(username="x" * 255).exists()


def test_the_limits_come_from_the_environment(tmp_path):
    expression = (
        "settings.AXES_FAILURE_LIMIT, settings.LOGIN_FAILURES_PER_ADDRESS, "
        "settings.AXES_COOLOFF_TIME.total_seconds()"
    )
    unset = dict.fromkeys(
        ["LOGIN_FAILURES_PER_ACCOUNT", "LOGIN_FAILURES_PER_ADDRESS", "LOGIN_LOCKOUT_MINUTES"], ""
    )
    defaults = show(tmp_path, expression, DEBUG="true", **unset)
    assert defaults.returncode == 0, defaults.stderr
    assert defaults.stdout.strip() == "5 20 900.0"
    configured = show(
        tmp_path,
        expression,
        DEBUG="true",
        LOGIN_FAILURES_PER_ACCOUNT="3",
        LOGIN_FAILURES_PER_ADDRESS="50",
        LOGIN_LOCKOUT_MINUTES="60",
    )
    assert configured.returncode == 0, configured.stderr
    assert configured.stdout.strip() == "3 50 3600.0"
    zero = show(tmp_path, "settings.AXES_FAILURE_LIMIT", DEBUG="true", LOGIN_LOCKOUT_MINUTES="0")
    assert zero.returncode != 0
    assert "LOGIN_LOCKOUT_MINUTES must be 1 or more" in zero.stderr
