"""The real local model: llama.cpp's server with Gemma 3 270M, behind the real worker and
Redis. It is the base model and its answers are poor, so these tests check structure (what is
stored and created), never content."""

import sys

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command

from annotation.models import Response, Task
from evaluation.generation import local_model
from evaluation.generation.services.endpoints import model_endpoint_create
from evaluation.generation.services.runs import generation_run_start
from evaluation.models import GenerationItem, ItemStatus, ModelEndpoint
from tests.factories import client_for, make_project
from tests.workers import free_port, wait_for_run

pytestmark = pytest.mark.slow

MAX_TOKENS = 16  # about a third of a second each: the whole file stays within seconds


def _local_endpoint(lead, base_url: str, name: str, **params) -> ModelEndpoint:
    lead.user_permissions.add(
        Permission.objects.get(content_type__app_label="evaluation", codename="add_modelendpoint")
    )
    lead = type(lead).objects.get(pk=lead.pk)  # fresh permission cache
    return model_endpoint_create(
        by=lead,
        name=name,
        base_url=base_url,
        model=local_model.MODEL_ID,
        params={**local_model.ENDPOINT_PARAMS, "max_tokens": MAX_TOKENS, **params},
        max_concurrency=1,
        timeout_seconds=60,
    )


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_run_on_the_local_model_stores_answers_with_their_figures_and_creates_tasks(
    celery_worker, local_model_server, lead
):
    project = make_project(lead, kind="pairwise", prompts=3, models=())
    warm = _local_endpoint(lead, local_model_server, "local-warm", temperature=0.8, seed=11)
    cool = _local_endpoint(lead, local_model_server, "local-cool", temperature=0.2, seed=5)
    run = generation_run_start(
        by=lead, project_id=project.pk, endpoint_ids=[warm.pk, cool.pk], params={}
    )
    wait_for_run(run, timeout=120)

    assert run.status == "completed"
    items = GenerationItem.objects.filter(run=run).select_related("response", "endpoint")
    assert items.count() == 6 and {i.status for i in items} == {ItemStatus.DONE}
    for item in items:
        figures = item.response.generation
        assert item.response.model_name == item.endpoint.name
        assert figures["params"]["temperature"] == item.endpoint.params["temperature"]
        assert figures["params"]["seed"] == item.endpoint.params["seed"]
        assert figures["tokens_in"] > 0 and 0 <= figures["tokens_out"] <= MAX_TOKENS
        assert figures["latency_ms"] > 0 and figures["finish_reason"] in {"stop", "length"}
        assert (item.tokens_in, item.tokens_out, item.finish_reason) == (
            figures["tokens_in"],
            figures["tokens_out"],
            figures["finish_reason"],
        )
    # A pairwise task per prompt, the warm answer against the cool one.
    tasks = Task.objects.filter(project=project).select_related("response_a", "response_b")
    assert run.tasks_created == tasks.count() == 3
    assert all(
        {t.response_a.model_name, t.response_b.model_name} == {"local-warm", "local-cool"}
        for t in tasks
    )
    progress = client_for(lead).get(f"/api/v1/generation-runs/{run.pk}/").json()["progress"]
    assert progress["done"] == 6
    assert progress["tokens_out"] == sum(i.tokens_out for i in items)

    # Same seed, same temperature: the same text. Each of these requests follows a different
    # prompt, as in the first run: right after the very same prompt llama.cpp decodes only
    # its last token again and the text may differ.
    again = generation_run_start(by=lead, project_id=project.pk, endpoint_ids=[warm.pk])
    wait_for_run(again, timeout=120)
    first = {
        r.prompt_id: r.text
        for r in Response.objects.filter(generation__run=run.pk, model_name="local-warm")
    }
    second = {r.prompt_id: r.text for r in Response.objects.filter(generation__run=again.pk)}
    assert len(second) == 3 and second == first


@pytest.mark.django_db
def test_the_demo_registers_the_local_model_once_and_labels_it(
    local_model_server, settings, tmp_path, client, capsys
):
    settings.VAR_DIR = tmp_path
    settings.LOCAL_MODEL_URL = local_model_server
    call_command("demo", no_serve=True)
    assert "registered" in capsys.readouterr().out
    call_command("demo", no_serve=True)
    assert local_model.LABEL in capsys.readouterr().out
    endpoint = ModelEndpoint.objects.get()
    assert (endpoint.name, endpoint.model, endpoint.base_url, endpoint.max_concurrency) == (
        local_model.ENDPOINT_NAME,
        local_model.MODEL_ID,
        local_model_server,
        1,
    )
    client.force_login(endpoint.created_by)
    assert local_model.LABEL in client.get("/models/").content.decode()


@pytest.mark.django_db
def test_the_demo_works_without_the_local_model(settings, tmp_path, capsys):
    settings.VAR_DIR = tmp_path
    settings.LOCAL_MODEL_URL = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    call_command("demo", no_serve=True)
    assert "local model: not served at" in capsys.readouterr().out
    assert not ModelEndpoint.objects.exists()


def test_serve_local_model_says_what_to_install_without_the_local_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # as if it were not installed
    with pytest.raises(CommandError, match=r'pip install -e "\.\[local\]"'):
        call_command("serve_local_model")


def test_the_server_command_line_has_the_flags_this_model_needs(tmp_path):
    command = local_model.server_command(model_path=tmp_path / "m.gguf", port=9999)
    flags = dict(zip(command[3::2], command[4::2], strict=True))
    assert command[1:3] == ["-m", "evaluation.generation.local_server"]
    assert flags["--host"] == "127.0.0.1" and flags["--port"] == "9999"
    assert flags["--chat_format"] == "vicuna"
    assert flags["--logits_all"] == flags["--interrupt_requests"] == "false"
