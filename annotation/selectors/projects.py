"""Reads of a project's contents: prompts by metadata, batches, guidelines."""

import json
from typing import Any

from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.fields.json import KeyTransform

from annotation.models import Batch, BatchAssignment, Guidelines, Project
from ftapp.errors import InvalidInput


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


def batch_list(*, project: Project) -> QuerySet[Batch]:
    """The project's batches in order, each with ``task_count`` and its assignments' annotators
    fetched: a fixed number of queries however many batches there are."""
    return (
        project.batches.annotate(task_count=Count("tasks"))
        .prefetch_related(
            Prefetch("assignments", queryset=BatchAssignment.objects.select_related("annotator"))
        )
        .order_by("position", "id")
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
