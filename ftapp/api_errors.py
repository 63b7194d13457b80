"""One error format for the whole API: ``{"error": {"code", "message", "fields"}}``."""

import logging
import sys

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ftapp.database import (
    DATABASE_UNAVAILABLE,
    RETRY_AFTER_SECONDS,
    UNAVAILABLE_MESSAGE,
    unavailable_page,
)
from ftapp.errors import DomainError

logger = logging.getLogger(__name__)


def _flatten(detail) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        fields: dict[str, list[str]] = {}
        for name, value in detail.items():
            if isinstance(value, dict):
                for sub, messages in _flatten(value).items():
                    fields[f"{name}.{sub}"] = messages
            elif isinstance(value, list):
                fields[name] = [str(v) for v in value]
            else:
                fields[name] = [str(value)]
        return fields
    return {}


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


@csrf_exempt  # it changes nothing, and a POST must get the 404 too, not a CSRF page
def api_not_found(request, *args, **kwargs) -> JsonResponse:
    """Any other URL under /api/ (such as a project id that is not a number): a 404 in the
    API's format rather than Django's HTML page."""
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def _is_sqlite_integer_overflow(exc: Exception) -> bool:
    """An id past 64 bits (in the path or the body) names no object; PostgreSQL just finds no
    row, but SQLite cannot even compare it with its integers and raises this."""
    return isinstance(exc, OverflowError) and "SQLite INTEGER" in str(exc)


def _database_unavailable() -> JsonResponse:
    response = JsonResponse(error_body("unavailable", UNAVAILABLE_MESSAGE), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def server_error(request) -> HttpResponse:
    """``handler500``: what no view turned into a response. Under /api/ it answers in the API's
    format, elsewhere with Django's page; a database gone away is a 503 either way."""
    error = sys.exc_info()[1]
    api = request.path.startswith("/api/")
    if isinstance(error, DATABASE_UNAVAILABLE):
        return _database_unavailable() if api else unavailable_page(request)
    if api:
        return JsonResponse(error_body("server_error", "A server error occurred."), status=500)
    return defaults.server_error(request)


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return Response(
            error_body(exc.code, exc.message, exc.fields), status=exc.status, headers=headers
        )
    if isinstance(exc, DATABASE_UNAVAILABLE):
        request = context["request"]
        logger.warning("%s %s: database unavailable: %s", request.method, request.path, exc)
        return _database_unavailable()
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    if isinstance(exc, Http404) or _is_sqlite_integer_overflow(exc):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = exc.detail if isinstance(exc, exceptions.APIException) else None
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(detail) if isinstance(detail, dict) else {}
        if isinstance(detail, list):
            message = "; ".join(str(d) for d in detail)
        else:
            message = "Some fields are invalid."
        non_field = fields.pop("non_field_errors", None)
        if non_field:
            message = "; ".join(non_field)
        response.data = error_body("invalid", message, fields)
    else:
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        response.data = error_body(str(code), str(detail or exc))
    return response


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="Machine-readable: invalid, not_authenticated, authentication_failed, "
        "forbidden, permission_denied, not_found, conflict, throttled, unavailable, "
        "server_error, ..."
    )
    message = serializers.CharField(help_text="For people.")
    # DRF's metaclass takes declared fields out of the class, so this does not hide
    # Serializer.fields, as the stubs take it to.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Field name → its messages (nested fields dotted: filters.margin); "
        "empty unless the input was invalid.",
    )


class ErrorSerializer(serializers.Serializer):
    """Every error response: `code` for programs, `message` for people, `fields` for input."""

    error = ErrorDetailSerializer()
