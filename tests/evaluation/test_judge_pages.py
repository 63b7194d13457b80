"""The judge's pages, for a project's leads: the judge prompt proposed, previewed on a real
task in each order it is asked, published as versions with field errors on bad input; judge
runs started over a selection against a loopback judge, their progress and failed answers."""

import json
import re

import pytest

from annotation.models import Response, Task
from annotation.services import claim_next
from evaluation.judging.protocol import judge_prompt_default
from evaluation.judging.services.prompts import judge_prompt_publish
from evaluation.models import (
    GenerationItem,
    GenerationRun,
    JudgePrompt,
    JudgeVerdict,
    RunPurpose,
)
from tests.factories import AnnotatorFactory, assign, judge, make_endpoint, make_project
from tests.fake_model_server import FakeModelServer
from tests.workers import TEST_MODEL_KEY, wait_for_run

POLLING = 'hx-trigger="every 2s"'
HOSTILE = "<script>alert('judge')</script>"


def _completion(content: str) -> dict:
    return {
        "id": "cmpl-judge",
        "object": "chat.completion",
        "model": "fake-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 50, "completion_tokens": 9},
    }


def _choose(choice: str) -> tuple:
    return ("reply", 200, _completion(json.dumps({"rationale": "Clearer.", "choice": choice})))


def _page(client, project, query="") -> str:
    response = client.get(f"/projects/{project.pk}/judge/{query}")
    assert response.status_code == 200
    return response.content.decode()


def _textarea(page: str, name: str) -> str:
    found = re.search(rf'<textarea id="{name}" name="{name}"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, name
    return found.group(1)


@pytest.fixture
def pairwise(lead):
    project = make_project(lead, kind="pairwise", models=("m1", "m2"), prompts=3)
    first = Task.objects.filter(project=project).order_by("id").first()
    Response.objects.filter(pk=first.response_b_id).update(text=f"B says {HOSTILE}")
    return project


@pytest.mark.django_db
def test_the_page_proposes_the_default_prompt_then_publishes_versions_with_notes(client, lead):
    project = make_project(lead, prompts=2)
    client.force_login(lead)
    page = _page(client, project)
    assert "No version published yet" in page
    system, template = judge_prompt_default(project=project)
    # The proposal, escaped into the editor: its quotes are entities, not markup.
    assert _textarea(page, "template").startswith("Rate the assistant&#x27;s answer")
    assert f'href="/projects/{project.pk}/judge/" aria-current="page">Judge</a>' in page

    published = client.post(
        f"/projects/{project.pk}/judge/",
        {"action": "publish", "system": system, "template": template, "change_note": "x"},
    )
    assert published.status_code == 302 and published.url.endswith("#prompt")
    first = JudgePrompt.objects.get(project=project)
    assert (first.version, first.template, first.created_by) == (1, template, lead)

    client.post(
        f"/projects/{project.pk}/judge/",
        {
            "action": "publish",
            "system": system,
            "template": template + "\nBe strict.",
            "change_note": "Asks for strictness.",
        },
    )
    page = _page(client, project)
    assert "Published version 2 of the judge prompt" in page
    assert "Current: <strong>version 2</strong>" in page
    assert _textarea(page, "template").endswith("Be strict.")
    assert "v2 · " in page and "Asks for strictness." in page and "v1 · " in page
    # An older version loads into the editor to publish again from it.
    older = _page(client, project, "?version=1")
    assert "The editor holds version 1" in older
    assert not _textarea(older, "template").endswith("Be strict.")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("Judge {answer} and {response}.", "Unknown placeholder {answer}"),
        ("Judge it.", "The template must show {response}."),
        ("Judge {response", "Write {{ and }} for literal braces."),
        ("", "Write the message sent to the judge."),
    ],
)
def test_a_bad_template_is_refused_beside_its_field_and_nothing_is_published(
    client, lead, template, message
):
    project = make_project(lead, prompts=1)
    client.force_login(lead)
    response = client.post(
        f"/projects/{project.pk}/judge/",
        {"action": "publish", "system": "Be fair.", "template": template, "change_note": "n"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "The judge prompt cannot be published." in page
    assert re.search(r'id="template".*?<small class="error">[^<]*' + re.escape(message), page, re.S)
    # The draft is kept for the lead to correct.
    assert _textarea(page, "system") == "Be fair."
    assert not JudgePrompt.objects.exists()


@pytest.mark.django_db
def test_the_preview_shows_each_order_of_a_pair_escaped_on_the_chosen_task(client, lead, pairwise):
    first, second = Task.objects.filter(project=pairwise).order_by("id")[:2]
    client.force_login(lead)
    page = _page(client, pairwise)
    assert f'on task <a href="/tasks/{first.pk}/review/">{first.pk}</a>' in page
    assert "Asked as given (A first)" in page and "Asked swapped" in page
    # Model text is shown as text: never as markup.
    assert HOSTILE not in page and "&lt;script&gt;alert(&#x27;judge&#x27;)&lt;/script&gt;" in page
    given, swapped = page.split("Asked swapped", 1)
    a_text, b_text = first.response_a.text, "B says &lt;script&gt;"
    assert given.index(a_text) < given.index(b_text)
    assert swapped.index(b_text) < swapped.index(a_text)

    chosen = _page(client, pairwise, f"?task={second.pk}")
    assert f'on task <a href="/tasks/{second.pk}/review/">{second.pk}</a>' in chosen
    assert second.response_a.text in chosen


@pytest.mark.django_db
def test_a_draft_is_previewed_without_being_published(client, lead, pairwise):
    task = Task.objects.filter(project=pairwise).order_by("id").last()
    client.force_login(lead)
    shown = client.post(
        f"/projects/{pairwise.pk}/judge/",
        {
            "action": "preview",
            "system": "Judge {fairly}.",
            "template": "Left: {response_a}\nRight: {response_b}\nBraces {{kept}}.",
            "task": str(task.pk),
        },
    ).content.decode()
    assert "Your draft on task" in shown
    # The system message is sent as written: placeholders are the user message's.
    assert "Judge {fairly}." in shown
    assert f"Left: {task.response_a.text}\nRight: {task.response_b.text}\nBraces {{kept}}." in (
        shown
    )
    assert not JudgePrompt.objects.exists()

    wrong = client.post(
        f"/projects/{pairwise.pk}/judge/",
        {"action": "preview", "system": "", "template": "{response_a} {oops}", "task": ""},
    ).content.decode()
    assert 'id="preview-error"' in wrong and "Unknown placeholder {oops}" in wrong
    missing = _page(client, pairwise, "?task=999999")
    assert "The project has no task 999999." in missing
    assert "a whole number" in _page(client, pairwise, "?task=abc")


@pytest.mark.django_db
def test_a_run_against_a_judge_that_does_not_answer_is_refused_on_the_form(client, lead, pairwise):
    with FakeModelServer() as server:
        endpoint = make_endpoint(lead, server)
    client.force_login(lead)
    task_ids = list(Task.objects.filter(project=pairwise).values_list("pk", flat=True))
    response = client.post(
        f"/projects/{pairwise.pk}/judge/runs/",
        {"judge": str(endpoint.pk), "scope": "ids", "task_ids": f"{task_ids[0]}, {task_ids[1]}"},
    )
    page = response.content.decode()
    assert response.status_code == 200 and 'id="run-error"' in page
    assert "does not answer" in page
    # The choices are kept on the form shown again.
    assert f'value="{task_ids[0]}, {task_ids[1]}"' in page
    assert 'value="ids" checked' in page
    assert not GenerationRun.objects.exists() and not JudgePrompt.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"scope": "ids", "task_ids": "12, x"}, "Task ids, separated by commas."),
        ({"scope": "ids", "task_ids": "999999"}, "Some task ids are not tasks of the project."),
        ({"scope": "batch", "batch_id": ""}, "Give the batch_id of a batch of the project."),
        ({"scope": "filter", "query": "state=nonsense"}, "state"),
        ({"scope": "judged"}, "No task matches."),
        ({"scope": "", "task_ids": ""}, "Unknown scope"),
    ],
)
def test_a_bad_selection_is_refused_beside_it_and_nothing_starts(
    client, lead, pairwise, fields, message
):
    with FakeModelServer() as server:
        endpoint = make_endpoint(lead, server)
        client.force_login(lead)
        response = client.post(
            f"/projects/{pairwise.pk}/judge/runs/", {"judge": str(endpoint.pk), **fields}
        )
    page = response.content.decode()
    assert response.status_code == 200
    assert re.search(r'<small class="error">[^<]*' + re.escape(message), page), page[-3000:]
    assert not GenerationRun.objects.exists()


@pytest.mark.django_db
def test_a_run_started_on_the_page_judges_the_filtered_tasks_in_both_orders(client, lead, pairwise):
    tasks = list(Task.objects.filter(project=pairwise).order_by("id"))
    batch = assign(pairwise, [AnnotatorFactory()], name="Second", tasks=tasks[1:])
    client.force_login(lead)
    with FakeModelServer(require_key=TEST_MODEL_KEY) as server:
        server.script.extend([_choose("A")] * 4)
        endpoint = make_endpoint(lead, server, name="judge-a")
        response = client.post(
            f"/projects/{pairwise.pk}/judge/runs/",
            {
                "judge": str(endpoint.pk),
                "prompt_version": "",
                "scope": "filter",
                "query": f"http://testserver/projects/{pairwise.pk}/data/?batch={batch.pk}",
            },
        )
        run = GenerationRun.objects.get(project=pairwise)
        assert response.status_code == 302 and response.url == f"/judge-runs/{run.pk}/"
    assert run.purpose == RunPurpose.JUDGE and run.judge_prompt.version == 1
    assert run.selection == {"scope": "filter", "query": {"batch": str(batch.pk)}}
    items = GenerationItem.objects.filter(run=run)
    assert sorted(items.values_list("task_id", "sample")) == [
        (tasks[1].pk, 0),
        (tasks[1].pk, 1),
        (tasks[2].pk, 0),
        (tasks[2].pk, 1),
    ]
    page = client.get(f"/judge-runs/{run.pk}/").content.decode()
    assert f"Tasks matching batch={batch.pk}" in page and "judge-a" in page
    listed = _page(client, pairwise)
    assert f'href="/judge-runs/{run.pk}/"' in listed


def _held_back_run(lead, project) -> GenerationRun:
    """A judge run on an endpoint nobody serves, its items made by the service but never
    sent: the test ends them as it pleases."""
    with FakeModelServer() as server:
        endpoint = make_endpoint(lead, server)
        system, template = judge_prompt_default(project=project)
        judge_prompt_publish(by=lead, project_id=project.pk, system=system, template=template)
        run = GenerationRun.objects.create(
            project=project,
            purpose=RunPurpose.JUDGE,
            judge_prompt=JudgePrompt.objects.get(project=project),
            samples=2,
            selection={"scope": "judged"},
            created_by=lead,
            status="running",
        )
        run.endpoints.set([endpoint])
    for task in Task.objects.filter(project=project):
        for order in (0, 1):
            GenerationItem.objects.create(
                run=run, prompt=task.prompt, task=task, endpoint=endpoint, sample=order
            )
    return run


@pytest.mark.django_db
def test_the_run_page_shows_failed_answers_escaped_and_polls_only_while_working(
    client, lead, pairwise
):
    run = _held_back_run(lead, pairwise)
    item = GenerationItem.objects.filter(run=run).order_by("id").first()
    raw = "I think <b>A</b> " + "is better. " * 100
    GenerationItem.objects.filter(pk=item.pk).update(
        status="failed", attempts=2, raw_output=raw, error="Not JSON: Expecting value."
    )
    client.force_login(lead)
    page = client.get(f"/judge-runs/{run.pk}/").content.decode()
    assert POLLING in page and "Tasks humans judged" in page
    assert "I think &lt;b&gt;A&lt;/b&gt; is better." in page and "<b>A</b>" not in page
    assert f"{len(raw)} characters in all" in page and "Not JSON: Expecting value." in page
    assert POLLING in _page(client, pairwise)

    GenerationItem.objects.filter(run=run, status="pending").update(status="done")
    GenerationRun.objects.filter(pk=run.pk).update(status="completed_with_failures")
    partial = client.get(f"/judge-runs/{run.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert partial.startswith('<div id="run-progress">') and "hx-trigger" not in partial
    assert 'id="run-status">completed with failures' in partial
    runs = client.get(f"/projects/{pairwise.pk}/judge/runs/", HTTP_HX_REQUEST="true")
    assert runs.content.decode().startswith('<div id="judge-runs">')
    assert POLLING not in _page(client, pairwise)


@pytest.mark.django_db
def test_the_run_page_lists_its_verdicts_in_the_tasks_terms_escaped(client, lead, pairwise):
    run = _held_back_run(lead, pairwise)
    first, second = Task.objects.filter(project=pairwise).order_by("id")[:2]
    common = {"project": pairwise, "run": run, "endpoint": run.endpoints.get(), "kind": "pairwise"}
    JudgeVerdict.objects.create(
        **common,
        judge_prompt=run.judge_prompt,
        task=second,
        choice="B",
        order_choices=["B", "B"],
        consistent=True,
        rationale="Second is " + HOSTILE + " better" * 100,
    )
    JudgeVerdict.objects.create(
        **common,
        judge_prompt=run.judge_prompt,
        task=first,
        choice="tie",
        order_choices=["A", "B"],
        consistent=False,
        rationale="Unsure.",
    )
    client.force_login(lead)
    page = client.get(f"/judge-runs/{run.pk}/").content.decode()
    row = re.search(r'<table class="list" id="verdicts">.*?</table>', page, re.S).group(0)
    assert row.index(f">{first.pk}</a>") < row.index(f">{second.pk}</a>")
    assert "B is better</td>" in row and "B as given, then B swapped" in row
    assert 'Tie <small class="warning">inconsistent</small>' in row
    assert HOSTILE not in page and "Second is &lt;script&gt;" in row and "…" in row


@pytest.mark.django_db
def test_the_calibration_section_is_on_the_page_with_its_own_filter(client, lead, pairwise):
    run = _held_back_run(lead, pairwise)
    annotator = AnnotatorFactory()
    assign(pairwise, [annotator])
    task = claim_next(user=annotator, project_id=pairwise.pk)
    judge(annotator, task, choice="A")
    JudgeVerdict.objects.create(
        project=pairwise,
        run=run,
        endpoint=run.endpoints.get(),
        kind="pairwise",
        judge_prompt=run.judge_prompt,
        task_id=task.task_id,
        choice="A",
        order_choices=["A", "A"],
        consistent=True,
    )
    client.force_login(lead)
    page = _page(client, pairwise)
    section = page[page.index('<section class="card" id="calibration"') :]
    assert f'<option value="{run.endpoints.get().pk}">fake-a</option>' in section
    assert 'class="calibration-judge"' in section
    # The page's own prompt versions stay beside the section's.
    assert "edit from this version" in page and "version 1 (current)" in page
    bad = _page(client, pairwise, "?judge=x")
    assert 'id="calibration-judge-error"' in bad and 'class="calibration-judge"' not in bad
    assert _textarea(bad, "template")


@pytest.mark.django_db
def test_cancel_from_the_run_page_and_a_second_cancel_says_why(client, lead, pairwise):
    run = _held_back_run(lead, pairwise)
    client.force_login(lead)
    response = client.post(f"/judge-runs/{run.pk}/", {"action": "cancel"})
    assert response.status_code == 302 and response.url == f"/judge-runs/{run.pk}/"
    run.refresh_from_db()
    assert run.status == "cancelled"
    again = client.post(f"/judge-runs/{run.pk}/", {"action": "cancel"}, follow=True)
    assert "already cancelled" in again.content.decode()


@pytest.mark.django_db
def test_annotators_and_generation_runs_stay_out(client, lead, pairwise):
    annotator = AnnotatorFactory()
    assign(pairwise, [annotator])
    run = _held_back_run(lead, pairwise)
    client.force_login(annotator)
    for url in (f"/projects/{pairwise.pk}/judge/", f"/judge-runs/{run.pk}/"):
        assert client.get(url).status_code == 403
    client.force_login(lead)
    generation = GenerationRun.objects.create(project=pairwise, created_by=lead)
    assert client.get(f"/judge-runs/{generation.pk}/").status_code == 404


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_run_started_on_the_page_finishes_on_the_worker_with_its_verdicts(
    celery_worker, client, lead, pairwise
):
    annotator = AnnotatorFactory()
    assign(pairwise, [annotator])
    judge(annotator, claim_next(user=annotator, project_id=pairwise.pk), choice="A")
    client.force_login(lead)
    with FakeModelServer(require_key=TEST_MODEL_KEY) as server:
        # As given "A" (the task's A), swapped "A" (the task's B): the swap changes it.
        server.script.extend([_choose("A"), _choose("A")])
        endpoint = make_endpoint(lead, server, max_concurrency=1)
        client.post(
            f"/projects/{pairwise.pk}/judge/runs/",
            {"judge": str(endpoint.pk), "prompt_version": "", "scope": "judged"},
        )
        run = wait_for_run(GenerationRun.objects.get(project=pairwise))
    assert run.status == "completed"
    page = client.get(f"/judge-runs/{run.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'id="run-status">completed' in page and "2 done · 0 failed" in page
    assert '<strong id="verdict-count">1</strong> verdict,' in page
    assert '<strong id="inconsistent-count">1</strong> inconsistent' in page
    # In the task's terms: the swapped "A" was the task's B.
    row = re.search(r'<table class="list" id="verdicts">.*?</table>', page, re.S).group(0)
    assert 'Tie <small class="warning">inconsistent</small>' in row
    assert "A as given, then B swapped" in row and "Clearer." in row
    assert all(r["response_format"]["type"] == "json_schema" for r in server.requests)
