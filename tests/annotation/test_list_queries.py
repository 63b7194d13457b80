"""List endpoints and the dashboard's poll read a fixed number of queries, however many rows
they show."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotation.models import Task
from annotation.selectors import annotator_progress, project_dashboard
from annotation.services import claim_next
from tests.factories import (
    AnnotatorFactory,
    ProjectFactory,
    add_member,
    assign,
    client_for,
    judge,
    make_project,
    queries,
)

pytestmark = pytest.mark.django_db
User = get_user_model()


def test_batch_list_does_not_grow_with_batches(lead, django_assert_max_num_queries):
    project = make_project(lead, prompts=6)
    annotators = [AnnotatorFactory(), AnnotatorFactory()]
    tasks = list(Task.objects.filter(project=project))
    assign(project, annotators, name="first", tasks=tasks[:1])
    client = client_for(lead)
    url = f"/api/v1/projects/{project.pk}/batches/"
    one = queries(lambda: client.get(url))
    for n, task in enumerate(tasks[1:]):
        assign(project, annotators, name=f"b{n}", tasks=[task])
    with django_assert_max_num_queries(one):
        listed = client.get(url).json()
    assert len(listed) == 6 and listed[0]["tasks"] == 1
    assert listed[0]["annotators"] == sorted(a.username for a in annotators)


def test_project_list_does_not_grow_with_projects(lead, django_assert_max_num_queries):
    make_project(lead, prompts=2)
    client = client_for(lead)
    one = queries(lambda: client.get("/api/v1/projects/"))
    for _ in range(4):
        make_project(lead, prompts=2)
    with django_assert_max_num_queries(one):
        listed = client.get("/api/v1/projects/").json()
    assert len(listed) == 5
    assert {p["progress"]["prompts"] for p in listed} == {2}
    assert {p["guidelines_version"] for p in listed} == {1}


def test_the_dashboard_poll_reads_only_what_its_partial_shows(client, lead):
    project = make_project(lead, prompts=3, overlap=2)
    first, second = AnnotatorFactory(), AnnotatorFactory()
    assign(project, [first, second])
    for user, rating in ((first, 1), (second, 5)):
        judge(user, claim_next(user=user, project_id=project.pk), rating=rating)
    client.force_login(lead)
    url = reverse("project", args=[project.pk])
    page = queries(lambda: client.get(url))
    poll = queries(lambda: client.get(url, HTTP_HX_REQUEST="true"))
    # The full page adds the conflicts and the members; the poll shows neither.
    assert poll < page
    with CaptureQueriesContext(connection) as captured:
        client.get(url, HTTP_HX_REQUEST="true")
    assert not any('"judgment_count" >= 2' in q["sql"] for q in captured.captured_queries)


def test_project_payload_is_the_same_in_the_list_and_alone(lead):
    project = ProjectFactory(created_by=lead)
    add_member(project, AnnotatorFactory())
    client = client_for(lead)
    (listed,) = client.get("/api/v1/projects/").json()
    assert listed == client.get(f"/api/v1/projects/{project.pk}/").json()


def test_the_dashboard_does_not_grow_with_batches_or_annotators(client, lead):
    project = make_project(lead, prompts=12, overlap=2)
    tasks = list(Task.objects.filter(project=project).order_by("id"))

    def cut(number: int, annotators: list) -> None:
        assign(project, annotators, name=f"b{number}", tasks=tasks[2 * number : 2 * number + 2])
        for user in annotators:
            judge(user, claim_next(user=user, project_id=project.pk))
        claim_next(user=annotators[0], project_id=project.pk)

    cut(0, [AnnotatorFactory()])
    client.force_login(lead)
    url = reverse("project", args=[project.pk])
    poll = queries(lambda: client.get(url, HTTP_HX_REQUEST="true"))
    page = queries(lambda: client.get(url))
    for number in range(1, 6):
        cut(number, [AnnotatorFactory(), AnnotatorFactory()])
    assert queries(lambda: client.get(url, HTTP_HX_REQUEST="true")) == poll
    assert queries(lambda: client.get(url)) == page
    figures = project_dashboard(project=project)
    assert len(figures["batches"]) == 6 and len(figures["annotators"]) == 11
    for row in figures["annotators"]:
        user = User.objects.get(username=row["username"])
        assert row["remaining"] == annotator_progress(project=project, user=user)["remaining"]
