"""The app served by gunicorn (gthread) in a process of its own, as a deployment runs it: for
the benchmarks that measure it over HTTP and for the tests that break what it depends on."""

import http.client
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench._common import ROOT


@contextmanager
def gunicorn(
    env: dict[str, str], port: int, *, workers: int = 1, threads: int = 1, log: Path | None = None
) -> Iterator[str]:
    """Serves the app on 127.0.0.1:``port`` with ``env`` until the block ends, once
    ``/healthz/`` answers; yields its base URL. Its output goes to ``log`` when given."""
    argv = [
        sys.executable, "-m", "gunicorn", "ftapp.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--worker-class", "gthread", "--threads", str(threads),
        "--keep-alive", "30", "--log-level", "warning",
    ]  # fmt: skip
    if log:
        with log.open("w") as out:
            server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    else:
        server = subprocess.Popen(argv, cwd=ROOT, env=env)
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
                said = f":\n{log.read_text()[-4000:]}" if log else ""
                raise RuntimeError(f"gunicorn did not start{said}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
