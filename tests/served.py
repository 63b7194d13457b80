"""The app served by gunicorn in a process of its own, against the test database, with
``DEBUG`` off: what a deployment runs, for the tests that break what it depends on (Redis, the
database's connections) while it serves."""

import http.client
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from tests.workers import ROOT, database_url, free_port


@dataclass
class Served:
    url: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def gunicorn(log: Path, *, threads: int = 4, **env: str) -> Iterator[Served]:
    """Serves the app (one gthread worker) until the block ends, once ``/healthz/`` answers;
    ``env`` adds to or overrides the environment, e.g. ``REDIS_URL``."""
    port = free_port()
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.served_settings",
        "DATABASE_URL": database_url(),
        "DEBUG": "false",
        "HTTPS": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "FTAPP_EXPORTS_DIR": str(settings.EXPORTS_DIR),
        "LOG_LEVEL": "WARNING",
        **env,
    }
    with log.open("w") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "ftapp.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--worker-class",
                "gthread",
                "--threads",
                str(threads),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                probe.request("GET", "/healthz/")
                if probe.getresponse().status == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start:\n{log.read_text()[-4000:]}")
            time.sleep(0.2)
        yield Served(url=f"http://127.0.0.1:{port}", log=log)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
