"""The workers' side of a judge run: asking the judge about one task in one order, and the
verdict written once every order asked of the task is answered.

Exactly once: the transaction that finishes an item first locks every item of its (run,
task) in id order, so that the two orders of a pair, finished by two workers at once, take
their locks in the same order (no deadlock) and the second to commit sees the first done;
that one writes the verdict, which the unique (run, task) constraint holds to one."""

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from annotation.choices import TIE, task_choice
from annotation.models import ProjectKind
from annotation.services.overlap import task_overlap_reconsider
from evaluation.generation.client import Completion, ModelCallFailed, chat_completion
from evaluation.generation.limiter import endpoint_slot
from evaluation.generation.services.endpoints import params_check
from evaluation.generation.services.worker import generation_item_fail
from evaluation.judging.models import JudgeVerdict
from evaluation.judging.protocol import (
    JudgeAnswerInvalid,
    judge_answer_parse,
    judge_messages,
    judge_project_values,
    judge_response_format,
)
from evaluation.models import GenerationItem, GenerationRun, ItemStatus, ModelEndpoint, RunStatus
from ftapp.errors import InvalidInput

RAW_OUTPUT_MAX = 20_000


def _sum(values: list[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


@dataclass(frozen=True)
class JudgeRunContext:
    """What every item of a judge run shares, read once for a chunk of its items rather
    than once per item: the run with its project and judge prompt, its endpoints, the
    project's placeholders and the answer's schema."""

    run: GenerationRun
    endpoints: dict[int, ModelEndpoint]
    project_values: dict[str, str]
    response_format: dict[str, Any]


def judge_run_context(*, run_id: int) -> JudgeRunContext | None:
    """The run's context, or None when there is no such judge run."""
    run = (
        GenerationRun.objects.select_related("project", "judge_prompt")
        .filter(pk=run_id, judge_prompt__isnull=False)
        .first()
    )
    if run is None:
        return None
    return JudgeRunContext(
        run=run,
        endpoints={e.pk: e for e in run.endpoints.all()},
        project_values=judge_project_values(project=run.project),
        response_format=judge_response_format(project=run.project),
    )


def judge_item_process(
    *, item_id: int, context: JudgeRunContext | None = None
) -> GenerationItem | None:
    """Asks the run's judge about the item's task in the item's order (``sample`` 1: the
    task's ``response_b`` shown first, as "A"), with the answer's JSON schema as
    ``response_format``, and parses the answer strictly. An answer that does not parse is
    asked again with a new seed, up to the run's ``parse_attempts``; then the item fails,
    its last answer kept in ``raw_output`` and the reason in ``error``. ``context``: the
    run's (``judge_run_context``), read now when not given."""
    item = (
        GenerationItem.objects.select_related(
            "task__prompt", "task__response_a", "task__response_b"
        )
        .filter(pk=item_id)
        .first()
    )
    if item is None or item.status != ItemStatus.PENDING:
        return item
    if context is None or context.run.pk != item.run_id:
        context = judge_run_context(run_id=item.run_id)
    task, judge_prompt = item.task, context.run.judge_prompt if context else None
    if task is None or context is None or judge_prompt is None:
        raise ValueError(f"Item {item_id} is not a judge item.")
    run, endpoint = context.run, context.endpoints[item.endpoint_id]
    item.run = run  # already read: a failure's figures need it
    if GenerationRun.objects.filter(
        pk=run.pk, status__in=[RunStatus.CANCELLED, RunStatus.FAILED]
    ).exists():
        return item
    params = {**endpoint.params, **run.params}
    parse_attempts = params.pop("parse_attempts", 1)
    lease = endpoint.timeout_seconds + 10
    completions: list[Completion] = []
    answer: dict[str, Any] | None = None
    problem = ""
    try:
        params_check(params)
        swapped = item.sample == 1
        messages = judge_messages(
            judge_prompt=judge_prompt,
            task=task,
            swapped=swapped,
            project_values=context.project_values,
        )
        request = {k: v for k, v in params.items() if k != "system"}
        request["response_format"] = context.response_format
        for attempt in range(parse_attempts):
            # A new seed for each try: a server that samples may answer well the next time.
            request["seed"] = params.get("seed", 0) + attempt
            completion = chat_completion(
                base_url=endpoint.base_url,
                model=endpoint.model,
                messages=messages,
                params=request,
                api_key_env=endpoint.api_key_env,
                timeout=endpoint.timeout_seconds,
                slot=lambda: endpoint_slot(endpoint.pk, endpoint.max_concurrency, lease),
            )
            completions.append(completion)
            try:
                answer = judge_answer_parse(project=run.project, text=completion.text)
                break
            except JudgeAnswerInvalid as invalid:
                problem = invalid.reason
    except InvalidInput as unusable:
        generation_item_fail(item, error=str(unusable), attempts=0, refused=True)
        return item
    except ModelCallFailed as failure:
        generation_item_fail(
            item,
            error=str(failure),
            attempts=sum(c.attempts for c in completions) + failure.attempts,
            refused=not failure.retryable,
            raw_output=completions[-1].text[:RAW_OUTPUT_MAX] if completions else "",
        )
        return item
    return _item_finish(
        item,
        verdict=_Verdict(run.project_id, run.pk, task.pk, judge_prompt.pk, run.project.kind),
        completions=completions,
        answer=answer,
        problem=problem,
    )


@dataclass(frozen=True)
class _Verdict:
    """Which verdict an item's answer goes to."""

    project_id: int
    run_id: int
    task_id: int
    judge_prompt_id: int
    kind: str


_FINISHED_FIELDS = [
    "status",
    "output",
    "error",
    "raw_output",
    "attempts",
    "tokens_in",
    "tokens_out",
    "latency_ms",
    "finish_reason",
    "updated_at",
]


def _item_finish(
    item: GenerationItem,
    *,
    verdict: _Verdict,
    completions: list[Completion],
    answer: dict[str, Any] | None,
    problem: str,
) -> GenerationItem:
    """Stores the item's answer (or its failure to parse) and, when it is the last of its
    task, the verdict: one transaction."""
    last = completions[-1]
    with transaction.atomic():
        siblings = list(
            GenerationItem.objects.select_for_update()
            .filter(run_id=verdict.run_id, task_id=verdict.task_id)
            .order_by("id")
        )
        locked = next(s for s in siblings if s.pk == item.pk)
        if locked.status != ItemStatus.PENDING:
            return locked  # a redelivered task finished it first
        locked.attempts = sum(c.attempts for c in completions)
        locked.tokens_in = _sum([c.tokens_in for c in completions])
        locked.tokens_out = _sum([c.tokens_out for c in completions])
        locked.latency_ms = sum(c.latency_ms for c in completions)
        locked.finish_reason = last.finish_reason
        locked.raw_output = last.text[:RAW_OUTPUT_MAX]
        if answer is None:
            locked.status = ItemStatus.FAILED
            tries = f"{len(completions)} answer{'s' if len(completions) > 1 else ''}"
            locked.error = f"The judge's answer does not follow the schema ({tries}): {problem}"[
                :2000
            ]
        else:
            locked.status, locked.output, locked.error = ItemStatus.DONE, answer, ""
        locked.save(update_fields=_FINISHED_FIELDS)
        if all(s.status == ItemStatus.DONE for s in siblings):
            _verdict_write(verdict, items=siblings)
    return locked


def _verdict_fields(kind: str, items: list[GenerationItem]) -> dict[str, Any]:
    answers = [item.output or {} for item in sorted(items, key=lambda i: i.sample)]
    if kind == ProjectKind.RATING:
        return {
            "rating": answers[0]["rating"],
            "rubric_scores": answers[0].get("rubric") or {},
            "rationale": answers[0]["rationale"],
        }
    # Each order's choice in the task's terms: in order 1, "A" was response_b.
    choices = [task_choice(a["choice"], order == 1) for order, a in enumerate(answers)]
    consistent = len(set(choices)) == 1
    rationale = "\n\n".join(
        f"[{'response_b' if order == 1 else 'response_a'} shown first] {a['rationale']}"
        for order, a in enumerate(answers)
    )
    return {
        # A verdict the swap does not confirm counts as a tie (MT-Bench's convention).
        "choice": choices[0] if consistent else TIE,
        "order_choices": choices,
        "consistent": consistent,
        "rationale": rationale,
    }


def _verdict_write(verdict: _Verdict, *, items: list[GenerationItem]) -> None:
    """Writes the task's verdict from its items, all done and locked by the caller's
    transaction; nothing when the verdict exists already."""
    if JudgeVerdict.objects.filter(run_id=verdict.run_id, task_id=verdict.task_id).exists():
        return
    JudgeVerdict.objects.create(
        project_id=verdict.project_id,
        run_id=verdict.run_id,
        task_id=verdict.task_id,
        endpoint_id=items[0].endpoint_id,
        judge_prompt_id=verdict.judge_prompt_id,
        kind=verdict.kind,
        tokens_in=_sum([i.tokens_in for i in items]),
        tokens_out=_sum([i.tokens_out for i in items]),
        latency_ms=_sum([i.latency_ms for i in items]),
        **_verdict_fields(verdict.kind, items),
    )
    # A verdict against the human majority may call for another human (adaptive overlap).
    task_overlap_reconsider(task_ids=[verdict.task_id])
