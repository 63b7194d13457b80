"""Domain exceptions raised by services. ``ftapp.api_errors`` maps them to HTTP responses for
the API; pages turn them into messages. A service never returns an HTTP status itself."""


class DomainError(Exception):
    code = "error"
    status = 400
    # Seconds a client should wait before trying again, sent as Retry-After; None: no header.
    retry_after: int | None = None

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}

    def __str__(self) -> str:
        """The message with every field's problems, for pages and the command line."""
        details = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in self.fields.items())
        return f"{self.message} {details}".strip()


class InvalidInput(DomainError):
    code = "invalid"
    status = 400


class NotFound(DomainError):
    """Also what a non-member gets for a project's objects: their existence is not disclosed."""

    code = "not_found"
    status = 404


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class Conflict(DomainError):
    code = "conflict"
    status = 409


class Unavailable(DomainError):
    """Something the operation needs is unreachable for now; nothing was written."""

    code = "unavailable"
    status = 503
    retry_after = 30
