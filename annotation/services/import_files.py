"""Reading an import file (JSON Lines, a JSON list or CSV, each optionally gzipped) as a
stream of ``(line, parsed record or None, error or None)``, for ``prompts_import``.

Whatever the file holds, memory stays bounded and every problem is an error with its line:

- the bytes are counted as they are read, after decompression: past
  ``settings.IMPORT_MAX_BYTES`` reading stops (a gzip bomb costs that much decompression at
  most, and never memory);
- no record is held beyond ``MAX_RECORD_BYTES``: lines are read that far and no further, a
  JSON list is decoded one record at a time from a window of the text, and a CSV row that
  grows past it (a quote left open swallows the rest of the file) is an error;
- JSON values follow ``ftapp.json_input`` (finite numbers, bounded nesting), so what passes
  can be stored;
- a CSV quote that is never closed, or text after a closing quote, is an error (Python's csv
  module would otherwise read on to the end of the file as one field).

The ``line`` of a record is its line in the file; in a JSON list it is the record's position
in the list (a list sent over the API is often a single line).
"""

import csv
import gzip
import io
import json
import re
import zlib
from collections.abc import Iterator
from typing import IO, Any

from django.conf import settings

from ftapp import json_input

MAX_RECORD_BYTES = 1_000_000
CSV_COLUMNS = ("id", "prompt", "system", "response", "model")
GZIP_MAGIC = b"\x1f\x8b"
READ_CHARS = 64 * 1024

RawRecord = tuple[int, Any, str | None]


class ImportTooLarge(Exception):
    """The file holds more than ``settings.IMPORT_MAX_BYTES``, decompressed."""


class RecordTooLarge(Exception):
    """One record (a line, a CSV row, an item of a JSON list) is over ``MAX_RECORD_BYTES``."""


def too_large_message() -> str:
    return (
        f"The file is larger than the limit of {settings.IMPORT_MAX_BYTES:,} bytes for an "
        "import (uncompressed); nothing past it was read. Split it into smaller files."
    )


RECORD_TOO_LARGE = f"The record is larger than {MAX_RECORD_BYTES:,} bytes."


class _Capped(io.RawIOBase):
    """The bytes of ``raw``, but never more than ``limit`` of them: asking for more raises
    ``ImportTooLarge``, after at most one byte past the limit was decompressed."""

    def __init__(self, raw: IO[bytes] | gzip.GzipFile, limit: int):
        self._raw, self._left = raw, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._raw.read(min(len(buffer), self._left + 1))
        if len(data) > self._left:
            raise ImportTooLarge
        self._left -= len(data)
        buffer[: len(data)] = data
        return len(data)


def _open_text(stream: IO[bytes]) -> io.TextIOWrapper:
    head = stream.read(2)
    stream.seek(0)
    # mode="rb": without it gzip takes the mode of the stream, and the API's spooled body is a
    # file opened for writing (w+b).
    raw = gzip.GzipFile(fileobj=stream, mode="rb") if head == GZIP_MAGIC else stream
    capped = io.BufferedReader(_Capped(raw, settings.IMPORT_MAX_BYTES))
    return io.TextIOWrapper(capped, encoding="utf-8", errors="strict", newline="")


_UNREADABLE = (UnicodeDecodeError, OSError, EOFError, zlib.error, ImportTooLarge)


def detect_format(stream: IO[bytes], name: str = "") -> str:
    """``csv``, ``json`` (one list) or ``jsonl``, from the file name or else the content."""
    lowered = name.lower().removesuffix(".gz")
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    text = _open_text(stream)
    try:
        start = text.read(4096).lstrip("\ufeff \t\r\n")
    except _UNREADABLE:
        start = ""  # reading it again for the records reports why
    finally:
        text.detach()
        stream.seek(0)
    if start.startswith("["):
        return "json"
    if start.startswith("{") or lowered.endswith(".json"):
        return "jsonl"
    return "csv"


def raw_records(stream: IO[bytes], fmt: str) -> Iterator[RawRecord]:
    """(line, parsed object or None, error) for each record, streaming."""
    stream.seek(0)
    text = _open_text(stream)
    reader = _JsonList(text) if fmt == "json" else _Lines(text)
    try:
        if isinstance(reader, _JsonList):
            yield from reader.records()
        elif fmt == "csv":
            yield from _csv_rows(reader)
        else:
            yield from _jsonl_records(reader)
    except ImportTooLarge:
        yield reader.reading, None, too_large_message()
    except UnicodeDecodeError as exc:
        yield 0, None, f"The file is not UTF-8 text ({exc.reason} at byte {exc.start})."
    except (OSError, EOFError, zlib.error) as exc:  # a truncated or corrupt gzip stream
        yield 0, None, f"The file cannot be read: {exc}."
    finally:
        text.detach()


class _Lines:
    """The lines of a text as an iterator (what ``csv`` reads), each read only as far as the
    record it belongs to may go: when the lines since ``start_record()`` pass
    ``MAX_RECORD_BYTES``, ``RecordTooLarge`` is raised with the rest of that line unread."""

    def __init__(self, text: io.TextIOWrapper):
        self._text = text
        self.number = 0  # of the line last read, or being read
        self.record_line = 1
        self.exhausted = False
        self._record_chars = 0
        self._line_ended = True

    @property
    def reading(self) -> int:
        return max(self.number, 1)

    def start_record(self) -> None:
        self._record_chars = 0

    def skip_rest_of_line(self) -> None:
        """After ``RecordTooLarge``: on to the next line, holding no more than a chunk."""
        ended = self._line_ended
        while not ended and (part := self._text.readline(READ_CHARS)):
            ended = part.endswith(("\n", "\r"))

    def __iter__(self) -> "_Lines":
        return self

    def __next__(self) -> str:
        self.number += 1
        line = self._text.readline(MAX_RECORD_BYTES - self._record_chars + 1)
        if not line:
            self.number -= 1
            self.exhausted = True
            raise StopIteration
        if not self._record_chars:
            if not line.strip("\r\n"):
                return line  # between records (csv skips it)
            self.record_line = self.number
        self._record_chars += len(line)
        self._line_ended = line.endswith(("\n", "\r"))
        if self._record_chars > MAX_RECORD_BYTES:
            raise RecordTooLarge
        return line


def _jsonl_records(lines: _Lines) -> Iterator[RawRecord]:
    while True:
        lines.start_record()
        try:
            line = next(lines)
        except StopIteration:
            return
        except RecordTooLarge:
            lines.skip_rest_of_line()
            yield lines.number, None, RECORD_TOO_LARGE
            continue
        if not line.strip():
            continue
        try:
            record = json_input.loads(line)
        except json.JSONDecodeError as exc:
            yield lines.number, None, f"Invalid JSON: {exc.msg} (column {exc.colno})."
        except json_input.JSONInputError as exc:
            yield lines.number, None, str(exc)
        else:
            yield lines.number, record, None


_NOT_SPACE = re.compile(r"[^ \t\r\n\ufeff]")
# How near the end of the window a JSON syntax error may be caused by the window ending there
# (a record cut in the middle of a token) rather than by the record.
_TOKEN_SLACK = 16


class _JsonList:
    """A JSON list decoded one record at a time from a window of the text that holds the
    record being decoded and what was read after it, never much more than one record."""

    def __init__(self, text: io.TextIOWrapper):
        self._text = text
        self._window = ""
        self._at = 0
        self._ended = False
        # Where the window starts in the text, and the line and start of line at self._at,
        # in characters from the start of the text: for the line and column of an error.
        self._offset = 0
        self._line = 1
        self._line_start = 0
        self.number = 0

    @property
    def reading(self) -> int:
        return max(self.number, 1)

    def records(self) -> Iterator[RawRecord]:
        if self._next_char() != "[":
            yield 1, None, "Expected a list of records."
            return
        self._move_to(self._at + 1)
        if self._next_char() == "]":
            self._move_to(self._at + 1)
        else:
            while True:
                self.number += 1
                self._next_char()
                try:
                    record = self._value()
                except RecordTooLarge:
                    yield self.number, None, RECORD_TOO_LARGE
                    return
                except json.JSONDecodeError as exc:
                    yield self.number, None, self._syntax_error(exc.msg, exc.pos)
                    return
                except json_input.JSONInputError as exc:
                    yield self.number, None, str(exc)
                    return
                yield self.number, record, None
                separator = self._next_char()
                if separator not in (",", "]"):
                    yield self.number, None, self._syntax_error("Expecting ',' or ']'", self._at)
                    return
                self._move_to(self._at + 1)
                if separator == "]":
                    break
        if self._next_char():
            yield self.number, None, self._syntax_error("Extra data after the list", self._at)

    def _syntax_error(self, message: str, position: int) -> str:
        self._move_to(position)
        column = self._offset + position - self._line_start + 1
        return f"Invalid JSON: {message} (line {self._line}, column {column})."

    def _more(self) -> bool:
        if self._ended:
            return False
        chunk = self._text.read(READ_CHARS)
        if not chunk:
            self._ended = True
            return False
        self._offset += self._at
        self._window = self._window[self._at :] + chunk
        self._at = 0
        return True

    def _move_to(self, end: int) -> None:
        newlines = self._window.count("\n", self._at, end)
        if newlines:
            self._line += newlines
            self._line_start = self._offset + self._window.rindex("\n", self._at, end) + 1
        self._at = end

    def _next_char(self) -> str:
        """The next character that is not white space, moved to; "" at the end of the text."""
        while True:
            found = _NOT_SPACE.search(self._window, self._at)
            if found:
                self._move_to(found.start())
                return found.group()
            self._move_to(len(self._window))
            if not self._more():
                return ""

    def _value(self) -> Any:
        while True:
            try:
                value, end = json_input.decode_at(self._window, self._at)
            except json.JSONDecodeError as exc:
                cut_short = exc.msg.startswith("Unterminated string") or (
                    len(self._window) - exc.pos < _TOKEN_SLACK
                )
                if not cut_short or self._ended:
                    raise
                if len(self._window) - self._at > MAX_RECORD_BYTES:
                    raise RecordTooLarge from None
                self._more()
                continue
            if end - self._at > MAX_RECORD_BYTES:
                raise RecordTooLarge
            # A number at the very end of the window may go on in the text still unread.
            if end == len(self._window) and self._more():
                continue
            self._move_to(end)
            return value


def _csv_rows(lines: _Lines) -> Iterator[RawRecord]:
    # Python's csv refuses a field over 131,072 characters by default; a field may be as long
    # as a record (the rows themselves are bounded by _Lines). The limit is process-wide, and
    # only ever raised here.
    csv.field_size_limit(max(csv.field_size_limit(), MAX_RECORD_BYTES))
    reader = csv.DictReader(lines, strict=True)
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        missing = [c for c in ("prompt",) if c not in header]
        unknown = [c for c in header if c not in CSV_COLUMNS]
        if missing or unknown:
            parts = []
            if missing:
                parts.append(f"missing column {', '.join(missing)}")
            if unknown:
                parts.append(f"unknown column {', '.join(unknown)}")
            yield 1, None, f"The header must be {', '.join(CSV_COLUMNS)}: {'; '.join(parts)}."
            return
        lines.start_record()
        for row in reader:
            number = lines.record_line
            lines.start_record()
            if None in row:
                yield number, None, "The row has more fields than the header."
                continue
            record: dict[str, Any] = {"prompt": row.get("prompt") or ""}
            if row.get("id"):
                record["id"] = row["id"]
            if row.get("system"):
                record["system"] = row["system"]
            if row.get("response") or row.get("model"):
                record["responses"] = [
                    {"model": row.get("model") or "", "text": row.get("response") or ""}
                ]
            yield number, record, None
    except RecordTooLarge:
        # A row over many lines is most likely a quote left open, swallowing the lines after.
        hint = " (is a quote left open?)" if lines.number > lines.record_line else ""
        yield lines.record_line, None, f"{RECORD_TOO_LARGE[:-1]}{hint}."
    except csv.Error as exc:
        if lines.exhausted:
            yield lines.record_line, None, "A quote opened in this row is never closed."
        else:
            yield lines.record_line, None, f"Invalid CSV: {exc}."
