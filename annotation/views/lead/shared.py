"""Page plumbing the lead's pages share with evaluation's: a selector's domain errors
as 404/403, the lead-only page decorator, lenient form numbers."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404

from annotation.selectors import NotALead, NotAMember, project_get_for_lead
from ftapp.errors import Forbidden, NotFound


def for_page(read, **kwargs):
    """Calls a selector for a page: ``NotFound`` becomes a 404 and ``Forbidden`` a 403."""
    try:
        return read(**kwargs)
    except NotFound:
        raise Http404 from None
    except Forbidden as error:
        raise PermissionDenied(error.message) from None


def lead_project(request, project_id: int):
    """The project, if the user leads it: 404 for non-members, 403 for other members."""
    try:
        return project_get_for_lead(user=request.user, project_id=project_id)
    except NotAMember:
        raise Http404 from None
    except NotALead as error:
        raise PermissionDenied(error.message) from None


def lead_page(view):
    @login_required
    @wraps(view)
    def wrapper(request, project_id: int, *args, **kwargs):
        return view(request, lead_project(request, project_id), *args, **kwargs)

    return wrapper


def int_or_none(raw: str | None) -> int | None:
    try:
        return int(raw) if raw else None
    except ValueError:
        return None
