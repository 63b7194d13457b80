"""Processes the model-side tests start for themselves: the real local model server (once per
session), and a Redis server and Celery workers of a test's own, which it may kill."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation.generation import local_model
from tests.workers import ROOT, RedisServer, free_port, start_celery_worker, stop_process


@pytest.fixture(scope="session")
def local_model_server(tmp_path_factory) -> str:
    """``manage.py serve_local_model`` (llama.cpp with Gemma 3 270M) on a free port for the
    whole session; yields its base URL. Skipped when the ``local`` extra is not installed."""
    problem = local_model.unavailable_reason()
    if problem:
        pytest.skip(problem)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    log_path = tmp_path_factory.mktemp("local-model") / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve_local_model", "--port", str(port)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        # The first start joins the 253 MB model file; later ones only check it.
        local_model.wait_until_ready(base_url, timeout=180, process=process)
    except local_model.LocalModelUnavailable as exc:
        stop_process(process)
        pytest.fail(f"{exc}\n{log_path.read_text()[-4000:]}")
    yield base_url
    stop_process(process)


@pytest.fixture
def start_redis(tmp_path):
    """Starts a Redis server of the test's own on a free port; killed at the end."""
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server on PATH")
    started: list[RedisServer] = []

    def start(*, appendonly: bool = False) -> RedisServer:
        directory = tmp_path / f"redis-{len(started)}"
        directory.mkdir()
        server = RedisServer(directory=directory, appendonly=appendonly)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.kill()


@pytest.fixture
def start_worker(django_db_setup, tmp_path):
    """Starts a Celery worker subprocess of the test's own on ``queues`` of the given broker,
    against the test database; returns the process and its log file. ``beat`` embeds beat;
    other options go to ``start_celery_worker``. Stopped at the end."""
    started: list[subprocess.Popen] = []

    def start(
        *, broker_url: str, queues: str = "generation", beat: bool = False, **options
    ) -> tuple[subprocess.Popen, Path]:
        number = len(started)
        log_path = tmp_path / f"worker-{number}.log"
        process = start_celery_worker(
            name=f"private-{number}-{os.getpid()}@localhost",
            queues=queues,
            log_path=log_path,
            broker_url=broker_url,
            beat_schedule=tmp_path / f"beat-{number}" if beat else None,
            **options,
        )
        started.append(process)
        return process, log_path

    yield start
    for process in started:
        stop_process(process)
