"""Conflicts, and one task as the lead reviews it: adjudication and gold answer."""

from django.contrib import messages
from django.shortcuts import redirect, render

from annotation.models import Choice
from annotation.selectors import conflicts, project_get_for_lead, task_get_for_lead, task_judgments
from annotation.services.leads import adjudication_record, task_set_gold
from ftapp.pages import flash_errors, int_or_none, object_page


@object_page(project_get_for_lead, "project_id")
def conflict_list(request, project):
    return render(
        request,
        "annotation/lead/conflicts.html",
        {"project": project, "conflicts": conflicts(project=project)},
    )


@object_page(task_get_for_lead, "task_id")
def task_review(request, task):
    """A task as the lead sees it: model names, every judgment with its annotator and
    comment; the adjudication and gold forms."""
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
        return redirect("task-review", task_id=task.pk)
    return render(
        request,
        "annotation/lead/task.html",
        {
            "project": task.project,
            "task": task,
            **task_judgments(task=task),
            "choices": Choice.choices,
        },
    )
