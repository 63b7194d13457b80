""" "My work": the list of one's own judgments and skips, one judgment, and changing it."""

import pytest

from annotation.models import Adjudication, Judgment, JudgmentRevision, Response, Task
from annotation.services import claim_next, judgment_submit, task_skip
from tests.factories import AnnotatorFactory, assign, judge, make_project


@pytest.fixture
def pairwise(lead):
    """Response texts that do not name their model, as a model's answer would not."""
    project = make_project(
        lead, kind="pairwise", prompts=4, models=("secret-model-x", "secret-model-y")
    )
    for response in Response.objects.filter(prompt__project=project):
        response.text = f"Reply number {response.pk}."
        response.save(update_fields=["text"])
    return project


@pytest.fixture
def worked(pairwise, annotator):
    """Two judgments and a skip by ``annotator``, one judgment by someone else."""
    tasks = list(Task.objects.filter(project=pairwise).order_by("id"))
    other = AnnotatorFactory(username="someone-else")
    assign(pairwise, [annotator], name="first", tasks=tasks[:2])
    assign(pairwise, [annotator, other], name="second", tasks=tasks[2:], overlap=2)
    made = []
    for choice in ("A", "tie"):
        claim = claim_next(user=annotator, project_id=pairwise.pk)
        made.append(judge(annotator, claim, choice=choice, comment=f"said {choice}"))
    claim = claim_next(user=annotator, project_id=pairwise.pk)
    task_skip(user=annotator, task_id=claim.task_id, reason="outside my field")
    theirs = claim_next(user=other, project_id=pairwise.pk)
    made.append(judge(other, theirs, choice="B", comment="their private note"))
    return made


@pytest.mark.django_db
class TestMyWorkList:
    def test_lists_own_judgments_and_skips_newest_first(self, client, annotator, worked):
        client.force_login(annotator)
        project_id = worked[0].task.project_id
        page = client.get(f"/projects/{project_id}/my-work/")
        assert page.status_code == 200
        html = page.content.decode()
        assert "My work" in html
        assert worked[0].task.project.name in html
        assert html.index("Skipped") < html.index("Tie") < html.index("A is better")
        assert "outside my field" in html and "said tie" in html
        assert html.count("Can change") == 2
        assert "their private note" not in html
        assert "secret-model" not in html
        assert f"/my-work/{worked[2].pk}/" not in html

    def test_filters_by_batch(self, client, annotator, worked):
        client.force_login(annotator)
        project = worked[0].task.project
        first = project.batches.get(name="first")
        html = client.get(f"/projects/{project.pk}/my-work/", {"batch": first.pk}).content
        html = html.decode()
        assert "A is better" in html and "Tie" in html and "Skipped" not in html

    def test_pages(self, client, lead, annotator, monkeypatch):
        monkeypatch.setattr("annotation.selectors.my_work.MY_WORK_PAGE", 2)
        project = make_project(lead, prompts=5)
        assign(project, [annotator])
        for _ in range(5):
            judge(annotator, claim_next(user=annotator, project_id=project.pk), rating=3)
        client.force_login(annotator)
        first = client.get(f"/projects/{project.pk}/my-work/").content.decode()
        assert "Page 1 of 3" in first and "page=2" in first
        last = client.get(f"/projects/{project.pk}/my-work/", {"page": 3}).content.decode()
        assert last.count("Rated 3 of 5") == 1

    def test_states_in_words(self, client, lead, annotator, worked):
        Adjudication.objects.create(task=worked[0].task, lead=lead, choice="A")
        client.force_login(annotator)
        html = client.get(f"/projects/{worked[0].task.project_id}/my-work/").content.decode()
        assert "Adjudicated" in html and html.count("Can change") == 1

    def test_queue_links_to_it(self, client, annotator, worked):
        client.force_login(annotator)
        project_id = worked[0].task.project_id
        html = client.get(f"/projects/{project_id}/queue/").content.decode()
        assert f'href="/projects/{project_id}/my-work/"' in html


@pytest.mark.django_db
class TestMyJudgment:
    def test_shows_it_as_given_without_model_names(self, client, annotator, worked):
        client.force_login(annotator)
        page = client.get(f"/my-work/{worked[0].pk}/")
        assert page.status_code == 200
        html = page.content.decode()
        assert "A is better" in html and "said A" in html
        assert "You can still change it." in html and 'id="change-form"' in html
        assert "secret-model" not in html and "someone-else" not in html

    def test_shows_the_responses_in_the_order_the_annotator_saw(self, client, annotator, worked):
        judgment = worked[0]
        shown = [judgment.task.response_a.text, judgment.task.response_b.text]
        if judgment.swapped:
            shown.reverse()
        client.force_login(annotator)
        html = client.get(f"/my-work/{judgment.pk}/").content.decode()
        assert html.index(shown[0]) < html.index(shown[1])

    def test_change_saves_and_keeps_the_history(self, client, annotator, worked):
        client.force_login(annotator)
        url = f"/my-work/{worked[0].pk}/"
        response = client.post(url, {"choice": "both_bad", "comment": "both wrong", "rewrite": ""})
        assert response.status_code == 302 and response["Location"] == url
        judgment = Judgment.objects.get(pk=worked[0].pk)
        assert (judgment.choice, judgment.comment) == ("both_bad", "both wrong")
        html = client.get(url).content.decode()
        assert "Your change is saved." in html
        assert "Both bad" in html
        assert "Before: <strong>A is better</strong>; comment “said A”" in html

    def test_errors_in_words(self, client, annotator, worked):
        client.force_login(annotator)
        response = client.post(f"/my-work/{worked[0].pk}/", {"choice": "", "comment": "x"})
        assert response.status_code == 400
        html = response.content.decode()
        assert "Choose one: A is better, B is better, Tie, Both bad." in html
        assert "both_bad" not in html.split('id="change-form"')[0]
        assert not JudgmentRevision.objects.exists()

    def test_no_form_once_adjudicated_and_a_post_is_refused(self, client, lead, annotator, worked):
        Adjudication.objects.create(task=worked[0].task, lead=lead, choice="B")
        client.force_login(annotator)
        url = f"/my-work/{worked[0].pk}/"
        html = client.get(url).content.decode()
        assert "A lead has settled this task" in html and 'id="change-form"' not in html
        refused = client.post(url, {"choice": "B"})
        assert refused.status_code == 400
        assert "adjudicated" in refused.content.decode()
        assert Judgment.objects.get(pk=worked[0].pk).choice == "A"

    def test_another_annotators_judgment_is_a_404(self, client, annotator, worked):
        client.force_login(annotator)
        assert client.get(f"/my-work/{worked[2].pk}/").status_code == 404
        assert client.post(f"/my-work/{worked[2].pk}/", {"choice": "A"}).status_code == 404
        assert Judgment.objects.get(pk=worked[2].pk).choice == "B"

    def test_rating_with_rubric(self, client, lead, annotator):
        project = make_project(lead, prompts=1, rubric=["accuracy", "tone"])
        assign(project, [annotator])
        claim = claim_next(user=annotator, project_id=project.pk)
        judgment = judgment_submit(
            user=annotator, task_id=claim.task_id, rating=2, rubric_scores={"accuracy": 2}
        ).judgment
        client.force_login(annotator)
        url = f"/my-work/{judgment.pk}/"
        assert 'name="rubric_tone"' in client.get(url).content.decode()
        client.post(url, {"rating": "4", "rubric_accuracy": "5", "rubric_tone": "3"})
        judgment.refresh_from_db()
        assert (judgment.rating, judgment.rubric_scores) == (4, {"accuracy": 5, "tone": 3})
