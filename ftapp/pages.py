"""Plumbing every app's pages share, and the one place that maps domain errors to pages, as
``ftapp.api_errors`` does for the API:

- what a page loads (``for_page``, ``object_page``): ``NotFound`` is a 404, ``Forbidden`` a
  403 with its message;
- what a page's action fails with (``flash_errors``, ``form_errors``): any ``DomainError``, or
  a model's ``ValidationError``, is shown to the user, as a message on the page that comes
  next or on the form shown again, each field's messages kept.
"""

from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.http import Http404, HttpRequest

from ftapp.errors import DomainError, Forbidden, InvalidInput, NotFound

PageError = DomainError | ValidationError


def for_page(read: Callable[..., Any], /, **kwargs: Any) -> Any:
    """Calls what a page cannot be shown without (a selector, or a service such as revoking
    one's own token): ``NotFound`` becomes a 404 and ``Forbidden`` a 403."""
    try:
        return read(**kwargs)
    except NotFound:
        raise Http404 from None
    except Forbidden as error:
        raise PermissionDenied(error.message) from None


def object_page(load: Callable[..., Any], id_name: str):
    """A page about one object: login required, and the view is given, in place of the URL's
    ``id_name``, what ``load(user=..., <id_name>=...)`` returns. ``load`` is the object's access
    helper (``project_get_for_lead``): it says who may see the object, and its ``NotFound`` is a
    404 (a project's outsiders do not learn it exists) and its ``Forbidden`` a 403."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            found = for_page(load, user=request.user, **{id_name: kwargs.pop(id_name)})
            return view(request, found, *args, **kwargs)

        return wrapper

    return decorator


def int_or_none(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def _domain_error(error: PageError) -> DomainError:
    """A model's ``ValidationError`` (from ``full_clean``) as the ``InvalidInput`` it means."""
    if isinstance(error, DomainError):
        return error
    if not hasattr(error, "error_dict"):
        return InvalidInput("; ".join(error.messages))
    fields = dict(error.message_dict)
    return InvalidInput("; ".join(fields.pop(NON_FIELD_ERRORS, [])), fields=fields)


def error_text(error: PageError, *, shown_beside: Collection[str] = ()) -> str:
    """The error as one text: its message, then each field's messages after the field's name,
    but for the fields in ``shown_beside``, whose messages the form shows beside them."""
    error = _domain_error(error)
    rest = {
        in_words(name): found for name, found in error.fields.items() if name not in shown_beside
    }
    return str(DomainError(error.message, fields=rest))


def in_words(name: str) -> str:
    """An internal name (a field, an option's value) as a person reads it: ``fresh_batch`` is
    "fresh batch"."""
    return name.replace("_", " ").replace(".", " ")


def field_errors(error: PageError, *, fields: Collection[str]) -> dict[str, list[str]]:
    """The error's messages about the form's ``fields``, by field, to show beside each."""
    return {name: found for name, found in _domain_error(error).fields.items() if name in fields}


@contextmanager
def flash_errors(request: HttpRequest) -> Iterator[None]:
    """Runs a page's action: a domain error ends the block and becomes a message on the page
    that comes next (the view goes on after the block, to its redirect)."""
    try:
        yield
    except (DomainError, ValidationError) as error:
        messages.error(request, error_text(error))


@contextmanager
def form_errors(context: dict[str, Any], *, fields: Collection[str] = ()) -> Iterator[None]:
    """Runs a form's action: a domain error ends the block and goes into ``context`` for the
    form shown again: ``fields``, the messages about each of the form's ``fields``, to show
    beside it; ``error``, the message with any other field's, to show above the form;
    ``status``, the HTTP status the page answers with (a queue that is down is no bad input)."""
    try:
        yield
    except (DomainError, ValidationError) as error:
        context["error"] = error_text(error, shown_beside=fields)
        context["fields"] = field_errors(error, fields=fields)
        context["status"] = error.status if isinstance(error, DomainError) else 400
