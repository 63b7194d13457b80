"""Reads of exports."""

import json
from itertools import islice
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet

from annotation.models import Judgment, Project
from annotation.selectors import in_led_project
from evaluation.exports.services.files import SPLITS, export_dir
from evaluation.models import Export, ExportStatus
from ftapp.errors import Conflict, InvalidInput, NotFound


def export_get_for_lead(*, user: User, export_id: int) -> Export:
    """The export, if the user leads its project (404 outside it, 403 for its other members)."""
    export = Export.objects.select_related("project").filter(pk=export_id).first()
    return in_led_project(export, user=user, name="export")


def judgment_check_not_exported(judgment: Judgment) -> None:
    """Refuses the undo or change of a judgment an export may hold: one whose snapshot was
    taken after the judgment was made. Exports are immutable, so such a judgment must stay
    as it is."""
    if Export.objects.filter(
        project_id=judgment.task.project_id,
        status__in=[ExportStatus.RUNNING, ExportStatus.COMPLETED],
        snapshot_at__gte=judgment.created_at,
    ).exists():
        raise Conflict("This judgment may be in a dataset export already; it can no longer change.")


def export_list(*, project: Project, status: str | None = None) -> QuerySet[Export]:
    """The project's exports, newest first (of ``status``, if given)."""
    exports = Export.objects.filter(project=project).order_by("-created_at", "-id")
    return exports if status is None else exports.filter(status=status)


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
