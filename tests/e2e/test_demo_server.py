"""The README's run command, end to end: with no DATABASE_URL or REDIS_URL the demo serves on
SQLite with in-process Celery, the lead and an annotator can log in and see projects, and a run
is worked on in the background while its page shows how it goes."""

import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.fake_model_server import FakeModelServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _demo_env(var_dir: Path) -> dict[str, str]:
    """A clean shell's environment: no database or broker named, and no PYTHONUNBUFFERED
    (which would hide a banner left in a buffer)."""
    left_out = {
        "DATABASE_URL",
        "REDIS_URL",
        "SECRET_KEY",
        "DJANGO_SETTINGS_MODULE",
        "PYTHONUNBUFFERED",
    }
    env = {k: v for k, v in os.environ.items() if k not in left_out}
    env.update(DEBUG="true", FTAPP_VAR_DIR=str(var_dir))
    return env


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("demo-var")
    port = _free_port()
    env = _demo_env(var_dir)
    log = var_dir / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "demo", "--addrport", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz/", timeout=2) as response:
                health = json.load(response)
                break
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"demo server did not come up:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
    yield {"base": base, "var_dir": var_dir, "health": health, "log": log}
    process.terminate()
    process.wait(timeout=30)


def test_the_banner_reaches_a_pipe_while_the_server_runs(tmp_path):
    """``scripts/demo | tee demo.log`` or a service manager's log: the passwords arrive while
    the demo serves, not when it stops."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--addrport", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=_demo_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    banner_read = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Open http://"):
                banner_read.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert banner_read.wait(timeout=120), "".join(lines)[-3000:]
        assert process.poll() is None  # still serving
    finally:
        process.terminate()
        process.wait(timeout=30)
        reader.join(timeout=10)
    passwords = json.loads((tmp_path / "demo_credentials.json").read_text())
    banner = "".join(lines)
    for username, password in passwords.items():
        assert re.search(rf"{username}\s+password: {re.escape(password)}", banner)
    assert f"Open http://127.0.0.1:{port}/" in banner


def _post_form(opener, url: str, fields: dict, *, timeout: float = 30):
    """Posts ``fields`` with the CSRF token of the form page at ``url``; follows the redirect."""
    form = opener.open(url, timeout=timeout).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": token}, doseq=True).encode()
    return opener.open(urllib.request.Request(url, data=data), timeout=timeout)


def _session(base: str, username: str, password: str):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    response = _post_form(opener, f"{base}/login/", {"username": username, "password": password})
    return opener, response


def _login(base: str, username: str, password: str) -> tuple[str, str]:
    _, response = _session(base, username, password)
    return response.geturl(), response.read().decode()


def test_demo_runs_on_sqlite_with_in_process_celery(demo_server):
    assert demo_server["health"] == {"database": "ok", "broker": "in-process"}
    assert (demo_server["var_dir"] / "ftapp.sqlite3").exists()
    log = demo_server["log"].read_text()
    assert "password:" in log


@pytest.mark.parametrize("username", ["lead", "annotator1"])
def test_lead_and_annotator_log_in_and_see_their_projects(demo_server, username):
    passwords = json.loads((demo_server["var_dir"] / "demo_credentials.json").read_text())
    url, page = _login(demo_server["base"], username, passwords[username])
    assert url == demo_server["base"] + "/"
    assert "Support answers — rating" in page and "Support answers — which is better" in page
    queue_links = re.findall(r'href="(/projects/\d+/queue/)"', page)
    if username == "lead":
        assert queue_links == []
    else:
        assert len(queue_links) == 2
        assert "0 judged," in page


def test_a_run_on_the_demo_returns_at_once_and_its_page_shows_it_failing(demo_server):
    """No worker and no Redis: the run is worked on in a background thread of the server.
    The model's server answers its model list but holds every completion until the request
    that started the run has returned, then answers each with a body that is no completion."""
    base = demo_server["base"]
    passwords = json.loads((demo_server["var_dir"] / "demo_credentials.json").read_text())
    lead, home = _session(base, "lead", passwords["lead"])
    project_id = re.search(r'href="/projects/(\d+)/"', home.read().decode()).group(1)
    gate = threading.Event()
    with FakeModelServer(gate=gate) as server:
        server.script.extend([("reply", 200, {"choices": []})] * 500)
        models = (
            _post_form(
                lead,
                f"{base}/models/",
                {"name": "never-right", "base_url": server.base_url, "model": "m", "params": "{}"},
            )
            .read()
            .decode()
        )
        endpoint_id = re.search(r'href="/models/(\d+)/">Edit never-right', models).group(1)
        started = _post_form(
            lead, f"{base}/projects/{project_id}/generate/", {"models": [endpoint_id]}
        )
        # The request has returned, and the model's server has not answered once.
        assert server.answered == 0
        run_url = started.geturl()
        assert re.fullmatch(rf"{base}/runs/\d+/", run_url)
        assert re.search(r'id="run-status">(queued|running)<', started.read().decode())
        gate.set()
        deadline = time.monotonic() + 60
        while True:
            page = lead.open(run_url, timeout=30).read().decode()
            if 'id="run-status">failed<' in page or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert 'id="run-status">failed<' in page
    # It stopped once its first requests were all refused alike (the rest left unsent).
    done, failed = re.search(r"· (\d+) done · (\d+) failed · \d+ remaining", page).groups()
    assert done == "0" and 0 < int(failed) <= server.answered
    assert "Unexpected response body" in page and 'hx-trigger="every 2s"' not in page
