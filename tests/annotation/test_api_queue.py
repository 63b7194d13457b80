import pytest

from annotation.models import Judgment, Task
from tests.factories import AnnotatorFactory, UserFactory, assign, client_for, make_project

pytestmark = pytest.mark.django_db


def test_claim_judge_and_empty_queue_over_the_api(lead, annotator):
    project = make_project(lead, prompts=1, rubric=["accuracy"])
    assign(project, [annotator])
    client = client_for(annotator)
    claimed = client.post(f"/api/v1/projects/{project.pk}/queue/next/")
    assert claimed.status_code == 200
    body = claimed.json()
    assert body["kind"] == "rating" and body["turns"] == [
        {"role": "user", "content": "Question 0?"}
    ]
    assert body["responses"] == [{"position": None, "text": "Answer 0 by m1"}]
    assert body["rubric"] == ["accuracy"] and body["lease"]["expires_at"]
    assert "m1" not in {r.get("model") for r in body["responses"]}

    url = f"/api/v1/tasks/{body['task_id']}/judgments/"
    payload = {"rating": 4, "comment": "ok", "duration_ms": 5000, "idempotency_key": "abc"}
    created = client.post(url, payload, format="json")
    assert created.status_code == 201, created.json()
    again = client.post(url, payload, format="json")
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
    assert client.post(f"/api/v1/projects/{project.pk}/queue/next/").status_code == 204


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"rating": 9}, "rating"),
        ({"rating": "five"}, "rating"),
        ({"choice": "A"}, "choice"),
        ({"rating": 3, "colour": "red"}, "colour"),
        ({"rating": 3, "duration_ms": -1}, "duration_ms"),
    ],
)
def test_bad_judgments_get_400_with_the_field(lead, annotator, payload, field):
    project = make_project(lead, prompts=1)
    assign(project, [annotator])
    client = client_for(annotator)
    task_id = client.post(f"/api/v1/projects/{project.pk}/queue/next/").json()["task_id"]
    response = client.post(f"/api/v1/tasks/{task_id}/judgments/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not Judgment.objects.exists()


def test_unclaimed_task_is_403_and_foreign_task_is_404(lead, annotator):
    project = make_project(lead, prompts=2)
    assign(project, [annotator])
    task = Task.objects.filter(project=project).last()
    response = client_for(annotator).post(
        f"/api/v1/tasks/{task.pk}/judgments/", {"rating": 3}, format="json"
    )
    assert response.status_code == 403
    outsider = client_for(UserFactory())
    assert (
        outsider.post(f"/api/v1/tasks/{task.pk}/judgments/", {"rating": 3}, format="json")
    ).status_code == 404
    assert outsider.post(f"/api/v1/projects/{project.pk}/queue/next/").status_code == 404
    assert client_for(lead).post(f"/api/v1/projects/{project.pk}/queue/next/").status_code == 403


def test_pairwise_over_the_api_resolves_chosen_and_rejected(lead, annotator):
    project = make_project(lead, kind="pairwise", prompts=1, models=("m1", "m2"))
    assign(project, [annotator])
    client = client_for(annotator)
    body = client.post(f"/api/v1/projects/{project.pk}/queue/next/").json()
    assert [r["position"] for r in body["responses"]] == ["A", "B"]
    right_text = body["responses"][1]["text"]
    judged = client.post(
        f"/api/v1/tasks/{body['task_id']}/judgments/", {"choice": "B"}, format="json"
    ).json()
    task = Task.objects.select_related("response_a", "response_b").get(pk=body["task_id"])
    by_id = {task.response_a_id: task.response_a.text, task.response_b_id: task.response_b.text}
    assert by_id[judged["chosen_response_id"]] == right_text
    assert (
        judged["rejected_response_id"] in by_id
        and judged["rejected_response_id"] != (judged["chosen_response_id"])
    )


def test_skip_and_undo_over_the_api(lead):
    annotator = AnnotatorFactory()
    project = make_project(lead, prompts=2)
    assign(project, [annotator])
    client = client_for(annotator)
    first = client.post(f"/api/v1/projects/{project.pk}/queue/next/").json()["task_id"]
    assert client.post(f"/api/v1/tasks/{first}/skip/", {}, format="json").status_code == 400
    skipped = client.post(f"/api/v1/tasks/{first}/skip/", {"reason": "unsure"}, format="json")
    assert skipped.json() == {"task_id": first, "status": "skipped", "reason": "unsure"}
    second = client.post(f"/api/v1/projects/{project.pk}/queue/next/").json()["task_id"]
    assert second != first
    client.post(f"/api/v1/tasks/{second}/judgments/", {"rating": 1}, format="json")
    assert client.post(f"/api/v1/projects/{project.pk}/queue/next/").status_code == 204
    undone = client.post(f"/api/v1/projects/{project.pk}/queue/undo/")
    assert undone.status_code == 200 and undone.json()["task_id"] == second
    assert not Judgment.objects.exists()
