"""Figures of progress: a project's counts, an annotator's, the home page's and the
lead's dashboard."""

from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.judgment_rules import gold_correct
from annotation.models import (
    BatchAssignment,
    BatchStatus,
    Claim,
    ClaimStatus,
    Judgment,
    Membership,
    Project,
    Prompt,
    Role,
    Task,
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
    for figure, rows, project_field in (
        (
            "judgments",
            Judgment.objects.filter(task__project_id__in=project_ids),
            "task__project_id",
        ),
        ("prompts", Prompt.objects.filter(project_id__in=project_ids), "project_id"),
    ):
        counts = rows.values(project_field).annotate(n=Count("id")).values_list(project_field, "n")
        for project_id, count in counts:
            figures[project_id][figure] = count
    return figures


def project_progress(*, project: Project) -> dict[str, int]:
    return projects_progress(project_ids=[project.pk])[project.pk]


def annotators_remaining(*, project: Project, user_ids: list[int]) -> dict[int, int]:
    """Per annotator, the tasks they may still be given: in their open batches, not yet
    complete, not yet judged or skipped by them. One query however many annotators; one
    with none left is missing from the result."""
    done_by_them = Claim.objects.filter(
        task=OuterRef("pk"),
        annotator=OuterRef("annotator_id"),
        status__in=[ClaimStatus.SUBMITTED, ClaimStatus.SKIPPED],
    )
    remaining = (
        Task.objects.filter(
            project=project,
            batch__status=BatchStatus.OPEN,
            batch__assignments__annotator_id__in=user_ids,
            is_complete=False,
        )
        # The assignment joined by the filter: one row per task and annotator assigned.
        .annotate(annotator_id=F("batch__assignments__annotator_id"))
        .exclude(Exists(done_by_them))
        .values("annotator_id")
        .annotate(n=Count("id"))
        .values_list("annotator_id", "n")
    )
    return dict(remaining)


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
    remaining = annotators_remaining(project=project, user_ids=[user.pk]).get(user.pk, 0)
    return {
        "judged": counts["judged"],
        "skipped": counts["skipped"],
        "remaining": remaining,
        "total": counts["judged"] + counts["skipped"] + remaining,
    }


def home_projects(*, user: User) -> list[dict]:
    """The home page's rows: each project of the user with their role, and the figures that
    role cares about (the annotator's own progress, batch by batch with due dates; the lead's
    project counts). One annotator row is ``continue``: the project they worked in last, else
    their only one, else the first with work left. Archived projects are not among them. At
    most eight queries however many projects and batches."""
    memberships = list(
        Membership.objects.filter(user=user, project__archived_at__isnull=True)
        .select_related("project")
        .order_by("project__name", "project_id")
    )
    led = [m.project_id for m in memberships if m.role != Role.ANNOTATOR]
    annotated = [m.project_id for m in memberships if m.role == Role.ANNOTATOR]
    lead_figures = projects_progress(project_ids=led) if led else {}
    batches = _annotator_batches(user=user, project_ids=annotated) if annotated else {}
    rows: list[dict[str, Any]] = []
    for membership in memberships:
        project = membership.project
        if membership.role == Role.ANNOTATOR:
            own = batches.get(project.pk, [])
            figures: dict = {
                name: sum(batch[name] for batch in own)
                for name in ("judged", "skipped", "remaining", "total")
            }
            figures["batches"] = own
        else:
            figures = lead_figures[project.pk]
        rows.append(
            {"project": project, "role": membership.role, "figures": figures, "continue": False}
        )
    mine = [row for row in rows if row["role"] == Role.ANNOTATOR]
    if mine:
        last = (
            Claim.objects.filter(annotator=user, task__project_id__in=annotated)
            .order_by("-updated_at", "-id")
            .values_list("task__project_id", flat=True)
            .first()
        )
        with_work = [row for row in mine if row["figures"]["remaining"]]
        worked_last = [row for row in mine if row["project"].pk == last]
        fallback = mine if len(mine) == 1 else with_work
        for chosen in (worked_last or fallback)[:1]:
            chosen["continue"] = True
    return rows


def _annotator_batches(*, user: User, project_ids: list[int]) -> dict[int, list[dict]]:
    """Per project, the open batches ``user`` is assigned to (soonest due first, then in
    queue order) with their own figures in each: judged, skipped, and what they may still be
    given. Three queries however many batches."""
    batches: dict[int, list[dict[str, Any]]] = {}
    by_id: dict[int, dict[str, Any]] = {}
    for batch_id, name, due_at, project_id in (
        BatchAssignment.objects.filter(
            annotator=user, batch__project_id__in=project_ids, batch__status=BatchStatus.OPEN
        )
        .order_by(F("batch__due_at").asc(nulls_last=True), "batch__position", "batch_id")
        .values_list("batch_id", "batch__name", "batch__due_at", "batch__project_id")
    ):
        row: dict[str, Any] = {
            "name": name,
            "due_at": due_at,
            "judged": 0,
            "skipped": 0,
            "remaining": 0,
        }
        by_id[batch_id] = row
        batches.setdefault(project_id, []).append(row)
    if by_id:
        for batch_id, judged, skipped in (
            Claim.objects.filter(annotator=user, task__batch_id__in=list(by_id))
            .values("task__batch_id")
            .annotate(
                judged=Count("id", filter=Q(status=ClaimStatus.SUBMITTED)),
                skipped=Count("id", filter=Q(status=ClaimStatus.SKIPPED)),
            )
            .values_list("task__batch_id", "judged", "skipped")
        ):
            by_id[batch_id].update(judged=judged, skipped=skipped)
        done_by_them = Claim.objects.filter(
            task=OuterRef("pk"),
            annotator=user,
            status__in=[ClaimStatus.SUBMITTED, ClaimStatus.SKIPPED],
        )
        for batch_id, remaining in (
            Task.objects.filter(batch_id__in=list(by_id), is_complete=False)
            .exclude(Exists(done_by_them))
            .values("batch_id")
            .annotate(n=Count("id"))
            .values_list("batch_id", "n")
        ):
            by_id[batch_id]["remaining"] = remaining
    for row in by_id.values():
        row["total"] = row["judged"] + row["skipped"] + row["remaining"]
    return batches


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _batch_rows(*, project: Project, now) -> list[dict]:
    """The dashboard's row of each batch, in five queries however many batches there are."""
    counts = {
        row.pop("batch_id"): row
        for row in Task.objects.filter(batch__project=project)
        .values("batch_id")
        .annotate(
            tasks=Count("id"),
            complete=Count("id", filter=Q(is_complete=True)),
            gold=Count("id", filter=Q(is_gold=True)),
            extra_slots=Coalesce(Sum("extra_slots", filter=Q(is_gold=False)), 0),
        )
    }
    judged = dict(
        Judgment.objects.filter(task__batch__project=project, task__is_gold=False)
        .values("task__batch_id")
        .annotate(n=Count("id"))
        .values_list("task__batch_id", "n")
    )
    claims = {
        row.pop("task__batch_id"): row
        for row in Claim.objects.filter(task__batch__project=project)
        .values("task__batch_id")
        .annotate(
            claimed=Count("id", filter=Q(status=ClaimStatus.ACTIVE, expires_at__gt=now)),
            skipped=Count("id", filter=Q(status=ClaimStatus.SKIPPED)),
        )
    }
    annotators: dict[int, list[str]] = {}
    for batch_id, username in (
        BatchAssignment.objects.filter(batch__project=project)
        .order_by("annotator__username")
        .values_list("batch_id", "annotator__username")
    ):
        annotators.setdefault(batch_id, []).append(username)
    rows = []
    for batch in project.batches.order_by("position", "id"):
        figures = counts.get(batch.pk, {"tasks": 0, "complete": 0, "gold": 0, "extra_slots": 0})
        slots = (figures["tasks"] - figures["gold"]) * batch.overlap + figures["extra_slots"]
        done = judged.get(batch.pk, 0)
        rows.append(
            {
                "batch": batch,
                **figures,
                "slots": slots,
                "judged": done,
                **claims.get(batch.pk, {"claimed": 0, "skipped": 0}),
                "remaining": max(slots - done, 0),
                "annotators": annotators.get(batch.pk, []),
                "percent": round(100 * min(done, slots) / slots) if slots else 0,
            }
        )
    return rows


def project_dashboard(*, project: Project, now=None) -> dict:
    """Per batch and per annotator: judged, claimed, skipped, remaining, median seconds per
    task, judgments in the last hour, gold accuracy."""
    now = now or timezone.now()
    hour_ago = now - timedelta(hours=1)
    batches = _batch_rows(project=project, now=now)
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
    remaining = annotators_remaining(project=project, user_ids=list(memberships))
    annotators = []
    for row in per_user.values():
        membership = row.pop("membership")
        durations = row.pop("durations")
        row.setdefault("claimed", 0)
        row.setdefault("skipped", 0)
        row["username"] = membership.user.username
        row["pseudonym"] = membership.pseudonym
        row["set_aside"] = membership.set_aside
        row["median_seconds"] = _median(durations)
        row["remaining"] = remaining.get(membership.user_id, 0)
        row["gold_accuracy"] = (
            row["gold_correct"] / row["gold_judged"] if row["gold_judged"] else None
        )
        annotators.append(row)
    annotators.sort(key=lambda r: r["username"])
    return {"batches": batches, "annotators": annotators, "generated_at": now}
