"""Exports through their three doors — the API (built by the real worker through Redis), the
page and ``manage.py export`` — and the files as training code loads them."""

import hashlib
import json

import pytest
from django.core.management import CommandError, call_command

from evaluation.exports.services.build import export_build
from evaluation.exports.services.files import export_dir
from evaluation.exports.services.jobs import export_start
from evaluation.models import Export
from tests.factories import (
    MULTI_TURN,
    AnnotatorFactory,
    add_member,
    build,
    client_for,
    make_pairwise_project,
    make_rated_project,
    rows,
)
from tests.workers import wait_for_export


@pytest.fixture
def rated(lead):
    return make_rated_project(lead)


@pytest.fixture
def pairwise(lead):
    return make_pairwise_project(lead)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_api_export_is_built_by_the_worker_and_downloads_streamed(celery_worker, rated):
    client = client_for(rated.created_by)
    response = client.post(
        f"/api/v1/projects/{rated.pk}/exports/",
        {"kind": "dpo", "format": "trl", "filters": {"margin": 1.0}, "test_fraction": 0.5,
         "seed": 3},
        format="json",
    )
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "queued"
    body = wait_for_export(client, response.json()["id"])
    assert body["status"] == "completed", body["error"]
    assert body["rows"]["train"] + body["rows"]["test"] == 8
    assert body["card"]["kind"] == "dpo" and body["options"]["margin"] == 1.0
    assert body["progress"]["percent"] == 100
    for split in ("train", "test"):
        download = client.get(f"/api/v1/exports/{body['id']}/download/?split={split}")
        assert download.status_code == 200
        assert download["Content-Type"] == "application/jsonl"
        assert f'-{split}.jsonl"' in download["Content-Disposition"]
        content = b"".join(download.streaming_content)
        assert hashlib.sha256(content).hexdigest() == body["files"][split]["sha256"]
        assert len(content.splitlines()) == body["rows"][split]
    assert client.get(f"/api/v1/exports/{body['id']}/download/?split=all").status_code == 400


@pytest.mark.django_db
def test_api_refuses_bad_requests_with_field_errors(rated):
    client = client_for(rated.created_by)
    url = f"/api/v1/projects/{rated.pk}/exports/"
    bad_kind = client.post(url, {"kind": "rlhf"}, format="json")
    assert bad_kind.status_code == 400 and "kind" in bad_kind.json()["error"]["fields"]
    bad_filter = client.post(url, {"kind": "dpo", "filters": {"margn": 2}}, format="json")
    assert bad_filter.status_code == 400
    assert "filters.margn" in bad_filter.json()["error"]["fields"]
    unknown_field = client.post(url, {"kind": "dpo", "split": "x"}, format="json")
    assert unknown_field.status_code == 400
    kto_openai = client.post(url, {"kind": "kto", "format": "openai"}, format="json")
    assert kto_openai.status_code == 400 and "format" in kto_openai.json()["error"]["fields"]
    assert not Export.objects.exists()
    queued = client.post(url, {"kind": "sft"}, format="json").json()
    assert client.get(f"/api/v1/exports/{queued['id']}/download/").status_code == 409
    annotator = AnnotatorFactory()
    add_member(rated, annotator)
    assert client_for(annotator).get(f"/api/v1/exports/{queued['id']}/").status_code == 403
    listed = client.get(url).json()
    assert [e["id"] for e in listed] == [queued["id"]]


@pytest.mark.django_db
def test_export_page_starts_an_export_and_shows_its_card_and_rows(client, rated):
    client.force_login(rated.created_by)
    page = client.get(f"/projects/{rated.pk}/exports/")
    assert page.status_code == 200 and b"Start export" in page.content
    response = client.post(
        f"/projects/{rated.pk}/exports/",
        {"kind": "sft", "format": "trl", "test_fraction": "0", "seed": "1", "per_prompt": "2",
         "exclude_gold": "on", "dedupe": "on", "include_rewrites": "on"},
    )
    export = Export.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/exports/{export.pk}/"
    assert export.options["per_prompt"] == 2 and export.options["redact_pii"] is False
    export_build(export_id=export.pk)
    detail = client.get(f"/exports/{export.pk}/").content.decode()
    assert "Data card" in detail
    export.refresh_from_db()
    assert export.files["train"]["sha256"] in detail
    preview = [r["messages"][-1]["content"] for r in rows(export, "train")[:5]]
    assert preview and all(f"&quot;{text}&quot;" in detail for text in preview)
    assert 'hx-trigger="every 2s"' not in detail  # finished: no more polling
    invalid = client.post(f"/projects/{rated.pk}/exports/", {"kind": "dpo", "margin": "lots"})
    assert invalid.status_code == 400 and Export.objects.count() == 1
    assert "margin must be a number" in invalid.content.decode()


@pytest.mark.django_db
def test_export_page_polls_while_running(client, rated):
    client.force_login(rated.created_by)
    export = export_start(by=rated.created_by, project_id=rated.pk, kind="sft", format="trl")
    page = client.get(f"/exports/{export.pk}/").content.decode()
    assert 'hx-trigger="every 2s"' in page and "queued" in page
    partial = client.get(f"/exports/{export.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith("<div id=\"export-status\"")


@pytest.mark.django_db
def test_command_line_export(rated, tmp_path):
    with (tmp_path / "out.txt").open("w") as stdout:
        call_command("export", str(rated.pk), kind="kto", output=tmp_path / "d", stdout=stdout)
    export = Export.objects.get()
    assert f"Export {export.pk} written to" in (tmp_path / "out.txt").read_text()
    assert export.created_by is None and export.status == "completed"
    names = sorted(p.name for p in (tmp_path / "d").iterdir())
    assert names == ["card.json", "card.md", "judgments_used.txt", "test.jsonl", "train.jsonl"]
    copied = (tmp_path / "d" / "train.jsonl").read_bytes()
    assert hashlib.sha256(copied).hexdigest() == export.files["train"]["sha256"]
    with pytest.raises(CommandError, match="not JSON"):
        call_command("export", str(rated.pk), kind="kto", output=tmp_path, filters="{nope")
    with pytest.raises(CommandError, match="no KTO format"):
        call_command("export", str(rated.pk), kind="kto", format="openai", output=tmp_path)
    with pytest.raises(CommandError, match="No project"):
        call_command("export", "Nope", kind="sft", output=tmp_path)


def _load(path, tmp_path):
    datasets = pytest.importorskip("datasets", reason="needs the trl-check extra")
    return datasets.load_dataset(
        "json", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf")
    )


@pytest.mark.parametrize(
    ("kind", "fmt", "columns"),
    [
        ("sft", "trl", {"messages"}),
        ("sft", "openai", {"messages"}),
        ("dpo", "trl", {"prompt", "chosen", "rejected"}),
        ("dpo", "openai", {"input", "preferred_output", "non_preferred_output"}),
        ("kto", "trl", {"prompt", "completion", "label"}),
        ("judgments", "trl", {"id", "task_id", "annotator", "rating", "choice"}),
    ],
)
@pytest.mark.django_db
def test_files_load_with_datasets_as_trl_expects(rated, tmp_path, monkeypatch, kind, fmt,
                                                 columns):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    export = build(rated, kind, fmt, test_fraction=0.0)
    dataset = _load(export_dir(export) / "train.jsonl", tmp_path)
    assert len(dataset) == export.files["train"]["rows"] > 0
    assert columns <= set(dataset.column_names)
    first = dataset[0]
    if kind == "sft":
        assert first["messages"][-1]["role"] == "assistant"
        assert {m["role"] for m in first["messages"][:-1]} <= {"system", "user", "assistant"}
    elif kind == "dpo" and fmt == "trl":
        assert first["prompt"][-1]["role"] == "user"
        assert first["chosen"][0]["role"] == first["rejected"][0]["role"] == "assistant"
    elif kind == "dpo":
        assert first["input"]["messages"][-1]["role"] == "user"
        assert first["preferred_output"][0]["role"] == "assistant"
    elif kind == "kto":
        assert isinstance(first["label"], bool)
        assert first["completion"][0]["role"] == "assistant"
    multi = [r for r in rows(export) if json.dumps(MULTI_TURN)[1:-1] in json.dumps(r)]
    assert multi  # the multi-turn prompt keeps its turns


@pytest.mark.django_db
def test_exported_files_pass_validate_dataset(rated, pairwise, tmp_path):
    for project in (rated, pairwise):
        for kind, fmt in (("sft", "trl"), ("dpo", "trl"), ("dpo", "openai"), ("kto", "trl"),
                          ("judgments", "trl")):
            export = build(project, kind, fmt, test_fraction=0.0)
            if not export.files["train"]["rows"]:
                continue
            out = tmp_path / f"{project.pk}-{kind}-{fmt}.txt"
            with out.open("w") as stdout:
                call_command("validate_dataset", str(export_dir(export) / "train.jsonl"),
                             kind=kind, format=fmt, stdout=stdout)
            assert ": error:" not in out.read_text()
