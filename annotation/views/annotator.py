"""Pages of the human side. Thin: they read through selectors and write through services.

The annotator's workspace is one page whose ``#workspace`` element htmx swaps after each
action; without JavaScript every form is a plain POST followed by a redirect.
"""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from annotation.models import Claim, Project, Repeat, Role
from annotation.selectors import (
    annotator_progress,
    claim_view,
    guidelines_current,
    guidelines_due,
    home_projects,
    membership_get,
    projects_archived_led,
    shortcuts_enabled,
    task_project_id,
    workspace_held,
)
from annotation.services import (
    guidelines_acknowledge,
    judgment_submit,
    repeat_answer,
    repeat_skip,
    shortcuts_set,
    task_skip,
    workspace_next,
    workspace_undo,
)
from annotation.shortcuts import VERDICT_KEYS, shortcut_rows
from ftapp.database import retried_on_lost_connection
from ftapp.errors import DomainError, InvalidInput
from ftapp.pages import error_text, field_errors, for_page


@login_required
def home(request):
    context = {
        "rows": home_projects(user=request.user),
        "archived": projects_archived_led(user=request.user),
    }
    return render(request, "annotation/home.html", context)


def _annotator_project(request, project_id: int) -> Project:
    membership = for_page(membership_get, user=request.user, project_id=project_id)
    if membership.role != Role.ANNOTATOR:
        raise PermissionDenied("Only annotators of this project have a queue in it.")
    if membership.project.archived_at is not None:
        raise PermissionDenied("This project is archived: it serves no more tasks.")
    return membership.project


def _workspace_context(
    request,
    project: Project,
    *,
    lease: bool,
    errors=None,
    notice="",
    values=None,
    values_task: int | None = None,
):
    # The page serves repeats too (``workspace_next``); they look like any claimed task.
    claim: Claim | Repeat | None
    if lease:
        claim = workspace_next(user=request.user, project_id=project.pk)
    else:
        claim = workspace_held(user=request.user, project=project)
    if values_task is not None and (claim is None or claim.task_id != values_task):
        values = None  # the values of another task than the one shown
    values = values or {}
    guidelines = guidelines_current(project=project)
    return {
        "project": project,
        "claim": claim,
        "view": claim_view(claim=claim) if claim else None,
        "progress": annotator_progress(project=project, user=request.user),
        "guidelines": guidelines,
        "guidelines_due": guidelines_due(user=request.user, project=project),
        "verdict_keys": VERDICT_KEYS.get(project.kind, []),
        "shortcut_rows": shortcut_rows(project.kind),
        "anchors": [
            (str(n), (guidelines.rating_anchors or {}).get(str(n), "") if guidelines else "")
            for n in range(1, 6)
        ],
        "idempotency_key": uuid.uuid4().hex,
        "leased": lease,
        "errors": errors or {},
        "notice": notice,
        "values": values,
        "rubric_rows": [
            (dimension, str(values.get(f"rubric_{dimension}") or ""))
            for dimension in project.rubric
        ],
        "shortcuts": shortcuts_enabled(user=request.user),
    }


def _render_workspace(request, project: Project, *, status: int = 200, **extra):
    """The workspace with the annotator's next task; a GET only shows the task they hold,
    and otherwise a start button that POSTs (which the page's script presses on arrival)."""
    context = _workspace_context(request, project, lease=request.method == "POST", **extra)
    template = "annotation/partials/workspace.html" if request.htmx else "annotation/queue.html"
    return render(request, template, context, status=status)


@retried_on_lost_connection()
@login_required
def queue(request, project_id: int):
    """The annotator's workspace: their current task, or the empty state when their queue
    has nothing more for them. A GET leases nothing; the next task is claimed by a POST."""
    project = _annotator_project(request, project_id)
    if request.method == "POST" and not request.htmx:
        workspace_next(user=request.user, project_id=project.pk)
        return redirect("queue", project_id=project.pk)
    undone = request.session.pop(_UNDONE_KEY, None) if request.method == "GET" else None
    if undone:
        task_id = undone.pop("task", None)
        return _render_workspace(request, project, values=undone, values_task=task_id)
    return _render_workspace(request, project)


def _task_project(request, task_id: int) -> Project:
    return _annotator_project(request, for_page(task_project_id, task_id=task_id))


def _int_or_none(raw: str | None) -> int | str | None:
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        return raw  # the service reports it as invalid, with the field named


def _after_action(request, project: Project, notice: str, **extra):
    if request.htmx:
        return _render_workspace(request, project, notice=notice, **extra)
    messages.success(request, notice)
    return redirect("queue", project_id=project.pk)


# Where a plain (no htmx) undo leaves the withdrawn work for the page it redirects to.
_UNDONE_KEY = "ftapp.undone"

# The workspace's fields that show their own errors; any other's show with the message.
WORKSPACE_FIELDS = ("rating", "rubric_scores", "choice", "reason")


def _failed(request, project: Project, error: DomainError, values: dict):
    if request.htmx:
        # Rendered with 200 so htmx swaps it in; the errors show beside the fields.
        errors = {
            **field_errors(error, fields=WORKSPACE_FIELDS),
            "general": [error_text(error, shown_beside=WORKSPACE_FIELDS)],
        }
        return _render_workspace(request, project, errors=errors, values=values)
    messages.error(request, error_text(error))
    return redirect("queue", project_id=project.pk)


def _has_idempotency_key(request) -> bool:
    """A judgment sent again with its key returns the first: the form always carries one."""
    return bool(request.POST.get("idempotency_key", "").strip())


@retried_on_lost_connection(when=_has_idempotency_key)
@login_required
@require_POST
def task_judge(request, task_id: int):
    project = _task_project(request, task_id)
    post = request.POST
    rubric = {
        name: _int_or_none(post.get(f"rubric_{name}"))
        for name in project.rubric
        if post.get(f"rubric_{name}")
    }
    data = {
        "rating": _int_or_none(post.get("rating")),
        "choice": post.get("choice", ""),
        "comment": post.get("comment", ""),
        "rewrite": post.get("rewrite", ""),
        "duration_ms": _int_or_none(post.get("duration_ms")),
        "rubric_scores": rubric,
    }
    key = post.get("idempotency_key", "")
    try:
        # A task the annotator judged before may be back as a repeat: its answer goes there.
        if repeat_answer(user=request.user, task_id=task_id, idempotency_key=key, **data) is None:
            judgment_submit(user=request.user, task_id=task_id, idempotency_key=key, **data)
    except InvalidInput as error:
        return _failed(request, project, error, values=post)
    except DomainError as error:
        return _failed(request, project, error, values={})
    return _after_action(request, project, "Saved. Press u twice to undo.")


@login_required
@require_POST
def task_skip_view(request, task_id: int):
    project = _task_project(request, task_id)
    reason = request.POST.get("reason", "")
    try:
        if repeat_skip(user=request.user, task_id=task_id, reason=reason) is None:
            task_skip(user=request.user, task_id=task_id, reason=reason)
    except DomainError as error:
        return _failed(request, project, error, values=request.POST)
    return _after_action(request, project, "Skipped.")


@login_required
@require_POST
def queue_undo(request, project_id: int):
    project = _annotator_project(request, project_id)
    try:
        undone = workspace_undo(user=request.user, project_id=project.pk)
    except DomainError as error:
        return _failed(request, project, error, values={})
    if undone is None:
        return _after_action(request, project, "Nothing to undo.")
    notice = "Your last judgment was withdrawn; what you gave is back in the form: submit it again."
    if not request.htmx:
        # A plain form post redirects; the withdrawn work waits in the session for the GET.
        request.session[_UNDONE_KEY] = {"task": undone.task_id, **_form_values(undone.withdrawn)}
    return _after_action(
        request,
        project,
        notice,
        values=_form_values(undone.withdrawn),
        values_task=undone.task_id,
    )


def _form_values(withdrawn: dict) -> dict[str, str]:
    """A withdrawn judgment as the workspace form's fields (what a POST of it would hold)."""
    values = {
        "rating": "" if withdrawn.get("rating") is None else str(withdrawn["rating"]),
        "choice": withdrawn.get("choice") or "",
        "comment": withdrawn.get("comment") or "",
        "rewrite": withdrawn.get("rewrite") or "",
    }
    for name, score in (withdrawn.get("rubric_scores") or {}).items():
        values[f"rubric_{name}"] = str(score)
    return values


@login_required
@require_POST
def preference_shortcuts(request):
    """Turns the workspace's single-key shortcuts on or off for the signed-in user; back to
    the page the form was on."""
    raw = request.POST.get("shortcuts", "")
    if raw not in ("on", "off"):
        messages.error(request, "Choose whether shortcuts are on or off.")
    else:
        shortcuts_set(user=request.user, enabled=raw == "on")
        messages.success(
            request,
            "Single-key shortcuts are on."
            if raw == "on"
            else "Single-key shortcuts are off: use Tab and Enter.",
        )
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = "home"
    return redirect(back)


@login_required
@require_POST
def guidelines_acknowledge_view(request, project_id: int):
    """The annotator has read the guidelines version the panel showed them: recorded, and
    their task (or the next one) shown."""
    project = _annotator_project(request, project_id)
    version = _int_or_none(request.POST.get("version"))
    try:
        if not isinstance(version, int):
            raise InvalidInput(
                "Say which guidelines version you read.", fields={"version": ["A number."]}
            )
        guidelines_acknowledge(user=request.user, project_id=project.pk, version=version)
    except DomainError as error:
        return _failed(request, project, error, values={})
    return _after_action(request, project, f"Guidelines version {version} marked as read.")
