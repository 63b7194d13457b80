"""Reads of "My work": an annotator's own judgments and skips in a project, as they saw them.

An annotator judges blind: nothing here names a model or another annotator, and a pairwise
verdict reads in screen terms (A is the response they saw on the left)."""

from typing import Any

from django.contrib.auth.models import User
from django.core.paginator import Page, Paginator
from django.db.models import Exists, OuterRef, QuerySet

from annotation.models import (
    Adjudication,
    Batch,
    Claim,
    ClaimStatus,
    Judgment,
    JudgmentRevision,
    Membership,
    Project,
)
from annotation.selectors.access import membership_get
from annotation.services.judgments import judgment_check_changeable
from ftapp.errors import Conflict, NotFound

MY_WORK_PAGE = 25
VERDICTS = {"A": "A is better", "B": "B is better", "tie": "Tie", "both_bad": "Both bad"}


class JudgmentNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such judgment of yours.")


def verdict_in_words(*, rating: int | None, choice: str) -> str:
    """A verdict as the annotator gave it, in the words of the workspace's buttons."""
    if rating is not None:
        return f"Rated {rating} of 5"
    return VERDICTS.get(choice, choice)


def judgment_state(judgment: Judgment, *, adjudicated: bool | None = None) -> str:
    """ "can change", "adjudicated", "exported" or "archived": whether the annotator may still
    change it, by the same rule as undo."""
    if judgment.task.project.archived_at is not None:
        return "archived"
    if adjudicated is None:
        adjudicated = Adjudication.objects.filter(task_id=judgment.task_id).exists()
    if adjudicated:
        return "adjudicated"
    try:
        judgment_check_changeable(judgment)
    except Conflict:
        return "exported"
    return "can change"


def my_work_batches(*, user: User, project: Project) -> QuerySet[Batch]:
    """The project's batches the user took a task of, for the filter."""
    taken = Claim.objects.filter(task__batch=OuterRef("pk"), annotator=user)
    return Batch.objects.filter(project=project).filter(Exists(taken)).order_by("position", "id")


def my_work_page(
    *, user: User, project_id: int, batch_id: int | None = None, page: int | str = 1
) -> tuple[Membership, Page, list[dict[str, Any]]]:
    """The user's membership of the project, one page of their judgments and skips in it,
    newest first, and that page's rows: each a dict with ``kind`` "judgment" or "skip", the
    task, the when, and for a judgment its verdict in words and its state."""
    membership = membership_get(user=user, project_id=project_id)
    project = membership.project
    claims = (
        Claim.objects.filter(
            annotator=user,
            task__project=project,
            status__in=[ClaimStatus.SUBMITTED, ClaimStatus.SKIPPED],
        )
        .select_related("task__prompt", "task__batch", "judgment")
        .annotate(adjudicated=Exists(Adjudication.objects.filter(task_id=OuterRef("task_id"))))
        .order_by("-updated_at", "-id")
    )
    if batch_id is not None:
        claims = claims.filter(task__batch_id=batch_id)
    found = Paginator(claims, MY_WORK_PAGE).get_page(page)
    rows = []
    for claim in found.object_list:
        judgment = getattr(claim, "judgment", None)
        turns = claim.task.prompt.turns()
        prompt = turns[-1]["content"] if turns else claim.task.prompt.text
        row = {"task": claim.task, "prompt": prompt, "batch": claim.task.batch}
        if claim.status == ClaimStatus.SKIPPED or judgment is None:
            row |= {"kind": "skip", "when": claim.updated_at, "reason": claim.skip_reason}
        else:
            judgment.task = claim.task
            judgment.task.project = project
            row |= {
                "kind": "judgment",
                "judgment": judgment,
                "when": judgment.created_at,
                "verdict": verdict_in_words(rating=judgment.rating, choice=judgment.choice),
                "comment": judgment.comment,
                "state": judgment_state(judgment, adjudicated=claim.adjudicated),
            }
        rows.append(row)
    return membership, found, rows


def my_judgment_get(*, user: User, judgment_id: int) -> Judgment:
    """The user's own judgment, in a project they are still a member of; anyone else's, or
    one that does not exist, is the same 404."""
    judgment = (
        Judgment.objects.select_related("task__project", "task__batch", "claim")
        .filter(pk=judgment_id, annotator=user)
        .first()
    )
    if judgment is None:
        raise JudgmentNotFound()
    membership_get(user=user, project_id=judgment.task.project_id)
    return judgment


def my_judgments(
    *, user: User, project_id: int, batch_id: int | None = None
) -> tuple[Project, QuerySet[Judgment]]:
    """The member's project and their judgments in it, newest first (for the API)."""
    project = membership_get(user=user, project_id=project_id).project
    judgments = (
        Judgment.objects.filter(annotator=user, task__project=project)
        .select_related("task__project")
        .annotate(adjudicated=Exists(Adjudication.objects.filter(task_id=OuterRef("task_id"))))
        .order_by("-created_at", "-id")
    )
    if batch_id is not None:
        judgments = judgments.filter(task__batch_id=batch_id)
    return project, judgments


def judgment_history(*, judgment: Judgment) -> list[dict[str, Any]]:
    """The judgment's earlier versions, newest first: when it changed, by whom, and what it
    held before, its verdict in words."""
    revisions = JudgmentRevision.objects.filter(judgment=judgment).select_related("changed_by")
    return [
        {
            "changed_at": revision.changed_at,
            "changed_by": revision.changed_by.username,
            "verdict": verdict_in_words(
                rating=revision.previous.get("rating"), choice=revision.previous.get("choice", "")
            ),
            "rubric_scores": sorted((revision.previous.get("rubric_scores") or {}).items()),
            "comment": revision.previous.get("comment", ""),
            "rewrite": revision.previous.get("rewrite", ""),
        }
        for revision in revisions.order_by("-changed_at", "-id")
    ]
