"""Reads of a project's contents: prompts by metadata, batches, guidelines."""

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from django.contrib.auth.models import User
from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Coalesce

from annotation.models import (
    Batch,
    BatchAssignment,
    Guidelines,
    GuidelinesAcknowledgment,
    Project,
    Response,
    Role,
    Task,
)
from annotation.selectors.access import membership_list
from ftapp.errors import InvalidInput

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


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
        queryset = queryset.alias(**{alias: KeyTransform(str(key), field)}).filter(**{alias: value})
    return queryset


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


def batch_choices(*, project: Project) -> QuerySet[Batch]:
    """The project's batches in order, to choose from in a form or a filter."""
    return project.batches.order_by("position", "id")


def batch_cut_choices(*, project: Project) -> dict[str, Any]:
    """What the form to cut a batch offers: the project's annotators, the models its tasks
    show, and how many tasks no batch holds yet."""
    tasks = Task.objects.filter(project=project)
    models = set(tasks.values_list("response_a__model_name", flat=True)) | set(
        tasks.filter(response_b__isnull=False).values_list("response_b__model_name", flat=True)
    )
    return {
        "annotators": membership_list(project=project, role=Role.ANNOTATOR),
        "models": sorted(models),
        "unbatched": tasks.filter(batch__isnull=True).count(),
    }


def batch_summary(*, batch: Batch) -> dict[str, Any]:
    """The batch page's figures: its tasks, the tasks adaptive overlap gave more slots and
    how many, and the project's annotators by name, assigned to it or not."""
    assigned = set(batch.assignments.values_list("annotator__username", flat=True))
    annotators = membership_list(project=batch.project, role=Role.ANNOTATOR)
    counts = batch.tasks.aggregate(
        tasks=Count("id"),
        extended=Count("id", filter=Q(extra_slots__gt=0)),
        extra_slots=Coalesce(Sum("extra_slots"), 0),
    )
    return {
        **counts,
        "assigned": sorted(assigned),
        "unassigned": [m.user.username for m in annotators if m.user.username not in assigned],
    }


def response_model_names(*, project: Project) -> QuerySet:
    """The names of the models that answered the project's prompts, in order."""
    return (
        Response.objects.filter(prompt__project=project)
        .order_by("model_name")
        .values_list("model_name", flat=True)
        .distinct()
    )


def guidelines_current_of(*, project_ids: list[int]) -> dict[int, Guidelines]:
    """Each project's current guidelines (its newest version), in one query."""
    newest = Guidelines.objects.filter(project=OuterRef("project")).order_by("-version")
    current = Guidelines.objects.filter(
        project_id__in=project_ids, version=Subquery(newest.values("version")[:1])
    )
    return {g.project_id: g for g in current}


def guidelines_current(*, project: Project) -> Guidelines | None:
    return project.guidelines.order_by("-version").first()


@dataclass(frozen=True)
class GuidelinesDue:
    """The current guidelines an annotator has not read yet, with what changed: each version
    since the one they read last, oldest first (on a first visit, the current version's note
    only)."""

    current: Guidelines
    changes: list[Guidelines]
    first_visit: bool


def guidelines_due(*, user: User, project: Project) -> GuidelinesDue | None:
    """The guidelines panel the annotator must see before their next task: ``None`` when
    they have read the current version (or the project has none)."""
    current = guidelines_current(project=project)
    if current is None or not (current.body.strip() or current.rating_anchors):
        return None  # nothing written to read
    read = (
        GuidelinesAcknowledgment.objects.filter(user=user, guidelines__project=project)
        .order_by("-guidelines__version")
        .values_list("guidelines__version", flat=True)
        .first()
    )
    if read is not None and read >= current.version:
        return None
    if read is None:  # a first visit: the whole guidelines, and the latest change if any
        changes = [current] if current.version > 1 else []
    else:
        changes = list(
            project.guidelines.filter(version__gt=read, version__lte=current.version).order_by(
                "version"
            )
        )
    return GuidelinesDue(current=current, changes=changes, first_visit=read is None)


def guidelines_versions(*, project: Project) -> QuerySet[Guidelines]:
    """Every published version, newest first, with who published it."""
    return project.guidelines.select_related("created_by").order_by("-version")
