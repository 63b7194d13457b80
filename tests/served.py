"""The app served by gunicorn in a process of its own, against the test database, with
``DEBUG`` off: what a deployment runs, for the tests that break what it depends on (Redis, the
database's connections) while it serves."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from bench.serving import gunicorn as serve
from tests.workers import database_url, free_port


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
    with serve(environment, port, threads=threads, log=log) as url:
        yield Served(url=url, log=log)
