"""Reads for label pulls: a project's judgments page by page, for training pipelines that
sync incrementally.

Pages are keyed by ``(change_seq, id)``, never by offset, so a page costs the same at the
millionth row as at the first. ``change_seq`` is written by a database trigger: on
PostgreSQL it is the id of the transaction that wrote the row, and a page only holds rows
whose transaction id is below the oldest transaction still running. A judgment whose
transaction commits late therefore waits for the next pull instead of being skipped."""

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from annotation.choices import task_choice
from annotation.judgment_rules import Pseudonyms
from annotation.models import Project
from ftapp.errors import InvalidInput

MAX_PAGE = 10_000
DEFAULT_PAGE = 1_000

_COLUMNS = """
    j.id, j.change_seq, j.task_id, t.prompt_id, p.external_id, t.kind, j.annotator_id,
    j.rating, j.choice, j.swapped, j.chosen_response_id, j.rejected_response_id,
    t.response_a_id, t.response_b_id, ra.model_name, rb.model_name, j.comment, j.rewrite,
    j.rubric_scores, j.duration_ms, j.guidelines_version, j.late, t.is_gold, t.batch_id,
    j.created_at, j.updated_at
"""


def cursor_encode(change_seq: int, judgment_id: int) -> str:
    raw = json.dumps([change_seq, judgment_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(cursor: str) -> tuple[int, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        change_seq, judgment_id = json.loads(raw)
        if not all(
            isinstance(v, int) and -(2**63) <= v < 2**63 for v in (change_seq, judgment_id)
        ):
            raise ValueError
    except (ValueError, TypeError, binascii.Error):
        raise InvalidInput(
            "Invalid cursor.", fields={"cursor": ["Pass back the next_cursor of a page."]}
        ) from None
    return change_seq, judgment_id


def settled_rows(alias: str) -> list[str]:
    """The condition (empty off PostgreSQL) that a pull keyed by ``change_seq`` reads only
    rows no running transaction can still precede: those written before the oldest one still
    running. Rows the reading transaction wrote itself are visible and final to it (only the
    tests write and pull in one transaction; a pull request writes nothing)."""
    if connection.vendor != "postgresql":
        return []
    return [
        f"({alias}.change_seq < pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
        f" OR {alias}.change_seq = pg_current_xact_id_if_assigned()::text::bigint)"
    ]


def db_moment(value: Any) -> datetime:
    """A timestamp read with raw SQL: SQLite gives naive text, stored in UTC."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value


def judgments_page(
    *,
    project: Project,
    cursor: str | None = None,
    updated_after: datetime | None = None,
    page_size: int = DEFAULT_PAGE,
    batch_id: int | None = None,
    model: str | None = None,
    annotator: str | None = None,
    kind: str | None = None,
    gold: bool | None = None,
) -> dict[str, Any]:
    """One page of judgments after ``cursor`` (or from the start, or from those updated
    after ``updated_after``), with the cursor to pass next. ``has_more`` is false when the
    pull has caught up; keep ``next_cursor`` and ask again later for what comes next."""
    if not 1 <= page_size <= MAX_PAGE:
        raise InvalidInput("Invalid page size.", fields={"page_size": [f"1 to {MAX_PAGE}."]})
    after = cursor_decode(cursor) if cursor else (-(2**63), 0)
    pseudonyms = Pseudonyms(project_id=project.pk)
    # A row-value comparison, which an index on (change_seq, id) answers by seeking.
    where = ["t.project_id = %s", "(j.change_seq, j.id) > (%s, %s)"]
    params: list[Any] = [project.pk, after[0], after[1]]
    where += settled_rows("j")
    if updated_after is not None:
        where.append("j.updated_at > %s")
        params.append(updated_after)
    if batch_id is not None:
        where.append("t.batch_id = %s")
        params.append(batch_id)
    if model:
        where.append("(ra.model_name = %s OR rb.model_name = %s)")
        params += [model, model]
    if annotator:
        where.append("j.annotator_id = %s")
        params.append(pseudonyms.user_id(annotator) or 0)
    if kind:
        where.append("t.kind = %s")
        params.append(kind)
    if gold is not None:
        where.append("t.is_gold = %s")
        params.append(gold)
    params.append(page_size + 1)
    # Fixed fragments and placeholders only; every value is a parameter.
    sql = f"""
        SELECT {_COLUMNS}
          FROM annotation_judgment j
          JOIN annotation_task t ON t.id = j.task_id
          JOIN annotation_prompt p ON p.id = t.prompt_id
          JOIN annotation_response ra ON ra.id = t.response_a_id
          LEFT JOIN annotation_response rb ON rb.id = t.response_b_id
         WHERE {" AND ".join(where)}
         ORDER BY j.change_seq, j.id
         LIMIT %s
    """  # noqa: S608
    with connection.cursor() as db:
        db.execute(sql, params)
        rows = db.fetchall()
    has_more = len(rows) > page_size
    rows = rows[:page_size]
    results = [_record(row, pseudonyms) for row in rows]
    next_cursor = cursor_encode(rows[-1][1], rows[-1][0]) if rows else cursor
    return {"results": results, "next_cursor": next_cursor, "has_more": has_more}


def _record(row: tuple, pseudonyms: Pseudonyms) -> dict[str, Any]:
    (
        judgment_id, _change_seq, task_id, prompt_id, external_id, kind, annotator_id,
        rating, choice, swapped, chosen_id, rejected_id, response_a, response_b, model_a,
        model_b, comment, rewrite, rubric_scores, duration_ms, guidelines_version, late,
        is_gold, batch_id, created_at, updated_at,
    ) = row
    pair = response_b is not None
    return {
        "id": judgment_id,
        "task_id": task_id,
        "prompt_id": prompt_id,
        "prompt_external_id": external_id,
        "kind": kind,
        "annotator": pseudonyms.name(annotator_id),
        "rating": rating,
        "choice": task_choice(choice, bool(swapped)),
        "chosen_response_id": chosen_id,
        "rejected_response_id": rejected_id,
        "response_ids": [response_a, response_b] if pair else [response_a],
        "models": [model_a, model_b] if pair else [model_a],
        "comment": comment,
        "rewrite": rewrite,
        "rubric_scores": json.loads(rubric_scores)
        if isinstance(rubric_scores, str)
        else rubric_scores,
        "duration_ms": duration_ms,
        "guidelines_version": guidelines_version,
        "late": bool(late),
        "is_gold": bool(is_gold),
        "batch_id": batch_id,
        "shown_swapped": bool(swapped),
        "created_at": db_moment(created_at).isoformat(),
        "updated_at": db_moment(updated_at).isoformat(),
    }
