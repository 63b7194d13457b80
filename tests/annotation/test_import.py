import csv
import gzip
import io
import json

import pytest
from django.core.management import CommandError, call_command

from annotation.models import Judgment, Prompt, Response, Task
from annotation.services import claim_next, judgment_submit, prompts_import
from tests.annotation.test_api_projects import client_for
from tests.annotation.test_queue import assign
from tests.factories import ProjectFactory, add_member

pytestmark = pytest.mark.django_db


def jsonl(*records) -> bytes:
    return b"".join(
        (r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records
    )


def run(project, data: bytes, name="data.jsonl", commit=True):
    return prompts_import(project=project, stream=io.BytesIO(data), name=name, commit=commit)


GOOD = {
    "id": "q-17",
    "prompt": "How do I open a savings account?",
    "system": "You are a bank's assistant.",
    "metadata": {"topic": "accounts", "lang": "en"},
    "responses": [
        {"model": "base-v1", "text": "Go to a branch."},
        {"model": "ft-r1", "text": "Open the app, then Accounts > New."},
    ],
}


def test_a_good_file_imports_prompts_responses_and_rating_tasks(rating_project):
    report = run(rating_project, jsonl(GOOD, {"id": 2, "prompt": "Close my card?"}))
    assert report.ok and report.committed
    assert (report.records, report.prompts, report.responses, report.tasks) == (2, 2, 2, 2)
    prompt = Prompt.objects.get(external_id="q-17")
    assert prompt.system == "You are a bank's assistant." and prompt.metadata["topic"] == "accounts"
    assert Prompt.objects.get(external_id="2").text == "Close my card?"


def test_pairwise_projects_get_a_task_per_pair_of_models(pairwise_project):
    record = {**GOOD, "responses": [*GOOD["responses"], {"model": "ft-r2", "text": "Use the app."}]}
    assert run(pairwise_project, jsonl(record)).tasks == 3


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"{not json", "Invalid JSON"),
        (json.dumps({"id": "x"}).encode(), "Missing prompt"),
        (json.dumps({"id": "x", "prompt": "   "}).encode(), "prompt is empty"),
        (json.dumps({"id": "x", "prompt": 5}).encode(), "prompt must be a string"),
        (
            json.dumps(
                {
                    "id": "x",
                    "messages": [
                        {"role": "user", "content": "hi"},
                        {"role": "assistant", "content": "yo"},
                    ],
                }
            ).encode(),
            "must end with a user turn",
        ),
        (
            json.dumps({"id": "x", "messages": [{"role": "robot", "content": "hi"}]}).encode(),
            "unknown role",
        ),
        (
            json.dumps({"id": "x", "messages": [{"role": "user", "content": ""}]}).encode(),
            "content must be a non-empty string",
        ),
        (
            json.dumps(
                {"id": "x", "prompt": "hi", "responses": [{"model": "m", "text": ""}]}
            ).encode(),
            "text must be a non-empty string",
        ),
        (
            json.dumps({"id": "x", "prompt": "hi", "responses": {"model": "m"}}).encode(),
            "responses must be a list",
        ),
        (json.dumps({"id": ["x"], "prompt": "hi"}).encode(), "id must be a string or an integer"),
        (
            json.dumps({"id": "x", "prompt": "hi", "metadata": "en"}).encode(),
            "metadata must be an object",
        ),
        (json.dumps({"id": "x", "prompt": "hi", "colour": 1}).encode(), "Unknown field 'colour'"),
        (json.dumps({"id": "x", "prompt": "a" * 1_000_001}).encode(), "larger than"),
        (b"[1, 2]", "must be a JSON object"),
        # PostgreSQL stores no NUL character; found by tests/test_schema_fuzz.py.
        (json.dumps({"id": "x", "prompt": "a\u0000b"}).encode(), "NUL character"),
        (json.dumps({"id": "x", "prompt": "hi", "metadata": {"\u0000": 1}}).encode(), "NUL"),
    ],
)
def test_each_kind_of_error_is_reported_with_its_line_and_nothing_is_written(
    rating_project, line, message
):
    report = run(rating_project, jsonl(GOOD, {"id": "ok", "prompt": "fine"}, line))
    assert not report.ok and not report.committed
    assert [(e.line, message in e.message) for e in report.errors] == [(3, True)], report.errors
    assert not Prompt.objects.exists() and not Task.objects.exists()


def test_duplicate_ids_in_a_file_are_errors(rating_project):
    report = run(
        rating_project, jsonl(GOOD, {"id": "b", "prompt": "x"}, {**GOOD, "prompt": "again"})
    )
    assert [(e.line, e.message) for e in report.errors] == [
        (3, "Duplicate id 'q-17', first on line 1.")
    ]


def test_every_error_is_listed_not_just_the_first(rating_project):
    lines = [b"{bad"] * 3 + [json.dumps({"id": "x"}).encode()]
    report = run(rating_project, jsonl(*lines))
    assert [e.line for e in report.errors] == [1, 2, 3, 4] and report.error_count == 4


def test_warnings_do_not_block(rating_project):
    report = run(
        rating_project,
        jsonl(
            GOOD,
            {
                "id": "dup-text",
                "prompt": "how do I open a  savings account?",
                "system": "You are a bank's assistant.",
            },
            {"id": "long", "prompt": "x" * 20_001},
            {
                "id": "same",
                "prompt": "y",
                "responses": [{"model": "a", "text": "Same."}, {"model": "b", "text": "same."}],
            },
        ),
    )
    assert report.ok and report.prompts == 4
    messages = {w.line: w.message for w in report.warnings}
    assert "Same prompt as line 1" in messages[2]
    assert "longer than" in messages[3]
    assert "identical" in messages[4]


def test_reimport_is_idempotent_and_adds_new_responses(rating_project):
    run(rating_project, jsonl(GOOD))
    again = run(rating_project, jsonl(GOOD))
    assert (again.prompts, again.responses, again.tasks) == (0, 0, 0)
    more = {**GOOD, "responses": [*GOOD["responses"], {"model": "ft-r2", "text": "New answer."}]}
    added = run(rating_project, jsonl(more))
    assert (added.prompts, added.responses, added.tasks) == (0, 1, 1)
    assert Response.objects.count() == 3 and Task.objects.count() == 3


def test_reimport_never_changes_a_judged_prompt(rating_project, annotator):
    run(rating_project, jsonl(GOOD, {"id": "other", "prompt": "Unjudged?"}))
    assign(rating_project, [annotator])
    claim = claim_next(user=annotator, project_id=rating_project.pk)
    judgment_submit(user=annotator, task_id=claim.task_id, rating=4)
    judged = Prompt.objects.get(tasks__id=claim.task_id)
    changed = [
        {"id": judged.external_id, "prompt": "A different question"},
        {"id": "other" if judged.external_id != "other" else "q-17", "prompt": "Reworded?"},
    ]
    report = run(rating_project, jsonl(*changed))
    assert report.ok and report.prompts_kept == 1 and report.prompts_updated == 1
    judged.refresh_from_db()
    assert judged.text != "A different question"
    assert Judgment.objects.count() == 1


def test_gzip_and_json_list_and_csv(rating_project):
    assert run(rating_project, gzip.compress(jsonl(GOOD)), name="x.jsonl.gz").prompts == 1
    listed = json.dumps([{"id": "l1", "prompt": "From a list"}]).encode()
    assert run(rating_project, listed, name="body").prompts == 1
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["id", "prompt", "system", "response", "model"])
    writer.writerow(["c1", "CSV question?", "", "Answer one", "m1"])
    writer.writerow(["c1", "CSV question?", "", "Answer two", "m2"])
    writer.writerow(["c2", "Second, with a comma", "Be brief.", "", ""])
    report = run(rating_project, rows.getvalue().encode(), name="data.csv")
    assert report.ok, report.errors
    assert (report.prompts, report.responses, report.tasks) == (2, 2, 2)
    assert Prompt.objects.get(external_id="c2").system == "Be brief."


def test_csv_with_a_bad_header_or_conflicting_rows(rating_project):
    report = run(rating_project, b"id,question\n1,hi\n", name="x.csv")
    assert not report.ok and "header" in report.errors[0].message
    conflicting = b"id,prompt,system,response,model\n1,hi,,a,m\n1,bye,,b,m\n"
    report = run(rating_project, conflicting, name="x.csv")
    assert [e.line for e in report.errors] == [3]


def test_not_utf8_and_empty_files(rating_project):
    assert "UTF-8" in run(rating_project, "é".encode("latin-1") + b"\n").errors[0].message
    assert "no records" in run(rating_project, b"\n\n").errors[0].message


def test_dry_run_writes_nothing(rating_project):
    report = run(rating_project, jsonl(GOOD), commit=False)
    assert report.ok and not report.committed and not Prompt.objects.exists()


def test_api_import_jsonl_and_errors(rating_project, lead, annotator):
    client = client_for(lead)
    url = f"/api/v1/projects/{rating_project.pk}/import/"
    ok = client.post(url, data=jsonl(GOOD), content_type="application/x-ndjson")
    assert ok.status_code == 200, ok.json()
    assert (
        ok.json()["prompts"],
        ok.json()["responses"],
        ok.json()["tasks"],
        ok.json()["errors"],
    ) == (1, 2, 2, [])
    listed = client.post(url, data=[{"id": "j", "prompt": "From JSON"}], format="json")
    assert listed.status_code == 200 and listed.json()["prompts"] == 1
    bad = client.post(url, data=jsonl({"id": "z"}, b"{oops"), content_type="application/x-ndjson")
    assert bad.status_code == 400
    body = bad.json()
    assert body["error"]["code"] == "invalid" and [e["line"] for e in body["errors"]] == [1, 2]
    assert Prompt.objects.count() == 2
    add_member(rating_project, annotator)
    assert (
        client_for(annotator)
        .post(url, data=jsonl(GOOD), content_type="application/x-ndjson")
        .status_code
        == 403
    )


def test_api_import_of_an_empty_body_is_a_400_not_a_crash(rating_project, lead):
    # DRF gives no stream at all for a body of length 0; found by tests/test_schema_fuzz.py.
    url = f"/api/v1/projects/{rating_project.pk}/import/"
    empty = client_for(lead).post(url, data=b"", content_type="application/x-ndjson")
    assert empty.status_code == 400
    assert [e["message"] for e in empty.json()["errors"]] == ["The file has no records."]


def test_cli_import(rating_project, tmp_path, capsys):
    path = tmp_path / "prompts.jsonl.gz"
    path.write_bytes(gzip.compress(jsonl(GOOD)))
    call_command("import_prompts", str(rating_project.pk), str(path))
    assert "1 new prompts" in capsys.readouterr().out
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(jsonl({"id": "x"}))
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_prompts", rating_project.name, str(bad))
    assert f"{bad}:1: error: Missing prompt" in capsys.readouterr().err


def test_baseline_pairing_on_import(lead):
    project = ProjectFactory(
        created_by=lead, kind="pairwise", pairing="baseline", baseline_model="base-v1"
    )
    record = {**GOOD, "responses": [*GOOD["responses"], {"model": "ft-r2", "text": "Use the app."}]}
    run(project, jsonl(record))
    pairs = sorted(Task.objects.values_list("response_a__model_name", "response_b__model_name"))
    assert pairs == [("base-v1", "ft-r1"), ("base-v1", "ft-r2")]
