"""``GET /api/v1/projects/{id}/tasks/``: the data browser's listing over the API."""

import pytest
from django.utils import timezone

from annotation.models import Membership, Task
from annotation.services import claim_next, judgment_submit, project_update
from tests.factories import AnnotatorFactory, assign, client_for, make_project, queries

pytestmark = pytest.mark.django_db


def url(project, query=""):
    return f"/api/v1/projects/{project.pk}/tasks/" + (f"?{query}" if query else "")


@pytest.fixture
def judged(lead):
    project = make_project(
        lead,
        kind="pairwise",
        prompts=5,
        models=("base-v1", "ft-r1"),
        overlap=2,
        metadata=lambda i: {"topic": "cards" if i % 2 else "loans"},
    )
    annotators = [AnnotatorFactory(), AnnotatorFactory()]
    assign(project, annotators)
    for annotator in annotators:
        claim = claim_next(user=annotator, project_id=project.pk)
        judgment_submit(user=annotator, task_id=claim.task_id, choice="A", comment="ok")
    return project, annotators


def test_the_lead_lists_tasks_with_their_summary(lead, judged):
    project, _ = judged
    body = client_for(lead).get(url(project)).json()
    assert (body["count"], body["count_is_estimate"]) == (5, False)
    assert body["next_cursor"] is None and body["previous_cursor"] is None
    first = body["results"][0]
    task = Task.objects.order_by("pk").filter(project=project).first()
    assert first["id"] == task.pk and first["models"] == ["base-v1", "ft-r1"]
    assert first["excerpt"] == "Question 0?" and first["prompt_external_id"] == "q0"
    assert first["response_ids"] == [task.response_a_id, task.response_b_id]
    assert (first["judgments"], first["overlap"], first["comments"]) == (2, 2, 2)
    assert first["state"] in ("unanimous", "split")
    assert first["batch"] == "b" and first["last_activity"]
    assert [r["state"] for r in body["results"][1:]] == ["unjudged"] * 4


def test_filters_and_search_over_the_api(lead, judged):
    project, annotators = judged
    client = client_for(lead)
    pseudonym = Membership.objects.get(project=project, user=annotators[0]).pseudonym

    def listed(query):
        response = client.get(url(project, query))
        assert response.status_code == 200, response.json()
        return [r["excerpt"] for r in response.json()["results"]]

    assert listed("meta=topic:cards") == ["Question 1?", "Question 3?"]
    assert listed("state=unjudged&meta=topic:loans") == ["Question 2?", "Question 4?"]
    assert listed(f"annotator={pseudonym}") == ["Question 0?"]
    assert listed("comment=1") == ["Question 0?"]
    assert listed("q=Question 3") == ["Question 3?"]
    assert listed("model=nobody") == []
    assert listed(f"judged_from={timezone.localdate()}") == ["Question 0?"]
    assert listed("sort=-id&page_size=2") == ["Question 4?", "Question 3?"]


def test_the_cursor_pages_through(lead, judged):
    project, _ = judged
    client = client_for(lead)
    seen, query = [], "page_size=2&sort=-judgments"
    while True:
        body = client.get(url(project, query)).json()
        seen += [r["id"] for r in body["results"]]
        if not body["next_cursor"]:
            break
        query = f"page_size=2&sort=-judgments&cursor={body['next_cursor']}"
    assert len(seen) == len(set(seen)) == 5
    back = client.get(url(project, f"sort=-judgments&cursor={body['previous_cursor']}")).json()
    assert [r["id"] for r in back["results"]] == seen[:4]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("cursor=nonsense", "cursor"),
        ("cursor=WyJpZCIsWzFdLDBd&sort=-id", "cursor"),
        ("page_size=0", "page_size"),
        ("page_size=501", "page_size"),
        ("page_size=x", "page_size"),
        ("state=happy", "state"),
        ("batch=-1", "batch"),
        ("gold=perhaps", "gold"),
        ("judged_to=2026-13-01", "judged_to"),
        ("annotator=nobody", "annotator"),
        ("meta=topic", "meta"),
        ("meta=topic:NaN", "metadata"),
        ("q=%00", "q"),
        ("colour=red", "colour"),
        ("state=split&state=partial", "state"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(lead, judged, query, field):
    project, _ = judged
    response = client_for(lead).get(url(project, query))
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_annotators_are_refused_and_archived_projects_stay_browsable(lead, judged):
    project, annotators = judged
    assert client_for(annotators[0]).get(url(project)).status_code == 403
    project_update(by=lead, project=project, archived=True)
    assert client_for(lead).get(url(project)).status_code == 200


def test_a_page_reads_a_fixed_number_of_queries(lead, django_assert_max_num_queries):
    project = make_project(lead, prompts=30, overlap=3)
    annotators = [AnnotatorFactory() for _ in range(3)]
    assign(project, annotators)
    client = client_for(lead)
    one = queries(lambda: client.get(url(project, "page_size=2")))
    for annotator in annotators:
        for _ in range(20):
            claim = claim_next(user=annotator, project_id=project.pk)
            judgment_submit(user=annotator, task_id=claim.task_id, rating=4, rewrite="Better.")
    with django_assert_max_num_queries(one):
        body = client.get(url(project, "page_size=30")).json()
    assert len(body["results"]) == 30 and body["results"][0]["rewrites"] == 3
