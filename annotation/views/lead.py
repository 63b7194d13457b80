"""The lead's pages: the live dashboard, import, batches, members, conflicts and adjudication,
gold tasks, guidelines. Thin: selectors to read, services to write."""

import secrets
from datetime import datetime
from functools import wraps
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from annotation.choices import task_choice
from annotation.judgment_rules import Pseudonyms
from annotation.models import (
    Batch,
    BatchStatus,
    Choice,
    Membership,
    Pairing,
    ProjectKind,
    Role,
    Task,
)
from annotation.selectors import (
    NotALead,
    NotAMember,
    conflicts,
    guidelines_current,
    project_dashboard,
    project_get_for_lead,
    project_progress,
)
from annotation.services import (
    guidelines_publish,
    membership_set,
    project_create,
    project_update,
    prompts_import,
)
from annotation.services.leads import (
    adjudication_record,
    batch_assign,
    batch_cut,
    batch_set_status,
    batch_unassign,
    membership_set_excluded,
    task_set_gold,
)
from ftapp.errors import DomainError, Forbidden, NotFound


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


def _float(raw: str | None) -> float | None:
    try:
        return float(raw) if raw not in (None, "") else None
    except ValueError:
        return None


def int_or_none(raw: str | None) -> int | None:
    try:
        return int(raw) if raw not in (None, "") else None
    except ValueError:
        return None


@login_required
def project_new(request):
    if not request.user.has_perm("annotation.add_project"):
        raise PermissionDenied("You may not create projects; ask an admin for that permission.")
    context = {"values": request.POST, "kinds": ProjectKind.choices}
    if request.method == "POST":
        try:
            project = project_create(
                by=request.user,
                name=request.POST.get("name", "").strip(),
                kind=request.POST.get("kind", ""),
                overlap=int_or_none(request.POST.get("overlap")) or 1,
                guidelines=request.POST.get("guidelines", ""),
            )
        except (DomainError, ValidationError) as error:
            context["error"] = getattr(error, "message", None) or "; ".join(error.messages)
        else:
            messages.success(request, f"Project {project.name!r} created; import prompts next.")
            return redirect("project-import", project_id=project.pk)
    return render(request, "annotation/lead/project_new.html", context)


@lead_page
@require_POST
def project_settings(request, project):
    changes = {
        "overlap": int_or_none(request.POST.get("overlap")),
        "lease_minutes": int_or_none(request.POST.get("lease_minutes")),
        "gold_rate": _float(request.POST.get("gold_rate")),
        "pairing": request.POST.get("pairing") or None,
        "baseline_model": request.POST.get("baseline_model", "").strip(),
    }
    changes = {k: v for k, v in changes.items() if v is not None}
    try:
        with transaction.atomic():
            project_update(by=request.user, project=project, **changes)
    except (DomainError, ValidationError) as error:
        messages.error(request, getattr(error, "message", None) or "; ".join(error.messages))
    else:
        messages.success(request, "Settings saved.")
    return redirect("project", project_id=project.pk)


@lead_page
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
        pairings=Pairing.choices,
        conflict_count=len(conflicts(project=project)),
        members=Membership.objects.filter(project=project).select_related("user"),
    )
    return render(request, "annotation/lead/dashboard.html", context)


def _import_dir() -> Path:
    path = Path(settings.VAR_DIR) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


@lead_page
def import_prompts(request, project):
    """Upload → report → confirm. The upload is kept under var/imports/ between the report
    and the confirmation, named by a random token that only this form knows."""
    context = {"project": project}
    if request.method == "POST" and request.POST.get("token"):
        token = request.POST["token"]
        if not token.isalnum():
            raise Http404
        matches = list(_import_dir().glob(f"{token}--*"))
        if not matches:
            messages.error(request, "That upload has expired; please upload the file again.")
            return redirect("project-import", project_id=project.pk)
        path = matches[0]
        with path.open("rb") as stream:
            report = prompts_import(
                project=project, stream=stream, name=path.name.split("--", 1)[1], by=request.user
            )
        path.unlink(missing_ok=True)
        if report.ok:
            messages.success(
                request,
                f"Imported {report.records} records: {report.prompts} new prompts, "
                f"{report.prompts_updated} updated, {report.responses} responses, "
                f"{report.tasks} tasks.",
            )
            return redirect("project", project_id=project.pk)
        context["report"] = report
    elif request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            messages.error(request, "Choose a file to upload.")
            return redirect("project-import", project_id=project.pk)
        _clean_stale_uploads()
        token = secrets.token_hex(16)
        safe_name = Path(upload.name).name.replace("--", "-")[-100:]
        path = _import_dir() / f"{token}--{safe_name}"
        with path.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        with path.open("rb") as stream:
            report = prompts_import(
                project=project, stream=stream, name=safe_name, commit=False, by=request.user
            )
        if not report.ok:
            path.unlink(missing_ok=True)
        context.update(report=report, token=token if report.ok else "", filename=safe_name)
    return render(request, "annotation/lead/import.html", context)


def _filters_from(post) -> dict:
    filters: dict = {}
    key, value = post.get("metadata_key", "").strip(), post.get("metadata_value", "").strip()
    if key:
        filters["metadata"] = {key: value}
    if post.get("model", "").strip():
        filters["model"] = post["model"].strip()
    if post.get("unjudged"):
        filters["unjudged"] = True
    if post.get("gold") in ("only", "none"):
        filters["gold"] = post["gold"] == "only"
    return filters


@lead_page
def batch_new(request, project):
    annotators = Membership.objects.filter(project=project, role=Role.ANNOTATOR).select_related(
        "user"
    )
    models = sorted(
        set(Task.objects.filter(project=project).values_list("response_a__model_name", flat=True))
        | set(
            Task.objects.filter(project=project, response_b__isnull=False).values_list(
                "response_b__model_name", flat=True
            )
        )
    )
    context = {
        "project": project,
        "annotators": annotators,
        "models": models,
        "unbatched": Task.objects.filter(project=project, batch__isnull=True).count(),
        "values": request.POST,
    }
    if request.method == "POST":
        due = request.POST.get("due_at", "").strip()
        try:
            due_at = timezone.make_aware(datetime.fromisoformat(due)) if due else None
            batch = batch_cut(
                by=request.user,
                project_id=project.pk,
                name=request.POST.get("name", "").strip() or "Batch",
                size=int_or_none(request.POST.get("size")) or 0,
                overlap=int_or_none(request.POST.get("overlap")),
                annotators=request.POST.getlist("annotators"),
                filters=_filters_from(request.POST),
                due_at=due_at,
            )
        except ValueError:
            context["error"] = "The due date is not a date."
        except DomainError as error:
            context["error"] = error.message
            context["fields"] = error.fields
        else:
            messages.success(request, f"Batch {batch.name!r} cut with {batch.tasks.count()} tasks.")
            return redirect("project", project_id=project.pk)
    return render(request, "annotation/lead/batch_new.html", context)


@login_required
def batch_detail(request, batch_id: int):
    batch = Batch.objects.select_related("project").filter(pk=batch_id).first()
    if batch is None:
        raise Http404
    project = lead_project(request, batch.project_id)
    if request.method == "POST":
        action = request.POST.get("action")
        names = request.POST.getlist("annotators")
        try:
            if action == "assign":
                batch_assign(by=request.user, batch_id=batch.pk, usernames=names)
            elif action == "unassign":
                batch_unassign(by=request.user, batch_id=batch.pk, usernames=names)
            elif action in ("close", "reopen"):
                status = BatchStatus.CLOSED if action == "close" else BatchStatus.OPEN
                batch_set_status(by=request.user, batch_id=batch.pk, status=status)
        except DomainError as error:
            messages.error(request, error.message)
        return redirect("batch", batch_id=batch.pk)
    assigned = set(batch.assignments.values_list("annotator__username", flat=True))
    annotators = Membership.objects.filter(project=project, role=Role.ANNOTATOR).select_related(
        "user"
    )
    return render(
        request,
        "annotation/lead/batch.html",
        {
            "project": project,
            "batch": batch,
            "tasks": batch.tasks.count(),
            "assigned": sorted(assigned),
            "unassigned": [m.user.username for m in annotators if m.user.username not in assigned],
        },
    )


@lead_page
@require_POST
def member_add(request, project):
    try:
        membership_set(
            by=request.user,
            project=project,
            username=request.POST.get("username", "").strip(),
            role=request.POST.get("role", Role.ANNOTATOR),
        )
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{request.POST.get('username')} is now a member.")
    return redirect("project", project_id=project.pk)


@lead_page
@require_POST
def member_exclusion(request, project, username: str):
    excluded = request.POST.get("excluded") == "1"
    try:
        membership_set_excluded(
            by=request.user, project_id=project.pk, username=username, excluded=excluded
        )
    except DomainError as error:
        messages.error(request, error.message)
    return redirect("project", project_id=project.pk)


@lead_page
def conflict_list(request, project):
    return render(
        request,
        "annotation/lead/conflicts.html",
        {"project": project, "conflicts": conflicts(project=project)},
    )


@login_required
def task_review(request, task_id: int):
    """A task as the lead sees it: model names, every judgment with its annotator and
    comment; the adjudication and gold forms."""
    task = (
        Task.objects.select_related("project", "prompt", "response_a", "response_b")
        .filter(pk=task_id)
        .first()
    )
    if task is None:
        raise Http404
    lead_project(request, task.project_id)
    if request.method == "POST":
        try:
            if request.POST.get("action") == "adjudicate":
                adjudication_record(
                    by=request.user,
                    task_id=task.pk,
                    rating=int_or_none(request.POST.get("rating")),
                    choice=request.POST.get("choice", ""),
                    note=request.POST.get("note", ""),
                )
                messages.success(request, "Final label saved; exports will use it.")
            elif request.POST.get("action") == "gold":
                task_set_gold(
                    by=request.user,
                    task_id=task.pk,
                    is_gold=request.POST.get("is_gold") == "1",
                    rating_min=int_or_none(request.POST.get("rating_min")),
                    rating_max=int_or_none(request.POST.get("rating_max")),
                    choice=request.POST.get("choice", ""),
                )
                messages.success(request, "Gold answer saved.")
        except DomainError as error:
            messages.error(request, error.message)
        return redirect("task-review", task_id=task.pk)
    pseudonyms = Pseudonyms(project_id=task.project_id)
    judgments = [
        {
            "judgment": j,
            "pseudonym": pseudonyms.name(j.annotator_id),
            "choice": task_choice(j.choice, j.swapped),
        }
        for j in task.judgments.select_related("annotator").order_by("id")
    ]
    return render(
        request,
        "annotation/lead/task.html",
        {
            "project": task.project,
            "task": task,
            "judgments": judgments,
            "adjudication": getattr(task, "adjudication", None),
            "choices": Choice.choices,
        },
    )


@lead_page
def guidelines_edit(request, project):
    if request.method == "POST":
        try:
            version, published = guidelines_publish(
                by=request.user,
                project=project,
                body=request.POST.get("body", ""),
                rating_anchors={str(n): request.POST.get(f"anchor_{n}", "") for n in range(1, 6)},
            )
        except DomainError as error:
            messages.error(request, str(error))
        else:
            if published:
                messages.success(
                    request, f"Published version {version.version}; annotators see it now."
                )
            else:
                messages.info(
                    request, f"Nothing changed: version {version.version} stays current."
                )
        return redirect("guidelines", project_id=project.pk)
    current = guidelines_current(project=project)
    return render(
        request,
        "annotation/lead/guidelines.html",
        {
            "project": project,
            "current": current,
            "anchors": [
                (n, (current.rating_anchors or {}).get(str(n), "") if current else "")
                for n in range(1, 6)
            ],
            "versions": project.guidelines.select_related("created_by").order_by("-version"),
        },
    )


def _clean_stale_uploads(max_age_hours: int = 24) -> None:
    """Uploads that were reported on but never confirmed."""
    cutoff = timezone.now().timestamp() - max_age_hours * 3600
    for path in _import_dir().glob("*--*"):
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
