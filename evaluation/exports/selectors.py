"""Reads of exports."""

import json
from itertools import islice
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet

from annotation.models import Project
from annotation.selectors import project_get_for_lead
from evaluation.exports.services import export_dir
from evaluation.models import Export, ExportStatus
from ftapp.errors import Conflict, InvalidInput, NotFound

SPLITS = ("train", "test")


def export_get_for_lead(*, user: User, export_id: int) -> Export:
    """The export, if the user leads its project (404 outside it, 403 for annotators)."""
    export = Export.objects.select_related("project").filter(pk=export_id).first()
    if export is None:
        raise NotFound("No such export.")
    project_get_for_lead(user=user, project_id=export.project_id)
    return export


def export_list(*, project: Project) -> QuerySet[Export]:
    return Export.objects.filter(project=project).order_by("-created_at", "-id")


def export_file(*, export: Export, split: str) -> Path:
    """The file of a finished export's split, or the error that says why there is none."""
    if split not in SPLITS:
        raise InvalidInput("Unknown split.", fields={"split": ["train or test."]})
    if export.status != ExportStatus.COMPLETED:
        raise Conflict(f"The export is {export.status}; its files are not ready.")
    path = export_dir(export) / f"{split}.jsonl"
    if not path.exists():
        raise NotFound("The export's files are gone from this server's storage.")
    return path


def export_preview(*, export: Export, rows: int = 5) -> list[dict[str, Any]]:
    """The first rows of the train file (or of the test file when train is empty)."""
    if export.status != ExportStatus.COMPLETED:
        return []
    for split in SPLITS:
        path = export_dir(export) / f"{split}.jsonl"
        if path.exists() and path.stat().st_size:
            with path.open(encoding="utf-8") as file:
                return [json.loads(line) for line in islice(file, rows)]
    return []


def export_progress(*, export: Export) -> dict[str, Any]:
    total, done = export.progress_total, export.progress_done
    return {
        "tasks_read": done,
        "tasks_total": total,
        "percent": min(100, round(100 * done / total))
        if total
        else (100 if export.finished_at else 0),
    }
