"""What a lead does to run a project: cut and assign batches, mark gold tasks, adjudicate
conflicts, set annotators aside. Each function checks that the caller leads the project."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from annotation.models import (
    Adjudication,
    Batch,
    BatchAssignment,
    BatchStatus,
    Choice,
    Claim,
    ClaimStatus,
    Judgment,
    Membership,
    Project,
    ProjectKind,
    Task,
)
from annotation.selectors import (
    batch_get_for_lead,
    metadata_matching,
    project_get_for_lead,
    task_get_for_lead,
)
from annotation.services.projects import annotators_require, batch_create
from ftapp.errors import InvalidInput

FILTER_KEYS = {"metadata", "model", "unjudged", "gold"}


def _annotators(project: Project, usernames: list[str]) -> list[User]:
    users = list(User.objects.filter(username__in=usernames, is_active=True))
    found = {u.username for u in users}
    missing = [name for name in usernames if name not in found]
    if missing:
        message = f"No such user: {', '.join(missing)}."
        raise InvalidInput(message, fields={"annotators": [message]})
    return users


def tasks_matching(*, project: Project, filters: dict[str, Any]) -> QuerySet[Task]:
    """Unbatched tasks of the project that match a batch filter: ``metadata`` (key → value
    of the prompt's metadata), ``model`` (a response's model), ``unjudged`` (no judgment
    yet), ``gold`` (true: only gold tasks; false: no gold tasks)."""
    unknown = sorted(set(filters) - FILTER_KEYS)
    if unknown:
        raise InvalidInput(
            "Unknown filter.", fields={"filter": [f"Unknown key {k!r}." for k in unknown]}
        )
    tasks = Task.objects.filter(project=project, batch__isnull=True)
    metadata = filters.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise InvalidInput("Bad filter.", fields={"filter": ["metadata must be an object."]})
    tasks = metadata_matching(tasks, field="prompt__metadata", metadata=metadata)
    if filters.get("model"):
        model = filters["model"]
        tasks = tasks.filter(Q(response_a__model_name=model) | Q(response_b__model_name=model))
    if filters.get("unjudged"):
        tasks = tasks.exclude(Exists(Judgment.objects.filter(task=OuterRef("pk"))))
    if filters.get("gold") is not None:
        tasks = tasks.filter(is_gold=bool(filters["gold"]))
    return tasks.order_by("id")


def _filters_described(filters: dict[str, Any]) -> str:
    """A batch filter in the lead's words: ``topic = 'cards', model 'm1', gold only``."""
    parts = [f"{key} = {value!r}" for key, value in (filters.get("metadata") or {}).items()]
    if filters.get("model"):
        parts.append(f"model {filters['model']!r}")
    if filters.get("unjudged"):
        parts.append("not judged yet")
    if filters.get("gold") is not None:
        parts.append("gold only" if filters["gold"] else "no gold")
    return ", ".join(parts)


@transaction.atomic
def batch_cut(
    *,
    by: User,
    project_id: int,
    name: str,
    size: int,
    annotators: Sequence[str] = (),
    overlap: int | None = None,
    filters: dict[str, Any] | None = None,
    due_at: datetime | None = None,
    adaptive_max_overlap: int | None = None,
    adaptive_on_split: bool = True,
    adaptive_on_judge: bool = False,
) -> Batch:
    """A new batch of up to ``size`` unbatched tasks matching ``filters``, in task order,
    assigned to ``annotators`` (usernames of the project's annotators), with adaptive overlap
    up to ``adaptive_max_overlap`` when it is set."""
    project = project_get_for_lead(user=by, project_id=project_id)
    if size < 1:
        raise InvalidInput("A batch needs at least one task.", fields={"size": ["At least 1."]})
    ids = list(
        tasks_matching(project=project, filters=filters or {})
        .select_for_update(skip_locked=True, of=("self",))
        .values_list("id", flat=True)[:size]
    )
    if not ids:
        unbatched = Task.objects.filter(project=project, batch__isnull=True).count()
        problem = (
            f"No unbatched task matches {_filters_described(filters)} "
            f"(the project has {unbatched} unbatched task{'s' if unbatched != 1 else ''})."
            if filters
            else "The project has no unbatched task: every task is in a batch already."
        )
        raise InvalidInput("The batch would have no task.", fields={"filter": [problem]})
    batch = batch_create(
        project=project,
        by=by,
        name=name,
        tasks=Task.objects.filter(pk__in=ids),
        annotators=_annotators(project, list(annotators)),
        overlap=overlap,
        adaptive_max_overlap=adaptive_max_overlap,
        adaptive_on_split=adaptive_on_split,
        adaptive_on_judge=adaptive_on_judge,
    )
    if due_at is not None:
        batch.due_at = due_at
        batch.save(update_fields=["due_at"])
    return batch


@transaction.atomic
def batch_assign(*, by: User, batch_id: int, usernames: list[str]) -> Batch:
    """Adds annotators of the project to the batch."""
    batch = batch_get_for_lead(user=by, batch_id=batch_id)
    users = _annotators(batch.project, usernames)
    annotators_require(project=batch.project, users=users)
    BatchAssignment.objects.bulk_create(
        [BatchAssignment(batch=batch, annotator=u) for u in users], ignore_conflicts=True
    )
    return batch


@transaction.atomic
def batch_unassign(*, by: User, batch_id: int, usernames: list[str]) -> Batch:
    """Takes annotators off the batch. What they judged stays; their open leases in it end,
    so the slots go back to the others."""
    batch = batch_get_for_lead(user=by, batch_id=batch_id)
    users = _annotators(batch.project, usernames)
    BatchAssignment.objects.filter(batch=batch, annotator__in=users).delete()
    Claim.objects.filter(task__batch=batch, annotator__in=users, status=ClaimStatus.ACTIVE).update(
        status=ClaimStatus.RELEASED
    )
    return batch


@transaction.atomic
def batch_set_status(*, by: User, batch_id: int, status: str) -> Batch:
    """Closing a batch takes its tasks out of every queue; reopening puts them back."""
    if status not in BatchStatus.values:
        raise InvalidInput("Unknown status.", fields={"status": [f"Use {BatchStatus.values}."]})
    batch = batch_get_for_lead(user=by, batch_id=batch_id)
    batch.status, batch.closed_reason = status, ""
    batch.save(update_fields=["status", "closed_reason"])
    return batch


def _label(task: Task, rating: int | None, choice: str) -> dict[str, Any]:
    """Checks a rating or a choice (A/B meaning the task's response_a/response_b) against
    the task's kind."""
    if task.kind == ProjectKind.RATING:
        if rating is None or not 1 <= rating <= 5 or choice:
            raise InvalidInput("Give a rating from 1 to 5.", fields={"rating": ["1 to 5."]})
        return {"rating": rating, "choice": ""}
    if rating is not None or choice not in Choice.values:
        raise InvalidInput(
            "Give a choice.", fields={"choice": [f"One of {', '.join(Choice.values)}."]}
        )
    return {"rating": None, "choice": choice}


@transaction.atomic
def task_set_gold(
    *,
    by: User,
    task_id: int,
    is_gold: bool,
    rating_min: int | None = None,
    rating_max: int | None = None,
    choice: str = "",
) -> Task:
    """Marks a task gold with its expected answer (a rating range, or the expected choice
    where A/B are the task's response_a/response_b), or unmarks it."""
    task = task_get_for_lead(user=by, task_id=task_id)
    if not is_gold:
        task.is_gold, task.gold_rating_min, task.gold_rating_max, task.gold_choice = (
            False,
            None,
            None,
            "",
        )
    elif task.kind == ProjectKind.RATING:
        low = rating_min
        high = rating_max if rating_max is not None else low
        if low is None or high is None or not (1 <= low <= high <= 5):
            raise InvalidInput(
                "Give the expected rating range within 1..5.",
                fields={"rating_min": ["1 ≤ min ≤ max ≤ 5."]},
            )
        task.is_gold, task.gold_rating_min, task.gold_rating_max = True, low, high
    else:
        if choice not in Choice.values:
            raise InvalidInput("Give the expected choice.", fields={"choice": list(Choice.values)})
        task.is_gold, task.gold_choice = True, choice
    # A gold task is shown to every annotator, so it is never complete.
    task.is_complete = False if task.is_gold else task.is_complete
    task.save()
    return task


@transaction.atomic
def adjudication_record(
    *,
    by: User,
    task_id: int,
    rating: int | None = None,
    choice: str = "",
    note: str = "",
) -> Adjudication:
    """The lead's final label for the task; exports use it instead of the judgments."""
    task = task_get_for_lead(user=by, task_id=task_id)
    label = _label(task, rating, choice)
    chosen = rejected = None
    if label["choice"] == Choice.A:
        chosen, rejected = task.response_a, task.response_b
    elif label["choice"] == Choice.B:
        chosen, rejected = task.response_b, task.response_a
    adjudication, _ = Adjudication.objects.update_or_create(
        task=task,
        defaults={
            **label,
            "lead": by,
            "chosen_response": chosen,
            "rejected_response": rejected,
            "note": note.strip(),
        },
    )
    if task.review_requested_at is not None:
        Task.objects.filter(pk=task.pk).update(review_requested_at=None)
    return adjudication


def membership_set_aside(
    *, by: User, project_id: int, username: str, set_aside: bool
) -> Membership:
    """Sets an annotator's judgments aside, so that they count in no export, figure or round
    (or takes them back)."""
    project = project_get_for_lead(user=by, project_id=project_id)
    membership = Membership.objects.filter(project=project, user__username=username).first()
    if membership is None:
        raise InvalidInput("Not a member.", fields={"username": ["Not a member of the project."]})
    membership.set_aside = set_aside
    membership.save(update_fields=["set_aside"])
    return membership
