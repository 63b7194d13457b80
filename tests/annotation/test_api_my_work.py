"""The caller's own judgments over the API: ``GET /projects/{id}/my-judgments/`` and
``PATCH /judgments/{id}/``, through the service the pages use."""

import pytest

from annotation.models import Adjudication, Judgment, JudgmentRevision
from annotation.services import claim_next
from tests.factories import AnnotatorFactory, assign, client_for, judge, make_project


@pytest.fixture
def judged(lead, annotator):
    project = make_project(lead, prompts=3)
    first = assign(project, [annotator], name="first", tasks=project.tasks.order_by("id")[:2])
    assign(project, [annotator], name="second", tasks=project.tasks.order_by("id")[2:])
    made = [
        judge(annotator, claim_next(user=annotator, project_id=project.pk), rating=n)
        for n in (1, 2, 3)
    ]
    return project, first, made


@pytest.mark.django_db
class TestMyJudgmentsList:
    def test_own_judgments_newest_first_paged(self, judged, annotator):
        project, _, made = judged
        client = client_for(annotator)
        url = f"/api/v1/projects/{project.pk}/my-judgments/"
        page = client.get(url, {"page_size": 2}).json()
        assert [r["id"] for r in page["results"]] == [made[2].pk, made[1].pk]
        assert (page["count"], page["page"], page["pages"]) == (3, 1, 2)
        assert page["results"][0]["state"] == "can change"
        assert "annotator" not in page["results"][0]
        second = client.get(url, {"page_size": 2, "page": 2}).json()
        assert [r["id"] for r in second["results"]] == [made[0].pk]
        assert client.get(url, {"page": 9}).json()["results"] == []

    def test_by_batch(self, judged, annotator):
        project, first, made = judged
        page = client_for(annotator).get(
            f"/api/v1/projects/{project.pk}/my-judgments/", {"batch": first.pk}
        )
        assert [r["id"] for r in page.json()["results"]] == [made[1].pk, made[0].pk]

    def test_others_judgments_are_not_listed(self, judged, lead):
        project, _, _ = judged
        other = AnnotatorFactory()
        assign(project, [other], name="other", tasks=[])
        assert (
            client_for(other).get(f"/api/v1/projects/{project.pk}/my-judgments/").json()["results"]
            == []
        )
        assert (
            client_for(lead).get(f"/api/v1/projects/{project.pk}/my-judgments/").json()["count"]
            == 0
        )
        outsider = AnnotatorFactory()
        response = client_for(outsider).get(f"/api/v1/projects/{project.pk}/my-judgments/")
        assert response.status_code == 404


@pytest.mark.django_db
class TestJudgmentPatch:
    def test_changes_own_judgment(self, judged, annotator):
        _, _, made = judged
        response = client_for(annotator).patch(
            f"/api/v1/judgments/{made[0].pk}/", {"rating": 5, "comment": "sure now"}, format="json"
        )
        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["rating"], body["comment"], body["state"]) == (5, "sure now", "can change")
        assert JudgmentRevision.objects.get(judgment=made[0]).previous["rating"] == 1

    def test_unknown_fields_and_bad_values_are_400(self, judged, annotator):
        _, _, made = judged
        client = client_for(annotator)
        url = f"/api/v1/judgments/{made[0].pk}/"
        assert client.patch(url, {"duration_ms": 5}, format="json").status_code == 400
        bad = client.patch(url, {"choice": "A"}, format="json")
        assert bad.status_code == 400 and "choice" in bad.json()["error"]["fields"]
        assert client.patch(url, {"rating": 6}, format="json").status_code == 400
        assert not JudgmentRevision.objects.exists()

    def test_adjudicated_is_409(self, judged, annotator, lead):
        _, _, made = judged
        Adjudication.objects.create(task=made[0].task, lead=lead, rating=4)
        response = client_for(annotator).patch(
            f"/api/v1/judgments/{made[0].pk}/", {"rating": 5}, format="json"
        )
        assert response.status_code == 409
        assert "adjudicated" in response.json()["error"]["message"]

    def test_someone_elses_is_404(self, judged, lead):
        _, _, made = judged
        for user in (lead, AnnotatorFactory()):
            response = client_for(user).patch(
                f"/api/v1/judgments/{made[0].pk}/", {"rating": 5}, format="json"
            )
            assert response.status_code == 404
        assert Judgment.objects.get(pk=made[0].pk).rating == 1
