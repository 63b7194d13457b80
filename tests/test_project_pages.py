"""Every project page says which project it belongs to, in its heading, and the project's
navigation marks where the lead is: the page itself, or the section a detail page belongs to."""

import re

import pytest
from django.urls import reverse

from annotation.models import Task
from evaluation.exports.services.build import export_build
from evaluation.exports.services.jobs import export_start
from tests.factories import (
    AnnotatorFactory,
    LeadFactory,
    assign,
    make_project,
    make_run_and_round,
)

pytestmark = pytest.mark.django_db

# route: (the link marked, its aria-current)
PAGES = {
    "project": ("Dashboard", "page"),
    "project-import": ("Import", "page"),
    "batch-new": ("New batch", "page"),
    "batch": ("Dashboard", "true"),
    "conflicts": ("Conflicts", "page"),
    "task-review": ("Conflicts", "true"),
    "guidelines": ("Guidelines", "page"),
    "run-new": ("Generate", "page"),
    "run": ("Generate", "true"),
    "export-new": ("Exports", "page"),
    "export": ("Exports", "true"),
    "leaderboard": ("Leaderboard", "page"),
    "agreement": ("Agreement", "page"),
    "round-new": ("Rounds", "page"),
    "round": ("Rounds", "true"),
    "members": ("Members", "page"),
    "project-settings": ("Settings", "page"),
}


@pytest.fixture
def urls(client):
    lead = LeadFactory()
    project = make_project(lead, prompts=2, name="Triage pilot")
    batch = assign(project, [AnnotatorFactory()], tasks=Task.objects.filter(project=project))
    export = export_start(by=lead, project_id=project.pk, kind="sft", format="trl")
    export_build(export_id=export.pk)
    run, rnd = make_run_and_round(lead, project, model="m2", previous_model="m1", export=export)
    client.force_login(lead)
    args = {
        "batch": batch.pk,
        "task-review": Task.objects.filter(project=project).first().pk,
        "run": run.pk,
        "export": export.pk,
        "round": rnd.pk,
    }
    return {name: reverse(name, args=[args.get(name, project.pk)]) for name in PAGES}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_a_project_page_names_its_project_and_marks_its_place(client, urls, name):
    html = client.get(urls[name]).content.decode()
    heading = re.search(r"<h1>(.*?)</h1>", html, re.S)
    assert heading and "Triage pilot" in heading.group(1), name
    nav = re.search(r'<nav class="subnav".*?</nav>', html, re.S).group(0)
    marked = re.findall(r'aria-current="(\w+)">([^<(]+)', nav)
    link, current = PAGES[name]
    assert [(value, text.strip()) for value, text in marked] == [(current, link)]
