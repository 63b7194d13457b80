"""Conflicts, and one task as the lead reviews it: adjudication and gold answer."""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse

from annotation.models import Choice, ConflictRule, Project
from annotation.selectors import conflicts, project_get_for_lead, task_get_for_lead
from annotation.selectors.browse import task_filter_from_query, task_neighbours
from annotation.selectors.review import CONFLICT_SORTS, conflict_tasks, task_detail
from annotation.services.leads import adjudication_record, task_set_gold
from ftapp.errors import InvalidInput
from ftapp.pages import flash_errors, int_or_none, object_page

CONFLICTS_PER_PAGE = 25


def _conflict_filter(params) -> dict:
    """The conflicts filter from a query string or a form, with unknown values dropped."""
    rule = params.get("rule")
    sort = params.get("sort")
    return {
        "rule": rule if rule in ConflictRule.values else None,
        "batch_id": int_or_none(params.get("batch")),
        "sort": sort if sort in CONFLICT_SORTS else "age",
    }


def _filter_query(chosen: dict) -> str:
    """The filter as a query string, so that links keep it."""
    pairs = {"rule": chosen["rule"], "batch": chosen["batch_id"], "sort": chosen["sort"]}
    return urlencode({k: v for k, v in pairs.items() if v not in (None, "age")})


def _redirect_keeping(target: str, chosen: dict):
    query = _filter_query(chosen)
    return redirect(f"{target}?{query}" if query else target)


@object_page(project_get_for_lead, "project_id")
def conflict_list(request, project):
    chosen = _conflict_filter(request.GET)
    found = conflicts(project=project, **chosen)
    page = Paginator(found, CONFLICTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "annotation/lead/conflicts.html",
        {
            "project": project,
            "page": page,
            "conflicts_left": len(found),
            "chosen": chosen,
            "query": _filter_query(chosen),
            "rule": chosen["rule"] or project.conflict_rule,
            "rules": ConflictRule.choices,
            "batches": project.batches.order_by("-id"),
        },
    )


def _browsing(request, task) -> dict:
    """When the lead came from the data browser (``?from=data`` and its filter): the filter's
    query, and the tasks before and after this one in it, for previous / next links."""
    if request.GET.get("from") != "data":
        return {"browsing": False}
    try:
        task_filter = task_filter_from_query(request.GET)
    except InvalidInput:
        return {"browsing": False}
    query = task_filter.query_string()
    previous_task, next_task = task_neighbours(
        project=task.project, task_filter=task_filter, task_id=task.pk
    )
    return {
        "browsing": True,
        "browse_query": query,
        "browse_link": f"from=data&{query}" if query else "from=data",
        "previous_task": previous_task,
        "next_task": next_task,
    }


@object_page(task_get_for_lead, "task_id")
def task_review(request, task):
    """A task as the lead sees it: the conversation, the responses with their models, every
    judgment, skips, the adjudication and gold forms. Reached from the data browser, it links
    to the previous and next task of the browser's view."""
    browsing = _browsing(request, task)
    if request.method == "POST":
        with flash_errors(request):
            if request.POST.get("action") == "adjudicate":
                adjudication_record(
                    by=request.user,
                    task_id=task.pk,
                    rating=int_or_none(request.POST.get("rating")),
                    choice=request.POST.get("choice", ""),
                    note=request.POST.get("note", ""),
                )
                messages.success(request, "Final label saved; exports will use it.")
                if request.POST.get("next"):
                    return _next_conflict(request, task.project)
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
        if browsing["browsing"]:
            return redirect(f"{reverse('task-review', args=[task.pk])}?{browsing['browse_link']}")
        return _redirect_keeping(
            reverse("task-review", args=[task.pk]), _conflict_filter(request.POST)
        )
    chosen = _conflict_filter(request.GET)
    return render(
        request,
        "annotation/lead/task.html",
        {
            "project": task.project,
            "task": task,
            **task_detail(task=task),
            **browsing,
            "choices": Choice.choices,
            "chosen": chosen,
            # Counted only on the conflicts' path, where the page shows it.
            "conflicts_left": None
            if browsing["browsing"]
            else conflict_tasks(
                project=task.project, rule=chosen["rule"], batch_id=chosen["batch_id"]
            ).count(),
        },
    )


def _next_conflict(request, project: Project):
    """After a verdict: the next unsettled conflict under the filter the lead came with, or the
    conflicts list when none is left."""
    chosen = _conflict_filter(request.POST)
    remaining = conflicts(project=project, **chosen)
    if not remaining:
        messages.success(request, "No conflicts left.")
        target = reverse("conflicts", args=[project.pk])
    else:
        target = reverse("task-review", args=[remaining[0]["task"].pk])
    return _redirect_keeping(target, chosen)
