"""Login lock-out, by django-axes: after a few failed logins an account, and an address, may
not log in for a cool-off, whatever password comes next.

It covers every password check made with a request: the login page, the admin's login and
the API's token endpoint. Failures are counted in the database (axes's AccessAttempt), so
the lock-out holds with no Redis and across web processes. The settings are in
``ftapp/settings.py`` (LOGIN_FAILURES_PER_ACCOUNT, LOGIN_FAILURES_PER_ADDRESS,
LOGIN_LOCKOUT_MINUTES); an admin lifts a lock-out by deleting its access attempts (in the
admin, or ``manage.py axes_reset_username`` / ``axes_reset_ip``).
"""

import ipaddress
import math
from datetime import datetime, timedelta

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from rest_framework.throttling import BaseThrottle

# What axes's columns hold; a longer name is no account and must not make a failure an error.
_USERNAME_MAX = AccessAttempt._meta.get_field("username").max_length


class LoginLockoutBackend(AxesStandaloneBackend):
    """Refuses a locked-out account or address before the password is checked (by the
    next backend). A sign-in made without a request (the test client's ``login()``, a
    shell) has no address and no form to count, so it goes on to the password check."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


class LoginLockoutHandler(AxesDatabaseHandler):
    """axes's database handler with a limit of its own for the address: an address may be
    a whole office behind one NAT, so it is given more failures than one account."""

    def _counts(self, request, credentials) -> list[dict]:
        """Failures within the cool-off and the latest of them, for the account and for the
        address (AXES_LOCKOUT_PARAMETERS, in that order)."""
        return [
            attempts.aggregate(failures=Sum("failures_since_start"), latest=Max("attempt_time"))
            for attempts in self.get_user_attempts(request, credentials)
        ]

    def _limits(self, request, credentials) -> tuple[int, int]:
        return get_failure_limit(request, credentials), settings.LOGIN_FAILURES_PER_ADDRESS

    def get_failures(self, request, credentials=None) -> int:
        # axes holds one count to one limit (the account's); the address's count is shifted
        # so that it reaches that limit exactly when it reaches its own.
        account, address = (count["failures"] or 0 for count in self._counts(request, credentials))
        per_account, per_address = self._limits(request, credentials)
        return max(account, address + per_account - per_address)

    def reset_user_attempts(self, request, credentials=None) -> int:
        # A success clears the account's failures only: logging in to one's own account
        # must not reset the count of an address that is trying other accounts.
        username = get_client_username(request, credentials)
        if username is None:
            return 0
        count, _ = AccessAttempt.objects.filter(username=username).delete()
        return count

    def locked_until(self, request, credentials) -> datetime | None:
        """When the lock-out that holds for this request ends (the latest failure that
        locked the account or the address, plus the cool-off); None if none holds."""
        ends = [
            count["latest"] + get_cool_off(request)
            for count, limit in zip(
                self._counts(request, credentials), self._limits(request, credentials), strict=True
            )
            if (count["failures"] or 0) >= limit
        ]
        return max(ends, default=None)


def client_address(request: HttpRequest) -> str | None:
    """The client's address by the API throttles' rule (API_NUM_PROXIES): the connection's
    own, or the one the trusted proxies wrote in X-Forwarded-For; never what a client sent."""
    # The stubs ask for DRF's Request; get_ident reads only META, which a Django request has.
    address = BaseThrottle().get_ident(request)  # type: ignore[arg-type]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return request.META.get("REMOTE_ADDR")


def login_username(request: HttpRequest, credentials: dict | None) -> str | None:
    """The name tried, cut to what axes's column holds: no account has a longer one."""
    source = credentials if credentials else getattr(request, "POST", {})
    username = source.get(settings.AXES_USERNAME_FORM_FIELD)
    return username[:_USERNAME_MAX] if isinstance(username, str) else None


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """The login page's answer during a lock-out: a 429 that says how long to wait."""
    handler = AxesProxyHandler.get_implementation()
    until = handler.locked_until(request, credentials)
    wait = until - timezone.now() if until else get_cool_off(request)
    seconds = max(math.ceil(wait / timedelta(seconds=1)), 1)
    response = render(
        request,
        "registration/locked_out.html",
        {"minutes": math.ceil(seconds / 60), "login_url": request.get_full_path()},
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response
