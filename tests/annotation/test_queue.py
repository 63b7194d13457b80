import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from annotation.models import Batch, Claim, Judgment, Task
from annotation.services import (
    AlreadyJudged,
    NotClaimed,
    claim_next,
    judgment_submit,
    judgment_undo,
    task_skip,
)
from ftapp.errors import Conflict, InvalidInput, NotFound
from tests.factories import AnnotatorFactory, assign, judge, make_project


@pytest.mark.django_db
class TestClaiming:
    def test_holds_one_claim_until_judged_then_moves_on_in_task_order(self, lead, annotator):
        project = make_project(lead, prompts=3)
        assign(project, [annotator])
        first = claim_next(user=annotator, project_id=project.pk)
        assert claim_next(user=annotator, project_id=project.pk).pk == first.pk
        judge(annotator, first)
        second = claim_next(user=annotator, project_id=project.pk)
        assert second.task_id > first.task_id
        assert second.expires_at - second.claimed_at == timedelta(minutes=15)

    def test_batches_are_served_by_due_date_then_batch_order(self, lead, annotator):
        project = make_project(lead, prompts=3)
        t1, t2, t3 = Task.objects.filter(project=project).order_by("id")
        assign(project, [annotator], name="first", tasks=[t1])
        assign(project, [annotator], name="second", tasks=[t2])
        due = assign(project, [annotator], name="due", tasks=[t3])
        Batch.objects.filter(pk=due.pk).update(due_at=timezone.now() + timedelta(days=1))
        order = []
        while (claim := claim_next(user=annotator, project_id=project.pk)) is not None:
            order.append(claim.task_id)
            judge(annotator, claim)
        assert order == [t3.pk, t1.pk, t2.pk]

    def test_overlap_caps_active_claims_plus_judgments(self, lead):
        a, b, c = AnnotatorFactory(), AnnotatorFactory(), AnnotatorFactory()
        project = make_project(lead, prompts=1)
        assign(project, [a, b, c], overlap=2)
        claim_a = claim_next(user=a, project_id=project.pk)
        claim_b = claim_next(user=b, project_id=project.pk)
        assert claim_a.task_id == claim_b.task_id
        assert claim_next(user=c, project_id=project.pk) is None
        judge(a, claim_a)
        assert claim_next(user=c, project_id=project.pk) is None
        judge(b, claim_b)
        assert Task.objects.get(pk=claim_a.task_id).is_complete

    def test_expired_lease_returns_the_slot(self, lead):
        a, b = AnnotatorFactory(), AnnotatorFactory()
        project = make_project(lead, prompts=1)
        assign(project, [a, b])
        claim = claim_next(user=a, project_id=project.pk)
        assert claim_next(user=b, project_id=project.pk) is None
        Claim.objects.filter(pk=claim.pk).update(
            claimed_at=timezone.now() - timedelta(minutes=20),
            expires_at=timezone.now() - timedelta(minutes=5),
        )
        taken_over = claim_next(user=b, project_id=project.pk)
        assert taken_over is not None and taken_over.task_id == claim.task_id

    def test_own_expired_lease_comes_back_when_the_slot_is_free(self, lead, annotator):
        project = make_project(lead, prompts=1)
        assign(project, [annotator])
        claim = claim_next(user=annotator, project_id=project.pk)
        Claim.objects.filter(pk=claim.pk).update(
            claimed_at=timezone.now() - timedelta(minutes=20),
            expires_at=timezone.now() - timedelta(minutes=5),
        )
        again = claim_next(user=annotator, project_id=project.pk)
        assert again.pk == claim.pk and again.expires_at > timezone.now()

    def test_late_judgment_is_kept_and_flagged(self, lead):
        a, b = AnnotatorFactory(), AnnotatorFactory()
        project = make_project(lead, prompts=1)
        assign(project, [a, b])
        claim = claim_next(user=a, project_id=project.pk)
        Claim.objects.filter(pk=claim.pk).update(
            claimed_at=timezone.now() - timedelta(minutes=20),
            expires_at=timezone.now() - timedelta(minutes=5),
        )
        claim_next(user=b, project_id=project.pk)  # b takes the lapsed slot
        late = judge(a, claim, rating=2, comment="sorry, was away")
        assert late.late and late.rating == 2
        on_time = judge(b, claim_next(user=b, project_id=project.pk), rating=3)
        assert not on_time.late
        assert Judgment.objects.filter(task_id=claim.task_id).count() == 2

    def test_skip_frees_the_slot_and_never_returns_the_task(self, lead):
        a, b = AnnotatorFactory(), AnnotatorFactory()
        project = make_project(lead, prompts=1)
        assign(project, [a, b])
        claim = claim_next(user=a, project_id=project.pk)
        with pytest.raises(InvalidInput):
            task_skip(user=a, task_id=claim.task_id, reason="  ")
        task_skip(user=a, task_id=claim.task_id, reason="not my field")
        assert claim_next(user=a, project_id=project.pk) is None
        assert claim_next(user=b, project_id=project.pk).task_id == claim.task_id
        assert Claim.objects.get(pk=claim.pk).skip_reason == "not my field"

    def test_non_annotators_have_no_queue(self, lead):
        project = make_project(lead)
        with pytest.raises(Exception, match="Only annotators"):
            claim_next(user=lead, project_id=project.pk)
        with pytest.raises(NotFound):
            claim_next(user=AnnotatorFactory(), project_id=project.pk)

    def test_closed_batches_leave_the_queue(self, lead, annotator):
        project = make_project(lead, prompts=2)
        batch = assign(project, [annotator])
        claim_next(user=annotator, project_id=project.pk)
        Batch.objects.filter(pk=batch.pk).update(status="closed")
        assert claim_next(user=annotator, project_id=project.pk) is None


@pytest.mark.django_db
class TestJudging:
    def test_rating_is_validated_with_field_errors(self, lead, annotator):
        project = make_project(lead, prompts=1)
        assign(project, [annotator])
        claim = claim_next(user=annotator, project_id=project.pk)
        for bad in [{"rating": 0}, {"rating": 6}, {"rating": "4"}, {"choice": "A"}, {}]:
            with pytest.raises(InvalidInput) as error:
                judgment_submit(user=annotator, task_id=claim.task_id, **bad)
            assert set(error.value.fields) & {"rating", "choice"}
        assert not Judgment.objects.exists()

    def test_rubric_scores_must_name_the_projects_dimensions(self, lead, annotator):
        project = make_project(lead, prompts=1, rubric=["accuracy", "tone"])
        assign(project, [annotator])
        claim = claim_next(user=annotator, project_id=project.pk)
        with pytest.raises(InvalidInput) as error:
            judge(annotator, claim, rating=4, rubric_scores={"speed": 3})
        assert "rubric_scores" in error.value.fields
        judgment = judge(annotator, claim, rating=4, rubric_scores={"accuracy": 5, "tone": 3})
        assert judgment.rubric_scores == {"accuracy": 5, "tone": 3}

    def test_judgment_records_duration_comment_rewrite_and_guidelines_version(
        self, lead, annotator
    ):
        project = make_project(lead, prompts=1)
        assign(project, [annotator])
        claim = claim_next(user=annotator, project_id=project.pk)
        judgment = judge(
            annotator,
            claim,
            rating=2,
            comment=" vague ",
            rewrite="Better answer.",
            duration_ms=8100,
        )
        assert (judgment.comment, judgment.rewrite, judgment.duration_ms) == (
            "vague",
            "Better answer.",
            8100,
        )
        assert judgment.guidelines_version == 1

    def test_same_idempotency_key_returns_the_first_judgment(self, lead, annotator):
        project = make_project(lead, prompts=2)
        assign(project, [annotator])
        claim = claim_next(user=annotator, project_id=project.pk)
        first = judgment_submit(
            user=annotator, task_id=claim.task_id, rating=5, idempotency_key="k"
        )
        again = judgment_submit(
            user=annotator, task_id=claim.task_id, rating=1, idempotency_key="k"
        )
        assert first.created and not again.created
        assert again.judgment.pk == first.judgment.pk and again.judgment.rating == 5
        other = claim_next(user=annotator, project_id=project.pk)
        with pytest.raises(Conflict):
            judgment_submit(user=annotator, task_id=other.task_id, rating=5, idempotency_key="k")
        with pytest.raises(AlreadyJudged):
            judgment_submit(user=annotator, task_id=claim.task_id, rating=3)

    def test_judging_an_unclaimed_task_is_refused(self, lead, annotator):
        project = make_project(lead, prompts=2)
        assign(project, [annotator])
        task = Task.objects.filter(project=project).last()
        with pytest.raises(NotClaimed):
            judgment_submit(user=annotator, task_id=task.pk, rating=3)
        with pytest.raises(NotFound):
            judgment_submit(user=AnnotatorFactory(), task_id=task.pk, rating=3)

    @pytest.mark.parametrize(
        ("swapped", "choice", "chosen"),
        [
            (False, "A", "a"),
            (False, "B", "b"),
            (True, "A", "b"),
            (True, "B", "a"),
            (True, "tie", None),
        ],
    )
    def test_pairwise_choice_resolves_screen_order(self, lead, annotator, swapped, choice, chosen):
        project = make_project(lead, kind="pairwise", prompts=1, models=("m1", "m2"))
        assign(project, [annotator])
        claim = claim_next(user=annotator, project_id=project.pk)
        Claim.objects.filter(pk=claim.pk).update(swapped=swapped)
        judgment = judge(annotator, claim, choice=choice)
        task = claim.task
        expected = {"a": task.response_a_id, "b": task.response_b_id, None: None}[chosen]
        assert judgment.chosen_response_id == expected
        assert judgment.swapped is swapped
        if chosen:
            pair = {task.response_a_id, task.response_b_id}
            assert {judgment.chosen_response_id, judgment.rejected_response_id} == pair
        else:
            assert judgment.rejected_response_id is None

    def test_pairwise_order_is_randomized_per_claim(self, lead):
        project = make_project(lead, kind="pairwise", prompts=40, models=("m1", "m2"))
        annotator = AnnotatorFactory()
        assign(project, [annotator])
        swaps = []
        while (claim := claim_next(user=annotator, project_id=project.pk)) is not None:
            swaps.append(claim.swapped)
            judge(annotator, claim)
        assert len(swaps) == 40 and 5 < sum(swaps) < 35

    def test_undo_withdraws_the_last_judgment_and_gives_the_task_back(self, lead, annotator):
        project = make_project(lead, prompts=2)
        assign(project, [annotator])
        first = claim_next(user=annotator, project_id=project.pk)
        judge(annotator, first, rating=2)
        second = claim_next(user=annotator, project_id=project.pk)
        judge(annotator, second, rating=5)
        assert Task.objects.get(pk=second.task_id).is_complete
        undone = judgment_undo(user=annotator, project_id=project.pk)
        assert undone.task_id == second.task_id
        assert list(Judgment.objects.values_list("rating", flat=True)) == [2]
        assert not Task.objects.get(pk=second.task_id).is_complete
        assert claim_next(user=annotator, project_id=project.pk).task_id == second.task_id
        judge(annotator, undone, rating=4)
        assert sorted(Judgment.objects.values_list("rating", flat=True)) == [2, 4]

    def test_undo_with_nothing_to_undo(self, lead, annotator):
        project = make_project(lead, prompts=1)
        assign(project, [annotator])
        assert judgment_undo(user=annotator, project_id=project.pk) is None


@pytest.mark.django_db
def test_gold_tasks_are_mixed_in_at_the_gold_rate(lead):
    project = make_project(lead, prompts=400, gold_rate=0.25)
    Task.objects.filter(
        project=project,
        id__in=Task.objects.filter(project=project).order_by("id")[:200].values("id"),
    ).update(is_gold=True)
    annotator = AnnotatorFactory()
    assign(project, [annotator])
    served = []
    for _ in range(240):
        claim = claim_next(user=annotator, project_id=project.pk)
        served.append(claim.task.is_gold)
        judge(annotator, claim)
    # Binomial(240, 0.25): mean 60, sd 6.7; the band is about ±4.5 sd.
    assert 30 <= sum(served) <= 90


@pytest.mark.django_db
def test_gold_tasks_go_to_every_annotator_regardless_of_overlap(lead):
    project = make_project(lead, prompts=1, gold_rate=1.0)
    Task.objects.filter(project=project).update(is_gold=True)
    annotators = [AnnotatorFactory() for _ in range(3)]
    assign(project, annotators, overlap=1)
    claims = [claim_next(user=a, project_id=project.pk) for a in annotators]
    assert all(c is not None for c in claims)
    assert len({c.task_id for c in claims}) == 1


@pytest.mark.slow
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrency needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_sixteen_annotators_at_once_fill_every_slot_exactly(lead):
    """16 threads, each its own connection, claim and judge 300 tasks at overlap 2."""
    project = make_project(lead, prompts=300)
    annotators = [AnnotatorFactory() for _ in range(16)]
    assign(project, annotators, overlap=2)
    handed: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(len(annotators))

    def work(user):
        try:
            start.wait()
            while (claim := claim_next(user=user, project_id=project.pk)) is not None:
                with lock:
                    handed.append((claim.task_id, user.pk))
                judgment_submit(user=user, task_id=claim.task_id, rating=3)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(a,)) for a in annotators]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    per_task = Counter(task for task, _ in handed)
    assert len(per_task) == 300 and set(per_task.values()) == {2}
    assert len(set(handed)) == len(handed), "a claim was handed out twice"
    judged = Counter(Judgment.objects.values_list("task_id", flat=True))
    assert len(judged) == 300 and set(judged.values()) == {2}
    pairs = list(Judgment.objects.values_list("task_id", "annotator_id"))
    assert len(set(pairs)) == len(pairs)
    assert Task.objects.filter(project=project, is_complete=False).count() == 0
    assert len({user for _, user in handed}) > 8, "the work was spread across annotators"
