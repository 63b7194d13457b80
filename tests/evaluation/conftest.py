"""Processes the model-side tests start for themselves: the real local model server (once per
session), and a Redis server and Celery workers of a test's own, which it may kill."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from celery import Celery
from django.conf import settings

from evaluation import local_model
from tests.conftest import ROOT, TEST_MODEL_KEY, TEST_MODEL_KEY_ENV, _database_url


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
        _stop(process)
        pytest.fail(f"{exc}\n{log_path.read_text()[-4000:]}")
    yield base_url
    _stop(process)


@dataclass
class RedisServer:
    """A ``redis-server`` of the test's own. Without ``appendonly`` it keeps nothing on disk,
    so a restart loses whatever it held; with it, it keeps its data as docker-compose.yml's
    Redis does."""

    directory: Path
    appendonly: bool = False
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.port = self.port or free_port()
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "yes" if self.appendonly else "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        self.kill()
        self.start()


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
    """Starts a Celery worker subprocess of the test's own on the ``generation`` queue of the
    given broker, against the test database; returns the process and its log file. Stopped at
    the end."""
    started: list[subprocess.Popen] = []

    def start(*, broker_url: str, loglevel: str = "INFO") -> tuple[subprocess.Popen, Path]:
        name = f"private-{len(started)}-{os.getpid()}@localhost"
        log_path = tmp_path / f"worker-{len(started)}.log"
        env = dict(
            os.environ,
            DATABASE_URL=_database_url(settings.DATABASES["default"]),
            REDIS_URL=broker_url,
            **{TEST_MODEL_KEY_ENV: TEST_MODEL_KEY},
        )
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "ftapp",
                    "worker",
                    "-Q",
                    "generation",
                    "--hostname",
                    name,
                    "--concurrency",
                    "1",
                    "--loglevel",
                    loglevel,
                    "--without-gossip",
                    "--without-mingle",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        control = Celery("probe", broker=broker_url, set_as_current=False).control
        deadline = time.monotonic() + 60
        while not control.ping(destination=[name], timeout=0.5):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"The worker did not start:\n{log_path.read_text()[-4000:]}")
        return process, log_path

    yield start
    for process in started:
        _stop(process)
