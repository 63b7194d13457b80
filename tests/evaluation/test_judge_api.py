"""The judge's services and API without a worker process: judge prompt versions, the task
selections, the start refused when the judge's server is down, the run's progress and the
verdicts pull (the run's chunks executed in the test's process, by the Celery task's own
code), leads only."""

import pytest

from annotation.models import Task
from annotation.selectors.access import NotALead
from annotation.services import claim_next
from evaluation.generation.selectors import generation_run_list
from evaluation.generation.services.runs import generation_run_mark_running
from evaluation.judging.selectors import judge_verdicts_latest
from evaluation.judging.services.prompts import judge_prompt_publish
from evaluation.judging.services.runs import judge_run_start, judge_run_tasks
from evaluation.models import GenerationItem, GenerationRun, JudgePrompt, JudgeVerdict
from evaluation.tasks import process_chunk
from ftapp.errors import InvalidInput
from tests.evaluation.judges import first_shown, truthful
from tests.factories import (
    AnnotatorFactory,
    add_member,
    assign,
    client_for,
    judge,
    make_endpoint,
    make_project,
)
from tests.fake_model_server import FakeModelServer
from tests.workers import TEST_MODEL_KEY, TEST_MODEL_KEY_ENV

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def model_key(monkeypatch):
    """The key the judge's endpoint names, as the workers hold it: here, the test's process."""
    monkeypatch.setenv(TEST_MODEL_KEY_ENV, TEST_MODEL_KEY)


def _execute(run: GenerationRun) -> None:
    """What a worker does with the run's dispatch and chunk, here."""
    generation_run_mark_running(run_id=run.pk)
    ids = list(GenerationItem.objects.filter(run=run).order_by("id").values_list("id", flat=True))
    process_chunk(run.pk, ids)
    run.refresh_from_db()


def test_judge_prompts_are_versioned_checked_and_published_by_leads(lead):
    project = make_project(lead, kind="pairwise", models=("m1", "m2"))
    first = judge_prompt_publish(
        by=lead, project_id=project.pk, system="Judge.", template="{response_a}\n{response_b}"
    )
    assert first.version == 1 and first.change_note == ""
    same = judge_prompt_publish(
        by=lead, project_id=project.pk, system="Judge.", template="{response_a}\r\n{response_b}"
    )
    assert same == first
    second = judge_prompt_publish(
        by=lead,
        project_id=project.pk,
        system="Judge.",
        template="{guidelines}\n{response_a}\n{response_b}",
        change_note="Guidelines first.",
    )
    assert (second.version, second.change_note) == (2, "Guidelines first.")
    with pytest.raises(InvalidInput) as refused:
        judge_prompt_publish(
            by=lead, project_id=project.pk, system="", template="{response} {response_a}"
        )
    assert set(refused.value.fields) == {"template"}
    assert len(refused.value.fields["template"]) == 2  # unknown {response}, no {response_b}
    annotator = AnnotatorFactory()
    add_member(project, annotator)
    with pytest.raises(NotALead):
        judge_prompt_publish(
            by=annotator, project_id=project.pk, system="", template="{response_a}{response_b}"
        )
    assert JudgePrompt.objects.filter(project=project).count() == 2


def test_selections_name_batches_filters_judged_tasks_and_ids(lead, annotator):
    project = make_project(
        lead, prompts=6, models=("m1", "m2"), metadata=lambda i: {"topic": f"t{i % 2}"}
    )
    tasks = list(Task.objects.filter(project=project).order_by("id"))
    batch = assign(project, [annotator], tasks=tasks[:4])
    claim = claim_next(user=annotator, project_id=project.pk)
    judge(annotator, claim, rating=3)

    def ids(selection):
        return list(
            judge_run_tasks(project=project, selection=selection).values_list("id", flat=True)
        )

    assert ids({"scope": "batch", "batch_id": batch.pk}) == [t.pk for t in tasks[:4]]
    assert ids({"scope": "judged"}) == [claim.task_id]
    assert ids({"scope": "ids", "task_ids": [tasks[5].pk, tasks[1].pk]}) == [
        tasks[1].pk,
        tasks[5].pk,
    ]
    by_filter = ids({"scope": "filter", "query": {"meta": ["topic:t1"], "model": "m2"}})
    assert by_filter == [
        t.pk
        for t in tasks
        if t.prompt.metadata["topic"] == "t1" and t.response_a.model_name == "m2"
    ]
    other = make_project(lead, prompts=1)
    for bad in (
        {"scope": "everything"},
        {"scope": "batch", "batch_id": 10**9},
        {"scope": "ids", "task_ids": [Task.objects.filter(project=other).first().pk]},
        {"scope": "ids", "task_ids": ["1"]},
        {"scope": "filter", "query": {"state": "nonsense"}},
        {"scope": "filter"},
        "judged",
    ):
        with pytest.raises(InvalidInput) as refused:
            ids(bad)
        assert set(refused.value.fields) == {"selection"}, bad


def test_a_judge_whose_server_does_not_answer_starts_nothing(lead, settings):
    settings.MODEL_PROBE_TIMEOUT_SECONDS = 2
    project = make_project(lead, prompts=2)
    with FakeModelServer() as server:
        endpoint = make_endpoint(lead, server, "gone")
    with pytest.raises(InvalidInput) as refused:
        judge_run_start(
            by=lead,
            project_id=project.pk,
            endpoint_id=endpoint.pk,
            selection={"scope": "ids", "task_ids": [Task.objects.filter(project=project)[0].pk]},
        )
    assert set(refused.value.fields) == {"judge"}
    assert not GenerationRun.objects.exists() and not JudgePrompt.objects.exists()


def test_judge_runs_and_the_verdicts_pull_over_the_api(lead, annotator):
    project = make_project(lead, kind="pairwise", prompts=3, models=("bad", "good"))
    add_member(project, annotator)
    client = client_for(lead)
    tasks = list(Task.objects.filter(project=project).order_by("id"))
    selection = {"scope": "ids", "task_ids": [t.pk for t in tasks]}
    with FakeModelServer(
        answer=truthful(lambda text: float(text.endswith("good"))), require_key=TEST_MODEL_KEY
    ) as server:
        endpoint = make_endpoint(lead, server, "judge")
        url = f"/api/v1/projects/{project.pk}/judge-runs/"
        bad = client.post(url, {"judge": endpoint.pk, "selection": {"scope": "x"}}, format="json")
        assert bad.status_code == 400 and "selection.scope" in bad.json()["error"]["fields"]
        missing = client.post(
            url, {"judge": endpoint.pk, "prompt_version": 4, "selection": selection}, format="json"
        )
        assert missing.status_code == 400
        assert "prompt_version" in missing.json()["error"]["fields"]
        asked = {"judge": endpoint.pk, "selection": selection}
        assert client_for(annotator).post(url, asked, format="json").status_code == 403
        started = client.post(url, {"judge": endpoint.pk, "selection": selection}, format="json")
        assert started.status_code == 202, started.content
        body = started.json()
        assert body["status"] == "queued" and body["prompt_version"] == 1
        assert body["judge"] == {"id": endpoint.pk, "name": "judge"}
        assert body["progress"]["total"] == 6 and body["params"]["parse_attempts"] == 2
        run = GenerationRun.objects.get(pk=body["id"])
        # The default prompt was published as version 1 by the start.
        assert JudgePrompt.objects.get(project=project).version == 1
        _execute(run)
    assert run.status == "completed"
    detail = client.get(f"/api/v1/judge-runs/{run.pk}/").json()
    assert detail["progress"]["verdicts"] == 3 and detail["progress"]["inconsistent"] == 0
    assert detail["progress"]["done"] == 6 and detail["failures"] == []
    assert client_for(annotator).get(f"/api/v1/judge-runs/{run.pk}/").status_code == 403
    # A judge run is no generation run: not listed with them, not found as one.
    assert run not in generation_run_list(project=project)
    assert client.get(f"/api/v1/generation-runs/{run.pk}/").status_code == 404

    pull = f"/api/v1/projects/{project.pk}/judge-verdicts/"
    assert client_for(annotator).get(pull).status_code == 403
    pulled, cursor = [], None
    while True:
        page = client.get(pull, {"page_size": 2, **({"cursor": cursor} if cursor else {})}).json()
        pulled += page["results"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert [v["task_id"] for v in pulled] == [t.pk for t in tasks]
    again = client.get(pull, {"cursor": cursor}).json()
    assert again["results"] == [] and again["has_more"] is False
    for verdict, task in zip(pulled, tasks, strict=True):
        good, bad_one = (
            (task.response_a, task.response_b)
            if task.response_a.model_name == "good"
            else (task.response_b, task.response_a)
        )
        assert verdict["chosen_response_id"] == good.pk
        assert verdict["rejected_response_id"] == bad_one.pk
        assert verdict["response_ids"] == [task.response_a_id, task.response_b_id]
        assert verdict["models"] == [task.response_a.model_name, task.response_b.model_name]
        assert verdict["consistent"] is True and verdict["rating"] is None
        assert verdict["judge"] == {"id": endpoint.pk, "name": "judge"}
        assert verdict["prompt_version"] == 1 and verdict["run_id"] == run.pk
        assert verdict["tokens"]["out"] == 14 and verdict["latency_ms"] is not None
        assert verdict["prompt_external_id"] == task.prompt.external_id
    assert client.get(pull, {"prompt_version": 2}).json()["results"] == []
    assert len(client.get(pull, {"judge": endpoint.pk}).json()["results"]) == 3


def test_the_newest_verdict_of_each_judge_counts(lead):
    project = make_project(lead, kind="pairwise", prompts=2, models=("m1", "m2"))
    task_ids = list(Task.objects.filter(project=project).values_list("id", flat=True))
    selection = {"scope": "ids", "task_ids": task_ids}
    with FakeModelServer(answer=first_shown, require_key=TEST_MODEL_KEY) as server:
        endpoint = make_endpoint(lead, server, "judge")
        runs = []
        for _ in range(2):
            runs.append(
                judge_run_start(
                    by=lead, project_id=project.pk, endpoint_id=endpoint.pk, selection=selection
                )
            )
            _execute(runs[-1])
        judge_prompt_publish(
            by=lead, project_id=project.pk, system="", template="{response_a}{response_b}"
        )
        newest = judge_verdicts_latest(project=project)
        assert {v.run_id for v in newest} == {runs[1].pk}
        assert newest.count() == 2
        assert judge_verdicts_latest(project=project, prompt_version=2).count() == 0
        assert judge_verdicts_latest(project=project, endpoint_id=endpoint.pk + 1).count() == 0
    assert JudgeVerdict.objects.filter(project=project).count() == 4
