"""Reads of the lead's review: tasks whose judgments disagree, and one task's judgments."""

import difflib
import re
from collections import Counter
from typing import Any, TypedDict

from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest
from django.db.models.lookups import GreaterThan, LessThan, LessThanOrEqual

from annotation import choices
from annotation.choices import task_choice
from annotation.judgment_rules import Pseudonyms
from annotation.models import (
    Adjudication,
    ClaimStatus,
    ConflictRule,
    Judgment,
    Project,
    ProjectKind,
    Response,
    Task,
)

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


def _verdicts(kind: str) -> list[Q]:
    """One condition per verdict a judgment can give, in the task's terms."""
    if kind == ProjectKind.RATING:
        return [Q(rating=value) for value in range(1, 6)]
    return [
        Q(choice=choices.A, swapped=False) | Q(choice=choices.B, swapped=True),
        Q(choice=choices.B, swapped=False) | Q(choice=choices.A, swapped=True),
        Q(choice=choices.TIE),
        Q(choice=choices.BOTH_BAD),
    ]


def task_state_expression(*, project: Project, rule: str | None = None):
    """A task's agreement state in SQL (``browse.task_state`` is the same rule in Python),
    for the tasks of ``project``, under ``rule`` (the project's own by default)."""
    kind, rule = project.kind, rule or project.conflict_rule
    counts = [Count("pk", filter=verdict) for verdict in _verdicts(kind)]
    verdicts = sum(counts[1:], counts[0])
    different = sum(
        (Case(When(GreaterThan(c, 0), then=Value(1)), default=Value(0)) for c in counts[1:]),
        Case(When(GreaterThan(counts[0], 0), then=Value(1)), default=Value(0)),
    )
    conflict = Q(GreaterThan(different, 1))
    if kind == ProjectKind.RATING:
        conflict &= Q(GreaterThan(Max("rating") - Min("rating"), 1))
    if rule != ConflictRule.NOT_UNANIMOUS:
        conflict &= Q(LessThanOrEqual(Greatest(*counts) * 2, verdicts))
    # The task's batch, joined in the subquery (an outer reference cannot sit among its
    # aggregates): one value for all its rows.
    # The task's slots: its batch's overlap and the slots adaptive overlap added.
    overlap = Coalesce(
        Max("task__batch__overlap") + Max("task__extra_slots"), Value(project.overlap)
    )
    judged = (
        Judgment.objects.filter(task_id=OuterRef("pk"))
        .order_by()
        .values("task_id")
        .annotate(
            state=Case(
                When(conflict, then=Value("split")),
                When(LessThan(Count("pk"), overlap), then=Value("partial")),
                When(LessThanOrEqual(different, 1), then=Value("unanimous")),
                default=Value("majority"),
                output_field=CharField(),
            )
        )
        .values("state")
    )
    return Case(
        When(
            Exists(Adjudication.objects.filter(task_id=OuterRef("pk"))), then=Value("adjudicated")
        ),
        default=Coalesce(Subquery(judged), Value("unjudged")),
        output_field=CharField(),
    )


def conflict_tasks(
    *, project: Project, rule: str | None = None, batch_id: int | None = None
) -> QuerySet[Task]:
    """The unadjudicated tasks of the conflicts list, chosen in the database: split under
    ``rule`` (the project's own by default), or sent for review by a lead. Only these
    tasks' judgments are then read."""
    tasks = (
        Task.objects.filter(project=project, adjudication__isnull=True)
        .filter(Q(judgment_count__gte=2) | Q(review_requested_at__isnull=False))
        .alias(conflict_state=task_state_expression(project=project, rule=rule))
        .filter(Q(conflict_state="split") | Q(review_requested_at__isnull=False))
    )
    if batch_id is not None:
        tasks = tasks.filter(batch_id=batch_id)
    return tasks


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
    if include_adjudicated:
        tasks = Task.objects.filter(
            Q(judgment_count__gte=2) | Q(review_requested_at__isnull=False), project=project
        )
        if batch_id is not None:
            tasks = tasks.filter(batch_id=batch_id)
    else:
        tasks = conflict_tasks(project=project, rule=rule, batch_id=batch_id)
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


class DiffSegment(TypedDict):
    """A piece of a rewrite against what it rewrites: ``op`` is "same", "ins" or "del". The
    text is as written (model text, untrusted): templates escape it like any other value."""

    op: str
    text: str


def text_diff(*, original: str, changed: str) -> list[DiffSegment]:
    """``changed`` against ``original`` word by word (spaces kept), as runs of kept, inserted
    and deleted text."""
    before, after = re.split(r"(\s+)", original), re.split(r"(\s+)", changed)
    segments: list[DiffSegment] = []

    def add(op: str, words: list[str]) -> None:
        text = "".join(words)
        if not text:
            return
        if segments and segments[-1]["op"] == op:
            segments[-1]["text"] += text
        else:
            segments.append({"op": op, "text": text})

    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            add("same", before[i1:i2])
        else:
            add("del", before[i1:i2])
            add("ins", after[j1:j2])
    return segments


def duration_words(duration_ms: int | None) -> str:
    """Time on a task as a lead reads it: "45 s", "3 min 5 s", "1 h 2 min"."""
    if duration_ms is None:
        return ""
    seconds = round(duration_ms / 1000)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def _verdict_words(task: Task, rating: int | None, choice: str | None) -> str:
    """A rating, or a choice in the task's terms naming the model it favours."""
    if rating is not None:
        return str(rating)
    if choice == choices.A:
        return f"A ({task.response_a.model_name}) is better"
    if choice == choices.B and task.response_b is not None:
        return f"B ({task.response_b.model_name}) is better"
    return CHOICE_WORDS.get(choice or "", "").capitalize()


def task_detail(*, task: Task) -> dict[str, Any]:
    """One task as its lead reviews it, for the task page and ``GET /api/v1/tasks/{id}/``: the
    conversation, the responses with their models, every judgment (annotator's pseudonym,
    verdict in the task's terms and which side each response was shown on, rubric scores,
    comment, rewrite with its diff against the response it rewrites, time on task, late flag,
    guidelines version), the skips with their reasons, the adjudication and the gold answer.
    ``task`` comes from ``task_get_for_lead`` (prompt and responses fetched)."""
    pseudonyms = Pseudonyms(project_id=task.project_id)
    a, b = task.response_a, task.response_b
    responses = [{"side": choices.A, "response": a}]
    if b is not None:
        responses.append({"side": choices.B, "response": b})
    judgments = []
    for j in task.judgments.select_related("annotator").order_by("id"):
        choice = task_choice(j.choice, j.swapped)
        shown = ""
        sides: list[tuple[str, Response]] = [(choices.A, a)]
        if b is not None:
            sides = (
                [(choices.B, b), (choices.A, a)] if j.swapped else [(choices.A, a), (choices.B, b)]
            )
            (left, left_r), (right, right_r) = sides
            shown = (
                f"{left} ({left_r.model_name}) on the left, "
                f"{right} ({right_r.model_name}) on the right"
            )
        # The rewrite replaces the response rated, or in a pair the one chosen; after a tie
        # or "both bad", the one shown on the left.
        rewritten = None
        if j.rewrite:
            chosen = [side for side in sides if side[1].pk == j.chosen_response_id]
            rewritten = chosen[0] if chosen else sides[0]
        judgments.append(
            {
                "judgment": j,
                "pseudonym": pseudonyms.name(j.annotator_id),
                "choice": choice,
                "verdict": _verdict_words(task, j.rating, choice),
                "shown": shown,
                "left": sides[0][0],
                "rubric_scores": sorted((j.rubric_scores or {}).items()),
                "rewrite_of": rewritten[0] if rewritten else "",
                "rewrite_of_model": rewritten[1].model_name if rewritten else "",
                "rewrite_diff": (
                    text_diff(original=rewritten[1].text, changed=j.rewrite) if rewritten else []
                ),
                "time_on_task": duration_words(j.duration_ms),
            }
        )
    skips = [
        {
            "pseudonym": pseudonyms.name(claim.annotator_id),
            "reason": claim.skip_reason,
            "at": claim.updated_at,
        }
        for claim in task.claims.filter(status=ClaimStatus.SKIPPED).order_by("updated_at", "id")
    ]
    adjudication = Adjudication.objects.filter(task=task).select_related("lead").first()
    gold = None
    if task.is_gold:
        gold = {
            "rating_min": task.gold_rating_min,
            "rating_max": task.gold_rating_max,
            "choice": task.gold_choice,
            "words": (
                f"{task.gold_rating_min} to {task.gold_rating_max}"
                if task.kind == ProjectKind.RATING and task.gold_rating_min != task.gold_rating_max
                else _verdict_words(task, task.gold_rating_min, task.gold_choice or None)
            ),
        }
    return {
        "conversation": task.prompt.conversation(),
        "responses": responses,
        "judgments": judgments,
        "skips": skips,
        "adjudication": adjudication,
        "adjudication_words": (
            _verdict_words(task, adjudication.rating, adjudication.choice or None)
            if adjudication
            else ""
        ),
        "gold": gold,
    }
