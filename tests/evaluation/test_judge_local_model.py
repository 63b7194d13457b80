"""The judge on the real local model: llama.cpp's server with Gemma 3 270M (the base model,
poor answers) asked about pairwise tasks through the JSON schema, on the real worker. Its
verdicts are worthless; what is checked is the path: the schema sent as ``response_format``
is enforced by the server, and every item ends parsed into it or failed with its text kept."""

import pytest

from annotation.choices import CHOICES
from annotation.models import Task
from evaluation.generation import local_model
from evaluation.generation.services.endpoints import model_endpoint_create
from evaluation.judging.protocol import judge_answer_parse
from evaluation.judging.services.runs import judge_run_start
from evaluation.models import GenerationItem, ItemStatus, JudgeVerdict
from tests.factories import make_project, may_add_endpoints
from tests.workers import wait_for_run

pytestmark = [pytest.mark.slow, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Room for a short rationale and the choice; a longer answer is cut off, which fails its
# item (not JSON) with the text kept, as any unparseable answer.
MAX_TOKENS = 96


def test_the_local_model_judges_pairs_through_the_json_schema_on_the_worker(
    celery_worker, local_model_server, lead
):
    project = make_project(lead, kind="pairwise", prompts=3, models=("m1", "m2"))
    tasks = list(Task.objects.filter(project=project).order_by("id"))
    endpoint = model_endpoint_create(
        by=may_add_endpoints(lead),
        name="local-judge",
        base_url=local_model_server,
        model=local_model.MODEL_ID,
        params={**local_model.ENDPOINT_PARAMS, "max_tokens": MAX_TOKENS, "temperature": 0.0},
        max_concurrency=1,
        timeout_seconds=120,
    )
    run = judge_run_start(
        by=lead,
        project_id=project.pk,
        endpoint_id=endpoint.pk,
        selection={"scope": "ids", "task_ids": [t.pk for t in tasks]},
        parse_attempts=1,
    )
    wait_for_run(run, timeout=600)

    items = list(GenerationItem.objects.filter(run=run).order_by("task_id", "sample"))
    assert [(i.task_id, i.sample) for i in items] == [(t.pk, o) for t in tasks for o in (0, 1)]
    for item in items:
        # The base model writes prose when left free; an answer that opens a JSON object
        # shows the server constrained it to the schema.
        assert item.raw_output.lstrip().startswith("{"), item.raw_output
        assert item.tokens_in and item.tokens_in > 0 and item.latency_ms and item.latency_ms > 0
        if item.status == ItemStatus.DONE:
            assert item.output == judge_answer_parse(project=project, text=item.raw_output)
            assert item.output["choice"] in CHOICES
        else:
            assert item.status == ItemStatus.FAILED, item.error
            assert item.error.startswith("The judge's answer does not follow the schema")
    answered = {
        task.pk
        for task in tasks
        if all(i.status == ItemStatus.DONE for i in items if i.task_id == task.pk)
    }
    verdicts = JudgeVerdict.objects.filter(run=run)
    assert {v.task_id for v in verdicts} == answered
    for verdict in verdicts:
        assert verdict.choice in CHOICES and len(verdict.order_choices) == 2
        assert verdict.consistent == (len(set(verdict.order_choices)) == 1)
    done = sum(i.status == ItemStatus.DONE for i in items)
    ended = "completed" if done == len(items) else "completed_with_failures" if done else "failed"
    assert run.status == ended
