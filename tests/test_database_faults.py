"""PostgreSQL connections ended under requests (a restart, a failover, an administrator or a
pooler ending backends). Claims and judgments sent with an idempotency key are retried once on
a new connection; everything else answers 503 with Retry-After, in the API's error format or as
a page, never a 500 and never a success the database does not hold.

Only backends of the test database are ended: this process's own, or, under load, those of the
app served by gunicorn."""

import json
import threading
import time
import uuid
from collections import Counter

import httpx
import psycopg
import pytest
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Count
from django.test import Client
from django.urls import get_resolver
from drf_spectacular.generators import SchemaGenerator

from annotation.models import Claim, ClaimStatus, Judgment, Task
from annotation.services import api_token_create, claim_next
from ftapp.database import connection_lost
from tests.factories import AnnotatorFactory, LeadFactory, assign, make_project
from tests.served import gunicorn
from tests.workers import database_url

pytestmark = pytest.mark.slow

postgresql_only = pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
    reason="ends PostgreSQL backends",
)


def ends_backends(test):
    """Committed data (another connection, or a new one, must see it) on PostgreSQL."""
    return postgresql_only(pytest.mark.django_db(transaction=True)(test))


def admin_connection() -> psycopg.Connection:
    return psycopg.connect(database_url(), autocommit=True)


def end_this_connections_backend() -> None:
    """What a server restart does to an idle connection: Django finds out at its next query,
    here the first of the next request (reading the token or the session)."""
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    with admin_connection() as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s, 5000)", [pid]).fetchone()[0]


@pytest.fixture
def dies_once_inserting():
    """``dies_once_inserting(table)``: the next backend to insert a row into ``table`` ends
    itself in the middle of that statement, inside the operation's transaction; later inserts
    go through. A sequence counts the tries: it is not rolled back with them."""
    tables: list[str] = []

    def arm(table: str) -> None:
        tables.append(table)
        with admin_connection() as admin:
            admin.execute(
                f"""
                CREATE SEQUENCE test_dies_once_{table};
                CREATE FUNCTION test_dies_once_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                  IF nextval('test_dies_once_{table}') = 1 THEN
                    PERFORM pg_terminate_backend(pg_backend_pid());
                  END IF;
                  RETURN NEW;
                END $$;
                CREATE TRIGGER test_dies_once BEFORE INSERT ON {table}
                  FOR EACH ROW EXECUTE FUNCTION test_dies_once_{table}();
                """
            )

    yield arm
    with admin_connection() as admin:
        for table in tables:
            admin.execute(
                f"DROP TRIGGER test_dies_once ON {table}; "
                f"DROP FUNCTION test_dies_once_{table}(); DROP SEQUENCE test_dies_once_{table};"
            )


@pytest.fixture
def queue_world(db):
    lead, annotator = LeadFactory(), AnnotatorFactory()
    project = make_project(lead, prompts=3)
    assign(project, [annotator])
    _, key = api_token_create(user=annotator, name="faults")
    api = Client(HTTP_AUTHORIZATION=f"Token {key}")
    browser = Client()
    browser.force_login(annotator)
    yield {"project": project, "annotator": annotator, "api": api, "browser": browser}
    connection.close()  # the one a 503 left broken, before the database is flushed


def assert_api_unavailable(response) -> None:
    assert response.status_code == 503, response.content[:500]
    assert response["Content-Type"] == "application/json"
    assert int(response["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "unavailable"


def assert_page_unavailable(response) -> None:
    assert response.status_code == 503, response.content[:500]
    assert response["Content-Type"].startswith("text/html")
    assert int(response["Retry-After"]) > 0
    assert "The database could not be reached" in response.content.decode()


def judge(world, task_id: int, **body):
    return world["api"].post(
        f"/api/v1/tasks/{task_id}/judgments/", body, content_type="application/json"
    )


@ends_backends
class TestApi:
    def test_a_connection_ended_while_idle_is_replaced_for_a_claim(self, queue_world):
        end_this_connections_backend()
        response = queue_world["api"].post(
            f"/api/v1/projects/{queue_world['project'].pk}/queue/next/"
        )
        assert response.status_code == 200, response.content[:500]
        claim = Claim.objects.get(annotator=queue_world["annotator"])
        assert (claim.task_id, claim.status) == (response.json()["task_id"], ClaimStatus.ACTIVE)

    def test_a_claim_cut_off_half_way_is_made_again(self, queue_world, dies_once_inserting):
        dies_once_inserting("annotation_claim")
        response = queue_world["api"].post(
            f"/api/v1/projects/{queue_world['project'].pk}/queue/next/"
        )
        assert response.status_code == 200, response.content[:500]
        claim = Claim.objects.get(annotator=queue_world["annotator"])
        assert claim.task_id == response.json()["task_id"]

    def test_a_judgment_with_a_key_cut_off_half_way_is_made_again(
        self, queue_world, dies_once_inserting
    ):
        claim = claim_next(user=queue_world["annotator"], project_id=queue_world["project"].pk)
        dies_once_inserting("annotation_judgment")
        response = judge(queue_world, claim.task_id, rating=4, idempotency_key="k-1")
        assert response.status_code == 201, response.content[:500]
        judgment = Judgment.objects.get(annotator=queue_world["annotator"])
        assert (judgment.pk, judgment.idempotency_key) == (response.json()["id"], "k-1")
        assert Task.objects.get(pk=claim.task_id).judgment_count == 1

    def test_a_judgment_without_a_key_cut_off_is_a_503_that_wrote_nothing(
        self, queue_world, dies_once_inserting
    ):
        claim = claim_next(user=queue_world["annotator"], project_id=queue_world["project"].pk)
        dies_once_inserting("annotation_judgment")
        assert_api_unavailable(judge(queue_world, claim.task_id, rating=4))
        connection.close()
        assert not Judgment.objects.exists()
        assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.ACTIVE
        assert judge(queue_world, claim.task_id, rating=4).status_code == 201

    @pytest.mark.parametrize(
        ("method", "path"),
        [("get", "/api/v1/projects/"), ("post", "/api/v1/projects/{project}/queue/undo/")],
    )
    def test_any_other_request_is_a_503_in_the_error_format(self, queue_world, method, path):
        end_this_connections_backend()
        api = queue_world["api"]
        assert_api_unavailable(getattr(api, method)(path.format(project=queue_world["project"].pk)))


@ends_backends
class TestPages:
    def test_the_queue_page_claims_on_a_new_connection(self, queue_world):
        end_this_connections_backend()
        response = queue_world["browser"].post(f"/projects/{queue_world['project'].pk}/queue/")
        assert response.status_code == 302, response.content[:500]
        assert Claim.objects.filter(annotator=queue_world["annotator"]).count() == 1

    def test_the_queue_page_shows_the_held_task_on_a_new_connection(self, queue_world):
        claim = claim_next(user=queue_world["annotator"], project_id=queue_world["project"].pk)
        end_this_connections_backend()
        response = queue_world["browser"].get(f"/projects/{queue_world['project'].pk}/queue/")
        assert response.status_code == 200
        assert f"/tasks/{claim.task_id}/judge/" in response.content.decode()

    @pytest.mark.parametrize("htmx", [False, True])
    def test_a_judgment_cut_off_half_way_is_made_again(
        self, queue_world, dies_once_inserting, htmx
    ):
        claim = claim_next(user=queue_world["annotator"], project_id=queue_world["project"].pk)
        dies_once_inserting("annotation_judgment")
        response = queue_world["browser"].post(
            f"/tasks/{claim.task_id}/judge/",
            {"rating": "4", "idempotency_key": "page-1"},
            headers={"HX-Request": "true"} if htmx else {},
        )
        assert response.status_code == (200 if htmx else 302), response.content[:500]
        if htmx:
            assert "Saved." in response.content.decode()
        assert Judgment.objects.get(annotator=queue_world["annotator"]).idempotency_key == "page-1"

    def test_any_other_page_is_a_503_with_a_message(self, queue_world):
        end_this_connections_backend()
        assert_page_unavailable(queue_world["browser"].get("/"))

    def test_htmx_is_told_to_reload_rather_than_show_nothing(self, queue_world):
        claim = claim_next(user=queue_world["annotator"], project_id=queue_world["project"].pk)
        end_this_connections_backend()
        response = queue_world["browser"].post(
            f"/tasks/{claim.task_id}/skip/", {"reason": "unclear"}, headers={"HX-Request": "true"}
        )
        assert_page_unavailable(response)
        assert response["HX-Refresh"] == "true"
        connection.close()
        assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.ACTIVE


@postgresql_only
@pytest.mark.django_db
def test_a_statement_failing_on_a_live_connection_is_not_taken_for_a_lost_one():
    with (
        pytest.raises(OperationalError) as timed_out,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL statement_timeout = 1; SELECT pg_sleep(1)")
    assert not connection_lost(timed_out.value)
    with pytest.raises(OperationalError) as ended, connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
    assert connection_lost(ended.value)
    connection.close()


def test_every_operation_documents_its_503_and_when_to_retry():
    document = SchemaGenerator().get_schema(request=None, public=True)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            unavailable = operation["responses"]["503"]
            assert unavailable["headers"]["Retry-After"]["required"], f"{method} {path}"


def test_what_no_view_answered_is_json_under_the_api(rf):
    """``handler500``: the API's error format under /api/, Django's page elsewhere, and a
    database gone away is a 503 either way."""
    server_error = get_resolver().resolve_error_handler(500)
    response = server_error(rf.post("/api/v1/projects/"))
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {
        "error": {"code": "server_error", "message": "A server error occurred.", "fields": {}}
    }
    assert server_error(rf.get("/projects/"))["Content-Type"].startswith("text/html")
    try:
        raise OperationalError("server closed the connection unexpectedly")
    except OperationalError:
        api, page = server_error(rf.get("/api/v1/projects/")), server_error(rf.get("/"))
    assert (api.status_code, api["Content-Type"], api["Retry-After"]) == (
        503,
        "application/json",
        "5",
    )
    assert page.status_code == 503
    assert "The database could not be reached" in page.content.decode()


# Under load: 8 annotators claim and judge over HTTP while every backend of the test database is
# ended every KILL_EVERY seconds. TASKS times overlap 2 judgments take about 600 requests.
ANNOTATORS = 8
TASKS = 140
KILL_EVERY = 0.5
MAX_REQUESTS = 1500


@ends_backends
def test_annotators_lose_and_double_nothing_while_backends_are_ended(tmp_path):
    lead = LeadFactory()
    annotators = [AnnotatorFactory() for _ in range(ANNOTATORS)]
    project = make_project(lead, prompts=TASKS, overlap=2)
    assign(project, annotators, overlap=2)
    keys = {a.pk: api_token_create(user=a, name="load")[1] for a in annotators}

    statuses: Counter = Counter()
    stored: list[tuple[int, str, int]] = []  # (annotator, idempotency key, judgment id)
    unexpected: list[str] = []
    lock = threading.Lock()
    budget = [MAX_REQUESTS]
    stop = threading.Event()
    ended = [0]

    def spend(kind: str, response: httpx.Response) -> bool:
        with lock:
            statuses[kind, response.status_code] += 1
            budget[0] -= 1
            # A 500 is counted, not stopped at, so that a failing run says how many.
            if response.status_code not in (200, 201, 204, 503, 500):
                unexpected.append(f"{kind} {response.status_code} {response.text[:200]}")
            return budget[0] > 0 and not unexpected

    def annotate(served_url: str, annotator_id: int) -> None:
        with httpx.Client(
            base_url=served_url,
            headers={"Authorization": f"Token {keys[annotator_id]}"},
            timeout=60,
        ) as client:
            while True:
                response = client.post(f"/api/v1/projects/{project.pk}/queue/next/")
                if not spend("claim", response) or response.status_code == 204:
                    return
                if response.status_code != 200:
                    time.sleep(0.05)
                    continue
                task_id, key = response.json()["task_id"], uuid.uuid4().hex
                while True:  # the same key until the judgment is stored
                    response = client.post(
                        f"/api/v1/tasks/{task_id}/judgments/",
                        json={"rating": 3, "idempotency_key": key},
                    )
                    if not spend("submit", response):
                        return
                    if response.status_code in (200, 201):
                        with lock:
                            stored.append((annotator_id, key, response.json()["id"]))
                        break
                    time.sleep(0.05)

    def end_backends() -> None:
        with psycopg.connect(database_url(), autocommit=True) as db:
            while not stop.wait(KILL_EVERY):
                ended[0] += db.execute(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                    "FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()"
                ).fetchone()[0]

    with gunicorn(tmp_path / "web.log", threads=ANNOTATORS, REDIS_URL="") as served:
        killer = threading.Thread(target=end_backends)
        workers = [threading.Thread(target=annotate, args=(served.url, a.pk)) for a in annotators]
        killer.start()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        stop.set()
        killer.join()
    connection.close()  # ended too

    summary = dict(statuses)
    assert not unexpected, (unexpected[:5], summary)
    assert budget[0] > 0, f"not finished within {MAX_REQUESTS} requests: {summary}"
    assert ended[0] > 0
    errors = sum(n for (_, status), n in statuses.items() if status == 500)
    assert errors == 0, f"{errors} requests answered 500: {summary}"
    assert "retrying on a new one" in served.log_text()

    # What the clients were told is what the database holds: each judgment once, none lost, and
    # none that a 503 left behind unreported (its key, sent again, returned it).
    judgments = Judgment.objects.filter(task__project=project)
    assert sorted(judgments.values_list("annotator_id", "idempotency_key", "id")) == sorted(stored)
    assert len(stored) == TASKS * 2
    # No task over its overlap, and each task's count matches its judgments.
    counted = Task.objects.filter(project=project).annotate(n=Count("judgments"))
    assert {(t.judgment_count, t.n, t.is_complete) for t in counted} == {(2, 2, True)}
    assert not Claim.objects.filter(task__project=project, status=ClaimStatus.ACTIVE).exists()
