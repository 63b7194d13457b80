""" "My work": an annotator's own judgments and skips in a project, one judgment read-only
with a form that changes it while it may still change."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from annotation.models import Role
from annotation.selectors import claim_view, guidelines_current, membership_get
from annotation.selectors.my_work import (
    judgment_history,
    judgment_state,
    my_judgment_get,
    my_work_batches,
    my_work_page,
    verdict_in_words,
)
from annotation.services import judgment_change
from ftapp.errors import DomainError
from ftapp.pages import error_text, field_errors, for_page, int_or_none

FORM_FIELDS = ("rating", "choice", "rubric_scores", "comment", "rewrite")


@login_required
def my_work(request, project_id: int):
    batch_id = int_or_none(request.GET.get("batch"))
    membership, page, rows = for_page(
        my_work_page,
        user=request.user,
        project_id=project_id,
        batch_id=batch_id,
        page=request.GET.get("page") or 1,
    )
    project = membership.project
    context = {
        "project": project,
        "annotating": membership.role == Role.ANNOTATOR,
        "page": page,
        "rows": rows,
        "batches": my_work_batches(user=request.user, project=project),
        "batch_id": batch_id,
        "query": f"batch={batch_id}" if batch_id else "",
    }
    return render(request, "annotation/my_work.html", context)


def _form_values(request, rubric: list[str]) -> dict:
    post = request.POST
    return {
        "rating": int_or_none(post.get("rating")),
        "choice": post.get("choice", ""),
        "rubric_scores": {
            name: int_or_none(post.get(f"rubric_{name}"))
            for name in rubric
            if post.get(f"rubric_{name}")
        },
        "comment": post.get("comment", ""),
        "rewrite": post.get("rewrite", ""),
    }


@login_required
def my_judgment(request, judgment_id: int):
    judgment = for_page(my_judgment_get, user=request.user, judgment_id=judgment_id)
    project = judgment.task.project
    errors: dict = {}
    values = None
    if request.method == "POST":
        values = _form_values(request, project.rubric)
        try:
            judgment_change(user=request.user, judgment_id=judgment.pk, **values)
        except DomainError as error:
            errors = {
                **field_errors(error, fields=FORM_FIELDS),
                "general": [error_text(error, shown_beside=FORM_FIELDS)],
            }
        else:
            messages.success(request, "Your change is saved.")
            return redirect("my-judgment", judgment_id=judgment.pk)
    current = {
        "rating": judgment.rating,
        "choice": judgment.choice,
        "rubric_scores": judgment.rubric_scores or {},
        "comment": judgment.comment,
        "rewrite": judgment.rewrite,
    }
    shown = values or current
    guidelines = guidelines_current(project=project)
    membership = for_page(membership_get, user=request.user, project_id=project.pk)
    context = {
        "project": project,
        "annotating": membership.role == Role.ANNOTATOR,
        "judgment": judgment,
        "view": claim_view(claim=judgment.claim) if judgment.claim else None,
        "verdict": verdict_in_words(rating=judgment.rating, choice=judgment.choice),
        "state": judgment_state(judgment),
        "values": shown,
        "rubric": [
            (name, shown["rubric_scores"].get(name), judgment.rubric_scores.get(name))
            for name in project.rubric
        ],
        "anchors": [
            (n, (guidelines.rating_anchors or {}).get(str(n), "") if guidelines else "")
            for n in range(1, 6)
        ],
        "revisions": judgment_history(judgment=judgment),
        "errors": errors,
    }
    return render(request, "annotation/my_judgment.html", context, status=400 if errors else 200)
