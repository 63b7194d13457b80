"""Checks a JSON Lines dataset against the export formats of SPEC "Export formats (exact)", one
line at a time, so data from anywhere can be checked before it reaches a trainer.

Memory stays bounded: lines are streamed, only sha256 digests of earlier rows are kept (for
duplicates and contradictions), and at most ``max_issues`` errors and warnings are kept (all of
them are counted)."""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from annotation.choices import CHOICES, SIDES

KINDS = ("sft", "dpo", "kto", "judgments")
FORMATS = ("trl", "openai")
DEFAULT_MAX_CHARS = 20_000
DEFAULT_MAX_ISSUES = 1_000
ROLES = ("system", "user", "assistant")
GZIP_MAGIC = b"\x1f\x8b"

# The top-level keys of each row, by (kind, format). OpenAI has no KTO format.
SCHEMAS: dict[tuple[str, str], tuple[str, ...]] = {
    ("sft", "trl"): ("messages",),
    ("dpo", "trl"): ("prompt", "chosen", "rejected"),
    ("kto", "trl"): ("prompt", "completion", "label"),
    ("sft", "openai"): ("messages",),
    ("dpo", "openai"): ("input", "preferred_output", "non_preferred_output"),
}


class UnsupportedFormat(ValueError):
    """The kind and format asked for name no export format."""


class DatasetReadError(Exception):
    """The file cannot be opened or decompressed."""


@dataclass(frozen=True)
class Issue:
    line: int
    message: str


@dataclass
class ValidationReport:
    """``rows`` counts the non-blank lines read, valid or not; ``errors`` and ``warnings`` keep
    the first issues only, ``error_count`` and ``warning_count`` count them all."""

    rows: int = 0
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    error_count: int = 0
    warning_count: int = 0

    @property
    def ok(self) -> bool:
        return self.error_count == 0


def dataset_validate(
    *,
    lines: Iterable[bytes],
    kind: str,
    format: str,
    max_chars: int = DEFAULT_MAX_CHARS,
    max_issues: int = DEFAULT_MAX_ISSUES,
) -> ValidationReport:
    """Checks every line of a JSON Lines dataset of ``kind`` in ``format`` (ignored for
    judgments); a text longer than ``max_chars`` characters gets a warning."""
    _check_kind_format(kind, format)
    validator = _Validator(kind=kind, format=format, max_chars=max_chars, max_issues=max_issues)
    for number, raw in enumerate(lines, start=1):
        validator.check_line(number, raw)
    return validator.report


def dataset_validate_file(
    path: str | Path,
    kind: str,
    format: str,
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    max_issues: int = DEFAULT_MAX_ISSUES,
) -> ValidationReport:
    """``dataset_validate`` on a plain or gzip file; gzip is recognised by its magic bytes, so
    a compressed file without a ``.gz`` suffix is read too."""
    _check_kind_format(kind, format)
    path = Path(path)
    try:
        with path.open("rb") as probe:
            compressed = probe.read(2) == GZIP_MAGIC
        with gzip.open(path, "rb") if compressed else path.open("rb") as lines:
            return dataset_validate(
                lines=lines, kind=kind, format=format, max_chars=max_chars, max_issues=max_issues
            )
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetReadError(f"cannot read {path}: {exc}") from exc


def _check_kind_format(kind: str, format: str) -> None:
    if kind not in KINDS:
        raise UnsupportedFormat(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if format not in FORMATS:
        raise UnsupportedFormat(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    if kind != "judgments" and (kind, format) not in SCHEMAS:
        raise UnsupportedFormat(f"OpenAI fine-tuning has no {kind.upper()} format; use trl")


class _DuplicateKey(ValueError):
    pass


class _Validator:
    def __init__(self, *, kind: str, format: str, max_chars: int, max_issues: int) -> None:
        self.kind = kind
        self.format = format
        self.schema = SCHEMAS.get((kind, format), ())
        self.schema_name = f"{format} {kind}"
        self.max_chars = max_chars
        self.max_issues = max_issues
        self.report = ValidationReport()
        self.line = 0
        # Digests, not rows, keep memory to a few dozen bytes per row on any file size.
        self.seen: dict[bytes, int] = {}
        self.verdicts: dict[bytes, int] = {}

    def error(self, path: str, message: str) -> None:
        self.report.error_count += 1
        if len(self.report.errors) < self.max_issues:
            self.report.errors.append(Issue(self.line, f"{path}: {message}" if path else message))

    def warning(self, path: str, message: str) -> None:
        self.report.warning_count += 1
        if len(self.report.warnings) < self.max_issues:
            self.report.warnings.append(Issue(self.line, f"{path}: {message}" if path else message))

    def check_line(self, number: int, raw: bytes) -> None:
        self.line = number
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.report.rows += 1
            self.error(
                "", f"not UTF-8: invalid byte 0x{raw[exc.start]:02x} at byte {exc.start + 1}"
            )
            return
        if text.startswith("\ufeff"):
            # Python's json and Arrow's JSON reader both reject a byte order mark.
            self.error("", "starts with a UTF-8 byte order mark; save the file without it")
            text = text[1:]
        if not text.strip():
            self.warning("", "blank line (skipped)")
            return
        self.report.rows += 1
        try:
            row = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
        except json.JSONDecodeError as exc:
            self.error("", f"not valid JSON: {exc.msg} (column {exc.colno})")
            return
        except _DuplicateKey as exc:
            self.error("", str(exc))
            return
        except (ValueError, RecursionError) as exc:
            self.error("", f"not valid JSON: {exc}")
            return
        if not isinstance(row, dict):
            self.error("", f"expected a JSON object, got {_a_type(row)}")
            return
        try:
            if self.kind == "judgments":
                self._judgment(row)
            else:
                self._dataset_row(row)
            self._duplicate(row)
        except RecursionError:
            # Nesting just under the parser's limit still overflows when the row is re-encoded
            # for its digest; no real row nests more than a few levels.
            self.error("", "nested too deeply to check")

    def _duplicate(self, row: dict[str, Any]) -> None:
        judgment_id = row.get("id") if self.kind == "judgments" else None
        if _is_int(judgment_id):
            # Incremental pulls (?updated_after=) concatenated repeat an updated judgment: a
            # warning, since the later line is usually the newer state.
            first = self.seen.setdefault(_digest(f"id:{judgment_id}"), self.line)
            if first != self.line:
                self.warning("id", f"judgment {judgment_id} again (first on line {first})")
            return
        first = self.seen.setdefault(_digest(row), self.line)
        if first != self.line:
            self.warning("", f"duplicate of line {first}")

    def _dataset_row(self, row: dict[str, Any]) -> None:
        for key in self.schema:
            if key not in row:
                self.error("", f"missing key {_show(key)}")
        for key in sorted(row.keys() - set(self.schema)):
            owners = [f"{f} {k}" for (k, f), keys in SCHEMAS.items() if key in keys]
            if owners:
                # A key of another schema means the wrong kind or format: TRL infers the
                # dataset type from the column names, so the row would be read another way.
                belongs = " / ".join(owners)
                self.error(
                    "",
                    f"unexpected key {_show(key)}: it belongs to {belongs} rows, "
                    f"not {self.schema_name}",
                )
            else:
                # Other extra columns (an id, metadata) load fine and TRL leaves them unused.
                self.warning("", f"unknown key {_show(key)} (not part of {self.schema_name})")
        if self.kind == "sft":
            if "messages" in row:
                self._conversation(row["messages"], "messages", last="assistant")
        elif self.format == "openai":
            prompt = self._openai_input(row)
            chosen = self._answer(row, "preferred_output")
            rejected = self._answer(row, "non_preferred_output")
            self._pair(prompt, chosen, rejected, "preferred_output", "non_preferred_output")
        else:
            prompt = None
            if "prompt" in row and self._conversation(row["prompt"], "prompt", last="user"):
                prompt = row["prompt"]
            if self.kind == "dpo":
                chosen, rejected = self._answer(row, "chosen"), self._answer(row, "rejected")
                self._pair(prompt, chosen, rejected, "chosen", "rejected")
            else:
                self._kto(row, prompt, self._answer(row, "completion"))

    def _openai_input(self, row: dict[str, Any]) -> Any:
        if "input" not in row:
            return None
        value = row["input"]
        if not isinstance(value, dict):
            self.error("input", f'expected an object with "messages", got {_a_type(value)}')
            return None
        for key in sorted(value.keys() - {"messages"}):
            self.warning("input", f"unknown key {_show(key)}")
        if "messages" not in value:
            self.error("input", 'missing key "messages"')
            return None
        if self._conversation(value["messages"], "input.messages", last="user"):
            return value["messages"]
        return None

    def _pair(self, prompt: Any, chosen: str | None, rejected: str | None, a: str, b: str) -> None:
        if chosen is None or rejected is None:
            return
        chosen, rejected = _squash(chosen), _squash(rejected)
        if chosen == rejected:
            # A warning, not an error: TRL trains on such a row without failing (its DPO loss
            # is the constant log 2, so no gradient); it wastes compute but breaks no run.
            self.warning("", f"{a} and {b} have the same text (nothing to prefer)")
        if prompt is not None:
            prompt_key = _digest(prompt).hex()
            self._verdict(
                _digest(prompt_key, chosen, rejected),
                _digest(prompt_key, rejected, chosen),
                f"the same prompt with {a} and {b} swapped",
            )

    def _kto(self, row: dict[str, Any], prompt: Any, completion: str | None) -> None:
        label = row.get("label")
        if "label" in row and not isinstance(label, bool):
            self.error("label", f"expected true or false, got {_show(label)}")
            return
        if prompt is not None and completion is not None and "label" in row:
            prompt_key, completion = _digest(prompt).hex(), _squash(completion)
            self._verdict(
                _digest(prompt_key, completion, label),
                _digest(prompt_key, completion, not label),
                f"the same prompt and completion labelled {json.dumps(not label)}",
            )

    def _verdict(self, digest: bytes, opposite: bytes, what: str) -> None:
        if opposite in self.verdicts:
            self.warning("", f"contradicts line {self.verdicts[opposite]}: {what}")
        self.verdicts.setdefault(digest, self.line)

    def _conversation(self, value: Any, path: str, *, last: str) -> bool:
        """An optional system message, then user and assistant turns alternating from user,
        ending with ``last``; returns whether the list passed."""
        if not isinstance(value, list):
            self.error(path, f"expected an array of messages, got {_a_type(value)}")
            return False
        if not value:
            self.error(path, "expected at least one message, got an empty array")
            return False
        errors_before = self.report.error_count
        roles = [self._message(message, f"{path}[{i}]") for i, message in enumerate(value)]
        if None not in roles:
            self._turn_order(roles, path, last)
        return self.report.error_count == errors_before

    def _turn_order(self, roles: list[str | None], path: str, last: str) -> None:
        first = 1 if roles[0] == "system" else 0
        for i in range(first, len(roles)):
            expected = "user" if (i - first) % 2 == 0 else "assistant"
            if roles[i] != expected:
                why = (
                    "a system message may only come first"
                    if roles[i] == "system"
                    else "turns alternate user, assistant, starting with user"
                )
                self.error(f"{path}[{i}].role", f'expected "{expected}", got "{roles[i]}" ({why})')
                return  # one misplaced turn would otherwise flag every turn after it
        if len(roles) == first:
            self.error(path, "expected a user turn after the system message")
        elif roles[-1] != last:
            self.error(path, f'expected the last message to be "{last}", got "{roles[-1]}"')

    def _answer(self, row: dict[str, Any], key: str) -> str | None:
        """A list of exactly one assistant message; returns its text when it passed."""
        if key not in row:
            return None
        value = row[key]
        if not isinstance(value, list):
            self.error(key, f"expected an array of one assistant message, got {_a_type(value)}")
            return None
        if len(value) != 1:
            self.error(key, f"expected exactly one assistant message, got {len(value)}")
            return None
        errors_before = self.report.error_count
        self._message(value[0], f"{key}[0]", expected="assistant")
        return value[0]["content"] if self.report.error_count == errors_before else None

    def _message(self, value: Any, path: str, *, expected: str | None = None) -> str | None:
        """Checks one ``{role, content}`` message; returns its role when the role is valid."""
        if not isinstance(value, dict):
            self.error(path, f"expected a message object, got {_a_type(value)}")
            return None
        for key in sorted(value.keys() - {"role", "content"}):
            # OpenAI accepts more (name, weight, tool_calls); they break nothing when loading.
            self.warning(path, f"unknown key {_show(key)}")
        role = value.get("role")
        valid_role = None
        if "role" not in value:
            self.error(path, 'missing key "role"')
        elif expected is not None and role != expected:
            self.error(f"{path}.role", f'expected "{expected}", got {_show(role)}')
        elif not isinstance(role, str) or role not in ROLES:
            self.error(
                f"{path}.role", f'expected "system", "user" or "assistant", got {_show(role)}'
            )
        else:
            valid_role = role
        if "content" not in value:
            self.error(path, 'missing key "content"')
        else:
            # An empty system prompt is pointless but harmless; an empty turn teaches nothing.
            self._text(value["content"], f"{path}.content", may_be_blank=role == "system")
        return valid_role

    def _text(self, value: Any, path: str, *, may_be_blank: bool = False) -> None:
        if not isinstance(value, str):
            self.error(path, f"expected a string, got {_a_type(value)}")
            return
        if not value.strip():
            blank = "whitespace-only text" if value else "empty text"
            (self.warning if may_be_blank else self.error)(path, blank)
        elif len(value) > self.max_chars:
            self.warning(
                path, f"very long text ({len(value):,} characters, over {self.max_chars:,})"
            )
        if not _encodable(value):
            self.error(path, "invalid Unicode: an unpaired surrogate escape")

    def _judgment(self, row: dict[str, Any]) -> None:
        # The API carries "at least" these keys, so extra keys are no issue at all.
        for key, (expected, check) in JUDGMENT_FIELDS.items():
            if key not in row:
                self.error("", f"missing key {_show(key)}")
            elif not check(row[key]):
                self.error(key, f"expected {expected}, got {_show(row[key])}")
        kind, choice = row.get("kind"), row.get("choice")
        if kind in ("rating", "pairwise"):
            wants, refuses = ("rating", "choice") if kind == "rating" else ("choice", "rating")
            if wants in row and row[wants] is None:
                self.error(wants, f"a {kind} judgment needs a {wants}, got null")
            if row.get(refuses) is not None:
                self.error(
                    refuses, f"a {kind} judgment has no {refuses}, got {_show(row[refuses])}"
                )
        response_ids = row.get("response_ids")
        ids_valid = JUDGMENT_FIELDS["response_ids"][1](response_ids)
        # A rating task shows one response, a pairwise task two (SPEC, "Annotate").
        shown = 1 if kind == "rating" else 2 if kind == "pairwise" else None
        if shown and ids_valid and len(response_ids) != shown:
            self.error(
                "response_ids", f"expected {shown} for a {kind} judgment, got {len(response_ids)}"
            )
        chosen, rejected = row.get("chosen_response_id"), row.get("rejected_response_id")
        if _is_int(chosen) and chosen == rejected:
            self.error("rejected_response_id", f"equals chosen_response_id ({chosen})")
        for key, value in (("chosen_response_id", chosen), ("rejected_response_id", rejected)):
            if choice in SIDES and key in row and value is None:
                self.error(key, f'choice "{choice}" needs a response id, got null')
            if _is_int(value) and ids_valid and value not in response_ids:
                self.error(key, f"{value} is not in response_ids")
        for key in ("comment", "rewrite"):
            text = row.get(key)
            if isinstance(text, str) and len(text) > self.max_chars:
                self.warning(
                    key, f"very long text ({len(text):,} characters, over {self.max_chars:,})"
                )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _iso_datetime(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


JUDGMENT_FIELDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "id": ("an integer", _is_int),
    "task_id": ("an integer", _is_int),
    "prompt_id": ("an integer", _is_int),
    "prompt_external_id": ("a non-empty string", _nonempty_str),
    "kind": ('"rating" or "pairwise"', lambda v: v in ("rating", "pairwise")),
    "annotator": ("a non-empty string", _nonempty_str),
    "rating": ("an integer 1..5 or null", _optional(lambda v: _is_int(v) and 1 <= v <= 5)),
    "choice": ('"A", "B", "tie", "both_bad" or null', _optional(lambda v: v in CHOICES)),
    "chosen_response_id": ("an integer or null", _optional(_is_int)),
    "rejected_response_id": ("an integer or null", _optional(_is_int)),
    "response_ids": (
        "an array of integers",
        lambda v: isinstance(v, list) and all(_is_int(i) for i in v),
    ),
    "models": (
        "an array of strings",
        lambda v: isinstance(v, list) and all(_nonempty_str(m) for m in v),
    ),
    "comment": ("a string or null", _optional(lambda v: isinstance(v, str))),
    "rewrite": ("a string or null", _optional(lambda v: isinstance(v, str))),
    "duration_ms": ("a non-negative integer or null", _optional(lambda v: _is_int(v) and v >= 0)),
    "guidelines_version": (
        "a positive integer or null",
        _optional(lambda v: _is_int(v) and v >= 1),
    ),
    "created_at": ("an ISO 8601 date-time string", _iso_datetime),
    "updated_at": ("an ISO 8601 date-time string", _iso_datetime),
}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    row = dict(pairs)
    if len(row) != len(pairs):
        keys = [key for key, _ in pairs]
        duplicate = next(key for i, key in enumerate(keys) if key in keys[:i])
        # Readers disagree on which value wins, so the row means different things to each.
        raise _DuplicateKey(f"duplicate key {_show(duplicate)} in one object")
    return row


def _a_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _show(value: Any, limit: int = 60) -> str:
    """A JSON rendering short and safe for a terminal: model text may hold escape sequences,
    which JSON escapes, and lone surrogates, which a terminal cannot encode."""
    text = json.dumps(value, ensure_ascii=False)
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _squash(text: str) -> str:
    return " ".join(text.split())


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _digest(*parts: Any) -> bytes:
    canonical = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).digest()
