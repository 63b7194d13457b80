"""The import page's upload, kept between its report and the lead's confirmation: under
var/imports/, named by a random token that only the page's form knows. An upload never
confirmed is removed a day later, when the next one arrives."""

import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone

from annotation.models import Project
from annotation.services.import_records import ImportReport
from annotation.services.imports import prompts_import
from ftapp.actors import Actor
from ftapp.errors import NotFound


@dataclass(frozen=True)
class StagedImport:
    """The report on an upload; ``token`` confirms it, "" when the report has errors (the
    upload is then gone)."""

    report: ImportReport
    token: str
    name: str


def _staging_dir() -> Path:
    path = Path(settings.VAR_DIR) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def prompts_import_stage(*, by: Actor, project: Project, upload: UploadedFile) -> StagedImport:
    """Keeps the upload and reports on it, importing nothing."""
    _clean_stale_uploads()
    token = secrets.token_hex(16)
    safe_name = Path(upload.name or "upload").name.replace("--", "-")[-100:]
    path = _staging_dir() / f"{token}--{safe_name}"
    with path.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    with path.open("rb") as stream:
        report = prompts_import(project=project, stream=stream, name=safe_name, commit=False, by=by)
    if not report.ok:
        path.unlink(missing_ok=True)
    return StagedImport(report=report, token=token if report.ok else "", name=safe_name)


def prompts_import_staged(*, by: Actor, project: Project, token: str) -> ImportReport | None:
    """Imports the upload ``token`` names and removes it; ``None`` when it is gone."""
    if not token.isalnum():
        raise NotFound("No such upload.")
    matches = list(_staging_dir().glob(f"{token}--*"))
    if not matches:
        return None
    path = matches[0]
    with path.open("rb") as stream:
        report = prompts_import(
            project=project, stream=stream, name=path.name.split("--", 1)[1], by=by
        )
    path.unlink(missing_ok=True)
    return report


def _clean_stale_uploads(max_age_hours: int = 24) -> None:
    """Uploads that were reported on but never confirmed."""
    cutoff = timezone.now().timestamp() - max_age_hours * 3600
    for path in _staging_dir().glob("*--*"):
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
