"""Processes the tests start for themselves against the test database: Celery workers on a
Redis (the shared one or a test's own), and Redis servers a test may kill."""

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from celery import Celery
from django.conf import settings

from annotation.models import Response
from evaluation.models import GenerationItem, ItemStatus

ROOT = Path(__file__).resolve().parent.parent
# The API key the workers are given for the test model endpoints, in a variable declared as a
# model key by its prefix; the key must never be stored.
TEST_MODEL_KEY = "sk-ftapp-test-key-0123456789"
TEST_MODEL_KEY_ENV = "FTAPP_MODEL_KEY_TEST"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def is_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def database_url() -> str:
    """The test database as a URL, for the processes the tests start."""
    db = settings.DATABASES["default"]
    auth = quote(db["USER"] or "")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"])
    host = db["HOST"] or "127.0.0.1"
    port = db["PORT"] or 5432
    return f"postgres://{auth}@{host}:{port}/{db['NAME']}"


def start_celery_worker(
    *,
    name: str,
    queues: str,
    log_path: Path,
    broker_url: str | None = None,
    concurrency: int = 1,
    loglevel: str = "INFO",
    beat_schedule: Path | None = None,
    own_group: bool = False,
    env: dict[str, str] | None = None,
) -> subprocess.Popen:
    """Starts ``celery worker`` on ``queues`` of ``broker_url`` (the session's Redis when
    None) with the test model key and exports directory, and returns once it answers a ping.
    ``beat_schedule`` embeds beat; ``own_group`` makes it the leader of its own process group,
    so that ``stop_process(..., kill=True)`` reaches its pool too."""
    environment = dict(
        os.environ,
        DATABASE_URL=database_url(),
        FTAPP_EXPORTS_DIR=str(settings.EXPORTS_DIR),
        **{TEST_MODEL_KEY_ENV: TEST_MODEL_KEY},
        **({"REDIS_URL": broker_url} if broker_url else {}),
        **(env or {}),
    )
    argv = [
        sys.executable, "-m", "celery", "-A", "ftapp", "worker", "--hostname", name,
        "-Q", queues, "--concurrency", str(concurrency), "--loglevel", loglevel,
        "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    if beat_schedule:
        argv += ["--beat", "--schedule", str(beat_schedule)]
    with log_path.open("w") as log:
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=own_group,
        )
    probe = Celery("probe", broker=broker_url or settings.CELERY_BROKER_URL, set_as_current=False)
    deadline = time.monotonic() + 60
    while not probe.control.ping(destination=[name], timeout=0.5):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process, kill=True)
            pytest.fail(f"The Celery worker did not start:\n{log_path.read_text()[-4000:]}")
    return process


def stop_process(process: subprocess.Popen, *, kill: bool = False) -> None:
    """SIGTERM (a warm shutdown), then SIGKILL after 30 s; ``kill=True`` sends SIGKILL at
    once, to the whole process group when the process leads one: nothing is acknowledged,
    rejected or cleaned up."""
    if process.poll() is not None:
        return
    own_group = os.getpgid(process.pid) == process.pid

    def send(sig: int) -> None:
        if own_group:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)

    if not kill:
        send(signal.SIGTERM)
        try:
            process.wait(timeout=30)
            return
        except subprocess.TimeoutExpired:
            pass
    send(signal.SIGKILL)
    process.wait()


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


def wait_until(predicate, what: str, timeout: float = 120):
    """Polls ``predicate`` until it returns something true, and returns that."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.05)
    return result


def wait_for_run(run, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.ended:
            return run
        time.sleep(0.2)
    pytest.fail(f"run {run.pk} still {run.status}")


def wait_for_export(client, export_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/exports/{export_id}/").json()
        if body["status"] in ("completed", "failed"):
            return body
        time.sleep(0.2)
    pytest.fail(f"export {export_id} still {body['status']}")


# The fault tests' generation runs: two chunks of ten, one in a worker, one waiting in Redis.
RUN_PROMPTS = 20


def dispatch_runs_through(patch: pytest.MonkeyPatch, broker_url: str) -> None:
    """Runs go to the test's own Redis, where only the test's own worker listens."""
    producer = Celery("producer", broker=broker_url, set_as_current=False)
    patch.setattr(
        "evaluation.generation.services.runs._dispatch",
        lambda run_id: producer.send_task(
            "generation.dispatch_run", args=[run_id], queue="generation"
        ),
    )


def done_items(run) -> int:
    return GenerationItem.objects.filter(run=run, status=ItemStatus.DONE).count()


def wait_for_done_items(run, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while done_items(run) < count:
        assert time.monotonic() < deadline, f"only {done_items(run)} items done"
        time.sleep(0.05)


def assert_each_item_answered_once(run, project, server) -> None:
    items = GenerationItem.objects.filter(run=run)
    assert set(items.values_list("status", flat=True)) == {ItemStatus.DONE}
    responses = Response.objects.filter(prompt__project=project)
    assert responses.count() == RUN_PROMPTS
    assert sorted(responses.values_list("generation__sample", flat=True)) == [0] * RUN_PROMPTS
    assert len({r.prompt_id for r in responses}) == RUN_PROMPTS
    # Not one request was made twice: the item in flight at the restart was stored, not redone.
    assert len(server.requests) == RUN_PROMPTS


class Workers:
    """Starts Celery workers on every queue of a given broker, each the leader of its own
    process group; ``rescuer=True`` adds embedded beat and a one-second staleness, so the
    sweep runs every second."""

    def __init__(self, start_worker) -> None:
        self.start_worker = start_worker
        self.started: list[subprocess.Popen] = []

    def start(
        self,
        *,
        broker_url: str,
        rescuer: bool = False,
        max_attempts: int = 3,
        concurrency: int = 2,
    ) -> tuple[subprocess.Popen, Path]:
        process, log_path = self.start_worker(
            broker_url=broker_url,
            queues="generation,exports,default",
            concurrency=concurrency,
            beat=rescuer,
            own_group=True,
            env={
                "FTAPP_JOB_MAX_ATTEMPTS": str(max_attempts),
                "FTAPP_STALE_JOB_SECONDS": "1" if rescuer else "3600",
            },
        )
        self.started.append(process)
        return process, log_path

    @staticmethod
    def kill_whole(process: subprocess.Popen) -> None:
        """SIGKILL to the main process and its pool at once: nothing is acknowledged,
        rejected or cleaned up."""
        stop_process(process, kill=True)

    def stop_all(self) -> None:
        for process in self.started:
            stop_process(process)
