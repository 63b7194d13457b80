"""Self-consistency: judged pairs shown again to their annotator, later, sides swapped, and
kept out of everything but the self-consistency figure."""

import re

import pytest
from django.urls import reverse

from annotation.choices import task_choice
from annotation.models import Claim, Judgment, Repeat, RepeatStatus, Task
from annotation.services import (
    claim_next,
    judgment_submit,
    judgment_undo,
    repeat_answer,
    workspace_next,
    workspace_undo,
)
from evaluation.leaderboard.figures import agreement_figures, leaderboard_figures
from tests.factories import AnnotatorFactory, assign, client_for, make_project

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _pairs(lead, *, prompts=16, share=0.2, annotators=1, **options):
    project = make_project(
        lead, kind="pairwise", prompts=prompts, models=("m1", "m2"), repeat_share=share, **options
    )
    people = [AnnotatorFactory() for _ in range(annotators)]
    assign(project, people)
    return project, people


def _work(project, user, *, repeat_choice=None):
    """Works the annotator's page to the end: every task judged "A" in the task's terms;
    each repeat answered with ``repeat_choice(repeat)`` (task terms; the first answer by
    default). What was shown, in order: ("task" | "repeat", task id, swapped)."""
    shown = []
    while (item := workspace_next(user=user, project_id=project.pk)) is not None:
        if isinstance(item, Repeat):
            shown.append(("repeat", item.task_id, item.swapped))
            verdict = repeat_choice(item) if repeat_choice else "A"
            screen = task_choice(verdict, item.swapped)
            assert repeat_answer(user=user, task_id=item.task_id, choice=screen) is not None
        else:
            shown.append(("task", item.task_id, item.swapped))
            judgment_submit(user=user, task_id=item.task_id, choice=task_choice("A", item.swapped))
    return shown


def test_that_share_of_pairs_comes_back_later_with_the_sides_swapped(lead):
    project, (annotator,) = _pairs(lead)
    shown = _work(project, annotator)
    tasks = [entry for entry in shown if entry[0] == "task"]
    repeats = [entry for entry in shown if entry[0] == "repeat"]
    assert len(tasks) == 16 and len(repeats) == 3, "a fifth of 16 judged pairs, rounded down"
    for _, task_id, swapped in repeats:
        first = next(i for i, e in enumerate(shown) if e[0] == "task" and e[1] == task_id)
        again = shown.index(("repeat", task_id, swapped))
        assert again > first + 1, "shown later, never right after"
        assert swapped is not shown[first][2], "the sides are swapped"
    assert Repeat.objects.filter(status=RepeatStatus.ANSWERED).count() == 3


def test_repeats_count_toward_nothing_but_self_consistency(lead):
    project, (annotator,) = _pairs(lead)
    _work(project, annotator, repeat_choice=lambda repeat: "B")
    assert Judgment.objects.filter(task__project=project).count() == 16
    tasks = Task.objects.filter(project=project)
    assert {(t.judgment_count, t.is_complete) for t in tasks} == {(1, True)}
    assert Claim.objects.filter(task__project=project).count() == 16
    pulled = client_for(lead).get(f"/api/v1/projects/{project.pk}/judgments/").json()
    assert len(pulled["results"]) == 16
    assert all(row["choice"] == "A" for row in pulled["results"])
    board = leaderboard_figures(project=project)
    assert board["pairwise"]["battles"] == 16
    figures = agreement_figures(project=project)
    assert figures["judgments"] == 16
    (row,) = figures["annotators"]
    assert row["judgments"] == 16
    assert row["position_bias"]["n"] == 16
    consistency = row["self_consistency"]
    assert (consistency["n"], consistency["same"], consistency["share"]) == (3, 0, 0.0)
    assert consistency["lower"] == pytest.approx(0.0) and 0.3 < consistency["upper"] < 1


def test_self_consistency_is_read_in_the_tasks_terms(lead):
    project, (annotator,) = _pairs(lead)
    answers = iter(["A", "B", "A"])
    _work(project, annotator, repeat_choice=lambda repeat: next(answers))
    (row,) = agreement_figures(project=project)["annotators"]
    assert (row["self_consistency"]["n"], row["self_consistency"]["same"]) == (3, 2)
    body = client_for(lead).get(f"/api/v1/projects/{project.pk}/agreement/").json()
    assert body["annotators"][0]["self_consistency"]["same"] == 2


def test_the_last_judgment_is_not_repeated_right_after_it(lead):
    project, (annotator,) = _pairs(lead, prompts=5)
    shown = _work(project, annotator)
    assert [kind for kind, _, _ in shown] == ["task"] * 5
    assert Repeat.objects.get().status == RepeatStatus.WAITING, "waits for more work"


def test_gold_and_rating_tasks_are_never_repeated(lead):
    project, (annotator,) = _pairs(lead, prompts=10)
    Task.objects.filter(project=project).update(is_gold=True, gold_choice="A")
    _work(project, annotator)
    rated = make_project(lead, prompts=10, repeat_share=0.2)
    other = AnnotatorFactory()
    assign(rated, [other])
    while (item := workspace_next(user=other, project_id=rated.pk)) is not None:
        judgment_submit(user=other, task_id=item.task_id, rating=4)
    assert not Repeat.objects.exists()


def test_off_by_default(lead):
    project, (annotator,) = _pairs(lead, share=0.0)
    shown = _work(project, annotator)
    assert len(shown) == 16 and not Repeat.objects.exists()


def test_the_api_queue_never_serves_a_repeat(lead):
    project, (annotator,) = _pairs(lead, prompts=10)
    while (claim := claim_next(user=annotator, project_id=project.pk)) is not None:
        judgment_submit(user=annotator, task_id=claim.task_id, choice="A")
    assert Repeat.objects.filter(status=RepeatStatus.WAITING).count() == 2
    api = client_for(annotator)
    assert api.post(f"/api/v1/projects/{project.pk}/queue/next/").status_code == 204


def test_undoing_the_first_judgment_drops_its_repeat(lead):
    project, (annotator,) = _pairs(lead, prompts=5)
    for _ in range(5):
        claim = claim_next(user=annotator, project_id=project.pk)
        judgment_submit(user=annotator, task_id=claim.task_id, choice="A")
    assert Repeat.objects.count() == 1
    judgment_undo(user=annotator, project_id=project.pk)
    assert not Repeat.objects.exists()


def _repeat_shown(client, project, annotator):
    """Judges on the page until the page shows a repeat; its task id."""
    for _ in range(30):
        html = client.post(reverse("queue", args=[project.pk]), **HTMX).content.decode()
        task_id = int(re.search(r'data-task="(\d+)"', html).group(1))
        if Repeat.objects.filter(task_id=task_id, status=RepeatStatus.ACTIVE).exists():
            return task_id, html
        client.post(
            reverse("task-judge", args=[task_id]),
            {"choice": "A", "idempotency_key": f"k{task_id}"},
            **HTMX,
        )
    raise AssertionError("no repeat was shown")


def test_the_page_shows_a_repeat_like_any_task_and_undo_gives_it_back(lead, client):
    project, (annotator,) = _pairs(lead)
    client.force_login(annotator)
    task_id, html = _repeat_shown(client, project, annotator)
    assert "repeat" not in html.lower(), "a repeat looks like any task"
    repeat = Repeat.objects.get(task_id=task_id)
    left = repeat.task.response_b if repeat.swapped else repeat.task.response_a
    right = repeat.task.response_a if repeat.swapped else repeat.task.response_b
    assert html.index(left.text) < html.index(right.text), "shown in the repeat's order"
    judged = Judgment.objects.count()
    answer = {"choice": "B", "comment": "second look", "idempotency_key": "again"}
    saved = client.post(reverse("task-judge", args=[task_id]), answer, **HTMX)
    assert "Saved" in saved.content.decode()
    assert client.post(reverse("task-judge", args=[task_id]), answer, **HTMX).status_code == 200
    repeat.refresh_from_db()
    assert (repeat.status, repeat.choice, repeat.comment) == ("answered", "B", "second look")
    assert Judgment.objects.count() == judged, "a repeat's answer is no judgment"
    undone = client.post(reverse("queue-undo", args=[project.pk]), **HTMX).content.decode()
    assert f'data-task="{task_id}"' in undone
    assert 'value="B" checked' in undone or 'value="B"  checked' in undone
    repeat.refresh_from_db()
    assert (repeat.status, repeat.choice) == ("active", "")
    assert Judgment.objects.count() == judged


def test_a_repeat_can_be_skipped_on_the_page(lead, client):
    project, (annotator,) = _pairs(lead)
    client.force_login(annotator)
    task_id, _ = _repeat_shown(client, project, annotator)
    client.post(reverse("task-skip", args=[task_id]), {"reason": "seen it"}, **HTMX)
    repeat = Repeat.objects.get(task_id=task_id)
    assert repeat.status == RepeatStatus.SKIPPED
    assert Claim.objects.get(task_id=task_id).status == "submitted"


def test_workspace_undo_after_a_judgment_withdraws_the_judgment(lead):
    project, (annotator,) = _pairs(lead, prompts=3)
    item = workspace_next(user=annotator, project_id=project.pk)
    judgment_submit(user=annotator, task_id=item.task_id, choice="A")
    undone = workspace_undo(user=annotator, project_id=project.pk)
    assert isinstance(undone.claim, Claim) and not Judgment.objects.exists()


def test_the_share_is_a_lead_setting_checked_and_hidden_from_annotators(lead):
    project, (annotator,) = _pairs(lead, share=0.0)
    api = client_for(lead)
    url = f"/api/v1/projects/{project.pk}/"
    refused = api.patch(url, {"repeat_share": 0.5}, format="json")
    assert refused.status_code == 400
    assert "repeat_share" in refused.json()["error"]["fields"]
    assert api.patch(url, {"repeat_share": 0.1}, format="json").json()["repeat_share"] == 0.1
    assert "repeat_share" not in client_for(annotator).get(url).json()


def test_the_settings_page_sets_the_share(lead, client):
    project, _ = _pairs(lead, share=0.0)
    client.force_login(lead)
    url = reverse("project-settings", args=[project.pk])
    client.post(url, {"name": project.name, "repeat_share": "0.15"})
    project.refresh_from_db()
    assert project.repeat_share == 0.15
    client.post(url, {"name": project.name, "repeat_share": "0.9"})
    project.refresh_from_db()
    assert project.repeat_share == 0.15, "a bad value changes nothing"


def test_a_share_set_back_to_zero_stops_the_repeats_still_waiting(lead):
    project, (annotator,) = _pairs(lead, prompts=8)
    for _ in range(5):
        claim = claim_next(user=annotator, project_id=project.pk)
        judgment_submit(user=annotator, task_id=claim.task_id, choice="A")
    assert Repeat.objects.filter(status=RepeatStatus.WAITING).count() == 1
    project.repeat_share = 0.0
    project.save()
    assert [kind for kind, _, _ in _work(project, annotator)] == ["task"] * 3
