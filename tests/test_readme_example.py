"""The README's copy-paste pipeline example runs as printed, against a live server and the
real worker: it pulls every judgment incrementally and downloads an export."""

import json
import re
import time
from pathlib import Path

import pytest

from annotation.models import Judgment
from annotation.services import api_token_create
from tests.factories import make_rated_project

README = Path(__file__).resolve().parent.parent / "README.md"


def _example() -> str:
    section = README.read_text().split("### Pulling labels into a pipeline", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_readme_pipeline_example(celery_worker, live_server, lead, tmp_path, monkeypatch):
    project = make_rated_project(lead)
    token = api_token_create(user=lead, name="readme")[1]
    code = _example()
    code = code.replace('"http://127.0.0.1:8000", "…", 1', f'"{live_server.url}", "{token}", '
                        f"{project.pk}")
    assert live_server.url in code
    monkeypatch.chdir(tmp_path)
    expected = sorted(
        Judgment.objects.filter(task__project=project).values_list("id", flat=True)
    )
    # A pull serves only judgments older than every transaction still running on the database
    # server (the README says so): another database's long transaction on a shared server
    # delays the newest, which the example's next run then fetches, as a scheduled pipeline.
    deadline = time.monotonic() + 120
    while True:
        exec(compile(code, "README.md", "exec"), {})  # noqa: S102 (the README's own code)
        lines = (tmp_path / "judgments.jsonl").read_text().splitlines()
        pulled = sorted(json.loads(line)["id"] for line in lines)
        assert len(pulled) == len(set(pulled)), "a judgment was pulled twice"
        if pulled == expected or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert pulled == expected
    assert (tmp_path / "train.jsonl").exists() and (tmp_path / "test.jsonl").exists()
    # Run again: nothing new, nothing repeated.
    exec(compile(code, "README.md", "exec"), {})  # noqa: S102
    again = (tmp_path / "judgments.jsonl").read_text().splitlines()
    assert len(again) == len(pulled)
