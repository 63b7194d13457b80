"""Session wiring: stop at once when PostgreSQL or Redis is down, and run a real Celery
worker process against the test database for the tests marked ``worker``."""

import os
import shutil
import socket
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest
import redis
from django.conf import settings

from tests.factories import (
    AnnotatorFactory,
    LeadFactory,
    ProjectFactory,
)
from tests.workers import is_postgres, start_celery_worker, stop_process

# Password hashing is deliberately slow; the tests hash a password for every user they make.
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The manifest storage needs collectstatic, which a deployment runs and a test run does not.
settings.STORAGES = {
    **settings.STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Without Redis (the quick loop) tasks run eagerly: within the request that sends them, after
# its commit, so a test reads their outcome right after; the background thread the demo runs
# them in has its tests of its own (tests/test_background_work.py, tests/e2e/test_demo_server.py).
settings.BACKGROUND_WORK = "inline"
# Throttle counts live in the cache (Redis): a prefix of this session's own keeps another
# test run in the same minute from sharing them.
settings.CACHES = {
    "default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
}
# Exports are written under a directory of this session's own, shared with the worker.
settings.EXPORTS_DIR = Path(tempfile.mkdtemp(prefix="ftapp-test-exports-"))
QUEUES = ",".join(q.name for q in settings.CELERY_TASK_QUEUES)
HOW_TO_START = (
    "Start them on Debian/Ubuntu with `apt-get install postgresql redis-server`, then "
    "`pg_ctlcluster <version> main start` and `redis-server --daemonize yes`; or with "
    "`docker compose up -d postgres redis` and "
    "DATABASE_URL=postgres://ftapp:ftapp@127.0.0.1:5432/ftapp.\n"
    "For a quick loop without them: DATABASE_URL=sqlite:// REDIS_URL= scripts/test"
)


def _postgres_problem() -> str | None:
    db = settings.DATABASES["default"]
    try:
        psycopg.connect(
            host=db["HOST"] or None,
            port=db["PORT"] or None,
            user=db["USER"] or None,
            password=db["PASSWORD"] or None,
            dbname=db["NAME"] or "postgres",
            connect_timeout=3,
        ).close()
    except psycopg.Error as exc:
        return f"PostgreSQL is not reachable at {db['HOST']}:{db['PORT']} ({exc})."
    return None


def _redis_problem() -> str | None:
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return f"Redis is not reachable at {settings.REDIS_URL} ({exc})."
    return None


def pytest_sessionstart(session):
    problems = []
    if is_postgres():
        problems.append(_postgres_problem())
    if settings.REDIS_URL:
        problems.append(_redis_problem())
    problems = [p for p in problems if p]
    if problems:
        pytest.exit("\n".join([*problems, HOW_TO_START]), returncode=3)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(settings.EXPORTS_DIR, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    worker_ready = bool(settings.REDIS_URL) and is_postgres()
    for item in items:
        # Left out of the quick loop (-m "not slow"): each waits on processes of its own.
        if item.get_closest_marker("worker") or "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("worker"):
            item.add_marker(
                pytest.mark.skipif(
                    not worker_ready,
                    reason="needs PostgreSQL and Redis (DATABASE_URL and REDIS_URL)",
                )
            )


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, tmp_path_factory):
    """A ``celery worker`` subprocess on every queue, using the test database through Redis.
    Yields its node name; the tests using it need ``django_db(transaction=True)`` so that
    what they write is committed and visible to the worker."""
    from ftapp.celery import app

    app.control.purge()
    name = f"ftapp-test-{os.getpid()}@{socket.gethostname()}"
    process = start_celery_worker(
        name=name,
        queues=QUEUES,
        log_path=tmp_path_factory.mktemp("worker") / "worker.log",
        concurrency=2,
    )
    yield name
    stop_process(process)


@pytest.fixture
def lead(db):
    return LeadFactory()


@pytest.fixture
def annotator(db):
    return AnnotatorFactory()


@pytest.fixture
def rating_project(lead):
    return ProjectFactory(created_by=lead, kind="rating")


@pytest.fixture
def pairwise_project(lead):
    return ProjectFactory(created_by=lead, kind="pairwise")
