"""Importing prompts: upload → report → confirm, the upload kept between the two steps."""

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone

from annotation.selectors import project_get_for_lead
from annotation.services import prompts_import
from ftapp.pages import object_page


def _import_dir() -> Path:
    path = Path(settings.VAR_DIR) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


@object_page(project_get_for_lead, "project_id")
def import_prompts(request, project):
    """Upload → report → confirm. The upload is kept under var/imports/ between the report
    and the confirmation, named by a random token that only this form knows."""
    context = {"project": project}
    if request.method == "POST" and request.POST.get("token"):
        token = request.POST["token"]
        if not token.isalnum():
            raise Http404
        matches = list(_import_dir().glob(f"{token}--*"))
        if not matches:
            messages.error(request, "That upload has expired; please upload the file again.")
            return redirect("project-import", project_id=project.pk)
        path = matches[0]
        with path.open("rb") as stream:
            report = prompts_import(
                project=project, stream=stream, name=path.name.split("--", 1)[1], by=request.user
            )
        path.unlink(missing_ok=True)
        if report.ok:
            messages.success(
                request,
                f"Imported {report.records} records: {report.prompts} new prompts, "
                f"{report.prompts_updated} updated, {report.responses} responses, "
                f"{report.tasks} tasks.",
            )
            return redirect("project", project_id=project.pk)
        context["report"] = report
    elif request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            messages.error(request, "Choose a file to upload.")
            return redirect("project-import", project_id=project.pk)
        _clean_stale_uploads()
        token = secrets.token_hex(16)
        safe_name = Path(upload.name).name.replace("--", "-")[-100:]
        path = _import_dir() / f"{token}--{safe_name}"
        with path.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        with path.open("rb") as stream:
            report = prompts_import(
                project=project, stream=stream, name=safe_name, commit=False, by=request.user
            )
        if not report.ok:
            path.unlink(missing_ok=True)
        context.update(report=report, token=token if report.ok else "", filename=safe_name)
    return render(request, "annotation/lead/import.html", context)


def _clean_stale_uploads(max_age_hours: int = 24) -> None:
    """Uploads that were reported on but never confirmed."""
    cutoff = timezone.now().timestamp() - max_age_hours * 3600
    for path in _import_dir().glob("*--*"):
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
