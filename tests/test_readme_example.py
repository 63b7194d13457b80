"""The README's copy-paste pipeline example runs as printed, against a live server and the
real worker: it pulls every judgment incrementally and downloads an export."""

import json
import re
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
    exec(compile(code, "README.md", "exec"), {})  # noqa: S102 (the README's own code)
    pulled = [json.loads(line) for line in (tmp_path / "judgments.jsonl").read_text().splitlines()]
    assert sorted(j["id"] for j in pulled) == sorted(
        Judgment.objects.filter(task__project=project).values_list("id", flat=True))
    assert (tmp_path / "train.jsonl").exists() and (tmp_path / "test.jsonl").exists()
    # Run again: nothing new, nothing repeated.
    exec(compile(code, "README.md", "exec"), {})  # noqa: S102
    again = (tmp_path / "judgments.jsonl").read_text().splitlines()
    assert len(again) == len(pulled)
