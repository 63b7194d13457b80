"""Importing prompts and responses (SPEC "Import record"): JSON Lines, a JSON list, or CSV,
optionally gzipped; the upload page, the API and ``manage.py import_prompts`` all call
``prompts_import``.

The file is read as a stream (``import_files``: size limits, formats, line numbers). Two
passes over it keep memory bounded whatever its size: the first validates every
record and collects every error with its line number (and warnings that do not block); only
when there is no error does the second pass write, in chunks of bulk inserts inside one
transaction, so a bad file imports nothing. Records are keyed by ``id``: importing the same
file again creates nothing new, and new responses for a known prompt are added.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from itertools import combinations
from typing import IO, Any

from django.db import transaction

from annotation.bulk import bulk_insert
from annotation.models import Judgment, Pairing, Project, ProjectKind, Prompt, Response, Task
from annotation.selectors import project_check_lead
from annotation.services.import_files import detect_format, raw_records
from annotation.text import contains_nul, conversation_hash, normalize_text
from ftapp.actors import Actor

LONG_TEXT_CHARS = 20_000
MAX_LISTED = 500  # errors and warnings listed in a report; all are counted
CHUNK = 2000
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


def prompts_import(
    *,
    by: Actor,
    project: Project,
    stream: IO[bytes],
    name: str = "",
    commit: bool = True,
) -> ImportReport:
    """Validates the whole file, then (``commit`` and no errors) stores it, all or nothing.
    ``stream`` must be seekable: it is read twice. Leads only."""
    project_check_lead(by=by, project=project)
    fmt = detect_format(stream, name)
    report = ImportReport()
    for _ in _validated(stream, fmt, report):
        pass
    if report.records == 0 and report.ok:
        report.error(0, "The file has no records.")
    if not report.ok or not commit:
        return report
    with transaction.atomic():
        chunk: list[Record] = []
        for record in _validated(stream, fmt, ImportReport(), warn=False):
            chunk.append(record)
            if len(chunk) >= CHUNK:
                _store(project, chunk, report)
                chunk = []
        if chunk:
            _store(project, chunk, report)
    report.committed = True
    return report


def _store(project: Project, records: list[Record], report: ImportReport) -> None:
    merged: dict[str, Record] = {}
    for record in records:  # CSV rows of one id become one prompt with several responses
        if record.external_id in merged:
            merged[record.external_id].responses.extend(record.responses)
        else:
            merged[record.external_id] = record
    existing = {
        p.external_id: p for p in Prompt.objects.filter(project=project, external_id__in=merged)
    }
    differing = [
        p.pk
        for external_id, p in existing.items()
        if (p.content_hash, p.metadata)
        != (merged[external_id].content_hash, merged[external_id].metadata)
    ]
    judged = set(
        Judgment.objects.filter(task__prompt_id__in=differing).values_list(
            "task__prompt_id", flat=True
        )
    )
    new_prompts, changed = [], []
    for external_id, record in merged.items():
        prompt = existing.get(external_id)
        if prompt is None:
            new_prompts.append(
                Prompt(
                    project=project,
                    external_id=external_id,
                    text=record.text,
                    messages=record.messages,
                    system=record.system,
                    metadata=record.metadata,
                    content_hash=record.content_hash,
                )
            )
            continue
        same = (prompt.content_hash, prompt.metadata) == (record.content_hash, record.metadata)
        if same:
            continue
        if prompt.pk in judged:
            report.prompts_kept += 1
            report.warn(
                record.line,
                f"Prompt {external_id!r} differs from the stored one, which has judgments: "
                "kept as it was.",
            )
            continue
        prompt.text, prompt.messages = record.text, record.messages
        prompt.system, prompt.metadata = record.system, record.metadata
        prompt.content_hash = record.content_hash
        changed.append(prompt)
    bulk_insert(Prompt, new_prompts)
    Prompt.objects.bulk_update(
        changed, ["text", "messages", "system", "metadata", "content_hash", "updated_at"]
    )
    report.prompts += len(new_prompts)
    report.prompts_updated += len(changed)
    prompts = {p.external_id: p for p in [*existing.values(), *new_prompts]}

    have: dict[int, set[tuple[str, str]]] = {}
    # Only prompts that were already stored can have responses; new ones are not looked up,
    # which keeps each chunk's queries independent of how much the import has written.
    for prompt_id, model, text in Response.objects.filter(prompt__in=existing.values()).values_list(
        "prompt_id", "model_name", "text"
    ):
        have.setdefault(prompt_id, set()).add((model, normalize_text(text)))
    new_responses = []
    for external_id, record in merged.items():
        prompt = prompts[external_id]
        known = have.setdefault(prompt.pk, set())
        for response in record.responses:
            key = (response["model"], normalize_text(response["text"]))
            if key in known:
                continue
            known.add(key)
            new_responses.append(
                Response(
                    prompt=prompt,
                    model_name=response["model"],
                    text=response["text"],
                    generation=response["metadata"],
                )
            )
    bulk_insert(Response, new_responses)
    report.responses += len(new_responses)
    if new_responses:
        created = tasks_create_for_responses(
            project=project, responses=new_responses, new_prompts={p.pk for p in new_prompts}
        )
        report.tasks += len(created)


def tasks_create_for_responses(
    *,
    project: Project,
    responses: list[Response],
    new_prompts: set[int] = frozenset(),
    against_models: set[str] = frozenset(),
) -> list[Task]:
    """The tasks these responses call for that do not exist yet: one per response in a rating
    project; in a pairwise project one per pair of one of them with another model's response
    to the same prompt (every pair, or only pairs with the baseline model first, per the
    project's pairing). ``new_prompts`` are prompts created along with these responses: they
    have no other responses and no tasks, so they are not looked up. ``against_models``, when
    given, keeps only the pairs of a new response with one of those models' (a round compares
    the new model with the previous one only)."""
    if not responses:
        return []
    prompt_ids = {r.prompt_id for r in responses}
    stored = prompt_ids - set(new_prompts)
    have = {
        frozenset(pair) - {None}
        for pair in Task.objects.filter(project=project, prompt_id__in=stored).values_list(
            "response_a_id", "response_b_id"
        )
    }
    if project.kind == ProjectKind.RATING:
        tasks = [
            Task(project=project, kind=project.kind, prompt_id=r.prompt_id, response_a=r)
            for r in responses
            if frozenset({r.pk}) not in have
        ]
        bulk_insert(Task, tasks)
        return tasks
    given = {r.pk for r in responses}
    by_prompt: dict[int, list[Response]] = {}
    siblings = Response.objects.filter(prompt_id__in=stored).only("id", "prompt_id", "model_name")
    for response in [*siblings.exclude(pk__in=given), *responses]:
        by_prompt.setdefault(response.prompt_id, []).append(response)
    for group in by_prompt.values():
        group.sort(key=lambda r: r.pk)
    tasks = []
    for prompt_id, group in by_prompt.items():
        for a, b in combinations(group, 2):
            if a.model_name == b.model_name or not ({a.pk, b.pk} & given):
                continue
            if frozenset({a.pk, b.pk}) in have:
                continue
            if against_models:
                new, other = (a, b) if a.pk in given else (b, a)
                if other.model_name not in against_models or other.pk in given:
                    continue
                a, b = other, new  # the model compared against first, as with a baseline
            elif project.pairing == Pairing.BASELINE:
                if project.baseline_model not in (a.model_name, b.model_name):
                    continue
                if b.model_name == project.baseline_model:
                    a, b = b, a
            tasks.append(
                Task(
                    project=project,
                    kind=project.kind,
                    prompt_id=prompt_id,
                    response_a=a,
                    response_b=b,
                )
            )
    bulk_insert(Task, tasks)
    return tasks
