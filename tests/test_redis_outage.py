"""Redis down while the app serves. The API goes on with everything that needs only PostgreSQL
(its throttles count in each process meanwhile, the token endpoint's too), so do the pages;
``/healthz/`` reports the outage; starting an export or a generation run is refused with a clear
error (a 503 with Retry-After in the API, a message on the page) and leaves nothing queued that
no worker would ever receive.

The app runs under gunicorn with a Redis server of the test's own, killed before the requests,
so the shared Redis is never touched."""

import re
import shutil

import httpx
import pytest
from django.core.cache import cache
from django.test import Client
from redis import StrictRedis

from annotation.models import Judgment
from annotation.services import api_token_create
from evaluation.models import (
    Export,
    ExportStatus,
    GenerationItem,
    GenerationRun,
    ModelEndpoint,
    RunStatus,
)
from ftapp import throttling
from tests.factories import AnnotatorFactory, LeadFactory, assign, make_project
from tests.fake_model_server import FakeModelServer
from tests.served import gunicorn
from tests.workers import RedisServer

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]

FALLBACK_WARNING = "API throttles count in this process"


@pytest.fixture(scope="module")
def served_without_redis(django_db_setup, tmp_path_factory):
    """The app, started with a Redis of its own that is then killed: one for the module, so
    its log holds what every test's requests made it say."""
    directory = tmp_path_factory.mktemp("outage")
    redis = RedisServer(directory=directory)
    redis.start()
    try:
        with gunicorn(
            directory / "web.log", REDIS_URL=redis.url, API_THROTTLE_AUTH="3/minute"
        ) as served:
            redis.kill()
            yield served
    finally:
        redis.kill()


@pytest.fixture(scope="module")
def served_with_full_redis(django_db_setup, tmp_path_factory):
    """The app with a Redis that answers but stores nothing more (its memory is full): the
    queue's check before the commit passes, and sending the task after it fails."""
    directory = tmp_path_factory.mktemp("full")
    redis = RedisServer(directory=directory)
    redis.start()
    try:
        with gunicorn(directory / "web.log", REDIS_URL=redis.url) as served:
            full = StrictRedis.from_url(redis.url)
            full.config_set("maxmemory-policy", "noeviction")
            full.config_set("maxmemory", 1)
            yield served
    finally:
        redis.kill()


@pytest.fixture
def model_server():
    """The model's server answers: starting a run gets past its probe to the queue."""
    with FakeModelServer() as server:
        yield server


@pytest.fixture
def world(db, model_server):
    lead, annotator = LeadFactory(), AnnotatorFactory()
    project = make_project(lead, prompts=3)
    assign(project, [annotator])
    endpoint = ModelEndpoint.objects.create(
        name="m-outage", base_url=model_server.base_url, model="m", created_by=lead
    )
    stopped = GenerationRun.objects.create(
        project=project, status=RunStatus.CANCELLED, created_by=lead
    )
    stopped.endpoints.set([endpoint])
    failed = Export.objects.create(
        project=project, kind="sft", status=ExportStatus.FAILED, error="Killed.", created_by=lead
    )
    return {
        "failed_export": failed,
        "lead": lead,
        "annotator": annotator,
        "project": project,
        "endpoint": endpoint,
        "stopped_run": stopped,
    }


def api(served, user) -> httpx.Client:
    _, key = api_token_create(user=user, name="outage")
    return httpx.Client(base_url=served.url, headers={"Authorization": f"Token {key}"}, timeout=30)


def pages(served, user) -> httpx.Client:
    """A browser signed in as ``user``: the session lives in PostgreSQL, not in Redis."""
    login = Client()
    login.force_login(user)
    client = httpx.Client(base_url=served.url, timeout=30, follow_redirects=True)
    client.cookies.set("sessionid", login.cookies["sessionid"].value)
    return client


def csrf_post(client: httpx.Client, form_path: str, data: dict) -> httpx.Response:
    form = client.get(form_path)
    assert form.status_code == 200, form.text[:500]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    return client.post(form_path, data={**data, "csrfmiddlewaretoken": token})


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text[:500]
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["Retry-After"]) > 0
    error = response.json()["error"]
    assert error["code"] == "unavailable"
    assert "task queue" in error["message"]


def test_the_api_serves_what_needs_only_postgresql(served_without_redis, world):
    lead = api(served_without_redis, world["lead"])
    annotator = api(served_without_redis, world["annotator"])
    project = world["project"]

    projects = lead.get("/api/v1/projects/")
    assert projects.status_code == 200, projects.text[:500]
    assert [p["id"] for p in projects.json()] == [project.pk]
    claim = annotator.post(f"/api/v1/projects/{project.pk}/queue/next/")
    assert claim.status_code == 200, claim.text[:500]
    task_id = claim.json()["task_id"]
    submitted = annotator.post(
        f"/api/v1/tasks/{task_id}/judgments/", json={"rating": 4, "idempotency_key": "k1"}
    )
    assert submitted.status_code == 201, submitted.text[:500]
    assert Judgment.objects.get(annotator=world["annotator"]).pk == submitted.json()["id"]

    health = httpx.get(f"{served_without_redis.url}/healthz/")
    assert health.status_code == 503
    assert health.json()["database"] == "ok"
    assert health.json()["broker"].startswith("error")

    # Counted in the process's memory while Redis is away: one warning, not one per request.
    assert served_without_redis.log_text().count(FALLBACK_WARNING) == 1


def test_the_token_endpoint_stays_throttled(served_without_redis, world):
    anonymous = httpx.Client(base_url=served_without_redis.url, timeout=30)
    wrong = {"username": world["lead"].username, "password": "guess"}
    for _ in range(3):
        assert anonymous.post("/api/v1/auth/token/", json=wrong).status_code == 400
    refused = anonymous.post("/api/v1/auth/token/", json=wrong)
    assert refused.status_code == 429, refused.text[:500]
    assert refused.json()["error"]["code"] == "throttled"


def ask_for_work_refused(lead, world) -> None:
    """Starts an export and a run, resumes a run and retries an export: each a 503."""
    project, stopped, failed = world["project"], world["stopped_run"], world["failed_export"]
    assert_unavailable(lead.post(f"/api/v1/projects/{project.pk}/exports/", json={"kind": "sft"}))
    assert_unavailable(
        lead.post(
            f"/api/v1/projects/{project.pk}/generation-runs/",
            json={"models": [world["endpoint"].pk]},
        )
    )
    assert_unavailable(lead.post(f"/api/v1/generation-runs/{stopped.pk}/resume/"))
    assert_unavailable(lead.post(f"/api/v1/exports/{failed.pk}/retry/"))


def test_starting_work_for_a_worker_is_refused_and_writes_nothing(served_without_redis, world):
    stopped, failed = world["stopped_run"], world["failed_export"]
    ask_for_work_refused(api(served_without_redis, world["lead"]), world)

    assert list(Export.objects.values_list("pk", "status")) == [(failed.pk, ExportStatus.FAILED)]
    assert list(GenerationRun.objects.values_list("pk", "status")) == [
        (stopped.pk, RunStatus.CANCELLED)
    ]


def test_a_task_refused_after_the_commit_leaves_nothing_queued(served_with_full_redis, world):
    stopped, failed = world["stopped_run"], world["failed_export"]
    ask_for_work_refused(api(served_with_full_redis, world["lead"]), world)

    assert served_with_full_redis.log_text().count("Queueing failed after the commit") == 4
    assert list(Export.objects.values_list("pk", "status")) == [(failed.pk, ExportStatus.FAILED)]
    assert "Not queued again" in Export.objects.get().error
    assert list(GenerationRun.objects.values_list("pk", "status")) == [
        (stopped.pk, RunStatus.CANCELLED)
    ]
    assert not GenerationItem.objects.exists()


def test_the_pages_work_and_say_why_nothing_was_started(served_without_redis, world):
    project = world["project"]
    annotator = pages(served_without_redis, world["annotator"])
    assert annotator.get(f"/projects/{project.pk}/queue/").status_code == 200

    lead = pages(served_without_redis, world["lead"])
    assert lead.get(f"/projects/{project.pk}/").status_code == 200
    export = csrf_post(lead, f"/projects/{project.pk}/exports/", {"kind": "sft", "format": "trl"})
    # The form comes back with why, answered as what it is: the service unavailable.
    assert export.status_code == 503
    assert str(export.url).endswith(f"/projects/{project.pk}/exports/")
    assert "task queue" in export.text
    run = csrf_post(
        lead, f"/projects/{project.pk}/generate/", {"models": [str(world["endpoint"].pk)]}
    )
    assert run.status_code == 200
    assert str(run.url).endswith(f"/projects/{project.pk}/generate/")
    assert "task queue" in run.text

    assert list(Export.objects.values_list("status", flat=True)) == [ExportStatus.FAILED]
    assert GenerationRun.objects.count() == 1


def test_the_counts_go_back_to_redis_when_it_answers_again(tmp_path, settings, monkeypatch, caplog):
    redis = RedisServer(directory=tmp_path)
    redis.start()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis.url,
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
    monkeypatch.setattr(throttling, "RECHECK_SECONDS", 0.0)  # ask Redis again at every call
    counts = throttling.FallbackCache()
    try:
        redis.kill()
        counts.set("throttle_user_1", [1.0], 60)
        counts.set("throttle_user_1", [1.0, 2.0], 60)
        assert counts.get("throttle_user_1") == [1.0, 2.0]
        redis.start()
        counts.set("throttle_user_1", [3.0], 60)
        assert cache.get("throttle_user_1") == [3.0]
    finally:
        redis.kill()
    assert [(r.levelname, r.getMessage().split(":")[0]) for r in caplog.records] == [
        ("WARNING", "The cache (Redis) is failing (ConnectionError"),
        ("INFO", "The cache (Redis) answers again"),
    ]
