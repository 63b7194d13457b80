"""Cutting a batch from the project's tasks, and one batch's assignment and status."""

from datetime import datetime

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone

from annotation.models import ADAPTIVE_OVERLAP_CAP, BatchStatus
from annotation.selectors import (
    batch_cut_choices,
    batch_get_for_lead,
    batch_summary,
    project_get_for_lead,
)
from annotation.services.leads import batch_assign, batch_cut, batch_set_status, batch_unassign
from ftapp.errors import InvalidInput
from ftapp.pages import flash_errors, form_errors, int_or_none, object_page

# The new batch form's fields that show their own errors.
BATCH_FIELDS = (
    "name",
    "size",
    "overlap",
    "adaptive_max_overlap",
    "adaptive_on_split",
    "metadata",
    "annotators",
)


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


@object_page(project_get_for_lead, "project_id")
def batch_new(request, project):
    context = {
        "project": project,
        **batch_cut_choices(project=project),
        "values": request.POST,
        "adaptive_cap": ADAPTIVE_OVERLAP_CAP,
    }
    if request.method == "POST":
        with form_errors(context, fields=BATCH_FIELDS):
            batch = batch_cut(
                by=request.user,
                project_id=project.pk,
                name=request.POST.get("name", "").strip() or "Batch",
                size=int_or_none(request.POST.get("size")) or 0,
                overlap=int_or_none(request.POST.get("overlap")),
                annotators=request.POST.getlist("annotators"),
                filters=_filters_from(request.POST),
                due_at=_due_at(request.POST.get("due_at", "")),
                **_adaptive_from(request.POST),
            )
            messages.success(request, f"Batch {batch.name!r} cut with {batch.tasks.count()} tasks.")
            return redirect("project", project_id=project.pk)
    return render(request, "annotation/lead/batch_new.html", context)


def _adaptive_from(post) -> dict:
    """The adaptive overlap part of the form: off unless a maximum is given."""
    maximum = int_or_none(post.get("adaptive_max_overlap"))
    if maximum is None and post.get("adaptive_max_overlap", "").strip():
        raise InvalidInput(
            "The maximum overlap is not a number.",
            fields={"adaptive_max_overlap": ["A whole number."]},
        )
    return {
        "adaptive_max_overlap": maximum,
        "adaptive_on_split": bool(post.get("adaptive_on_split")),
        "adaptive_on_judge": bool(post.get("adaptive_on_judge")),
    }


def _due_at(raw: str) -> datetime | None:
    raw = raw.strip()
    try:
        return timezone.make_aware(datetime.fromisoformat(raw)) if raw else None
    except ValueError:
        raise InvalidInput("The due date is not a date.") from None


@object_page(batch_get_for_lead, "batch_id")
def batch_detail(request, batch):
    if request.method == "POST":
        action = request.POST.get("action")
        names = request.POST.getlist("annotators")
        with flash_errors(request):
            if action == "assign":
                batch_assign(by=request.user, batch_id=batch.pk, usernames=names)
            elif action == "unassign":
                batch_unassign(by=request.user, batch_id=batch.pk, usernames=names)
            elif action in ("close", "reopen"):
                status = BatchStatus.CLOSED if action == "close" else BatchStatus.OPEN
                batch_set_status(by=request.user, batch_id=batch.pk, status=status)
        return redirect("batch", batch_id=batch.pk)
    return render(
        request,
        "annotation/lead/batch.html",
        {"project": batch.project, "batch": batch, **batch_summary(batch=batch)},
    )
