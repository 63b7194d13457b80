"""Plumbing every app's pages share: a read's domain errors as 404/403, the page about one
object its access helper loads, lenient form numbers."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404

from ftapp.errors import Forbidden, NotFound


def for_page(read: Callable[..., Any], /, **kwargs: Any) -> Any:
    """Calls a selector for a page: ``NotFound`` becomes a 404 and ``Forbidden`` a 403."""
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
    try:
        return int(raw) if raw not in (None, "") else None
    except ValueError:
        return None
