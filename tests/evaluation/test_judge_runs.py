"""Judge runs on the real Celery worker against scripted judges on a loopback server: what
is asked (both orders, the JSON schema), the verdicts written once each, the swap that
exposes a position bias, malformed answers failed with their text kept, cancel and resume,
and nothing of the human side touched."""

import time

import pytest

from annotation.judgment_feed import judgments_page
from annotation.models import Judgment, Task
from evaluation.generation.services.runs import generation_run_cancel, generation_run_resume
from evaluation.judging.services.runs import judge_run_start
from evaluation.models import GenerationItem, ItemStatus, JudgeVerdict
from tests.evaluation.judges import first_shown, longer, malformed, truthful
from tests.factories import assign, judge_all, make_endpoint, make_project
from tests.fake_model_server import FakeModelServer
from tests.workers import (
    RUN_PROMPTS,
    TEST_MODEL_KEY,
    Workers,
    dispatch_runs_through,
    wait_for_run,
    wait_until,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ALL = {"scope": "judged"}


def _good(text: str) -> float:
    """The hidden truth of the pairwise projects here: the model "good" writes the better
    answer."""
    return 1.0 if text.endswith("by good") else 0.0


def _pairwise(lead, annotator, *, prompts=4, models=("bad", "good")):
    """A pairwise project whose every task one annotator judged (so ``judged`` selects all),
    always for the answer of ``good``."""
    project = make_project(lead, kind="pairwise", prompts=prompts, models=models)
    assign(project, [annotator])
    judge_all(
        project,
        [annotator],
        lambda i, task: {"choice": "A" if task.response_a.model_name == "good" else "B"},
    )
    return project


def _settled_pull(project, timeout: float = 30.0) -> dict:
    """The human judgments pull once it reports every judgment of the project: a write
    running anywhere on the server holds newer rows back from it for a moment."""
    expected = Judgment.objects.filter(task__project=project).count()
    deadline = time.monotonic() + timeout
    while len((page := judgments_page(project=project))["results"]) < expected:
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return page


def _truth(task: Task) -> str:
    return "A" if task.response_a.model_name == "good" else "B"


def test_a_truthful_judge_asked_both_orders_writes_one_consistent_verdict_per_task(
    celery_worker, lead, annotator
):
    project = _pairwise(lead, annotator)
    before = _settled_pull(project)
    counts = dict(Task.objects.filter(project=project).values_list("id", "judgment_count"))
    with FakeModelServer(answer=truthful(_good), require_key=TEST_MODEL_KEY) as server:
        endpoint = make_endpoint(lead, server, "judge")
        run = judge_run_start(
            by=lead, project_id=project.pk, endpoint_id=endpoint.pk, selection=ALL
        )
        wait_for_run(run)
    assert run.status == "completed" and run.purpose == "judge"
    tasks = list(Task.objects.filter(project=project).select_related("response_a"))
    assert len(server.requests) == 2 * len(tasks)
    for body in server.requests:
        response_format = body["response_format"]
        assert response_format["type"] == "json_schema"
        assert response_format["json_schema"]["strict"] is True
        assert response_format["json_schema"]["schema"]["properties"]["choice"]["enum"] == [
            "A",
            "B",
            "tie",
            "both_bad",
        ]
    items = GenerationItem.objects.filter(run=run)
    assert sorted(items.values_list("task_id", "sample")) == sorted(
        (t.pk, order) for t in tasks for order in (0, 1)
    )
    assert all(i.raw_output and i.output and i.response_id is None for i in items)
    verdicts = {v.task_id: v for v in JudgeVerdict.objects.filter(run=run)}
    assert set(verdicts) == {t.pk for t in tasks}
    for task in tasks:
        verdict = verdicts[task.pk]
        assert verdict.consistent is True and verdict.choice == _truth(task)
        assert verdict.order_choices == [_truth(task)] * 2
        assert verdict.endpoint_id == endpoint.pk and verdict.judge_prompt.version == 1
        task_items = items.filter(task=task)
        assert verdict.tokens_out == sum(i.tokens_out for i in task_items) == 14
        assert verdict.latency_ms == sum(i.latency_ms for i in task_items)
        assert "response_b shown first" in verdict.rationale
    # The human side is untouched: no task, response, judgment or count changed.
    assert _settled_pull(project)["results"] == before["results"]
    assert dict(Task.objects.filter(project=project).values_list("id", "judgment_count")) == counts
    assert Task.objects.filter(project=project).count() == len(tasks)


def test_a_judge_that_prefers_the_first_answer_shown_is_inconsistent_on_every_pair(
    celery_worker, lead, annotator
):
    project = _pairwise(lead, annotator, prompts=3)
    with FakeModelServer(answer=first_shown, require_key=TEST_MODEL_KEY) as server:
        endpoint = make_endpoint(lead, server, "left-judge")
        run = judge_run_start(
            by=lead, project_id=project.pk, endpoint_id=endpoint.pk, selection=ALL
        )
        wait_for_run(run)
    verdicts = JudgeVerdict.objects.filter(run=run)
    assert verdicts.count() == 3
    for verdict in verdicts:
        # "A" shown first in each order is response_a, then response_b: in the task's terms.
        assert verdict.order_choices == ["A", "B"]
        assert verdict.consistent is False and verdict.choice == "tie"


def test_a_judge_that_prefers_the_longer_answer_picks_it_in_both_orders(
    celery_worker, lead, annotator
):
    project = _pairwise(lead, annotator, prompts=3, models=("good", "a-much-longer-name"))
    with FakeModelServer(answer=longer, require_key=TEST_MODEL_KEY) as server:
        endpoint = make_endpoint(lead, server, "long-judge")
        run = judge_run_start(
            by=lead, project_id=project.pk, endpoint_id=endpoint.pk, selection=ALL
        )
        wait_for_run(run)
    for verdict in JudgeVerdict.objects.filter(run=run).select_related("task__response_a"):
        longer_side = "B" if verdict.task.response_a.model_name == "good" else "A"
        assert verdict.consistent is True and verdict.choice == longer_side


def test_malformed_answers_fail_their_items_with_the_text_kept_after_the_retries(
    celery_worker, lead, annotator
):
    project = _pairwise(lead, annotator, prompts=2)
    with FakeModelServer(answer=malformed, require_key=TEST_MODEL_KEY) as server:
        endpoint = make_endpoint(lead, server, "bad-judge")
        run = judge_run_start(
            by=lead,
            project_id=project.pk,
            endpoint_id=endpoint.pk,
            selection=ALL,
            parse_attempts=3,
        )
        wait_for_run(run)
    assert run.status == "failed" and not JudgeVerdict.objects.filter(run=run).exists()
    assert len(server.requests) == 4 * 3
    # Each retry asked with a new seed.
    assert {body["seed"] for body in server.requests} == {0, 1, 2}
    for item in GenerationItem.objects.filter(run=run):
        assert item.status == ItemStatus.FAILED and item.attempts == 3
        assert item.raw_output == malformed({})
        assert "does not follow the schema (3 answers): Not JSON" in item.error


def test_an_answer_that_parses_on_its_second_try_is_done(celery_worker, lead):
    project = make_project(lead, kind="rating", prompts=1, rubric=["tone"])
    with FakeModelServer(answer=truthful(lambda text: 4), require_key=TEST_MODEL_KEY) as server:
        server.script.append(
            (
                "reply",
                200,
                {
                    "choices": [{"message": {"content": '{"rating": 9}'}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 3},
                },
            )
        )
        endpoint = make_endpoint(lead, server, "judge")
        task = Task.objects.get(project=project)
        run = judge_run_start(
            by=lead,
            project_id=project.pk,
            endpoint_id=endpoint.pk,
            selection={"scope": "ids", "task_ids": [task.pk]},
        )
        wait_for_run(run)
    assert run.status == "completed"
    item = GenerationItem.objects.get(run=run)
    assert item.attempts == 2 and item.tokens_out == 3 + 7
    assert [body["seed"] for body in server.requests] == [0, 1]
    verdict = JudgeVerdict.objects.get(run=run)
    assert (verdict.rating, verdict.rubric_scores, verdict.consistent) == (4, {"tone": 4}, None)
    assert verdict.choice == "" and verdict.order_choices == []


def test_cancel_stops_a_judge_run_and_resume_finishes_it_without_a_second_verdict(
    celery_worker, lead, annotator
):
    project = _pairwise(lead, annotator, prompts=12)
    with FakeModelServer(answer=truthful(_good), delay=0.15, require_key=TEST_MODEL_KEY) as server:
        endpoint = make_endpoint(lead, server, "judge", max_concurrency=1)
        run = judge_run_start(
            by=lead, project_id=project.pk, endpoint_id=endpoint.pk, selection=ALL
        )
        while len(server.requests) < 4:
            time.sleep(0.05)
        generation_run_cancel(by=lead, run_id=run.pk)
        time.sleep(1.0)
        calls = len(server.requests)
        time.sleep(0.5)
        assert len(server.requests) == calls < 24
        run.refresh_from_db()
        assert run.status == "cancelled"
        written = JudgeVerdict.objects.filter(run=run).count()
        assert written < 12
        generation_run_resume(by=lead, run_id=run.pk)
        wait_for_run(run)
    assert run.status == "completed"
    assert JudgeVerdict.objects.filter(run=run).count() == 12
    assert len(server.requests) == 24  # what was answered before the cancel is not asked again
    assert all(v.consistent for v in JudgeVerdict.objects.filter(run=run))


def test_a_worker_killed_mid_run_leaves_one_verdict_per_task(
    lead, annotator, start_redis, start_worker
):
    """The chunk in the killed worker stays unacknowledged in Redis; the sweep dispatches the
    run again, and the items already answered are not asked again: every task ends with
    exactly one verdict, made of one answer per order."""
    workers = Workers(start_worker)
    broker = start_redis(appendonly=True)
    project = _pairwise(lead, annotator, prompts=RUN_PROMPTS)
    with FakeModelServer(answer=truthful(_good), delay=0.2, require_key=TEST_MODEL_KEY) as server:
        # Two slots: the killed process's one lapses only after the request's timeout.
        endpoint = make_endpoint(lead, server, "judge", max_concurrency=2)
        victim, _ = workers.start(broker_url=broker.url, concurrency=1)
        with pytest.MonkeyPatch.context() as patch:
            dispatch_runs_through(patch, broker.url)
            run = judge_run_start(
                by=lead, project_id=project.pk, endpoint_id=endpoint.pk, selection=ALL
            )
            wait_until(
                lambda: JudgeVerdict.objects.filter(run=run).count() >= 2, "two verdicts", 30
            )
            workers.kill_whole(victim)
            assert JudgeVerdict.objects.filter(run=run).count() < RUN_PROMPTS
            _, log = workers.start(broker_url=broker.url, rescuer=True)
            wait_for_run(run, timeout=120)
    assert run.status == "completed"
    items = GenerationItem.objects.filter(run=run)
    assert set(items.values_list("status", "starts")) == {(ItemStatus.DONE, 0)}
    verdicts = JudgeVerdict.objects.filter(run=run)
    assert verdicts.count() == RUN_PROMPTS
    assert len(set(verdicts.values_list("task_id", flat=True))) == RUN_PROMPTS
    assert all(v.consistent for v in verdicts)
    assert 2 * RUN_PROMPTS <= len(server.requests) <= 2 * RUN_PROMPTS + 1
    assert "dispatched again" in log.read_text()
