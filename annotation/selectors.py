"""Reads: what a user may see, and the figures pages and the API show."""

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypedDict

from django.contrib.auth.models import User
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.fields.json import KeyTransform
from django.utils import timezone

from annotation.judgment_rules import gold_correct
from annotation.models import (
    ApiToken,
    Batch,
    BatchAssignment,
    BatchStatus,
    Claim,
    ClaimStatus,
    Guidelines,
    Judgment,
    Membership,
    Project,
    Prompt,
    Role,
    Task,
)
from ftapp.actors import Actor, System
from ftapp.errors import Forbidden, InvalidInput, NotFound

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class NotAMember(NotFound):
    def __init__(self) -> None:
        super().__init__("No such project.")


class NotALead(Forbidden):
    def __init__(self) -> None:
        super().__init__("Only a lead of this project can do that.")


def metadata_matching(queryset: QuerySet, *, field: str, metadata: dict[str, Any]) -> QuerySet:
    """The rows of ``queryset`` whose JSON ``field`` (``metadata``, ``prompt__metadata``) has
    every key of ``metadata`` with that value. A key is only ever a key: spelled into a
    ``filter(**{f"{field}__{key}": ...})`` it would also be a lookup (``topic__regex``) or a
    path (``a__b``), and a bad one a database error."""
    for number, (key, value) in enumerate(metadata.items()):
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise InvalidInput(
                "Bad metadata filter.",
                fields={"metadata": [f"The value of {key!r} must be JSON, its numbers finite."]},
            ) from None
        alias = f"metadata_filter_{number}"
        queryset = queryset.alias(**{alias: KeyTransform(str(key), field)}).filter(
            **{alias: value}
        )
    return queryset


def api_token_list(*, user: User) -> QuerySet[ApiToken]:
    """The user's own tokens, newest first; revoked ones stay listed so the history is visible."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-pk")


def project_by_id_or_name(value: str) -> Project | None:
    """A project named on the command line: its id, or else its exact name."""
    if value.isdigit():
        return Project.objects.filter(pk=int(value)).first()
    return Project.objects.filter(name=value).first()


def project_list_for_user(*, user: User) -> QuerySet[Project]:
    return Project.objects.filter(memberships__user=user).distinct()


def membership_get(*, user: User, project_id: int) -> Membership:
    """The caller's membership of a project; ``NotAMember`` (a 404) for anyone else."""
    if not user.is_authenticated:
        raise NotAMember()
    membership = (
        Membership.objects.select_related("project")
        .filter(user=user, project_id=project_id)
        .first()
    )
    if membership is None:
        raise NotAMember()
    return membership


def project_get_for_lead(*, user: User, project_id: int) -> Project:
    membership = membership_get(user=user, project_id=project_id)
    if membership.role != Role.LEAD:
        raise NotALead()
    return membership.project


def project_check_lead(*, by: Actor, project: Project) -> Project:
    """The permission check of a service given a project: ``by`` leads it, or is the system."""
    if isinstance(by, System):
        return project
    return project_get_for_lead(user=by, project_id=project.pk)


class BatchTaskCount(TypedDict):
    task_count: int


def batch_list(*, project: Project) -> QuerySet["WithAnnotations[Batch, BatchTaskCount]"]:
    """The project's batches in order, each with ``task_count`` and its assignments' annotators
    fetched: a fixed number of queries however many batches there are."""
    return (
        project.batches.annotate(task_count=Count("tasks"))
        .prefetch_related(
            Prefetch("assignments", queryset=BatchAssignment.objects.select_related("annotator"))
        )
        .order_by("position", "id")
    )


def projects_progress(*, project_ids: list[int]) -> dict[int, dict[str, int]]:
    """Each project's counts, in three queries however many projects there are."""
    figures = {
        pk: {"prompts": 0, "tasks": 0, "tasks_in_batches": 0, "gold_tasks": 0, "judgments": 0}
        for pk in project_ids
    }
    for row in (
        Task.objects.filter(project_id__in=project_ids)
        .values("project_id")
        .annotate(
            tasks=Count("id"),
            tasks_in_batches=Count("id", filter=Q(batch__isnull=False)),
            gold_tasks=Count("id", filter=Q(is_gold=True)),
        )
    ):
        figures[row.pop("project_id")].update(row)
    for project_id, judgments in (
        Judgment.objects.filter(task__project_id__in=project_ids)
        .values("task__project_id")
        .annotate(n=Count("id"))
        .values_list("task__project_id", "n")
    ):
        figures[project_id]["judgments"] = judgments
    for project_id, prompts in (
        Prompt.objects.filter(project_id__in=project_ids)
        .values("project_id")
        .annotate(n=Count("id"))
        .values_list("project_id", "n")
    ):
        figures[project_id]["prompts"] = prompts
    return figures


def project_progress(*, project: Project) -> dict[str, int]:
    return projects_progress(project_ids=[project.pk])[project.pk]


def guidelines_current_of(*, project_ids: list[int]) -> dict[int, Guidelines]:
    """Each project's current guidelines (its newest version), in one query."""
    newest = Guidelines.objects.filter(project=OuterRef("project")).order_by("-version")
    current = Guidelines.objects.filter(
        project_id__in=project_ids, version=Subquery(newest.values("version")[:1])
    )
    return {g.project_id: g for g in current}


def annotator_progress(*, project: Project, user: User) -> dict[str, int]:
    """The annotator's figures in their open batches: tasks judged and skipped, and tasks they
    may still be given (not yet complete, not yet judged or skipped by them)."""
    open_tasks = Task.objects.filter(
        project=project,
        batch__status=BatchStatus.OPEN,
        batch__assignments__annotator=user,
    )
    counts = Claim.objects.filter(task__in=open_tasks, annotator=user).aggregate(
        judged=Count("id", filter=Q(status=ClaimStatus.SUBMITTED)),
        skipped=Count("id", filter=Q(status=ClaimStatus.SKIPPED)),
    )
    done_by_me = Claim.objects.filter(
        task=OuterRef("pk"),
        annotator=user,
        status__in=[ClaimStatus.SUBMITTED, ClaimStatus.SKIPPED],
    )
    remaining = open_tasks.filter(is_complete=False).exclude(Exists(done_by_me)).count()
    return {
        "judged": counts["judged"],
        "skipped": counts["skipped"],
        "remaining": remaining,
        "total": counts["judged"] + counts["skipped"] + remaining,
    }


def claim_held(*, user: User, project: Project) -> Claim | None:
    """The annotator's unexpired claim in an open batch, newest first: what ``claim_next``
    would give back without leasing anything. A page shown on a GET reads this, so a
    prefetch or a link preview never takes a task."""
    return (
        Claim.objects.filter(
            annotator=user,
            task__project=project,
            task__batch__status=BatchStatus.OPEN,
            status=ClaimStatus.ACTIVE,
            expires_at__gt=timezone.now(),
        )
        .order_by("-claimed_at")
        .first()
    )


def claim_view(*, claim: Claim) -> dict:
    """What an annotator sees of a claimed task: the conversation and the responses in the
    order shown to them. Never the model names."""
    task = (
        Task.objects.select_related("prompt", "response_a", "response_b")
        .only(
            "id",
            "kind",
            "prompt__system",
            "prompt__text",
            "prompt__messages",
            "response_a__text",
            "response_b__text",
        )
        .get(pk=claim.task_id)
    )
    shown = [task.response_a] if task.response_b is None else [task.response_a, task.response_b]
    if claim.swapped:
        shown.reverse()
    labels: list[str | None] = ["A", "B"] if len(shown) == 2 else [None]
    return {
        "task_id": task.pk,
        "kind": task.kind,
        "system": task.prompt.system,
        "turns": task.prompt.turns(),
        "responses": [
            {"position": label, "text": response.text}
            for label, response in zip(labels, shown, strict=True)
        ],
        "expires_at": claim.expires_at,
        "claim_id": claim.pk,
    }


def guidelines_current(*, project: Project) -> Guidelines | None:
    return project.guidelines.order_by("-version").first()


def home_projects(*, user: User) -> list[dict]:
    """The home page's rows: each project of the user with their role, and the figures that
    role cares about (the annotator's own progress; the lead's project counts)."""
    rows = []
    for membership in Membership.objects.filter(user=user).select_related("project"):
        project = membership.project
        if membership.role == Role.ANNOTATOR:
            figures = annotator_progress(project=project, user=user)
        else:
            figures = project_progress(project=project)
        rows.append({"project": project, "role": membership.role, "figures": figures})
    return rows


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def project_dashboard(*, project: Project, now=None) -> dict:
    """Per batch and per annotator: judged, claimed, skipped, remaining, median seconds per
    task, judgments in the last hour, gold accuracy."""
    now = now or timezone.now()
    hour_ago = now - timedelta(hours=1)
    batches = []
    for batch in project.batches.order_by("position", "id"):
        tasks = Task.objects.filter(batch=batch)
        claims = Claim.objects.filter(task__batch=batch)
        counts = tasks.aggregate(
            tasks=Count("id"),
            complete=Count("id", filter=Q(is_complete=True)),
            gold=Count("id", filter=Q(is_gold=True)),
        )
        slots = (counts["tasks"] - counts["gold"]) * batch.overlap
        judged = Judgment.objects.filter(task__batch=batch, task__is_gold=False).count()
        row = {
            "batch": batch,
            **counts,
            "slots": slots,
            "judged": judged,
            "claimed": claims.filter(status=ClaimStatus.ACTIVE, expires_at__gt=now).count(),
            "skipped": claims.filter(status=ClaimStatus.SKIPPED).count(),
            "remaining": max(slots - judged, 0),
            "annotators": list(
                batch.assignments.order_by("annotator__username").values_list(
                    "annotator__username", flat=True
                )
            ),
        }
        row["percent"] = round(100 * min(judged, slots) / slots) if slots else 0
        batches.append(row)

    memberships = {
        m.user_id: m
        for m in Membership.objects.filter(project=project, role=Role.ANNOTATOR).select_related(
            "user"
        )
    }
    per_user: dict[int, dict] = {
        uid: {
            "membership": m,
            "judged": 0,
            "last_hour": 0,
            "durations": [],
            "gold_judged": 0,
            "gold_correct": 0,
        }
        for uid, m in memberships.items()
    }
    judgments = Judgment.objects.filter(task__project=project, annotator_id__in=memberships)
    for judgment in judgments.select_related("task").only(
        "annotator_id",
        "created_at",
        "duration_ms",
        "rating",
        "choice",
        "swapped",
        "task__kind",
        "task__is_gold",
        "task__gold_rating_min",
        "task__gold_rating_max",
        "task__gold_choice",
    ):
        row = per_user[judgment.annotator_id]
        row["judged"] += 1
        row["last_hour"] += judgment.created_at >= hour_ago
        if judgment.duration_ms is not None:
            row["durations"].append(judgment.duration_ms / 1000)
        if judgment.task.is_gold:
            row["gold_judged"] += 1
            row["gold_correct"] += gold_correct(judgment.task, judgment)
    claim_counts = Claim.objects.filter(task__project=project, annotator_id__in=memberships)
    for uid, claimed, skipped in (
        claim_counts.values("annotator_id")
        .annotate(
            claimed=Count("id", filter=Q(status=ClaimStatus.ACTIVE, expires_at__gt=now)),
            skipped=Count("id", filter=Q(status=ClaimStatus.SKIPPED)),
        )
        .values_list("annotator_id", "claimed", "skipped")
    ):
        per_user[uid]["claimed"], per_user[uid]["skipped"] = claimed, skipped
    annotators = []
    for row in per_user.values():
        membership = row.pop("membership")
        durations = row.pop("durations")
        row.setdefault("claimed", 0)
        row.setdefault("skipped", 0)
        row["username"] = membership.user.username
        row["pseudonym"] = membership.pseudonym
        row["excluded"] = membership.excluded_from_exports
        row["median_seconds"] = _median(durations)
        row["remaining"] = annotator_progress(project=project, user=membership.user)["remaining"]
        row["gold_accuracy"] = (
            row["gold_correct"] / row["gold_judged"] if row["gold_judged"] else None
        )
        annotators.append(row)
    annotators.sort(key=lambda r: r["username"])
    return {"batches": batches, "annotators": annotators, "generated_at": now}


def conflicts(*, project: Project, include_adjudicated: bool = False) -> list[dict]:
    """Tasks whose judgments disagree: ratings two or more apart, or pairwise verdicts that
    differ (the winner, a tie or both bad)."""
    tasks = Task.objects.filter(project=project, judgment_count__gte=2)
    if not include_adjudicated:
        tasks = tasks.filter(adjudication__isnull=True)
    rows = []
    by_task: dict[int, list[Judgment]] = {}
    for judgment in Judgment.objects.filter(task__in=tasks).order_by("id"):
        by_task.setdefault(judgment.task_id, []).append(judgment)
    for task in tasks.select_related("prompt").order_by("id"):
        judged = by_task.get(task.pk, [])
        if task.kind == "rating":
            ratings = [j.rating for j in judged if j.rating is not None]
            disagree = bool(ratings) and max(ratings) - min(ratings) >= 2
            summary = ", ".join(str(r) for r in ratings)
        else:
            verdicts = [j.chosen_response_id or j.choice for j in judged]
            disagree = len(set(verdicts)) > 1
            summary = f"{len(set(verdicts))} different verdicts"
        if disagree:
            rows.append({"task": task, "judgments": judged, "summary": summary})
    return rows
