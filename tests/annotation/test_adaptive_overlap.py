"""Adaptive overlap: one more human slot where the humans split, up to the batch's maximum."""

import threading
import time
from collections import Counter, defaultdict

import pytest
from django.db import connection, connections
from django.db.models import Count, Q
from django.urls import reverse

from annotation.models import Batch, Claim, ClaimStatus, Judgment, Task
from annotation.selectors import project_dashboard
from annotation.selectors.browse import task_filter_from_query, tasks_browse
from annotation.services import (
    claim_next,
    judgment_change,
    judgment_submit,
    judgment_undo,
    task_overlap_reconsider,
)
from annotation.services.overlap import overlap_judge_trigger_register
from ftapp.errors import InvalidInput
from tests.factories import AnnotatorFactory, assign, client_for, make_project


def _screen(choice: str, swapped: bool) -> str:
    """A verdict in the task's terms as the annotator presses it on their screen."""
    if choice in ("A", "B") and swapped:
        return "B" if choice == "A" else "A"
    return choice


def _give(user, project, choice: str) -> Judgment:
    """The annotator takes their next task and gives ``choice`` (in the task's terms)."""
    claim = claim_next(user=user, project_id=project.pk)
    assert claim is not None
    return judgment_submit(
        user=user, task_id=claim.task_id, choice=_screen(choice, claim.swapped)
    ).judgment


def _pairwise(lead, *, prompts=1, annotators=4, overlap=2, **batch):
    project = make_project(lead, kind="pairwise", prompts=prompts, models=("m1", "m2"))
    people = [AnnotatorFactory() for _ in range(annotators)]
    assign(project, people, overlap=overlap, **batch)
    return project, people


@pytest.mark.django_db
class TestAdaptiveOverlap:
    def test_a_split_task_gets_one_more_slot_for_someone_who_has_not_judged_it(self, lead):
        project, (a, b, c, d) = _pairwise(lead, adaptive_max_overlap=3)
        _give(a, project, "A")
        judgment = _give(b, project, "B")
        task = Task.objects.get(pk=judgment.task_id)
        assert (task.extra_slots, task.is_complete, task.judgment_count) == (1, False, 2)
        assert claim_next(user=a, project_id=project.pk) is None, "a judged it already"
        third = claim_next(user=c, project_id=project.pk)
        assert third is not None and third.task_id == task.pk
        assert claim_next(user=d, project_id=project.pk) is None, "only one more slot"
        judgment_submit(user=c, task_id=task.pk, choice=_screen("A", third.swapped))
        task.refresh_from_db()
        assert (task.extra_slots, task.is_complete, task.judgment_count) == (1, True, 3)

    def test_a_unanimous_task_gets_none(self, lead):
        project, (a, b, c, _) = _pairwise(lead, adaptive_max_overlap=4)
        _give(a, project, "A")
        _give(b, project, "A")
        task = Task.objects.get(project=project)
        assert (task.extra_slots, task.is_complete) == (0, True)
        assert claim_next(user=c, project_id=project.pk) is None

    def test_slots_grow_one_at_a_time_up_to_the_maximum(self, lead):
        project, people = _pairwise(lead, annotators=6, adaptive_max_overlap=4)
        for person, choice in zip(people, ["A", "B", "tie", "both_bad"], strict=False):
            _give(person, project, choice)
        task = Task.objects.get(project=project)
        assert (task.extra_slots, task.is_complete, task.judgment_count) == (2, True, 4)
        assert claim_next(user=people[4], project_id=project.pk) is None

    def test_off_by_default(self, lead):
        project, (a, b, c, _) = _pairwise(lead)
        _give(a, project, "A")
        _give(b, project, "B")
        task = Task.objects.get(project=project)
        assert (task.extra_slots, task.is_complete) == (0, True)
        assert claim_next(user=c, project_id=project.pk) is None

    def test_the_split_trigger_can_be_turned_off(self, lead):
        project, (a, b, _, _) = _pairwise(
            lead, adaptive_max_overlap=3, adaptive_on_split=False, adaptive_on_judge=True
        )
        _give(a, project, "A")
        _give(b, project, "B")
        assert Task.objects.get(project=project).extra_slots == 0

    def test_the_projects_conflict_rule_decides_what_a_split_is(self, lead):
        project, (a, b, c, _) = _pairwise(lead, overlap=3, adaptive_max_overlap=4)
        for person in (a, b):
            _give(person, project, "A")
        _give(c, project, "B")
        assert Task.objects.get(project=project).extra_slots == 0, "a majority is no split"
        other, people = _pairwise(lead, overlap=3, adaptive_max_overlap=4)
        other.conflict_rule = "not_unanimous"
        other.save()
        for person, choice in zip(people, ["A", "A", "B"], strict=False):
            _give(person, other, choice)
        assert Task.objects.get(project=other).extra_slots == 1

    def test_gold_tasks_never_grow(self, lead):
        project, (a, b, _, _) = _pairwise(lead, adaptive_max_overlap=3)
        Task.objects.filter(project=project).update(is_gold=True, gold_choice="A")
        _give(a, project, "A")
        _give(b, project, "B")
        assert Task.objects.get(project=project).extra_slots == 0

    def test_undo_keeps_the_slot_and_the_count_right(self, lead):
        project, (a, b, c, _) = _pairwise(lead, adaptive_max_overlap=3)
        _give(a, project, "A")
        _give(b, project, "B")
        judgment_undo(user=b, project_id=project.pk)
        task = Task.objects.get(project=project)
        assert (task.extra_slots, task.judgment_count, task.is_complete) == (1, 1, False)
        assert claim_next(user=c, project_id=project.pk).task_id == task.pk
        slot_holders = Claim.objects.filter(
            task=task, status__in=[ClaimStatus.ACTIVE, ClaimStatus.SUBMITTED]
        ).count()
        assert slot_holders == 3

    def test_a_changed_judgment_that_splits_a_full_task_adds_a_slot(self, lead):
        project, (a, b, c, _) = _pairwise(lead, adaptive_max_overlap=3)
        _give(a, project, "A")
        judgment = _give(b, project, "A")
        assert Task.objects.get(project=project).is_complete
        judgment_change(user=b, judgment_id=judgment.pk, choice=_screen("B", judgment.swapped))
        task = Task.objects.get(project=project)
        assert (task.extra_slots, task.is_complete) == (1, False)
        assert claim_next(user=c, project_id=project.pk).task_id == task.pk

    def test_a_registered_judge_trigger_is_asked_only_where_the_batch_wants_it(self, lead):
        asked = []

        def judge_disagrees(task, split):
            asked.append((task.pk, dict(split)))
            return True

        overlap_judge_trigger_register(judge_disagrees)
        try:
            project, (a, b, _, _) = _pairwise(lead, adaptive_max_overlap=3)
            _give(a, project, "A")
            _give(b, project, "A")
            assert Task.objects.get(project=project).extra_slots == 0
            assert asked == []
            Batch.objects.filter(project=project).update(adaptive_on_judge=True)
            task = Task.objects.get(project=project)
            assert task_overlap_reconsider(task_ids=[task.pk]) == [task.pk]
            assert asked == [(task.pk, {"A": 2})]
            task.refresh_from_db()
            assert (task.extra_slots, task.is_complete) == (1, False)
            assert task_overlap_reconsider(task_ids=[task.pk]) == [], "not full any more"
        finally:
            from annotation.services import overlap

            overlap._judge_triggers.remove(judge_disagrees)

    def test_the_dashboard_and_the_browser_count_the_extra_slot(self, lead):
        project, (a, b, _, _) = _pairwise(lead, adaptive_max_overlap=3)
        _give(a, project, "A")
        _give(b, project, "B")
        (row,) = project_dashboard(project=project)["batches"]
        assert (row["slots"], row["judged"], row["remaining"], row["complete"]) == (3, 2, 1, 0)
        page = tasks_browse(project=project, task_filter=task_filter_from_query({}))
        (browsed,) = page.rows
        assert (browsed["judgments"], browsed["overlap"], browsed["state"]) == (2, 3, "split")


@pytest.mark.django_db
class TestBatchSettings:
    def test_the_maximum_is_checked_against_the_overlap_and_the_cap(self, lead):
        project = make_project(lead, kind="pairwise", prompts=2, models=("m1", "m2"))
        for bad in (1, 11):
            with pytest.raises(InvalidInput) as caught:
                assign(project, [], overlap=2, adaptive_max_overlap=bad)
            assert "adaptive_max_overlap" in caught.value.fields
        with pytest.raises(InvalidInput) as caught:
            assign(project, [], overlap=2, adaptive_max_overlap=3, adaptive_on_split=False)
        assert "adaptive_on_split" in caught.value.fields
        assert not Batch.objects.filter(project=project).exists()

    def test_the_api_takes_and_shows_the_settings(self, lead):
        project = make_project(lead, kind="pairwise", prompts=2, models=("m1", "m2"))
        api = client_for(lead)
        url = f"/api/v1/projects/{project.pk}/batches/"
        bad = api.post(url, {"name": "b", "size": 1, "overlap": 3, "adaptive_max_overlap": 2})
        assert bad.status_code == 400
        assert "adaptive_max_overlap" in bad.json()["error"]["fields"]
        assert not Batch.objects.filter(project=project).exists()
        made = api.post(
            url,
            {
                "name": "b",
                "size": 2,
                "overlap": 2,
                "adaptive_max_overlap": 4,
                "adaptive_on_judge": True,
            },
            format="json",
        )
        assert made.status_code == 201, made.json()
        body = made.json()
        assert (body["adaptive_max_overlap"], body["adaptive_on_split"]) == (4, True)
        assert body["adaptive_on_judge"] is True
        listed = api.get(url).json()
        assert listed[0]["adaptive_max_overlap"] == 4

    def test_the_batch_form_takes_the_settings_and_shows_field_errors(self, lead, client):
        project = make_project(lead, kind="pairwise", prompts=2, models=("m1", "m2"))
        client.force_login(lead)
        url = reverse("batch-new", args=[project.pk])
        form = {"name": "wide", "size": "2", "overlap": "2", "adaptive_on_split": "1"}
        refused = client.post(url, {**form, "adaptive_max_overlap": "1"})
        assert refused.status_code == 200
        assert "From the overlap" in refused.text or "batch's overlap" in refused.text
        assert not Batch.objects.filter(project=project).exists()
        client.post(url, {**form, "adaptive_max_overlap": "3"})
        batch = Batch.objects.get(project=project)
        assert (batch.adaptive_max_overlap, batch.adaptive_on_split) == (3, True)
        assert batch.adaptive_on_judge is False
        page = client.get(reverse("batch", args=[batch.pk]))
        assert "Adaptive overlap up to 3" in page.text


@pytest.mark.slow
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrency needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_sixteen_annotators_at_once_split_tasks_get_exactly_their_extra_slots(lead):
    """16 threads, each its own connection, judge 90 pairs at overlap 2 with adaptive overlap
    up to 4. Unanimous pairs (every judge says A) must end with 2 judgments; split pairs
    (A, B, then A) with exactly one extra; deeply split pairs (A, B, tie, ...) stop at 4.
    The verdict depends on the order a task's slots were handed out, kept by the test."""
    project = make_project(lead, kind="pairwise", prompts=90, models=("m1", "m2"))
    annotators = [AnnotatorFactory() for _ in range(16)]
    assign(project, annotators, overlap=2, adaptive_max_overlap=4)
    tasks = list(Task.objects.filter(project=project).order_by("id"))
    script = {
        t.pk: [["A"] * 6, ["A", "B", "A", "A"], ["A", "B", "tie", "A"]][i % 3]
        for i, t in enumerate(tasks)
    }
    handed: dict[int, int] = defaultdict(int)
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(len(annotators))

    # An empty queue is not the end: an extra slot appears when another annotator's judgment
    # fills a task. The work is over once every task is complete, which a task that gets a
    # slot is not (in the same transaction), so the annotators ask until then.
    stop = threading.Event()

    def work(user):
        try:
            start.wait()
            while not stop.is_set():
                claim = claim_next(user=user, project_id=project.pk)
                if claim is None:
                    time.sleep(0.01)
                    continue
                with lock:
                    position = handed[claim.task_id]
                    handed[claim.task_id] += 1
                choice = _screen(script[claim.task_id][position], claim.swapped)
                judgment_submit(user=user, task_id=claim.task_id, choice=choice)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(a,)) for a in annotators]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not errors:
        if not Task.objects.filter(project=project, is_complete=False).exists():
            break
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    expected = {t.pk: [2, 3, 4][i % 3] for i, t in enumerate(tasks)}
    judged = Counter(Judgment.objects.filter(task__project=project).values_list("task", flat=True))
    assert judged == Counter(expected)
    rows = Task.objects.filter(project=project).annotate(
        held=Count("claims", filter=Q(claims__status=ClaimStatus.SUBMITTED))
    )
    for task in rows:
        slots = 2 + task.extra_slots
        assert slots == expected[task.pk], task.pk
        assert task.held == task.judgment_count == slots
        assert task.is_complete
    assert Claim.objects.filter(task__project=project, status=ClaimStatus.ACTIVE).count() == 0
    pairs = list(Judgment.objects.values_list("task_id", "annotator_id"))
    assert len(set(pairs)) == len(pairs), "an annotator judged a task twice"
    assert dict(handed) == expected, "a slot was handed out beyond the task's slots"
