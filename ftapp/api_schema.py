"""What the OpenAPI schema adds to drf-spectacular's: every operation documents the error
responses it can give, in the one format of ``ftapp.api_errors``, so that views declare only
their own; and a strict request body says that it takes no other properties."""

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiResponse

from ftapp.api_errors import ErrorSerializer

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def error_response(description: str) -> OpenApiResponse:
    """An error a view documents itself, such as its 409, in ``extend_schema(responses=...)``."""
    return OpenApiResponse(ErrorSerializer, description=description)


def _error_statuses(method: str, operation: dict) -> dict[int, str]:
    """The errors any API view can answer with: 400 when it takes input (415 when that must be
    JSON), 401 and 403 when it needs a signed-in caller, 404 when its path names an object,
    429 (throttled) and 503 (the database, or for work queued to the workers the task queue,
    unreachable) always."""
    parameters = {p["in"] for p in operation.get("parameters", [])}
    names_an_object = "path" in parameters
    body_types = set(operation.get("requestBody", {}).get("content", {}))
    errors = {}
    if body_types or "query" in parameters:
        errors[400] = "Invalid input: `fields` has the messages for each field."
    if body_types == {"application/json"}:
        errors[415] = "The body is not JSON: send Content-Type: application/json."
    if any(operation.get("security", [])):
        errors[401] = "No valid token (or session): missing, malformed or revoked."
        if names_an_object or method not in SAFE_METHODS:
            errors[403] = (
                "Signed in, but not allowed: not a lead of the project, not the caller's task, "
                "a permission missing, or (session) no CSRF token."
            )
    if names_an_object:
        errors[404] = "No such object among the caller's projects."
    errors[429] = "Too many requests: wait Retry-After seconds, then retry."
    errors[503] = (
        "The database, or the task queue the operation needs, is unreachable; nothing was "
        "written: wait Retry-After seconds, then retry."
    )
    return errors


class AutoSchema(openapi.AutoSchema):
    """Adds the errors of ``_error_statuses`` to each operation; one the view declares wins."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        component = self.resolve_serializer(ErrorSerializer, "response")
        error = {"application/json": {"schema": component.ref}}
        responses = operation["responses"]
        for status, description in _error_statuses(method.upper(), operation).items():
            responses.setdefault(str(status), {"description": description, "content": error})
        for retried in ("429", "503"):
            responses[retried].setdefault("headers", {})["Retry-After"] = {
                "schema": {"type": "integer", "minimum": 0},
                "description": "Seconds to wait before retrying.",
                "required": True,
            }
        return operation


class StrictSerializerScheme(OpenApiSerializerExtension):
    """A request body of a StrictSerializer has no other properties: they are rejected."""

    target_class = "ftapp.api_serializers.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["additionalProperties"] = False
        return schema
