"""Importing prompts and responses (SPEC "Import record"): JSON Lines, a JSON list, or CSV,
optionally gzipped; the upload page, the API and ``manage.py import_prompts`` all call
``prompts_import``.

The file is read as a stream (``import_files``: size limits, formats, line numbers). Two
passes over it keep memory bounded whatever its size: the first validates every
record and collects every error with its line number (and warnings that do not block); only
when there is no error does the second pass write, in chunks of bulk inserts inside one
transaction, so a bad file imports nothing. Records are keyed by ``id``: importing the same
file again creates nothing new, and new responses for a known prompt are added."""

from typing import IO

from django.db import transaction

from annotation.bulk import bulk_insert
from annotation.models import Judgment, Project, Prompt, Response
from annotation.selectors import project_check_lead
from annotation.services.import_files import detect_format
from annotation.services.import_records import ImportReport, Record, _validated
from annotation.services.tasks import tasks_create_for_responses
from annotation.text import normalize_text
from ftapp.actors import Actor

CHUNK = 2000


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
