"""Importing prompts: upload → report → confirm, the upload kept between the two steps."""

from django.contrib import messages
from django.shortcuts import redirect, render

from annotation.selectors import project_get_for_lead
from annotation.services.import_staging import prompts_import_stage, prompts_import_staged
from ftapp.pages import for_page, object_page


@object_page(project_get_for_lead, "project_id")
def import_prompts(request, project):
    """Upload → report → confirm. The upload is kept between the report and the
    confirmation (``import_staging``)."""
    context = {"project": project}
    if request.method == "POST" and request.POST.get("token"):
        report = for_page(
            prompts_import_staged, by=request.user, project=project, token=request.POST["token"]
        )
        if report is None:
            messages.error(request, "That upload has expired; please upload the file again.")
            return redirect("project-import", project_id=project.pk)
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
        staged = prompts_import_stage(by=request.user, project=project, upload=upload)
        context.update(report=staged.report, token=staged.token, filename=staged.name)
    return render(request, "annotation/lead/import.html", context)
