"""Validating import records (SPEC "Import record"): every problem of a record is reported
with its line number, errors that block the import and warnings that do not."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import IO, Any

from annotation.services.import_files import raw_records
from annotation.text import conversation_hash, normalize_text
from ftapp.json_input import contains_nul

LONG_TEXT_CHARS = 20_000
MAX_LISTED = 500  # errors and warnings listed in a report; all are counted
ROLES = {"system", "user", "assistant"}


@dataclass
class Issue:
    line: int
    message: str
    field: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass
class ImportReport:
    records: int = 0
    errors: list[Issue] = field(default_factory=list)
    error_count: int = 0
    warnings: list[Issue] = field(default_factory=list)
    warning_count: int = 0
    prompts: int = 0
    prompts_updated: int = 0
    prompts_kept: int = 0
    responses: int = 0
    tasks: int = 0
    committed: bool = False

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def error(self, line: int, message: str, field_name: str = "") -> None:
        self.error_count += 1
        if len(self.errors) < MAX_LISTED:
            self.errors.append(Issue(line, message, field_name))

    def warn(self, line: int, message: str, field_name: str = "") -> None:
        self.warning_count += 1
        if len(self.warnings) < MAX_LISTED:
            self.warnings.append(Issue(line, message, field_name))

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "committed": self.committed,
            "records": self.records,
            "prompts": self.prompts,
            "prompts_updated": self.prompts_updated,
            "prompts_kept": self.prompts_kept,
            "responses": self.responses,
            "tasks": self.tasks,
            "errors": [e.as_dict() for e in self.errors],
            "error_count": self.error_count,
            "warnings": [w.as_dict() for w in self.warnings],
            "warning_count": self.warning_count,
        }


@dataclass
class Record:
    """A validated record, in the shape the prompts are stored in."""

    line: int
    external_id: str
    text: str
    messages: list[dict[str, str]] | None
    system: str
    metadata: dict[str, Any]
    responses: list[dict[str, Any]]

    def turns(self) -> list[dict[str, str]]:
        return (
            self.messages if self.messages is not None else [{"role": "user", "content": self.text}]
        )

    @cached_property
    def content_hash(self) -> str:
        return conversation_hash(self.system, self.turns())


def _validate(number: int, obj: Any, report: ImportReport) -> Record | None:
    """A ``Record``, or ``None`` after adding every problem found to the report."""
    if not isinstance(obj, dict):
        report.error(number, "A record must be a JSON object.")
        return None
    if contains_nul(obj):
        report.error(number, "The record contains a NUL character (\\u0000): it cannot be stored.")
        return None
    before = report.error_count
    unknown = sorted(set(obj) - {"id", "prompt", "messages", "system", "metadata", "responses"})
    for name in unknown:
        report.error(number, f"Unknown field {name!r}.", name)

    raw_id = obj.get("id")
    if raw_id is not None and (isinstance(raw_id, bool) or not isinstance(raw_id, str | int)):
        report.error(number, "id must be a string or an integer.", "id")
    elif isinstance(raw_id, str) and not raw_id.strip():
        report.error(number, "id must not be empty.", "id")
    elif raw_id is not None and len(str(raw_id)) > 255:
        report.error(number, "id is longer than 255 characters.", "id")

    system = obj.get("system", "")
    if system is None:
        system = ""
    if not isinstance(system, str):
        report.error(number, "system must be a string.", "system")
        system = ""

    text, messages = "", None
    if "prompt" in obj and "messages" in obj:
        report.error(number, "Give either prompt or messages, not both.", "messages")
    elif "messages" in obj:
        messages, system = _validate_messages(number, obj["messages"], system, report)
    elif "prompt" in obj:
        if not isinstance(obj["prompt"], str):
            report.error(number, "prompt must be a string.", "prompt")
        elif not obj["prompt"].strip():
            report.error(number, "prompt is empty.", "prompt")
        else:
            text = obj["prompt"]
    else:
        report.error(number, "Missing prompt (or messages).", "prompt")

    metadata = obj.get("metadata", {})
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        report.error(number, "metadata must be an object.", "metadata")

    responses = obj.get("responses", [])
    if responses is None:
        responses = []
    if not isinstance(responses, list):
        report.error(number, "responses must be a list.", "responses")
        responses = []
    clean_responses = []
    for i, response in enumerate(responses):
        where = f"responses[{i}]"
        if not isinstance(response, dict):
            report.error(number, f"{where} must be an object with model and text.", where)
            continue
        extra = sorted(set(response) - {"model", "text", "metadata"})
        if extra:
            report.error(number, f"{where}: unknown field {', '.join(extra)}.", where)
        model, body = response.get("model"), response.get("text")
        if not isinstance(model, str) or not model.strip():
            report.error(number, f"{where}.model must be a non-empty string.", f"{where}.model")
        elif len(model) > 200:
            report.error(number, f"{where}.model is longer than 200 characters.", f"{where}.model")
        if not isinstance(body, str) or not body.strip():
            report.error(number, f"{where}.text must be a non-empty string.", f"{where}.text")
        meta = response.get("metadata", {})
        if not isinstance(meta, dict):
            report.error(number, f"{where}.metadata must be an object.", f"{where}.metadata")
        clean_responses.append({"model": model, "text": body, "metadata": meta})
    if report.error_count > before:
        return None
    if raw_id is None:
        # Without an id the content is the key, so re-importing stays idempotent.
        raw_id = (
            "sha-" + conversation_hash(system, messages or [{"role": "user", "content": text}])[:16]
        )
    return Record(number, str(raw_id).strip(), text, messages, system, metadata, clean_responses)


def _validate_messages(number, messages, system, report) -> tuple[list | None, str]:
    if not isinstance(messages, list) or not messages:
        report.error(number, "messages must be a non-empty list of {role, content}.", "messages")
        return None, system
    clean = []
    roles_valid = True
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            report.error(number, f"{where} must be an object with role and content.", where)
            continue
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            roles_valid = False
            report.error(number, f"{where}: unknown role {role!r}; use user or assistant.", where)
        elif role == "system" and i != 0:
            report.error(number, f"{where}: a system message can only come first.", where)
        if not isinstance(content, str) or not content.strip():
            report.error(number, f"{where}.content must be a non-empty string.", where)
        clean.append({"role": role, "content": content})
    if clean and clean[0].get("role") == "system":
        if system:
            report.error(number, "A system message and a system field: give one.", "system")
        system = clean[0]["content"] if isinstance(clean[0]["content"], str) else system
        clean = clean[1:]
    # With an unknown role already reported, the order of turns says little more.
    if roles_valid and not clean:
        report.error(number, "messages has no user turn.", "messages")
    elif roles_valid and clean[-1].get("role") != "user":
        report.error(number, "messages must end with a user turn.", "messages")
    return clean, system


def _warn_about(record: Record, report: ImportReport, seen_content: dict[str, int]) -> None:
    earlier = seen_content.setdefault(record.content_hash, record.line)
    if earlier != record.line:
        report.warn(record.line, f"Same prompt as line {earlier} (under another id).", "prompt")
    texts = [t["content"] for t in record.turns()] + [r["text"] for r in record.responses]
    if any(len(t) > LONG_TEXT_CHARS for t in texts):
        report.warn(record.line, f"A text is longer than {LONG_TEXT_CHARS:,} characters.")
    normalized = [normalize_text(r["text"]) for r in record.responses]
    if len(set(normalized)) < len(normalized):
        report.warn(record.line, "Some responses are identical to each other.", "responses")


def _validated(
    stream: IO[bytes], fmt: str, report: ImportReport, *, warn: bool = True
) -> Iterator[Record]:
    first_line: dict[str, tuple[int, str]] = {}
    seen_content: dict[str, int] = {}
    for number, obj, problem in raw_records(stream, fmt):
        if problem:
            report.error(number, problem)
            continue
        report.records += 1
        record = _validate(number, obj, report)
        if record is None:
            continue
        earlier = first_line.get(record.external_id)
        if earlier is not None:
            if fmt != "csv":
                report.error(
                    number,
                    f"Duplicate id {record.external_id!r}, first on line {earlier[0]}.",
                    "id",
                )
                continue
            if earlier[1] != record.content_hash:
                report.error(
                    number,
                    f"id {record.external_id!r} has another prompt on line {earlier[0]}.",
                    "prompt",
                )
                continue
        else:
            first_line[record.external_id] = (number, record.content_hash)
            if warn:
                _warn_about(record, report, seen_content)
        yield record
