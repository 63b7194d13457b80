"""The project's own pages: creating it, its settings, the live dashboard and its members."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotation.models import ConflictRule, Pairing, ProjectKind, Role
from annotation.selectors import (
    membership_list,
    project_dashboard,
    project_get_for_lead,
    project_progress,
)
from annotation.selectors.review import conflict_tasks
from annotation.services import (
    membership_remove,
    membership_set,
    membership_set_role,
    project_create,
    project_update,
)
from annotation.services.leads import membership_set_aside
from ftapp.pages import flash_errors, form_errors, int_or_none, object_page


def _float(raw: str | None) -> float | None:
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


@login_required
def project_new(request):
    if not request.user.has_perm("annotation.add_project"):
        raise PermissionDenied("You may not create projects; ask an admin for that permission.")
    context = {"values": request.POST, "kinds": ProjectKind.choices}
    if request.method == "POST":
        with form_errors(context, fields=("name", "kind", "overlap", "guidelines")):
            project = project_create(
                by=request.user,
                name=request.POST.get("name", "").strip(),
                kind=request.POST.get("kind", ""),
                overlap=int_or_none(request.POST.get("overlap")) or 1,
                guidelines=request.POST.get("guidelines", ""),
            )
            messages.success(request, f"Project {project.name!r} created; import prompts next.")
            return redirect("project-import", project_id=project.pk)
    return render(request, "annotation/lead/project_new.html", context)


_SAVED = {
    None: "Settings saved.",
    True: "Project archived: it has left the home pages and the queues; its data stays.",
    False: "Project restored: it is back on the home pages and in the queues.",
}


@object_page(project_get_for_lead, "project_id")
def project_settings(request, project):
    """Name, description and how the work is served; archiving."""
    if request.method == "POST":
        changes = {
            "name": request.POST.get("name", "").strip() or None,
            "description": request.POST.get("description"),
            "overlap": int_or_none(request.POST.get("overlap")),
            "lease_minutes": int_or_none(request.POST.get("lease_minutes")),
            "gold_rate": _float(request.POST.get("gold_rate")),
            "repeat_share": _float(request.POST.get("repeat_share")),
            "pairing": request.POST.get("pairing") or None,
            "baseline_model": request.POST.get("baseline_model", "").strip(),
            "conflict_rule": request.POST.get("conflict_rule") or None,
        }
        changes = {k: v for k, v in changes.items() if v is not None}
        archived = {"archive": True, "restore": False}.get(request.POST.get("action", ""))
        with flash_errors(request), transaction.atomic():
            project_update(by=request.user, project=project, archived=archived, **changes)
            messages.success(request, _SAVED[archived])
        return redirect("project-settings", project_id=project.pk)
    context = {
        "project": project,
        "pairings": Pairing.choices,
        "conflict_rules": ConflictRule.choices,
    }
    return render(request, "annotation/lead/settings.html", context)


@object_page(project_get_for_lead, "project_id")
def dashboard(request, project):
    context = {
        "project": project,
        "figures": project_dashboard(project=project),
        "progress": project_progress(project=project),
    }
    if request.htmx:
        # The 5-second poll: only what the partial shows.
        return render(request, "annotation/lead/partials/dashboard_figures.html", context)
    context.update(
        conflict_count=conflict_tasks(project=project).count(),
        members=membership_list(project=project),
    )
    return render(request, "annotation/lead/dashboard.html", context)


@object_page(project_get_for_lead, "project_id")
def members(request, project):
    """The project's people: add someone, change a role, remove someone."""
    if request.method == "POST":
        with flash_errors(request):
            membership_set(
                by=request.user,
                project=project,
                username=request.POST.get("username", "").strip(),
                role=request.POST.get("role", Role.ANNOTATOR),
            )
            messages.success(request, f"{request.POST.get('username')} is now a member.")
        return redirect("members", project_id=project.pk)
    context = {"project": project, "members": membership_list(project=project), "roles": Role}
    return render(request, "annotation/lead/members.html", context)


@object_page(project_get_for_lead, "project_id")
@require_POST
def member_role(request, project, username: str):
    with flash_errors(request):
        membership = membership_set_role(
            by=request.user, project=project, username=username, role=request.POST.get("role", "")
        )
        messages.success(request, f"{username} is now {membership.get_role_display().lower()}.")
    return redirect("members", project_id=project.pk)


@object_page(project_get_for_lead, "project_id")
def member_remove(request, project, username: str):
    """Asks first, on a page of its own that says what removing does."""
    if request.method == "POST":
        with flash_errors(request):
            membership_remove(by=request.user, project=project, username=username)
            messages.success(request, f"{username} was removed from the project.")
        return redirect("members", project_id=project.pk)
    member = membership_list(project=project).filter(user__username=username).first()
    if member is None:
        raise Http404
    return render(
        request, "annotation/lead/member_remove.html", {"project": project, "member": member}
    )


@object_page(project_get_for_lead, "project_id")
@require_POST
def member_exclusion(request, project, username: str):
    set_aside = request.POST.get("excluded") == "1"
    with flash_errors(request):
        membership_set_aside(
            by=request.user, project_id=project.pk, username=username, set_aside=set_aside
        )
    return redirect("project", project_id=project.pk)
