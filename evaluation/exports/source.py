"""Reads a project's judged tasks for an export in one ordered pass over a server-side cursor,
handing them on a prompt at a time, so memory holds one prompt's tasks whatever the size of
the project. Rows come in a total order, which is what makes a re-export byte-identical."""

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.db import connection
from django.utils.dateparse import parse_datetime

from annotation.choices import task_choice
from annotation.judgment_feed import db_moment
from annotation.judgment_rules import counted_judgments, gold_correct, set_aside_annotators

FETCH = 5000


@dataclass(slots=True)
class ResponseData:
    id: int
    model: str
    text: str


@dataclass(slots=True)
class Vote:
    """One judgment. ``choice`` is in the task's terms (A = ``response_a``), ``screen_choice``
    as pressed (A = left)."""

    id: int
    annotator_id: int
    rating: int | None
    choice: str | None
    screen_choice: str | None
    swapped: bool
    chosen_id: int | None
    rejected_id: int | None
    rewrite: str
    comment: str
    duration_ms: int | None
    guidelines_version: int | None
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(slots=True)
class Adjudicated:
    rating: int | None
    choice: str | None
    chosen_id: int | None
    rejected_id: int | None


@dataclass(frozen=True, slots=True)
class JudgeRef:
    """The judge an export takes labels from, as recorded when the export was created."""

    id: int
    name: str
    prompt_version: int


@dataclass(slots=True)
class Verdict:
    """The judge's newest verdict on a task no human judged: ``choice`` in the task's terms,
    ``consistent`` False for a pairwise verdict that changed when the order was swapped."""

    id: int
    judge: JudgeRef
    rating: int | None
    choice: str | None
    consistent: bool | None
    rationale: str = ""
    latency_ms: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(slots=True)
class TaskData:
    id: int
    kind: str
    is_gold: bool
    batch_id: int | None
    a: ResponseData
    b: ResponseData | None
    adjudication: Adjudicated | None
    votes: list[Vote] = field(default_factory=list)
    verdict: Verdict | None = None

    def responses(self) -> list[ResponseData]:
        return [self.a] if self.b is None else [self.a, self.b]


@dataclass(slots=True)
class PromptData:
    id: int
    external_id: str
    system: str
    turns: list[dict[str, str]]
    metadata: dict[str, Any]
    content_hash: str
    tasks: list[TaskData] = field(default_factory=list)


def excluded_annotators(*, project_id: int, min_gold_accuracy: float | None) -> dict[int, str]:
    """Annotators whose judgments an export leaves out, with the reason: set aside by a lead,
    or below the gold accuracy asked for (annotators with no gold judged are kept)."""
    excluded = dict.fromkeys(set_aside_annotators(project_id=project_id), "excluded by a lead")
    if min_gold_accuracy is None:
        return excluded
    judged: dict[int, list[int]] = {}
    for judgment in counted_judgments(project_id=project_id, gold=True).select_related("task"):
        tally = judged.setdefault(judgment.annotator_id, [0, 0])
        tally[0] += 1
        tally[1] += gold_correct(judgment.task, judgment)
    for uid, (total, correct) in judged.items():
        if correct / total < min_gold_accuracy and uid not in excluded:
            excluded[uid] = f"gold accuracy {correct / total:.0%} below the minimum"
    return excluded


def round_batches(*, project_id: int, round_ids: list[int]) -> list[int]:
    """The batches a round's comparisons were judged in: what a round filter keeps."""
    from evaluation.models import Round

    return list(
        Round.objects.filter(project_id=project_id, pk__in=round_ids)
        .exclude(batch=None)
        .values_list("batch_id", flat=True)
    )


def tasks_to_read(*, project_id: int, options: dict[str, Any]) -> int:
    """How many tasks the export will look at, for its progress bar."""
    conditions, params = _task_conditions(project_id, options)
    judged = "t.judgment_count > 0"
    judge = judge_of(project_id=project_id, options=options)
    if judge is not None:
        judged = f"({judged} OR EXISTS (SELECT 1 {_JUDGE_VERDICTS}))"
        params = [*_judge_params(project_id, judge), *params]
    # Fixed fragments and placeholders only; values are parameters.
    sql = f"""
        SELECT COUNT(*) FROM annotation_task t
         WHERE {judged} AND {" AND ".join(conditions)}
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


_VOTES_AGGREGATE = {
    # One JSON array per task, so the rows sent are one per task (texts once, not once per
    # judgment) and the sort carries half as many rows.
    "postgresql": "json_agg(json_build_array({fields}) ORDER BY j.id)",
    "sqlite": "json_group_array(json_array({fields}))",
}
_VOTE_FIELDS = (
    "j.id, j.annotator_id, j.rating, j.choice, j.swapped, j.chosen_response_id, "
    "j.rejected_response_id, j.rewrite, j.guidelines_version"
)
# Only the judgments kind writes these out; reading (and parsing) them for a large DPO
# export would cost more than the rest of the row.
_VOTE_DETAILS = ", j.comment, j.duration_ms, j.created_at, j.updated_at"


# The judge's verdicts on task ``t``: the export's judge and prompt version, of the task's
# kind. The newest of them (highest id) is the one used, as in
# ``evaluation.judging.selectors.judge_verdicts_latest``.
_JUDGE_VERDICTS = """
      FROM evaluation_judgeverdict x
     WHERE x.project_id = %s AND x.endpoint_id = %s AND x.judge_prompt_id = %s
       AND x.task_id = t.id AND x.kind = t.kind
"""
_VERDICT_FIELDS = ", jv.id, jv.rating, jv.choice, jv.consistent"
_VERDICT_DETAILS = ", jv.rationale, jv.latency_ms, jv.created_at, jv.updated_at"


@dataclass(frozen=True, slots=True)
class _Judge:
    ref: JudgeRef
    prompt_id: int


def judge_of(*, project_id: int, options: dict[str, Any]) -> _Judge | None:
    """The judge whose verdicts the export reads, as recorded in its options when it was
    created (``evaluation.exports.judge``), or None when judge labels are off."""
    from evaluation.models import JudgePrompt

    if not options.get("judge_fill"):
        return None
    recorded = options["judge_calibration"]
    prompt_id = JudgePrompt.objects.values_list("pk", flat=True).get(
        project_id=project_id, version=options["judge_prompt_version"]
    )
    return _Judge(
        JudgeRef(recorded["judge"]["id"], recorded["judge"]["name"], recorded["prompt_version"]),
        prompt_id,
    )


def _judge_params(project_id: int, judge: _Judge) -> list[int]:
    return [project_id, judge.ref.id, judge.prompt_id]


def _placeholders(values: list) -> str:
    return ", ".join(["%s"] * len(values))


def _vote_conditions(options: dict[str, Any], excluded: list[int]) -> tuple[list[str], list]:
    """The export's filters on a judgment ``j``: its annotator and its date."""
    conditions: list[str] = []
    params: list[Any] = []
    if excluded:
        conditions.append(f"j.annotator_id NOT IN ({_placeholders(excluded)})")
        params += excluded
    if options["judged_after"]:
        conditions.append("j.created_at >= %s")
        params.append(parse_datetime(options["judged_after"]))
    if options["judged_before"]:
        conditions.append("j.created_at < %s")
        params.append(parse_datetime(options["judged_before"]))
    return conditions, params


def _task_conditions(project_id: int, options: dict[str, Any]) -> tuple[list[str], list]:
    """The export's filters on a task ``t``: its project, gold, batches and rounds. The model
    filter is applied to the tasks read (``models_kept``), so the card can count what it
    left out."""
    conditions, params = ["t.project_id = %s"], [project_id]
    if options["exclude_gold"]:
        conditions.append("t.is_gold = %s")
        params.append(False)
    if options["batches"]:
        conditions.append(f"t.batch_id IN ({_placeholders(options['batches'])})")
        params += options["batches"]
    if options.get("rounds"):
        batches = round_batches(project_id=project_id, round_ids=options["rounds"]) or [0]
        conditions.append(f"t.batch_id IN ({_placeholders(batches)})")
        params += batches
    return conditions, params


def models_kept(options: dict[str, Any], models: Iterable[str]) -> bool:
    """Whether a task with responses by ``models`` passes the export's model filter: every
    one of them must be asked for."""
    return not options["models"] or all(model in options["models"] for model in models)


def _query(
    project_id: int,
    options: dict[str, Any],
    excluded: list[int],
    details: bool,
    judge: _Judge | None,
) -> tuple[str, list]:
    vote_filters, vote_params = _vote_conditions(options, excluded)
    task_filters, task_params = _task_conditions(project_id, options)
    vote_filters.insert(0, "jt.project_id = %s")
    verdict_fields, verdict_join, judge_params = "", "", []
    if judge is None:
        task_filters.append("(v.votes IS NOT NULL OR ad.id IS NOT NULL)")
    else:
        # Only a task no human judged and no lead adjudicated takes the judge's verdict.
        verdict_fields = _VERDICT_FIELDS + (_VERDICT_DETAILS if details else "")
        verdict_join = f"""
          LEFT JOIN evaluation_judgeverdict jv
            ON t.judgment_count = 0 AND ad.id IS NULL
           AND jv.id = (SELECT MAX(x.id) {_JUDGE_VERDICTS})
        """
        judge_params = _judge_params(project_id, judge)
        task_filters.append("(v.votes IS NOT NULL OR ad.id IS NOT NULL OR jv.id IS NOT NULL)")
    params = [project_id, *vote_params, *judge_params, *task_params]
    aggregate = _VOTES_AGGREGATE[connection.vendor].format(
        fields=_VOTE_FIELDS + (_VOTE_DETAILS if details else "")
    )
    # The filters are built from fixed fragments and placeholders only; values are parameters.
    sql = f"""
        SELECT p.id, p.external_id, p.text, p.messages, p.system, p.metadata, p.content_hash,
               t.id, t.kind, t.is_gold, t.batch_id,
               ra.id, ra.model_name, ra.text, rb.id, rb.model_name, rb.text,
               ad.id, ad.rating, ad.choice, ad.chosen_response_id, ad.rejected_response_id,
               v.votes{verdict_fields}
          FROM annotation_task t
          JOIN annotation_prompt p ON p.id = t.prompt_id
          JOIN annotation_response ra ON ra.id = t.response_a_id
          LEFT JOIN annotation_response rb ON rb.id = t.response_b_id
          LEFT JOIN annotation_adjudication ad ON ad.task_id = t.id
          LEFT JOIN (
                SELECT j.task_id, {aggregate} AS votes
                  FROM annotation_judgment j
                  JOIN annotation_task jt ON jt.id = j.task_id
                 WHERE {" AND ".join(vote_filters)}
                 GROUP BY j.task_id
          ) v ON v.task_id = t.id{verdict_join}
         WHERE {" AND ".join(task_filters)}
         ORDER BY p.content_hash, p.id, t.id
    """  # noqa: S608
    return sql, params


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


@lru_cache(maxsize=4096)
def _metadata(raw: str | None) -> dict[str, Any]:
    """Metadata repeats across prompts (a topic, a language): decoded once per distinct
    text. The dicts are shared, so they are only ever read."""
    return _json(raw) or {}


def _vote(fields: list, details: bool) -> Vote:
    screen_choice = fields[3] or None
    swapped = bool(fields[4])
    return Vote(
        id=fields[0],
        annotator_id=fields[1],
        rating=fields[2],
        choice=task_choice(screen_choice, swapped),
        screen_choice=screen_choice,
        swapped=swapped,
        chosen_id=fields[5],
        rejected_id=fields[6],
        rewrite=fields[7],
        guidelines_version=fields[8],
        comment=fields[9] if details else "",
        duration_ms=fields[10] if details else None,
        created_at=db_moment(fields[11]) if details else None,
        updated_at=db_moment(fields[12]) if details else None,
    )


def prompts_read(
    *, project_id: int, options: dict[str, Any], excluded: list[int], details: bool = False
) -> Iterator[PromptData]:
    """Yields each prompt with its judged tasks and their votes, in content-hash order (so
    identical prompts come one after another), then prompt, task and judgment id. Without
    ``details``, votes carry no comment, duration or dates (nor verdicts their rationale,
    latency or dates). With judge labels on, a task no human judged comes with the judge's
    verdict, if it has one."""
    judge = judge_of(project_id=project_id, options=options)
    sql, params = _query(project_id, options, excluded, details, judge)
    prompt: PromptData | None = None
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(FETCH):
            for row in rows:
                if prompt is None or row[0] != prompt.id:
                    if prompt is not None:
                        yield prompt
                    messages = _json(row[3])
                    prompt = PromptData(
                        id=row[0],
                        external_id=row[1],
                        system=row[4],
                        turns=messages if messages else [{"role": "user", "content": row[2]}],
                        metadata=_metadata(row[5]) if isinstance(row[5], str) else row[5] or {},
                        content_hash=row[6],
                    )
                votes = [_vote(fields, details) for fields in _json(row[22]) or ()]
                votes.sort(key=lambda vote: vote.id)
                prompt.tasks.append(
                    TaskData(
                        id=row[7],
                        kind=row[8],
                        is_gold=bool(row[9]),
                        batch_id=row[10],
                        a=ResponseData(row[11], row[12], row[13]),
                        b=ResponseData(row[14], row[15], row[16]) if row[14] else None,
                        adjudication=(
                            Adjudicated(row[18], row[19] or None, row[20], row[21])
                            if row[17]
                            else None
                        ),
                        votes=votes,
                        verdict=_verdict(row, judge, details)
                        if judge is not None and row[23] is not None
                        else None,
                    )
                )
    if prompt is not None:
        yield prompt


def _verdict(row: tuple, judge: _Judge, details: bool) -> Verdict:
    consistent = row[26]
    return Verdict(
        id=row[23],
        judge=judge.ref,
        rating=row[24],
        choice=row[25] or None,
        consistent=None if consistent is None else bool(consistent),
        rationale=row[27] if details else "",
        latency_ms=row[28] if details else None,
        created_at=db_moment(row[29]) if details else None,
        updated_at=db_moment(row[30]) if details else None,
    )


def votes_read(
    *, project_id: int, options: dict[str, Any], excluded: list[int]
) -> list[tuple[int, int, int | None, str | None]]:
    """The judgments an export reads, by the same filters as ``prompts_read``, as bare
    ``(task id, annotator id, rating, choice in the task's terms)``: what a consensus model
    is fitted on."""
    vote_filters, vote_params = _vote_conditions(options, excluded)
    task_filters, task_params = _task_conditions(project_id, options)
    # The filters are built from fixed fragments and placeholders only; values are parameters.
    sql = f"""
        SELECT j.task_id, j.annotator_id, j.rating, j.choice, j.swapped,
               ra.model_name, rb.model_name
          FROM annotation_judgment j
          JOIN annotation_task t ON t.id = j.task_id
          JOIN annotation_response ra ON ra.id = t.response_a_id
          LEFT JOIN annotation_response rb ON rb.id = t.response_b_id
         WHERE {" AND ".join(task_filters + vote_filters)}
         ORDER BY j.id
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, task_params + vote_params)
        return [
            (task_id, annotator_id, rating, task_choice(choice, bool(swapped)))
            for task_id, annotator_id, rating, choice, swapped, model_a, model_b in cursor
            if models_kept(options, (model_a,) if model_b is None else (model_a, model_b))
        ]
