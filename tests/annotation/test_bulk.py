"""Bulk actions of the data browser: on the ticked tasks or on every match of a filter, each
answering with what it did and what it left out, in numbers; the lead's check in the service."""

import pytest
from django.urls import reverse

from annotation.models import Batch, Task
from annotation.selectors import conflicts
from annotation.selectors.browse import TaskFilter
from annotation.services.bulk import (
    tasks_bulk_add_to_new_batch,
    tasks_bulk_send_for_review,
    tasks_bulk_set_gold,
)
from annotation.services.leads import adjudication_record
from ftapp.errors import Forbidden, InvalidInput, NotFound
from tests.factories import (
    AnnotatorFactory,
    LeadFactory,
    add_member,
    assign,
    make_pairwise_project,
    make_project,
    make_rated_project,
)

pytestmark = pytest.mark.django_db


def _said(response) -> list[str]:
    """The messages the redirect's page shows (reading them there uses them up)."""
    return [str(m) for m in response.context["messages"]]


def _task(project, external_id, model=None):
    tasks = Task.objects.filter(project=project, prompt__external_id=external_id)
    return tasks.get(response_a__model_name=model) if model else tasks.get()


@pytest.fixture
def half_batched(lead):
    """Six rating tasks: the first two in batch "First", the other four in none."""
    project = make_project(lead, prompts=6)
    tasks = list(Task.objects.filter(project=project).order_by("pk"))
    assign(project, [AnnotatorFactory(username="ann")], name="First", tasks=tasks[:2])
    project.ids = [t.pk for t in tasks]
    return project


def test_ticked_tasks_go_to_a_new_batch_and_batched_ones_are_left_out(client, lead, half_batched):
    client.force_login(lead)
    ids = half_batched.ids
    response = client.post(
        reverse("data-bulk", args=[half_batched.pk]),
        {
            "action": "add_to_batch",
            "scope": "selected",
            "task": [ids[1], ids[2], ids[3], ids[4]],
            "batch_name": "Round 2 check",
            "overlap": "2",
            "annotators": ["ann"],
        },
        follow=True,
    )
    assert response.redirect_chain == [(reverse("data", args=[half_batched.pk]), 302)]
    assert _said(response) == [
        "3 tasks added to batch 'Round 2 check'; 1 already in a batch was left out."
    ]
    batch = Batch.objects.get(name="Round 2 check")
    assert sorted(batch.tasks.values_list("pk", flat=True)) == ids[2:5]
    assert batch.overlap == 2
    assert list(batch.annotators.values_list("username", flat=True)) == ["ann"]
    assert Task.objects.get(pk=ids[1]).batch.name == "First"


def test_every_match_of_the_filter_and_the_filter_kept_on_the_way_back(client, lead, half_batched):
    client.force_login(lead)
    first = Batch.objects.get(project=half_batched, name="First")
    response = client.post(
        reverse("data-bulk", args=[half_batched.pk]),
        {"action": "add_to_batch", "scope": "all", "batch": first.pk, "batch_name": "Again"},
        follow=True,
    )
    assert response.redirect_chain == [
        (reverse("data", args=[half_batched.pk]) + f"?batch={first.pk}", 302)
    ]
    (said,) = _said(response)
    assert said.startswith("The batch would have no task.")
    assert "All 2 tasks chosen are in a batch already" in said
    assert not Batch.objects.filter(name="Again").exists()

    response = client.post(
        reverse("data-bulk", args=[half_batched.pk]),
        {"action": "add_to_batch", "scope": "all", "batch_name": "Rest"},
        follow=True,
    )
    assert _said(response) == ["4 tasks added to batch 'Rest'; 2 already in a batch were left out."]
    assert Batch.objects.get(name="Rest").tasks.count() == 4


def test_a_refused_action_is_an_error_and_changes_nothing(client, lead, half_batched):
    client.force_login(lead)
    url = reverse("data-bulk", args=[half_batched.pk])
    for form in (
        {"action": "add_to_batch", "scope": "selected", "task": half_batched.ids[3]},
        {"action": "add_to_batch", "scope": "selected", "batch_name": "Empty"},
        {"action": "explode", "scope": "selected", "task": half_batched.ids[3]},
        {"action": "gold", "scope": "some", "task": half_batched.ids[3]},
        {"action": "gold", "scope": "selected", "task": "three"},
    ):
        response = client.post(url, form, follow=True)
        levels = [m.level_tag for m in response.context["messages"]]
        assert levels == ["error"], form
    assert Batch.objects.filter(project=half_batched).count() == 1
    assert not Task.objects.filter(project=half_batched, is_gold=True).exists()


def test_mark_gold_takes_the_adjudication_or_agreeing_ratings(lead):
    project = make_rated_project(lead)
    result = tasks_bulk_set_gold(
        by=lead, project_id=project.pk, is_gold=True, task_filter=TaskFilter()
    )
    assert result.message == (
        "9 tasks marked gold; 3 with no adjudication nor agreeing judgments, "
        "1 already gold were left out."
    )
    adjudicated = _task(project, "q2", "m2")  # rated 1 and 5, settled as 5
    agreed = _task(project, "q0", "m2")  # rated 3 and 3
    split = _task(project, "q1", "m1")  # rated 4 and 5
    assert (adjudicated.is_gold, adjudicated.gold_rating_min, adjudicated.gold_rating_max) == (
        True,
        5,
        5,
    )
    assert (agreed.gold_rating_min, agreed.gold_rating_max) == (3, 3)
    assert not split.is_gold
    kept = _task(project, "q3", "m1")
    assert (kept.gold_rating_min, kept.gold_rating_max) == (4, 5)  # its own answer stays


def test_mark_gold_in_a_pairwise_project_uses_the_tasks_terms(lead):
    project = make_pairwise_project(lead)
    ids = list(Task.objects.filter(project=project).values_list("pk", flat=True))
    result = tasks_bulk_set_gold(by=lead, project_id=project.pk, is_gold=True, task_ids=ids)
    assert result.done == 2 and result.left_out == 3
    assert _task(project, "q3").gold_choice == "both_bad"  # three times both bad
    assert _task(project, "q4").gold_choice == "B"  # adjudicated B
    assert not _task(project, "q0").is_gold  # A, A, B: a majority is not agreement

    result = tasks_bulk_set_gold(
        by=lead, project_id=project.pk, is_gold=False, task_ids=[_task(project, "q3").pk, ids[0]]
    )
    assert result.message == "1 task no longer gold; 1 not gold was left out."
    q3 = _task(project, "q3")
    assert (q3.is_gold, q3.gold_choice) == (False, "")


def test_sent_for_review_lists_agreeing_tasks_among_conflicts_until_adjudicated(client, lead):
    project = make_pairwise_project(lead)
    unanimous, settled = _task(project, "q3"), _task(project, "q4")
    result = tasks_bulk_send_for_review(
        by=lead, project_id=project.pk, task_ids=[unanimous.pk, settled.pk]
    )
    assert result.message == "1 task sent for review; 1 already adjudicated was left out."
    rows = {row["task"].pk: row for row in conflicts(project=project)}
    assert rows[unanimous.pk]["sent_for_review"] is True
    assert rows[unanimous.pk]["summary"] == "both bad 3"
    assert settled.pk not in rows
    client.force_login(lead)
    page = client.get(reverse("conflicts", args=[project.pk])).content.decode()
    assert "sent for review" in page
    again = tasks_bulk_send_for_review(by=lead, project_id=project.pk, task_ids=[unanimous.pk])
    assert again.message == "0 tasks sent for review; 1 already sent was left out."

    adjudication_record(by=lead, task_id=unanimous.pk, choice="both_bad")
    unanimous.refresh_from_db()
    assert unanimous.review_requested_at is None
    assert unanimous.pk not in {row["task"].pk for row in conflicts(project=project)}


def test_a_task_sent_with_no_judgment_is_listed_too(lead):
    project = make_project(lead, prompts=1)
    task = Task.objects.get(project=project)
    tasks_bulk_send_for_review(by=lead, project_id=project.pk, task_ids=[task.pk])
    (row,) = conflicts(project=project)
    assert row["task"] == task and row["summary"] == "no judgments"
    assert [r["task"] for r in conflicts(project=project, sort="split")] == [task]


def test_only_a_lead_of_the_project_may_act(lead, half_batched):
    annotator = AnnotatorFactory()
    add_member(half_batched, annotator)
    other_lead = LeadFactory()
    make_project(other_lead, prompts=1)
    ids = half_batched.ids[2:4]
    with pytest.raises(Forbidden):
        tasks_bulk_send_for_review(by=annotator, project_id=half_batched.pk, task_ids=ids)
    with pytest.raises(NotFound):
        tasks_bulk_set_gold(by=other_lead, project_id=half_batched.pk, is_gold=True, task_ids=ids)
    with pytest.raises(NotFound):
        tasks_bulk_add_to_new_batch(
            by=other_lead, project_id=half_batched.pk, name="Mine", task_filter=TaskFilter()
        )
    assert not Task.objects.filter(pk__in=ids, review_requested_at__isnull=False).exists()
    assert Batch.objects.filter(project=half_batched).count() == 1


def test_tasks_of_another_project_are_refused(lead, half_batched):
    elsewhere = make_project(lead, prompts=1)
    foreign = Task.objects.get(project=elsewhere)
    with pytest.raises(InvalidInput) as refused:
        tasks_bulk_send_for_review(
            by=lead, project_id=half_batched.pk, task_ids=[half_batched.ids[3], foreign.pk]
        )
    assert refused.value.fields == {"task": ["1 task of the choice is not in this project."]}
    assert not Task.objects.filter(review_requested_at__isnull=False).exists()
