"""Reads of the lead's review: tasks whose judgments disagree, and one task's judgments."""

from collections import Counter
from typing import Any, TypedDict

from django.db.models import Q

from annotation import choices
from annotation.choices import task_choice
from annotation.judgment_rules import Pseudonyms
from annotation.models import ConflictRule, Judgment, Project, ProjectKind, Task

CHOICE_WORDS = {choices.A: "A", choices.B: "B", choices.TIE: "tie", choices.BOTH_BAD: "both bad"}
CONFLICT_SORTS = ("age", "split")


class ConflictRow(TypedDict):
    task: Task
    judgments: list[Judgment]
    split: Counter
    summary: str
    sent_for_review: bool


def vote_split(*, kind: str, judgments: list[Judgment]) -> Counter:
    """How many judgments gave each verdict: ratings by value, pairwise choices in the task's
    terms (A is ``response_a`` whichever side the annotator saw it on)."""
    if kind == ProjectKind.RATING:
        return Counter(j.rating for j in judgments if j.rating is not None)
    return Counter(task_choice(j.choice, j.swapped) for j in judgments if j.choice)


def is_conflict(*, kind: str, split: Counter, rule: str) -> bool:
    """The project's conflict rule. Pairwise: ``no_majority`` when no verdict has more than
    half the votes, ``not_unanimous`` when there is more than one verdict. Ratings count as
    agreeing within one point: a conflict needs ratings two or more apart and, under
    ``no_majority``, also no rating given by more than half."""
    if len(split) < 2:
        return False
    if kind == ProjectKind.RATING and max(split) - min(split) < 2:
        return False
    if rule == ConflictRule.NOT_UNANIMOUS:
        return True
    return max(split.values()) * 2 <= sum(split.values())


def split_words(*, kind: str, split: Counter) -> str:
    """The split as a lead reads it: "A 1 · B 1 · tie 1", or "1 ×1 · 5 ×1" for ratings."""
    if kind == ProjectKind.RATING:
        return " · ".join(f"{value} ×{split[value]}" for value in sorted(split))
    return " · ".join(f"{CHOICE_WORDS[c]} {split[c]}" for c in choices.CHOICES if split[c])


def conflicts(
    *,
    project: Project,
    include_adjudicated: bool = False,
    rule: str | None = None,
    batch_id: int | None = None,
    sort: str = "age",
) -> list[ConflictRow]:
    """Tasks whose judgments disagree under ``rule`` (the project's own by default), oldest
    first, or with ``sort="split"`` the widest split first (most different verdicts, then
    the fewest votes for the leading one). Each row has its task, its judgments, the split
    and the split in words. A task a lead sent for review is listed until it is adjudicated,
    whatever its judgments."""
    rule = rule or project.conflict_rule
    tasks = Task.objects.filter(
        Q(judgment_count__gte=2) | Q(review_requested_at__isnull=False), project=project
    )
    if not include_adjudicated:
        tasks = tasks.filter(adjudication__isnull=True)
    if batch_id is not None:
        tasks = tasks.filter(batch_id=batch_id)
    by_task: dict[int, list[Judgment]] = {}
    for judgment in Judgment.objects.filter(task__in=tasks).order_by("id"):
        by_task.setdefault(judgment.task_id, []).append(judgment)
    rows: list[ConflictRow] = []
    for task in tasks.select_related("prompt", "batch", "adjudication").order_by("id"):
        judged = by_task.get(task.pk, [])
        split = vote_split(kind=task.kind, judgments=judged)
        sent = task.review_requested_at is not None and not hasattr(task, "adjudication")
        if sent or is_conflict(kind=task.kind, split=split, rule=rule):
            rows.append(
                {
                    "task": task,
                    "judgments": judged,
                    "split": split,
                    "summary": split_words(kind=task.kind, split=split) or "no judgments",
                    "sent_for_review": sent,
                }
            )
    if sort == "split":
        rows.sort(key=lambda row: (-len(row["split"]), max(row["split"].values(), default=0)))
    return rows


def task_judgments(*, task: Task) -> dict[str, Any]:
    """A task as the lead reviews it: every judgment with its annotator's pseudonym and its
    choice in the task's terms, and the lead's adjudication if there is one."""
    pseudonyms = Pseudonyms(project_id=task.project_id)
    judgments = [
        {
            "judgment": j,
            "pseudonym": pseudonyms.name(j.annotator_id),
            "choice": task_choice(j.choice, j.swapped),
        }
        for j in task.judgments.select_related("annotator").order_by("id")
    ]
    return {"judgments": judgments, "adjudication": getattr(task, "adjudication", None)}
