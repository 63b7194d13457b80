"""The verdicts pull: a project's judge verdicts page by page, with the cursor rules of the
judgments pull (``annotation.judgment_feed``): pages keyed by ``(change_seq, id)``, and on
PostgreSQL only rows whose transaction id is below the oldest transaction still running, so a
verdict committed late waits for the next pull instead of being skipped."""

import json
from datetime import datetime
from typing import Any

from django.db import connection

from annotation.choices import A, B
from annotation.judgment_feed import (
    DEFAULT_PAGE,
    MAX_PAGE,
    cursor_decode,
    cursor_encode,
    db_moment,
    settled_rows,
)
from annotation.models import Project
from ftapp.errors import InvalidInput

_COLUMNS = """
    v.id, v.change_seq, v.task_id, t.prompt_id, p.external_id, v.kind, v.endpoint_id, e.name,
    jp.version, v.rating, v.rubric_scores, v.choice, t.response_a_id, t.response_b_id,
    ra.model_name, rb.model_name, v.consistent, v.order_choices, v.rationale, v.tokens_in,
    v.tokens_out, v.latency_ms, v.run_id, v.created_at, v.updated_at
"""


def judge_verdicts_page(
    *,
    project: Project,
    cursor: str | None = None,
    updated_after: datetime | None = None,
    page_size: int = DEFAULT_PAGE,
    endpoint_id: int | None = None,
    prompt_version: int | None = None,
    run_id: int | None = None,
) -> dict[str, Any]:
    """One page of verdicts after ``cursor`` (or from the start, or from those updated after
    ``updated_after``), with the cursor to pass next; ``has_more`` is false when the pull has
    caught up. Filters: the judge (``endpoint_id``), its prompt version, the run."""
    if not 1 <= page_size <= MAX_PAGE:
        raise InvalidInput("Invalid page size.", fields={"page_size": [f"1 to {MAX_PAGE}."]})
    after = cursor_decode(cursor) if cursor else (-(2**63), 0)
    # A row-value comparison, which the (project, change_seq, id) index answers by seeking.
    where = ["v.project_id = %s", "(v.change_seq, v.id) > (%s, %s)"]
    params: list[Any] = [project.pk, after[0], after[1]]
    where += settled_rows("v")
    for condition, value in (
        ("v.updated_at > %s", updated_after),
        ("v.endpoint_id = %s", endpoint_id),
        ("jp.version = %s", prompt_version),
        ("v.run_id = %s", run_id),
    ):
        if value is not None:
            where.append(condition)
            params.append(value)
    params.append(page_size + 1)
    # Fixed fragments and placeholders only; every value is a parameter.
    sql = f"""
        SELECT {_COLUMNS}
          FROM evaluation_judgeverdict v
          JOIN annotation_task t ON t.id = v.task_id
          JOIN annotation_prompt p ON p.id = t.prompt_id
          JOIN evaluation_modelendpoint e ON e.id = v.endpoint_id
          JOIN evaluation_judgeprompt jp ON jp.id = v.judge_prompt_id
          JOIN annotation_response ra ON ra.id = t.response_a_id
          LEFT JOIN annotation_response rb ON rb.id = t.response_b_id
         WHERE {" AND ".join(where)}
         ORDER BY v.change_seq, v.id
         LIMIT %s
    """  # noqa: S608
    with connection.cursor() as db:
        db.execute(sql, params)
        rows = db.fetchall()
    has_more = len(rows) > page_size
    rows = rows[:page_size]
    next_cursor = cursor_encode(rows[-1][1], rows[-1][0]) if rows else cursor
    return {
        "results": [_record(row) for row in rows],
        "next_cursor": next_cursor,
        "has_more": has_more,
    }


def _json(value: Any) -> Any:
    """A JSON column read with raw SQL: SQLite gives its text."""
    return json.loads(value) if isinstance(value, str) else value


def _record(row: tuple) -> dict[str, Any]:
    (
        verdict_id, _change_seq, task_id, prompt_id, external_id, kind, endpoint_id,
        endpoint_name, prompt_version, rating, rubric_scores, choice, response_a, response_b,
        model_a, model_b, consistent, order_choices, rationale, tokens_in, tokens_out,
        latency_ms, run_id, created_at, updated_at,
    ) = row  # fmt: skip
    pair = response_b is not None
    chosen = rejected = None
    if choice == A:
        chosen, rejected = response_a, response_b
    elif choice == B:
        chosen, rejected = response_b, response_a
    return {
        "id": verdict_id,
        "task_id": task_id,
        "prompt_id": prompt_id,
        "prompt_external_id": external_id,
        "kind": kind,
        "judge": {"id": endpoint_id, "name": endpoint_name},
        "prompt_version": prompt_version,
        "rating": rating,
        "rubric_scores": _json(rubric_scores),
        "choice": choice or None,
        "chosen_response_id": chosen,
        "rejected_response_id": rejected,
        "response_ids": [response_a, response_b] if pair else [response_a],
        "models": [model_a, model_b] if pair else [model_a],
        "consistent": None if consistent is None else bool(consistent),
        "order_choices": _json(order_choices),
        "rationale": rationale,
        "tokens": {"in": tokens_in, "out": tokens_out},
        "latency_ms": latency_ms,
        "run_id": run_id,
        "created_at": db_moment(created_at).isoformat(),
        "updated_at": db_moment(updated_at).isoformat(),
    }
