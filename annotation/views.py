"""Pages of the human side. Thin: they read through selectors and write through services."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from annotation.selectors import (
    annotator_progress,
    guidelines_current,
    home_projects,
    membership_get,
)
from ftapp.errors import NotFound


@login_required
def home(request):
    return render(request, "annotation/home.html", {"rows": home_projects(user=request.user)})


@login_required
def queue(request, project_id: int):
    """The annotator's entry to a project: their progress and the current guidelines."""
    try:
        membership = membership_get(user=request.user, project_id=project_id)
    except NotFound:
        raise Http404 from None
    project = membership.project
    return render(
        request,
        "annotation/queue.html",
        {
            "project": project,
            "progress": annotator_progress(project=project, user=request.user),
            "guidelines": guidelines_current(project=project),
        },
    )
