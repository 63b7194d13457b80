"""Publishing the project's guidelines and rating anchors, with their version history."""

from django.contrib import messages
from django.shortcuts import redirect, render

from annotation.selectors import guidelines_current, guidelines_versions, project_get_for_lead
from annotation.services import guidelines_publish
from ftapp.pages import flash_errors, object_page


@object_page(project_get_for_lead, "project_id")
def guidelines_edit(request, project):
    if request.method == "POST":
        with flash_errors(request):
            version, published = guidelines_publish(
                by=request.user,
                project=project,
                body=request.POST.get("body", ""),
                rating_anchors={str(n): request.POST.get(f"anchor_{n}", "") for n in range(1, 6)},
            )
            if published:
                messages.success(
                    request, f"Published version {version.version}; annotators see it now."
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
            "anchors": [
                (n, (current.rating_anchors or {}).get(str(n), "") if current else "")
                for n in range(1, 6)
            ],
            "versions": guidelines_versions(project=project),
        },
    )
