"""Publishing the project's guidelines (and, for a rating project, its rating anchors) with
a note on what changed, and their version history."""

from django.contrib import messages
from django.shortcuts import redirect, render

from annotation.models import ProjectKind
from annotation.selectors import guidelines_current, guidelines_versions, project_get_for_lead
from annotation.services import guidelines_publish
from annotation.shortcuts import GUIDELINES_TEMPLATES
from ftapp.pages import flash_errors, object_page


@object_page(project_get_for_lead, "project_id")
def guidelines_edit(request, project):
    rating = project.kind == ProjectKind.RATING
    if request.method == "POST":
        with flash_errors(request):
            version, published = guidelines_publish(
                by=request.user,
                project=project,
                body=request.POST.get("body", ""),
                # A pairwise project has no rating scale: its anchors are left as they are.
                rating_anchors={str(n): request.POST.get(f"anchor_{n}", "") for n in range(1, 6)}
                if rating
                else None,
                change_note=request.POST.get("change_note", ""),
            )
            if published:
                messages.success(
                    request,
                    f"Published version {version.version}; annotators see it, with your "
                    "note, before their next task.",
                )
            else:
                messages.info(request, f"Nothing changed: version {version.version} stays current.")
        return redirect("guidelines", project_id=project.pk)
    current = guidelines_current(project=project)
    return render(
        request,
        "annotation/lead/guidelines.html",
        {
            "project": project,
            "current": current,
            "rating": rating,
            # Guidelines never written start from a template that fits the project's kind.
            "body": current.body
            if current and current.body
            else GUIDELINES_TEMPLATES[project.kind],
            "anchors": [
                (n, (current.rating_anchors or {}).get(str(n), "") if current else "")
                for n in range(1, 6)
            ],
            "versions": guidelines_versions(project=project),
        },
    )
