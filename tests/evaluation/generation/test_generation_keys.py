"""Only variables an operator declared as model keys are ever sent to a model server, and a
model endpoint calls only an http(s) URL: checked on every path that saves an endpoint and
again where the key is read, in the web process (Test connection) and in the worker."""

import os
import re
from html import unescape

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError

from evaluation.generation.client import ModelCallFailed, chat_completion, list_models
from evaluation.generation.services.endpoints import (
    model_endpoint_create,
    model_endpoint_register_local,
)
from evaluation.generation.services.runs import generation_run_start
from evaluation.models import GenerationItem, GenerationRun, ItemStatus, ModelEndpoint
from evaluation.tasks import dispatch_run
from ftapp.errors import InvalidInput
from tests.factories import client_for, make_endpoint, make_project
from tests.fake_model_server import FakeModelServer
from tests.fresh_interpreter import show
from tests.workers import TEST_MODEL_KEY_ENV, wait_for_run

# Variables ftapp itself reads, and one nobody declared: none may be a model key.
FORBIDDEN = ["SECRET_KEY", "DATABASE_URL", "REDIS_URL", "HOME"]
BAD_URLS = [
    "file:///etc/passwd",
    "javascript:alert(1)",
    "ftp://models.example.com/v1",
    "http:///v1",
    "http://user:secret@models.example.com/v1",
    "",
]


def _registrant(user):
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="evaluation", codename="add_modelendpoint")
    )
    return get_user_model().objects.get(pk=user.pk)  # a fresh permission cache


def _secrets() -> list[str]:
    """The values the forbidden variables hold in this process and in the test worker."""
    return [os.environ[name] for name in FORBIDDEN if os.environ.get(name)]


def _page_messages(response) -> list[str]:
    html = response.content.decode()
    return [unescape(m) for m in re.findall(r'<li class="message[^"]*">(.*?)</li>', html, re.S)]


@pytest.mark.django_db
@pytest.mark.parametrize("variable", FORBIDDEN)
def test_an_undeclared_key_variable_is_refused_on_every_saving_path(
    variable, lead, client, admin_client
):
    registrant = _registrant(lead)
    fields = {"name": "leaky", "base_url": "http://127.0.0.1:9/v1", "model": "m"}
    with pytest.raises(ValidationError) as refused:
        model_endpoint_create(by=registrant, api_key_env=variable, **fields)
    (message,) = refused.value.message_dict["api_key_env"]
    assert variable in message and "FTAPP_MODEL_KEY_" in message

    api = client_for(registrant).post(
        "/api/v1/models/", {**fields, "api_key_env": variable}, format="json"
    )
    assert api.status_code == 400
    assert "FTAPP_MODEL_KEY_" in api.json()["error"]["fields"]["api_key_env"][0]

    client.force_login(registrant)
    page = client.post("/models/", {**fields, "api_key_env": variable}, follow=True)
    (shown,) = _page_messages(page)
    assert variable in shown and "FTAPP_MODEL_KEY_" in shown

    admin = admin_client.post(
        "/admin/evaluation/modelendpoint/add/",
        {**fields, "api_key_env": variable, "params": "{}", "max_concurrency": 1,
         "timeout_seconds": 10, "created_by": registrant.pk},
    )
    assert admin.status_code == 200 and "FTAPP_MODEL_KEY_" in admin.content.decode()
    assert not ModelEndpoint.objects.exists()


@pytest.mark.django_db
def test_declared_key_variables_are_accepted_and_own_settings_never(lead, settings):
    registrant = _registrant(lead)
    fields = {"base_url": "https://api.example.com/v1", "model": "m"}
    model_endpoint_create(by=registrant, name="prefixed", api_key_env=TEST_MODEL_KEY_ENV, **fields)
    with pytest.raises(ValidationError):
        model_endpoint_create(by=registrant, name="listed", api_key_env="OPENAI_API_KEY", **fields)
    settings.MODEL_KEY_VARIABLES = ["OPENAI_API_KEY", "SECRET_KEY"]
    model_endpoint_create(by=registrant, name="listed", api_key_env="OPENAI_API_KEY", **fields)
    # An operator's list cannot open ftapp's own settings.
    with pytest.raises(ValidationError, match="own settings"):
        model_endpoint_create(by=registrant, name="own", api_key_env="SECRET_KEY", **fields)
    assert sorted(ModelEndpoint.objects.values_list("name", flat=True)) == ["listed", "prefixed"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", BAD_URLS)
def test_only_http_and_https_base_urls_are_accepted(url, lead, client):
    registrant = _registrant(lead)
    fields = {"name": "odd", "model": "m"}
    with pytest.raises(ValidationError) as refused:
        model_endpoint_create(by=registrant, base_url=url, **fields)
    assert "base_url" in refused.value.message_dict
    api = client_for(registrant).post("/api/v1/models/", {**fields, "base_url": url}, format="json")
    assert api.status_code == 400 and "base_url" in api.json()["error"]["fields"]
    client.force_login(registrant)
    page = client.post("/models/", {**fields, "base_url": url}, follow=True)
    assert len(_page_messages(page)) == 1
    with pytest.raises(ValidationError):
        model_endpoint_register_local(by=registrant, base_url=url)
    assert not ModelEndpoint.objects.exists()


def test_the_client_sends_nothing_for_an_undeclared_variable():
    with FakeModelServer() as server:
        for variable in FORBIDDEN:
            with pytest.raises(ModelCallFailed, match="not sent") as failed:
                chat_completion(
                    base_url=server.base_url,
                    model="m",
                    messages=[{"role": "user", "content": "Hi"}],
                    params={},
                    api_key_env=variable,
                )
            assert failed.value.attempts == 0
            with pytest.raises(ModelCallFailed, match="not sent"):
                list_models(base_url=server.base_url, api_key_env=variable)
        assert server.authorizations == server.listings == server.requests == []


@pytest.mark.django_db
@pytest.mark.parametrize("variable", ["SECRET_KEY", "DATABASE_URL"])
def test_test_connection_never_sends_a_stored_forbidden_variable(variable, client, lead):
    """An endpoint stored before the rule (or behind the services' back) names SECRET_KEY:
    Test connection says why it will not call, and calls nothing."""
    registrant = _registrant(lead)
    with FakeModelServer() as server:
        endpoint = ModelEndpoint.objects.create(
            name="stored", base_url=server.base_url, model="m", api_key_env=variable,
            created_by=registrant,
        )
        client.force_login(registrant)
        (shown,) = _page_messages(client.post(f"/models/{endpoint.pk}/test/", follow=True))
        listing = unescape(client.get("/models/").content.decode())
    assert variable in shown and "not sent" in shown
    assert f"{variable} is one of ftapp's own settings" in listing and "send nothing" in listing
    assert server.authorizations == server.listings == []
    for secret in _secrets():
        assert secret not in shown and secret not in listing
    with pytest.raises(InvalidInput, match=variable):
        generation_run_start(
            by=registrant, project_id=make_project(lead, prompts=1).pk, endpoint_ids=[endpoint.pk]
        )


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_generation_run_never_sends_a_stored_forbidden_variable(celery_worker, lead):
    """Endpoints changed to name SECRET_KEY and DATABASE_URL after their run was queued: the
    worker, which holds both, sends neither, and the run fails saying why."""
    assert os.environ.get("SECRET_KEY") and os.environ.get("DATABASE_URL")
    project = make_project(lead, prompts=2, models=())
    with FakeModelServer() as server:
        endpoints = [make_endpoint(lead, server, name) for name in ("via-secret", "via-database")]
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("evaluation.generation.services.runs._dispatch", lambda run_id: None)
            run = generation_run_start(
                by=lead, project_id=project.pk, endpoint_ids=[e.pk for e in endpoints]
            )
        for endpoint, variable in zip(endpoints, ["SECRET_KEY", "DATABASE_URL"], strict=True):
            ModelEndpoint.objects.filter(pk=endpoint.pk).update(api_key_env=variable)
        dispatch_run.delay(run.pk)
        wait_for_run(run)
    assert run.status == "failed"
    assert server.authorizations == [] and server.requests == []
    errors = list(GenerationItem.objects.filter(run=run).values_list("status", "error"))
    assert len(errors) == 4 and {status for status, _ in errors} == {ItemStatus.FAILED}
    assert all("own settings" in error for _, error in errors)
    stored = str(list(GenerationRun.objects.values())) + str(errors)
    for secret in _secrets():
        assert secret not in stored


@pytest.mark.django_db
def test_test_connection_shows_a_status_and_a_short_sanitized_excerpt(client, lead):
    registrant = _registrant(lead)
    client.force_login(registrant)
    hostile = "<script>alert(1)</script>\x1b[2J\u202e" + "x" * 5000
    with FakeModelServer() as server:
        server.models = [f"<img src=x onerror=alert({i})>" for i in range(50)]
        endpoint = make_endpoint(registrant, server, "hostile")
        server.script.append(
            ("reply", 200, {"choices": [{"message": {"content": hostile}, "finish_reason": "x"}]})
        )
        answered = client.post(f"/models/{endpoint.pk}/test/", follow=True)
        server.script.append(("reply", 400, {"error": {"message": hostile}}))
        refused = client.post(f"/models/{endpoint.pk}/test/", follow=True)
    for response in (answered, refused):
        html = response.content.decode()
        assert "<script>" not in html and "<img" not in html
        (shown,) = _page_messages(response)
        assert len(shown) < 600 and "x" * 200 not in shown
        assert "\x1b" not in shown and "\u202e" not in shown
    (ok,) = _page_messages(answered)
    assert "HTTP 200" in ok and "<script>alert(1)</script>" in ok and "45 more" in ok
    (failed,) = _page_messages(refused)
    assert "HTTP 400" in failed and "<script>alert(1)</script>" in failed


def test_the_operator_lists_variable_names_or_the_settings_do_not_load(tmp_path):
    listed = show(tmp_path, "settings.MODEL_KEY_VARIABLES", DEBUG="true",
                  FTAPP_MODEL_KEYS="OPENAI_API_KEY, TOGETHER_API_KEY")
    assert listed.stdout.strip() == "['OPENAI_API_KEY', 'TOGETHER_API_KEY']", listed.stderr
    wrong = show(tmp_path, "settings.MODEL_KEY_VARIABLES", DEBUG="true",
                 FTAPP_MODEL_KEYS="sk-live-0123")
    assert wrong.returncode != 0 and "FTAPP_MODEL_KEYS lists environment variable names" in (
        wrong.stderr
    )
    assert "sk-live-0123" not in wrong.stderr
