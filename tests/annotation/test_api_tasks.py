"""``GET /api/v1/tasks/{id}/`` (one task for its lead) and ``POST
/api/v1/projects/{id}/tasks/bulk/`` (the data browser's bulk actions)."""

import pytest

from annotation.models import Batch, Judgment, Task
from annotation.services import claim_next, judgment_submit, task_skip
from annotation.services.leads import adjudication_record
from tests.factories import (
    AnnotatorFactory,
    LeadFactory,
    add_member,
    assign,
    client_for,
    make_pairwise_project,
    make_project,
)

pytestmark = pytest.mark.django_db


def test_one_task_for_its_lead_has_everything_the_page_shows(lead):
    project = make_project(lead, kind="pairwise", prompts=1, models=("m1", "m2"), overlap=3)
    judged, skipped = AnnotatorFactory(), AnnotatorFactory()
    assign(project, [judged, skipped], overlap=3)
    task = Task.objects.get(project=project)
    claim = claim_next(user=judged, project_id=project.pk)
    left = "B" if claim.swapped else "A"
    judgment_submit(
        user=judged,
        task_id=task.pk,
        choice="A",
        comment="Left wins",
        rewrite="Better.",
        duration_ms=1200,
    )
    claim_next(user=skipped, project_id=project.pk)
    task_skip(user=skipped, task_id=task.pk, reason="Off topic")
    adjudication_record(by=lead, task_id=task.pk, choice="tie", note="Both fine")
    body = client_for(lead).get(f"/api/v1/tasks/{task.pk}/").json()
    assert body["id"] == task.pk and body["kind"] == "pairwise"
    assert body["conversation"] == [{"role": "user", "content": "Question 0?"}]
    assert [(r["side"], r["model"]) for r in body["responses"]] == [("A", "m1"), ("B", "m2")]
    (judgment,) = body["judgments"]
    pseudonyms = {m.user_id: m.pseudonym for m in project.memberships.all()}
    assert judgment["annotator"] == pseudonyms[judged.pk]
    assert judgment["shown_left"] == left and judgment["choice"] == left
    assert judgment["rewrite"] == "Better." and judgment["rewrite_of"] == left
    assert (judgment["comment"], judgment["duration_ms"], judgment["late"]) == (
        "Left wins",
        1200,
        False,
    )
    assert body["skips"] == [
        {
            "annotator": pseudonyms[skipped.pk],
            "reason": "Off topic",
            "skipped_at": body["skips"][0]["skipped_at"],
        }
    ]
    assert body["adjudication"]["choice"] == "tie" and body["adjudication"]["note"] == "Both fine"
    assert body["gold"] is None and body["review_requested_at"] is None
    assert judged.username not in str(body)


def test_only_the_tasks_lead_reads_it(lead):
    project = make_project(lead, prompts=1)
    annotator = AnnotatorFactory()
    add_member(project, annotator)
    task = Task.objects.get(project=project)
    other_lead = LeadFactory()
    make_project(other_lead, prompts=1)
    assert client_for(annotator).get(f"/api/v1/tasks/{task.pk}/").status_code == 403
    assert client_for(other_lead).get(f"/api/v1/tasks/{task.pk}/").status_code == 404
    assert client_for(lead).get("/api/v1/tasks/999999/").status_code == 404


def test_bulk_over_the_api_uses_the_same_rules(lead):
    project = make_pairwise_project(lead)
    api = client_for(lead)
    url = f"/api/v1/projects/{project.pk}/tasks/bulk/"
    response = api.post(url, {"action": "gold", "scope": "all", "filter": {}}, format="json")
    assert response.status_code == 200
    assert response.json() == {
        "done": 2,
        "left_out": 3,
        "message": "2 tasks marked gold; 3 with no adjudication nor agreeing judgments were "
        "left out.",
        "batch_id": None,
    }
    batch = Batch.objects.get(project=project)
    response = api.post(
        url,
        {
            "action": "add_to_batch",
            "scope": "all",
            "filter": {"batch": str(batch.pk)},
            "batch_name": "Again",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "in a batch already" in str(response.json())
    ids = list(Task.objects.filter(project=project).values_list("pk", flat=True)[:2])
    response = api.post(
        url, {"action": "adjudicate", "scope": "selected", "task": ids}, format="json"
    )
    assert (
        response.status_code == 200 and response.json()["done"] + response.json()["left_out"] == 2
    )
    for bad in (
        {"action": "explode", "scope": "all"},
        {"action": "gold", "scope": "selected", "task": []},
        {"action": "gold", "scope": "selected", "filter": {"batch": "1"}},
        {"action": "gold", "scope": "all", "filter": {"colour": "red"}},
        {"action": "gold", "scope": "all", "extra": 1},
    ):
        assert api.post(url, bad, format="json").status_code == 400, bad
    assert Judgment.objects.filter(task__project=project).count() == 15
