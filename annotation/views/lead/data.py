"""The lead's data browser: a project's tasks filtered, searched and paged, and the bulk
actions on the ticked tasks or on every match."""

from django.contrib import messages
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from annotation.models import Role
from annotation.selectors import (
    batch_choices,
    membership_list,
    project_get_for_lead,
    response_model_names,
)
from annotation.selectors.browse import (
    TASK_SORTS,
    TASK_STATES,
    TaskFilter,
    task_filter_from_query,
    tasks_browse,
)
from annotation.services.bulk import FILTER_NAMES, tasks_bulk_act
from ftapp.errors import InvalidInput
from ftapp.pages import error_text, flash_errors, in_words, int_or_none, object_page

YES_NO = (
    ("gold", "Gold"),
    ("rewrite", "Rewrite"),
    ("comment", "Comment"),
    ("skipped", "Skipped"),
    ("late", "Late judgment"),
)
ROWS_PER_PAGE = 50
SORT_WORDS = {"id": "Oldest first", "-id": "Newest first"}


def _chosen(params) -> dict:
    """What the form shows again: the raw values the lead gave, kept even when they are
    wrong, so the lead can correct them."""
    return {
        **{name: params.get(name, "") for name in FILTER_NAMES},
        "meta": [value for value in params.getlist("meta") if value],
    }


def count_words(count: int, *, estimate: bool) -> str:
    """ "1,234 tasks", or "more than 10,000 tasks" when the count is a lower bound."""
    if estimate:
        return f"more than {count:,} tasks"
    return f"{count:,} task{'' if count == 1 else 's'}"


def _page_url(project_id: int, query: str) -> str:
    target = reverse("data", args=[project_id])
    return f"{target}?{query}" if query else target


@object_page(project_get_for_lead, "project_id")
def data(request, project):
    context: dict = {"project": project, "chosen": _chosen(request.GET), "rows": []}
    try:
        task_filter = task_filter_from_query(request.GET)
        page = tasks_browse(
            project=project,
            task_filter=task_filter,
            cursor=request.GET.get("cursor") or None,
            limit=ROWS_PER_PAGE,
        )
    except InvalidInput as error:
        context.update(error=error_text(error), page=None, query="")
    else:
        query = task_filter.query_string()
        context.update(
            page=page,
            rows=page.rows,
            query=query,
            hidden_filter=[
                (name, value)
                for name, values in QueryDict(query).lists()
                for value in values
                if name != "cursor"
            ],
            count_text=count_words(page.count, estimate=page.count_is_estimate),
        )
    context.update(
        batches=batch_choices(project=project),
        models=response_model_names(project=project),
        states=[(state, in_words(state)) for state in TASK_STATES],
        sorts=[(sort, SORT_WORDS.get(sort, in_words(sort))) for sort in TASK_SORTS],
        annotators=membership_list(project=project, role=Role.ANNOTATOR).order_by("pseudonym"),
        yes_no=[(name, label, context["chosen"][name]) for name, label in YES_NO],
    )
    return render(request, "annotation/lead/data.html", context)


@require_POST
@object_page(project_get_for_lead, "project_id")
def data_bulk(request, project):
    """A bulk action; back to the browser with the filter kept and what it did in numbers."""
    query = ""
    with flash_errors(request):
        task_filter: TaskFilter = task_filter_from_query(request.POST)
        query = task_filter.query_string()
        scope = request.POST.get("scope")
        if scope not in ("selected", "all"):
            raise InvalidInput(
                "Choose the tasks to act on.",
                fields={"scope": ["The ticked tasks, or every match of the filter."]},
            )
        ids = [int_or_none(raw) for raw in request.POST.getlist("task")]
        if None in ids:
            raise InvalidInput("Unknown task.", fields={"task": ["Task ids are numbers."]})
        result = tasks_bulk_act(
            by=request.user,
            project_id=project.pk,
            action=request.POST.get("action", ""),
            task_ids=[i for i in ids if i is not None] if scope == "selected" else None,
            task_filter=task_filter if scope == "all" else None,
            batch_name=request.POST.get("batch_name", ""),
            overlap=int_or_none(request.POST.get("overlap")),
            annotators=[a for a in request.POST.getlist("annotators") if a],
        )
        messages.success(request, result.message)
    return redirect(_page_url(project.pk, query))
