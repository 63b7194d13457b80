"""Reading a dataset: the file (plain or gzip), its lines streamed one at a time, each
parsed strictly and handed to the checks of its kind; rows seen are remembered by digest."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from evaluation.exports.validate.datasets import SCHEMAS, DatasetRowChecks
from evaluation.exports.validate.judgments import JudgmentChecks
from evaluation.exports.validate.report import ValidationReport
from evaluation.exports.validate.values import _a_type, _digest, _is_int, _show

KINDS = ("sft", "dpo", "kto", "judgments")
FORMATS = ("trl", "openai")
DEFAULT_MAX_CHARS = 20_000
DEFAULT_MAX_ISSUES = 1_000
GZIP_MAGIC = b"\x1f\x8b"


class UnsupportedFormat(ValueError):
    """The kind and format asked for name no export format."""


class DatasetReadError(Exception):
    """The file cannot be opened or decompressed."""


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


class _Validator(DatasetRowChecks, JudgmentChecks):
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
