"""When the connection to PostgreSQL dies under a request (the server restarted or failed over,
an administrator or a pooler ended the backend, the network dropped).

Such a request is done once more on a new connection where doing it twice is safe: claiming the
next task (it returns the claim already held) and submitting a judgment with an idempotency key
(the same key returns the first judgment). A transaction cut off at its commit may or may not
have been written, and only those operations find out which on the retry. Everything else
answers 503 with Retry-After, in the API's error format (``ftapp.api_errors``) or as a page
(``DatabaseUnavailableMiddleware``), never as a success the database does not hold.
"""

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from rest_framework.request import Request
from rest_framework.views import APIView

logger = logging.getLogger(__name__)

# Lost connections, and the failures a retry later may cure (a server refusing connections,
# a deadlock, a serialization failure, a statement or lock timeout).
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5
UNAVAILABLE_MESSAGE = "The database could not be reached. Try again in a few seconds."

T = TypeVar("T")


def connection_lost(error: Exception) -> bool:
    """Whether ``error`` means the connection is gone, as opposed to a statement that failed on
    a connection still usable (a deadlock, a timeout). Told by the error, not by the connection:
    leaving a transaction, Django may already have dropped the dead one and opened another."""
    cause = error.__cause__
    if not isinstance(cause, psycopg.Error):
        return connection.connection is None
    if cause.sqlstate is None:
        return True  # no reply from the server, which would carry a SQLSTATE
    # The server ended the session (pg_terminate_backend, a shutdown, a session timeout).
    return cause.diag.severity_nonlocalized == "FATAL"


def retry_once_on_lost_connection(operation: Callable[[], T]) -> T:
    """Runs ``operation``, and once more on a new connection if the connection died under it.
    Only for operations safe to do twice, and never inside a transaction (its work so far
    died with the connection)."""
    try:
        return operation()
    except DATABASE_UNAVAILABLE as error:
        if connection.in_atomic_block or not connection_lost(error):
            raise
        logger.warning("Database connection lost (%s); retrying on a new one.", error)
        connection.close()
        return operation()


def retried_on_lost_connection(when: Callable[[HttpRequest], bool] | None = None):
    """A page view that runs once more, from the start, on a new connection if its connection
    died: always, or when ``when(request)`` says that doing this request twice is safe. Put it
    above ``login_required``: loading the session and the user are queries too."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            if when is not None and not when(request):
                return view(request, *args, **kwargs)
            return retry_once_on_lost_connection(lambda: view(request, *args, **kwargs))

        return wrapped

    return decorate


class AuthenticationRetried(APIView):
    """For an API view: authenticating the caller (reading the token, and writing its
    last-used time at most once a minute) runs once more on a new connection if the connection
    died under it. The view's own work is retried, where that is safe, by the view itself."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        initial = super().initial
        retry_once_on_lost_connection(lambda: initial(request, *args, **kwargs))


def unavailable_page(request: HttpRequest) -> HttpResponse:
    """Rendered without the request: its session and user are in the database too."""
    response = HttpResponse(
        render_to_string("503.html", {"message": UNAVAILABLE_MESSAGE}), status=503
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if request.headers.get("HX-Request"):
        # htmx swaps no error response in; reloading the page shows this one, or, should the
        # database be back, what it holds.
        response["HX-Refresh"] = "true"
    return response


class DatabaseUnavailableMiddleware:
    """A page whose database went away answers 503 with a message, not a 500. The API maps
    its own (``ftapp.api_errors``)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DATABASE_UNAVAILABLE) or request.path.startswith("/api/"):
            return None
        logger.warning("%s %s: database unavailable: %s", request.method, request.path, exception)
        return unavailable_page(request)
