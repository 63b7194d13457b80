"""The dataset validator (evaluation/exports/validate/) and its ``validate_dataset`` command.
Pure file checks: no database."""

import gzip
import json
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from evaluation.exports.validate import (
    DatasetReadError,
    Issue,
    UnsupportedFormat,
    ValidationReport,
    dataset_validate,
    dataset_validate_file,
)

ROOT = Path(__file__).resolve().parents[3]


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


SYSTEM = {"role": "system", "content": "You are a bank's assistant."}
MULTI_TURN = [user("Hi"), assistant("Hello! How can I help?"), user("Open an account.")]


def judgment(**changes: Any) -> dict[str, Any]:
    row = {
        "id": 1,
        "task_id": 10,
        "prompt_id": 100,
        "prompt_external_id": "q-17",
        "kind": "pairwise",
        "annotator": "a-7f3c",
        "rating": None,
        "choice": "A",
        "chosen_response_id": 5,
        "rejected_response_id": 6,
        "response_ids": [5, 6],
        "models": ["base-v1", "ft-r1"],
        "comment": "",
        "rewrite": None,
        "duration_ms": 5400,
        "guidelines_version": 2,
        "created_at": "2025-01-02T10:00:00Z",
        "updated_at": "2025-01-02T10:00:05.123456+00:00",
    }
    return {**row, **changes}


VALID: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("sft", "trl"): [
        {"messages": [SYSTEM, user("How do I open a savings account?"), assistant("Online.")]},
        {"messages": [*MULTI_TURN, assistant("Sure: bring an ID.")]},
    ],
    ("dpo", "trl"): [
        {
            "prompt": [SYSTEM, user("How do I open a savings account?")],
            "chosen": [assistant("Online, in five minutes.")],
            "rejected": [assistant("No idea.")],
        },
        {"prompt": MULTI_TURN, "chosen": [assistant("Sure.")], "rejected": [assistant("No.")]},
    ],
    ("kto", "trl"): [
        {"prompt": [user("What is 2+2?")], "completion": [assistant("4")], "label": True},
        {"prompt": [SYSTEM, user("What is 2+2?")], "completion": [assistant("5")], "label": False},
    ],
    ("sft", "openai"): [
        {"messages": [SYSTEM, user("How do I open a savings account?"), assistant("Online.")]},
        {"messages": [user("Hi"), assistant("Hello.")]},
    ],
    ("dpo", "openai"): [
        {
            "input": {"messages": [SYSTEM, user("How do I open a savings account?")]},
            "preferred_output": [assistant("Online, in five minutes.")],
            "non_preferred_output": [assistant("No idea.")],
        },
        {
            "input": {"messages": MULTI_TURN},
            "preferred_output": [assistant("Sure.")],
            "non_preferred_output": [assistant("No.")],
        },
    ],
    ("judgments", "trl"): [
        judgment(),
        judgment(id=2, choice="tie", chosen_response_id=None, rejected_response_id=None),
        judgment(
            id=3,
            kind="rating",
            rating=4,
            choice=None,
            chosen_response_id=None,
            rejected_response_id=None,
            response_ids=[5],
            models=["base-v1"],
            rewrite="A better answer.",
            duration_ms=None,
            guidelines_version=None,
            extra_field="allowed",
        ),
    ],
}


def encode(*rows: Any) -> list[bytes]:
    return [(r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows]


def check(*rows: Any, kind: str = "dpo", format: str = "trl", **options: Any) -> ValidationReport:
    return dataset_validate(lines=encode(*rows), kind=kind, format=format, **options)


def messages(issues: list[Issue]) -> list[tuple[int, str]]:
    return [(issue.line, issue.message) for issue in issues]


DPO = VALID["dpo", "trl"][0]
KTO = VALID["kto", "trl"][0]
SFT = VALID["sft", "trl"][0]


@pytest.mark.parametrize(("kind", "format"), list(VALID))
def test_valid_rows_pass(kind: str, format: str) -> None:
    report = check(*VALID[kind, format], kind=kind, format=format)

    assert (report.rows, report.errors, report.warnings) == (len(VALID[kind, format]), [], [])
    assert report.ok


def test_line_problems_are_errors_and_blank_lines_warnings() -> None:
    lines = [
        b"\xff\xfe{}\n",
        b"{not json}\n",
        b'{"a": NaN}\n',
        b"[1, 2]\n",
        b"   \n",
        b'{"prompt": [], "prompt": []}\n',
        "\ufeff".encode() + json.dumps(DPO).encode() + b"\n",
        json.dumps(DPO).encode() + b"\r\n",
    ]
    report = dataset_validate(lines=iter(lines), kind="dpo", format="trl")

    assert messages(report.errors) == [
        (1, "not UTF-8: invalid byte 0xff at byte 1"),
        (2, "not valid JSON: Expecting property name enclosed in double quotes (column 2)"),
        (3, "not valid JSON: NaN is not a JSON value"),
        (4, "expected a JSON object, got an array"),
        (6, 'duplicate key "prompt" in one object'),
        (7, "starts with a UTF-8 byte order mark; save the file without it"),
    ]
    assert messages(report.warnings) == [
        (5, "blank line (skipped)"),
        (8, "duplicate of line 7"),
    ]
    assert report.rows == 7


@pytest.mark.parametrize("depth", [900, 990, 100_000])
def test_deep_nesting_is_an_error_not_a_crash(depth: int) -> None:
    line = b'{"messages": ' + b"[" * depth + b"]" * depth + b"}"
    report = dataset_validate(lines=[line], kind="sft", format="trl")

    assert report.error_count == 1


def test_missing_unknown_and_foreign_keys() -> None:
    row = {"prompt": DPO["prompt"], "chosen": DPO["chosen"], "id": "x", "completion": []}
    report = check(row)

    assert messages(report.errors) == [
        (1, 'missing key "rejected"'),
        (1, 'unexpected key "completion": it belongs to trl kto rows, not trl dpo'),
    ]
    assert messages(report.warnings) == [(1, 'unknown key "id" (not part of trl dpo)')]


def test_openai_keys_in_a_trl_file_name_the_other_format() -> None:
    report = check(VALID["dpo", "openai"][0])

    assert 'unexpected key "input": it belongs to openai dpo rows, not trl dpo' in [
        issue.message for issue in report.errors
    ]


def test_answer_lists_hold_exactly_one_assistant_message() -> None:
    report = check(
        {**DPO, "chosen": [user("Hello")]},
        {**DPO, "chosen": [assistant("a"), assistant("b")], "rejected": []},
        {**DPO, "chosen": assistant("a"), "rejected": ["text"]},
    )

    assert messages(report.errors) == [
        (1, 'chosen[0].role: expected "assistant", got "user"'),
        (2, "chosen: expected exactly one assistant message, got 2"),
        (2, "rejected: expected exactly one assistant message, got 0"),
        (3, "chosen: expected an array of one assistant message, got an object"),
        (3, "rejected[0]: expected a message object, got a string"),
    ]


@pytest.mark.parametrize(
    ("conversation", "message"),
    [
        (
            [user("a"), user("b"), assistant("c")],
            'messages[1].role: expected "assistant", got "user" '
            "(turns alternate user, assistant, starting with user)",
        ),
        (
            [assistant("a"), user("b"), assistant("c")],
            'messages[0].role: expected "user", got "assistant" '
            "(turns alternate user, assistant, starting with user)",
        ),
        (
            [user("a"), SYSTEM, assistant("c")],
            'messages[1].role: expected "assistant", got "system" '
            "(a system message may only come first)",
        ),
        (
            [user("a"), assistant("b"), user("c")],
            'messages: expected the last message to be "assistant", got "user"',
        ),
        ([SYSTEM], "messages: expected a user turn after the system message"),
        ([], "messages: expected at least one message, got an empty array"),
        ("Hi", "messages: expected an array of messages, got a string"),
        (
            [{"role": "human", "content": "a"}, assistant("b")],
            'messages[0].role: expected "system", "user" or "assistant", got "human"',
        ),
        ([{"content": "a"}, assistant("b")], 'messages[0]: missing key "role"'),
        ([user("a"), {"role": "assistant"}], 'messages[1]: missing key "content"'),
        (
            [user("a"), {"role": "assistant", "content": [{"type": "text"}]}],
            "messages[1].content: expected a string, got an array",
        ),
        ([user("a"), assistant("")], "messages[1].content: empty text"),
        ([user(" \n\t"), assistant("b")], "messages[0].content: whitespace-only text"),
        (
            [user("\ud800"), assistant("b")],
            "messages[0].content: invalid Unicode: an unpaired surrogate escape",
        ),
    ],
)
def test_conversation_errors_name_the_key_path(conversation: Any, message: str) -> None:
    report = check({"messages": conversation}, kind="sft")

    assert messages(report.errors) == [(1, message)]


def test_prompt_must_end_with_a_user_turn() -> None:
    report = check({**DPO, "prompt": [user("a"), assistant("b")]})

    assert messages(report.errors) == [
        (1, 'prompt: expected the last message to be "user", got "assistant"')
    ]


def test_only_the_first_misplaced_turn_is_reported() -> None:
    conversation = [user("a"), user("b"), assistant("c"), user("d"), assistant("e")]
    report = check({"messages": conversation}, kind="sft")

    assert report.error_count == 1


def test_empty_system_message_and_unknown_message_keys_are_warnings() -> None:
    row = {"messages": [{"role": "system", "content": ""}, user("a"), {**assistant("b"), "w": 1}]}
    report = check(row, kind="sft")

    assert report.errors == []
    assert messages(report.warnings) == [
        (1, "messages[0].content: empty text"),
        (1, 'messages[2]: unknown key "w"'),
    ]


def test_very_long_texts_are_warnings() -> None:
    report = check({**DPO, "chosen": [assistant("x" * 1_001)]}, max_chars=1_000)

    assert report.ok
    assert messages(report.warnings) == [
        (1, "chosen[0].content: very long text (1,001 characters, over 1,000)")
    ]


def test_kto_label_must_be_a_boolean() -> None:
    report = check({**KTO, "label": 1}, {**KTO, "label": "true"}, kind="kto")

    assert messages(report.errors) == [
        (1, "label: expected true or false, got 1"),
        (2, 'label: expected true or false, got "true"'),
    ]


def test_openai_dpo_paths() -> None:
    row = VALID["dpo", "openai"][0]
    report = check(
        {**row, "input": [user("a")]},
        {**row, "input": {"messages": [assistant("a")], "tools": []}},
        {**row, "non_preferred_output": [user("x")]},
        kind="dpo",
        format="openai",
    )

    assert messages(report.errors) == [
        (1, 'input: expected an object with "messages", got an array'),
        (
            2,
            'input.messages[0].role: expected "user", got "assistant" '
            "(turns alternate user, assistant, starting with user)",
        ),
        (3, 'non_preferred_output[0].role: expected "assistant", got "user"'),
    ]
    assert messages(report.warnings) == [(2, 'input: unknown key "tools"')]


def test_duplicates_ignore_key_order() -> None:
    reordered = {key: DPO[key] for key in ("rejected", "chosen", "prompt")}
    report = check(DPO, VALID["dpo", "trl"][1], reordered)

    assert messages(report.warnings) == [(3, "duplicate of line 1")]


def test_chosen_equal_to_rejected_is_a_warning() -> None:
    row = {**DPO, "chosen": [assistant("Same  text\n")], "rejected": [assistant(" Same text")]}
    report = check(row)

    assert report.ok
    assert messages(report.warnings) == [
        (1, "chosen and rejected have the same text (nothing to prefer)")
    ]


def test_contradictory_pairs_and_labels_are_warnings() -> None:
    swapped = {**DPO, "chosen": DPO["rejected"], "rejected": DPO["chosen"]}
    dpo = check(DPO, swapped)
    kto = check(KTO, {**KTO, "label": False}, kind="kto")

    assert messages(dpo.warnings) == [
        (2, "contradicts line 1: the same prompt with chosen and rejected swapped")
    ]
    assert messages(kto.warnings) == [
        (2, "contradicts line 1: the same prompt and completion labelled true")
    ]


def test_issues_kept_are_capped_and_all_counted() -> None:
    report = check(*([b"[]"] * 30), max_issues=10)

    assert (len(report.errors), report.error_count, report.rows) == (10, 30, 30)
    assert not report.ok


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"choice": None}, "choice: a pairwise judgment needs a choice, got null"),
        ({"rating": 3}, "rating: a pairwise judgment has no rating, got 3"),
        (
            {
                "kind": "rating",
                "rating": 6,
                "choice": None,
                "response_ids": [5],
                "chosen_response_id": None,
                "rejected_response_id": None,
            },
            "rating: expected an integer 1..5 or null, got 6",
        ),
        ({"choice": "C"}, 'choice: expected "A", "B", "tie", "both_bad" or null, got "C"'),
        ({"kind": "ranking"}, 'kind: expected "rating" or "pairwise", got "ranking"'),
        ({"id": "1"}, 'id: expected an integer, got "1"'),
        ({"task_id": True}, "task_id: expected an integer, got true"),
        ({"annotator": ""}, 'annotator: expected a non-empty string, got ""'),
        ({"response_ids": [5, "6"]}, 'response_ids: expected an array of integers, got [5, "6"]'),
        ({"response_ids": [5, 6, 7]}, "response_ids: expected 2 for a pairwise judgment, got 3"),
        ({"models": "base-v1"}, 'models: expected an array of strings, got "base-v1"'),
        ({"rejected_response_id": 5}, "rejected_response_id: equals chosen_response_id (5)"),
        ({"chosen_response_id": 9}, "chosen_response_id: 9 is not in response_ids"),
        (
            {"chosen_response_id": None},
            'chosen_response_id: choice "A" needs a response id, got null',
        ),
        ({"duration_ms": -1}, "duration_ms: expected a non-negative integer or null, got -1"),
        (
            {"guidelines_version": 0},
            "guidelines_version: expected a positive integer or null, got 0",
        ),
        ({"comment": 3}, "comment: expected a string or null, got 3"),
        (
            {"created_at": "yesterday"},
            'created_at: expected an ISO 8601 date-time string, got "yesterday"',
        ),
    ],
)
def test_judgment_errors(changes: dict[str, Any], message: str) -> None:
    report = check(judgment(**changes), kind="judgments")

    assert messages(report.errors) == [(1, message)]


def test_rating_judgment_needs_a_rating_and_no_choice() -> None:
    row = judgment(
        kind="rating",
        rating=None,
        choice="tie",
        response_ids=[5],
        chosen_response_id=None,
        rejected_response_id=None,
    )
    report = check(row, kind="judgments")

    assert messages(report.errors) == [
        (1, "rating: a rating judgment needs a rating, got null"),
        (1, 'choice: a rating judgment has no choice, got "tie"'),
    ]


def test_judgment_missing_keys_and_repeated_ids() -> None:
    incomplete = {key: value for key, value in judgment(id=2).items() if key != "updated_at"}
    report = check(judgment(), incomplete, judgment(comment="changed"), kind="judgments")

    assert messages(report.errors) == [(2, 'missing key "updated_at"')]
    assert messages(report.warnings) == [(3, "id: judgment 1 again (first on line 1)")]


def test_unsupported_kind_and_format() -> None:
    with pytest.raises(UnsupportedFormat, match="no KTO format"):
        check(KTO, kind="kto", format="openai")
    with pytest.raises(UnsupportedFormat, match="unknown kind"):
        check(KTO, kind="rm")
    with pytest.raises(UnsupportedFormat, match="unknown format"):
        check(KTO, kind="kto", format="axolotl")
    assert check(judgment(), kind="judgments", format="openai").ok


def test_validate_file_reads_plain_and_gzip(tmp_path: Path) -> None:
    body = b"".join(encode(DPO, {**DPO, "chosen": [user("x")]}))
    plain = tmp_path / "data.jsonl"
    plain.write_bytes(body)
    compressed = tmp_path / "data.jsonl.gz"
    compressed.write_bytes(gzip.compress(body))
    unsuffixed = tmp_path / "data.bin"
    unsuffixed.write_bytes(gzip.compress(body))

    reports = [dataset_validate_file(p, "dpo", "trl") for p in (plain, compressed, unsuffixed)]

    for report in reports:
        assert report.rows == 2
        assert messages(report.errors) == [(2, 'chosen[0].role: expected "assistant", got "user"')]


def test_validate_file_unreadable(tmp_path: Path) -> None:
    truncated = tmp_path / "cut.jsonl.gz"
    truncated.write_bytes(gzip.compress(b"".join(encode(*[DPO] * 50)))[:40])

    with pytest.raises(DatasetReadError, match="cannot read"):
        dataset_validate_file(tmp_path / "missing.jsonl", "sft", "trl")
    with pytest.raises(DatasetReadError, match="cannot read"):
        dataset_validate_file(truncated, "dpo", "trl")


def write(path: Path, *rows: Any) -> Path:
    path.write_bytes(b"".join(encode(*rows)))
    return path


def run(*args: str) -> str:
    out = StringIO()
    call_command("validate_dataset", *args, stdout=out)
    return out.getvalue()


def test_command_valid_file(tmp_path: Path) -> None:
    path = write(tmp_path / "dpo.jsonl", *VALID["dpo", "openai"])

    assert run(str(path), "--kind", "dpo", "--format", "openai") == (
        f"{path}: 2 rows, 0 errors, 0 warnings\n"
    )


def test_command_lists_issues_in_line_order_and_fails(tmp_path: Path) -> None:
    path = tmp_path / "dpo.jsonl"
    path.write_bytes(b"".join(encode(DPO, b"", {**DPO, "chosen": [user("x")]}, DPO)))

    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("validate_dataset", str(path), "--kind", "dpo", stdout=out)

    assert out.getvalue().splitlines() == [
        f"{path}:2: warning: blank line (skipped)",
        f'{path}:3: error: chosen[0].role: expected "assistant", got "user"',
        f"{path}:4: warning: duplicate of line 1",
    ]
    assert str(raised.value) == f"{path}: 3 rows, 1 error, 2 warnings"
    assert raised.value.returncode == 1


def test_command_warnings_only_pass_and_max_chars(tmp_path: Path) -> None:
    path = write(tmp_path / "sft.jsonl", SFT)

    output = run(str(path), "--kind", "sft", "--max-chars", "30")

    assert output.splitlines() == [
        f"{path}:1: warning: messages[1].content: very long text (32 characters, over 30)",
        f"{path}: 1 row, 0 errors, 1 warning",
    ]


def test_command_usage_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "kto.jsonl", KTO)

    with pytest.raises(CommandError, match="no KTO format") as raised:
        run(str(path), "--kind", "kto", "--format", "openai")
    assert raised.value.returncode == 2
    with pytest.raises(CommandError, match="cannot read") as raised:
        run(str(tmp_path / "missing.jsonl"), "--kind", "kto")
    assert raised.value.returncode == 2


def test_command_says_how_many_issues_it_listed(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"[]\n" * 1_005)

    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("validate_dataset", str(path), "--kind", "sft", stdout=out)

    assert len(out.getvalue().splitlines()) == 1_000
    assert str(raised.value).endswith("1,005 rows, 1,005 errors (first 1,000 listed), 0 warnings")


def test_exit_status_from_the_command_line(tmp_path: Path) -> None:
    good = write(tmp_path / "good.jsonl", KTO)
    bad = write(tmp_path / "bad.jsonl", {**KTO, "label": "yes"})
    command = [sys.executable, "manage.py", "validate_dataset", "--kind", "kto"]

    passed = subprocess.run([*command, str(good)], cwd=ROOT, capture_output=True, text=True)
    failed = subprocess.run([*command, str(bad)], cwd=ROOT, capture_output=True, text=True)

    assert (passed.returncode, passed.stderr) == (0, "")
    assert failed.returncode == 1
    assert failed.stdout == f'{bad}:1: error: label: expected true or false, got "yes"\n'
    assert failed.stderr == f"CommandError: {bad}: 1 row, 1 error, 0 warnings\n"


EXPECTED_COLUMNS = {
    ("sft", "trl"): {"messages"},
    ("dpo", "trl"): {"prompt", "chosen", "rejected"},
    ("kto", "trl"): {"prompt", "completion", "label"},
    ("sft", "openai"): {"messages"},
    ("dpo", "openai"): {"input", "preferred_output", "non_preferred_output"},
    ("judgments", "trl"): {*judgment(), "extra_field"},
}


@pytest.mark.parametrize(("kind", "format"), list(VALID))
def test_valid_files_load_with_datasets(
    kind: str, format: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    datasets = pytest.importorskip("datasets", reason="needs the trl-check extra")

    path = write(tmp_path / f"{kind}-{format}.jsonl", *VALID[kind, format])
    assert dataset_validate_file(path, kind, format) == ValidationReport(
        rows=len(VALID[kind, format])
    )

    dataset = datasets.load_dataset(
        "json", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache")
    )

    assert set(dataset.column_names) == EXPECTED_COLUMNS[kind, format]
    assert dataset.num_rows == len(VALID[kind, format])
    # Arrow reads ISO 8601 strings as timestamps, so those columns are left out here.
    columns = set(dataset.column_names) - {"created_at", "updated_at"}
    assert {column: dataset[1][column] for column in columns} == {
        column: VALID[kind, format][1].get(column) for column in columns
    }
