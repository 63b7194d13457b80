"""Adaptive overlap's judge trigger: a verdict against the human majority gives the task one
more human slot, on the real worker against a scripted judge, and the rule read closely."""

from collections import Counter

import pytest

from annotation.models import Batch, Task
from annotation.services import claim_next, judgment_submit
from evaluation.judging.overlap import judge_disagrees_with_humans
from evaluation.judging.protocol import judge_prompt_default
from evaluation.judging.services.prompts import judge_prompt_publish
from evaluation.judging.services.runs import judge_run_start
from evaluation.models import GenerationRun, JudgeVerdict
from tests.evaluation.judges import truthful
from tests.factories import AnnotatorFactory, assign, judge_all, make_endpoint, make_project
from tests.fake_model_server import FakeModelServer
from tests.workers import TEST_MODEL_KEY, wait_for_run


def _good(text: str) -> float:
    return 1.0 if text.endswith("by good") else 0.0


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_judge_that_disagrees_with_the_humans_calls_for_one_more(celery_worker, lead):
    """Two humans agree on the worse answer of every pair; a truthful judge picks the better
    one: each task gets one more slot, which goes to the third annotator."""
    project = make_project(lead, kind="pairwise", prompts=3, models=("bad", "good"))
    first, second, third = (AnnotatorFactory() for _ in range(3))
    assign(project, [first, second, third], overlap=2, adaptive_max_overlap=3)
    Batch.objects.filter(project=project).update(adaptive_on_judge=True)
    judge_all(
        project,
        [first, second],
        lambda i, task: {"choice": "B" if task.response_a.model_name == "good" else "A"},
    )
    assert set(Task.objects.filter(project=project).values_list("is_complete", flat=True)) == {True}
    with FakeModelServer(answer=truthful(_good), require_key=TEST_MODEL_KEY) as server:
        endpoint = make_endpoint(lead, server, "judge")
        run = judge_run_start(
            by=lead, project_id=project.pk, endpoint_id=endpoint.pk, selection={"scope": "judged"}
        )
        wait_for_run(run)
    assert run.status == "completed"
    assert JudgeVerdict.objects.filter(run=run, consistent=True).count() == 3
    tasks = Task.objects.filter(project=project)
    assert {(t.extra_slots, t.is_complete) for t in tasks} == {(1, False)}
    served = []
    while (claim := claim_next(user=third, project_id=project.pk)) is not None:
        served.append(claim.task_id)
        judgment_submit(user=third, task_id=claim.task_id, choice="A")
    assert sorted(served) == sorted(t.pk for t in tasks)
    assert claim_next(user=first, project_id=project.pk) is None


@pytest.mark.django_db
class TestTheRule:
    @pytest.fixture
    def verdict(self, lead):
        """A pairwise project's task with a stored verdict to rewrite per case."""
        project = make_project(lead, kind="pairwise", prompts=1, models=("m1", "m2"))
        annotator = AnnotatorFactory()
        assign(project, [annotator])
        judge_all(project, [annotator], lambda i, task: {"choice": "A"})
        with FakeModelServer(answer=truthful(lambda text: 0.0)) as server:
            endpoint = make_endpoint(lead, server, "judge")
        system, template = judge_prompt_default(project=project)
        prompt = judge_prompt_publish(
            by=lead, project_id=project.pk, system=system, template=template
        )
        run = GenerationRun.objects.create(
            project=project, purpose="judge", judge_prompt=prompt, created_by=lead
        )
        task = Task.objects.get(project=project)
        return JudgeVerdict(
            project=project,
            run=run,
            task=task,
            endpoint=endpoint,
            judge_prompt=prompt,
            kind="pairwise",
            choice="A",
            order_choices=["A", "A"],
            consistent=True,
        )

    def test_pairwise_against_the_strict_majority(self, verdict):
        task = verdict.task
        assert not judge_disagrees_with_humans(task, Counter({"A": 2})), "no verdict yet"
        verdict.choice = "B"
        verdict.save()
        assert judge_disagrees_with_humans(task, Counter({"A": 2}))
        assert judge_disagrees_with_humans(task, Counter({"A": 2, "B": 1}))
        assert not judge_disagrees_with_humans(task, Counter({"B": 2, "A": 1}))
        assert not judge_disagrees_with_humans(task, Counter({"A": 1, "B": 1})), "a split"

    def test_a_verdict_that_does_not_survive_the_swap_triggers_nothing(self, verdict):
        verdict.choice, verdict.order_choices, verdict.consistent = "tie", ["B", "A"], False
        verdict.save()
        assert not judge_disagrees_with_humans(verdict.task, Counter({"A": 2}))

    def test_the_newest_verdict_speaks(self, verdict):
        verdict.choice = "B"
        verdict.save()
        verdict.pk, verdict.choice = None, "A"
        verdict.run = GenerationRun.objects.create(
            project=verdict.project,
            purpose="judge",
            judge_prompt=verdict.judge_prompt,
            created_by=verdict.run.created_by,
        )
        verdict.save()
        assert not judge_disagrees_with_humans(verdict.task, Counter({"A": 2}))

    def test_ratings_two_points_from_the_human_median(self, verdict):
        task = verdict.task
        task.kind = "rating"
        verdict.kind, verdict.choice, verdict.order_choices, verdict.consistent = (
            "rating",
            "",
            [],
            None,
        )
        verdict.rating = 2
        verdict.save()
        assert judge_disagrees_with_humans(task, Counter({4: 2, 5: 1}))
        assert not judge_disagrees_with_humans(task, Counter({3: 2, 5: 1}))
