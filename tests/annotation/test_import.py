import csv
import functools
import gzip
import io
import json
import tracemalloc

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from annotation.models import Judgment, Prompt, Response, Task
from annotation.services import claim_next, judgment_submit, prompts_import
from ftapp.actors import SYSTEM
from tests.factories import ProjectFactory, add_member, assign, client_for

pytestmark = pytest.mark.django_db


def jsonl(*records) -> bytes:
    return b"".join(
        (r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records
    )


def deep(levels: int, opening: bytes = b"[", closing: bytes = b"]") -> bytes:
    return opening * levels + b"1" + closing * levels


def run(project, data: bytes, name="data.jsonl", commit=True):
    return prompts_import(
        by=SYSTEM, project=project, stream=io.BytesIO(data), name=name, commit=commit
    )


# Values PostgreSQL's jsonb refuses, or Python cannot read or print back, or nested so deep
# that whatever walks them runs out of stack: each was a 500 (after the whole file had
# validated, for the numbers).
HOSTILE = [
    (b'{"id": "x", "prompt": "hi", "metadata": {"n": 1e400}}', "out of range"),
    (b'{"id": "x", "prompt": "hi", "metadata": {"n": -1e400}}', "out of range"),
    (b'{"id": "x", "prompt": "hi", "metadata": {"n": NaN}}', "NaN is not a JSON number"),
    (b'{"id": "x", "prompt": "hi", "metadata": {"n": -Infinity}}', "not a JSON number"),
    (b'{"id": "x", "prompt": "hi", "metadata": {"n": %s}}' % (b"9" * 5000), "out of range"),
    (b'{"id": "x", "prompt": "hi", "metadata": {"n": %s}}' % (b"9" * 400), "out of range"),
    (b'{"id": "x", "prompt": "hi", "metadata": {"n": %s}}' % deep(900), "nested deeper"),
    (deep(900), "nested deeper"),
    (deep(100_000), "nested deeper"),
    (deep(100_000, b'{"a": ', b"}"), "nested deeper"),
]

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
        *HOSTILE,
    ],
)
def test_each_kind_of_error_is_reported_with_its_line_and_nothing_is_written(
    rating_project, line, message
):
    report = run(rating_project, jsonl(GOOD, {"id": "ok", "prompt": "fine"}, line))
    assert not report.ok and not report.committed
    assert [(e.line, message in e.message) for e in report.errors] == [(3, True)], report.errors
    assert not Prompt.objects.exists() and not Task.objects.exists()


@pytest.mark.parametrize(("item", "message"), HOSTILE)
def test_hostile_values_in_a_json_list_are_errors_of_their_record(rating_project, item, message):
    listed = b"[%s,\n%s,\n%s]" % (json.dumps(GOOD).encode(), b'{"id": "ok", "prompt": "f"}', item)
    report = run(rating_project, listed, name="body")
    assert [(e.line, message in e.message) for e in report.errors] == [(3, True)], report.errors
    assert not Prompt.objects.exists()


def test_a_line_past_the_record_limit_is_skipped_and_the_next_one_read(rating_project):
    exactly = b'{"id": "x", "prompt": "' + b"a" * (1_000_000 - 25) + b'"}'
    assert len(exactly + b"\n") == 1_000_001
    report = run(rating_project, jsonl(exactly, {"id": "y"}, {"id": "z", "prompt": "ok"}))
    assert [(e.line, e.message[:20]) for e in report.errors] == [
        (1, "The record is larger"),
        (2, "Missing prompt (or m"),
    ]


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


@pytest.mark.parametrize(
    ("content_type", "body", "tasks"),
    [
        ("application/json", json.dumps([GOOD]).encode(), 2),
        ("application/x-ndjson", jsonl(GOOD), 2),
        ("text/csv", b"id,prompt,response,model\nq-17,Hi?,Hello.,m1\n", 1),
    ],
)
def test_gzipped_bodies_import_over_the_api(rating_project, lead, content_type, body, tasks):
    # A body under 8 MiB is spooled in memory, in a file opened for writing: gzip took it for
    # one to write to (a 500 for a JSON list, "cannot be read" for the others).
    url = f"/api/v1/projects/{rating_project.pk}/import/"
    response = client_for(lead).post(url, data=gzip.compress(body), content_type=content_type)
    assert response.status_code == 200, response.json()
    assert (response.json()["prompts"], response.json()["tasks"]) == (1, tasks)


def test_a_corrupt_gzip_stream_is_an_error_not_a_crash(rating_project, lead):
    broken = gzip.compress(jsonl(GOOD) * 50)
    broken = broken[:30] + bytes(b ^ 0x5A for b in broken[30:60]) + broken[60:]
    for name in ("x.jsonl.gz", "body"):
        report = run(rating_project, broken, name=name)
        assert not report.ok and "cannot be read" in report.errors[0].message, report.errors
    assert not Prompt.objects.exists()


def test_a_csv_field_up_to_the_record_limit_imports_and_a_longer_one_is_an_error(rating_project):
    # Python's csv stops at 131,072 characters a field: that was a 500. The limit is the
    # record's, as in JSON Lines.
    long_text = "x" * 200_000
    report = run(rating_project, f"id,prompt\na,{long_text}\n".encode(), name="x.csv")
    assert report.ok and report.prompts == 1, report.errors
    assert "longer than" in report.warnings[0].message
    too_long = "x" * 1_000_001
    report = run(rating_project, f"id,prompt\nb,hi\nc,{too_long}\nd,yo\n".encode(), name="x.csv")
    assert [(e.line, "larger than" in e.message) for e in report.errors] == [(3, True)]
    assert Prompt.objects.count() == 1


def test_a_csv_quote_never_closed_is_an_error_at_its_line(rating_project):
    # It used to swallow the rest of the file into one field and import one row.
    body = b'id,prompt\na,hi\nb,"unclosed\nc,there\nd,again\n'
    report = run(rating_project, body, name="x.csv")
    assert [(e.line, "never closed" in e.message) for e in report.errors] == [(3, True)]
    assert not Prompt.objects.exists()
    report = run(rating_project, b'id,prompt\na,"quoted"then more\n', name="x.csv")
    assert [e.line for e in report.errors] == [2] and not report.ok


def test_a_quoted_csv_field_may_span_lines_and_errors_name_the_line_it_starts_on(rating_project):
    body = b'id,prompt\na,"two\nlines"\nb,hi\nc,\n'
    report = run(rating_project, body, name="x.csv")
    assert [(e.line, e.field) for e in report.errors] == [(5, "prompt")]
    assert run(rating_project, body[: body.index(b"c,")], name="x.csv").prompts == 2
    assert Prompt.objects.get(external_id="a").text == "two\nlines"


def test_a_json_list_reads_as_a_stream_and_names_the_record_of_an_error(rating_project):
    records = [{"id": f"r{i}", "prompt": f"Question {i}?"} for i in range(3000)]
    listed = json.dumps(records, indent=2).encode()
    report = run(rating_project, listed, name="body")
    assert report.ok and report.prompts == 3000, report.errors
    wrong = run(rating_project, listed.replace(b'"r2999"', b"[]"), name="body")
    assert [e.line for e in wrong.errors] == [3000]
    broken = run(
        rating_project, b'[{"id": "a", "prompt": "x"},\n {"id": "b" "prompt": "y"}]', name="body"
    )
    assert [e.line for e in broken.errors] == [2]
    assert "line 2, column 13" in broken.errors[0].message
    one_line = json.dumps(records[:2000]).encode()[:-1] + b', {"id" 1}]'
    far = run(rating_project, one_line, name="body").errors
    assert [e.line for e in far] == [2001], far
    assert f"(line 1, column {one_line.rindex(b'1}') + 1})" in far[0].message
    for extra in (b'[{"id": "a", "prompt": "x"}] [', b'[{"id": "a", "prompt": "x"},]', b"[1"):
        assert not run(rating_project, extra, name="body").ok, extra
    big = b'[{"id": "a", "prompt": "%s"}]' % (b"x" * 1_000_001)
    assert "larger than" in run(rating_project, big, name="body").errors[0].message
    assert Prompt.objects.count() == 3000


@functools.cache
def gzip_bomb(content: bytes = b"\0", *, prefix: bytes = b"", expanded: int = 128 * 2**20) -> bytes:
    """``prefix``, then ``content`` repeated to ``expanded`` bytes, gzipped (to about a
    thousandth of that), made in chunks so the test itself never holds the expanded bytes."""
    out = io.BytesIO()
    chunk = content * (2**20 // len(content))
    with gzip.GzipFile(fileobj=out, mode="wb") as archive:
        archive.write(prefix)
        for _ in range(expanded // len(chunk)):
            archive.write(chunk)
    return out.getvalue()


class CountingReader(io.BytesIO):
    """How much of the compressed file was read."""

    read_bytes = 0

    def read(self, size=-1):
        data = super().read(size)
        self.read_bytes += len(data)
        return data


CAP = 4 * 1024 * 1024


LIMIT = "limit of 4,194,304 bytes"


@pytest.mark.parametrize(
    ("name", "prefix", "content", "message"),
    [
        ("x.jsonl.gz", b"", b"\0", LIMIT),  # one line that never ends
        ("x.jsonl.gz", b"", b" " * 63 + b"\n", LIMIT),  # lines and lines of nothing
        ("x.csv.gz", b"id,prompt\n", b"x,Hi?\n", LIMIT),  # rows of one prompt
        ("body", b"[", b" ", LIMIT),  # a JSON list, which used to be read whole
        # Stopped sooner, at the first record past 1 MB or nested too deep:
        ("x.csv.gz", b"", b"\0", "The record is larger than 1,000,000 bytes."),
        ("x.csv.gz", b'id,prompt\n1,"', b"a\n", "bytes (is a quote left open?)"),
        ("body", b'[{"prompt": "', b"a", "larger than 1,000,000 bytes"),
        ("body", b"", b"[", "nested deeper"),
    ],
)
def test_a_gzip_bomb_stops_at_the_cap(rating_project, settings, name, prefix, content, message):
    settings.IMPORT_MAX_BYTES = CAP
    bomb = gzip_bomb(content, prefix=prefix)
    stream = CountingReader(bomb)
    report = prompts_import(by=SYSTEM, project=rating_project, stream=stream, name=name)
    assert [message in e.message for e in report.errors] == [True], report.errors
    # Both passes (the format's sniff and the validation) stop early: a small part of the
    # compressed bytes is read, not all.
    assert stream.read_bytes < len(bomb) / 4, (stream.read_bytes, len(bomb))
    assert not Prompt.objects.exists()


def test_a_gzip_bomb_over_the_api_and_the_page_is_refused_in_bounded_memory(
    rating_project, lead, settings, client
):
    # The page grew a web worker by 1.6 GB on one of these; the API answered 500.
    settings.IMPORT_MAX_BYTES = CAP
    bomb = gzip_bomb()
    api = client_for(lead)
    client.force_login(lead)
    api_url = f"/api/v1/projects/{rating_project.pk}/import/"
    url = f"/projects/{rating_project.pk}/import/"
    # The first requests of a process import modules: memory that is not the import's.
    api.post(f"{api_url}?dry_run=1", data=jsonl(GOOD), content_type="application/x-ndjson")
    client.get(url)
    tracemalloc.start()
    try:
        response = api.post(api_url, data=bomb, content_type="application/x-ndjson")
        _, api_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        page = client.post(url, {"file": SimpleUploadedFile("bomb.jsonl.gz", bomb)})
        page_peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert response.status_code == 400
    assert LIMIT in response.json()["errors"][0]["message"]
    assert page.status_code == 200 and LIMIT.encode() in page.content
    assert b'name="token"' not in page.content
    # Python's allocations peaked at a few MB while the file expands to 128 MiB.
    assert max(api_peak, page_peak) < 3 * CAP, (api_peak, page_peak)
    assert not Prompt.objects.exists()


def test_a_gzip_bomb_given_to_the_command_is_an_error(rating_project, settings, tmp_path, capsys):
    settings.IMPORT_MAX_BYTES = CAP
    path = tmp_path / "bomb.jsonl.gz"
    path.write_bytes(gzip_bomb())
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_prompts", str(rating_project.pk), str(path))
    assert f"{path}:1: error: The file is larger than the limit" in capsys.readouterr().err
