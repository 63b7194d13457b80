import pytest
from django.urls import reverse

from annotation.selectors import conflicts
from annotation.services import project_update
from tests.factories import (
    AnnotatorFactory,
    assign,
    client_for,
    judge_all,
    make_pairwise_project,
    make_project,
)

pytestmark = pytest.mark.django_db


def prompts(rows):
    return [row["task"].prompt.external_id for row in rows]


def test_a_two_to_one_majority_is_no_conflict_by_default(lead):
    project = make_pairwise_project(lead)
    # q0 A,A,B and q1 B,tie,tie have a majority; q2 A,B,both_bad has none; q3 is unanimous.
    found = conflicts(project=project)
    assert prompts(found) == ["q2"]
    assert found[0]["summary"] == "A 1 · B 1 · both bad 1"


def test_not_unanimous_lists_every_disagreement(lead):
    project = make_pairwise_project(lead)
    project_update(by=lead, project=project, conflict_rule="not_unanimous")
    found = conflicts(project=project)
    assert prompts(found) == ["q0", "q1", "q2"]
    assert [row["summary"] for row in found] == [
        "A 2 · B 1",
        "B 1 · tie 2",
        "A 1 · B 1 · both bad 1",
    ]
    assert prompts(conflicts(project=project, rule="no_majority")) == ["q2"]
    assert prompts(conflicts(project=project, sort="split")) == ["q2", "q0", "q1"]


def test_the_rule_is_set_over_the_api_and_on_the_settings_page(lead, client):
    project = make_pairwise_project(lead)
    api = client_for(lead)
    url = f"/api/v1/projects/{project.pk}/"
    assert api.get(url).json()["conflict_rule"] == "no_majority"
    response = api.patch(url, {"conflict_rule": "not_unanimous"}, format="json")
    assert response.status_code == 200 and response.json()["conflict_rule"] == "not_unanimous"
    assert api.patch(url, {"conflict_rule": "sometimes"}, format="json").status_code == 400
    client.force_login(lead)
    client.post(reverse("project-settings", args=[project.pk]), {"conflict_rule": "no_majority"})
    project.refresh_from_db()
    assert project.conflict_rule == "no_majority"
    page = client.get(reverse("project-settings", args=[project.pk])).content.decode()
    assert '<option value="no_majority" selected>' in page


def test_rating_conflicts_need_ratings_two_apart(lead):
    project = make_project(lead, prompts=3, overlap=3)
    annotators = [AnnotatorFactory() for _ in range(3)]
    assign(project, annotators, overlap=3)
    votes = {"q0": (4, 5, 5), "q1": (1, 5, 5), "q2": (1, 3, 5)}
    judge_all(project, annotators, lambda i, task: {"rating": votes[task.prompt.external_id][i]})
    assert prompts(conflicts(project=project)) == ["q2"]
    assert prompts(conflicts(project=project, rule="not_unanimous")) == ["q1", "q2"]
    assert conflicts(project=project)[0]["summary"] == "1 ×1 · 3 ×1 · 5 ×1"


def test_the_list_shows_the_prompt_the_split_and_the_count_left(lead, client):
    project = make_pairwise_project(lead)
    client.force_login(lead)
    url = reverse("conflicts", args=[project.pk])
    page = client.get(url).content.decode()
    assert "Question 2?" in page and "A 1 · B 1 · both bad 1" in page
    assert "Question 0?" not in page and "1 conflict left" in page
    wide = client.get(url, {"rule": "not_unanimous", "sort": "split"}).content.decode()
    assert "3 conflicts left" in wide and wide.index("Question 2?") < wide.index("Question 0?")
    assert "No open conflicts" in client.get(url, {"batch": 999}).content.decode()


def test_the_list_pages_by_25(lead, client):
    project = make_project(lead, kind="pairwise", prompts=27, models=("m1", "m2"), overlap=2)
    annotators = [AnnotatorFactory() for _ in range(2)]
    assign(project, annotators, overlap=2)
    judge_all(project, annotators, lambda i, task: {"choice": "AB"[i]})
    client.force_login(lead)
    url = reverse("conflicts", args=[project.pk])
    first = client.get(url).content.decode()
    assert first.count(">Settle</a>") == 25 and "27 conflicts left" in first
    assert client.get(url, {"page": 2}).content.decode().count(">Settle</a>") == 2


def test_the_verdict_starts_empty_and_shows_what_was_saved(lead, client):
    project = make_pairwise_project(lead)
    task = conflicts(project=project)[0]["task"]
    client.force_login(lead)
    url = reverse("task-review", args=[task.pk])
    page = client.get(url).content.decode()
    assert '<option value="">Choose a verdict</option>' in page
    assert "selected" not in page.split('name="choice"')[1].split("</select>")[0]
    client.post(url, {"action": "adjudicate", "choice": "B"})
    saved = client.get(url).content.decode().split('name="choice"')[1].split("</select>")[0]
    assert '<option value="B" selected>' in saved and '<option value="A" selected>' not in saved


def test_save_and_next_goes_to_the_next_conflict_in_the_filter(lead, client):
    project = make_pairwise_project(lead)
    project_update(by=lead, project=project, conflict_rule="not_unanimous")
    first, second, _ = [row["task"] for row in conflicts(project=project, sort="split")]
    client.force_login(lead)
    response = client.post(
        reverse("task-review", args=[first.pk]),
        {"action": "adjudicate", "choice": "A", "next": "1", "sort": "split"},
    )
    assert response.url == reverse("task-review", args=[second.pk]) + "?sort=split"
    page = client.get(response.url).content.decode()
    assert "2 conflicts left" in page and 'accesskey="n"' in page
    response = client.post(
        reverse("task-review", args=[second.pk]),
        {"action": "adjudicate", "choice": "A", "next": "1", "rule": "no_majority"},
    )
    # The only task without a majority (the first) is settled: none is left under that rule.
    assert response.url == reverse("conflicts", args=[project.pk]) + "?rule=no_majority"
