"""One example as one JSON line, in TRL's conversational formats or OpenAI's fine-tuning
formats, exactly as SPEC "Export formats (exact)" gives them."""

from collections.abc import Callable
from typing import Any

from evaluation.exports.examples import Example

Text = Callable[[str], str]


def _conversation(example: Example, text: Text) -> list[dict[str, str]]:
    prompt = example.prompt
    system = [{"role": "system", "content": text(prompt.system)}] if prompt.system else []
    return system + [{"role": t["role"], "content": text(t["content"])} for t in prompt.turns]


def _assistant(content: str | None, text: Text) -> list[dict[str, str]]:
    if content is None:
        raise ValueError("The example lacks the response its format needs.")
    return [{"role": "assistant", "content": text(content)}]


def sft_row(example: Example, fmt: str, text: Text) -> dict[str, Any]:
    return {"messages": _conversation(example, text) + _assistant(example.completion, text)}


def dpo_row(example: Example, fmt: str, text: Text) -> dict[str, Any]:
    if fmt == "openai":
        return {
            "input": {"messages": _conversation(example, text)},
            "preferred_output": _assistant(example.chosen, text),
            "non_preferred_output": _assistant(example.rejected, text),
        }
    return {
        "prompt": _conversation(example, text),
        "chosen": _assistant(example.chosen, text),
        "rejected": _assistant(example.rejected, text),
    }


def kto_row(example: Example, fmt: str, text: Text) -> dict[str, Any]:
    return {
        "prompt": _conversation(example, text),
        "completion": _assistant(example.completion, text),
        "label": example.label,
    }


def judgment_row(example: Example, fmt: str, text: Text) -> dict[str, Any]:
    """A judgment as ``GET /api/v1/projects/{id}/judgments/`` gives it. ``choice`` is in the
    task's terms: ``A`` is ``response_ids[0]``, whatever side the annotator saw it on."""
    vote, task, prompt = example.vote, example.tasks[0], example.prompt
    if vote is None and task.verdict is not None:
        return judge_row(example, text)
    if vote is None or vote.created_at is None or vote.updated_at is None:
        raise ValueError("A judgment is written with its vote, read with its details.")
    responses = task.responses()
    return {
        "id": vote.id,
        "task_id": task.id,
        "prompt_id": prompt.id,
        "prompt_external_id": prompt.external_id,
        "kind": task.kind,
        "annotator": example.annotator,
        "rating": vote.rating,
        "choice": vote.choice,
        "chosen_response_id": vote.chosen_id,
        "rejected_response_id": vote.rejected_id,
        "response_ids": [r.id for r in responses],
        "models": [r.model for r in responses],
        "prompt": _conversation(example, text),
        "responses": [text(r.text) for r in responses],
        "comment": text(vote.comment),
        "rewrite": text(vote.rewrite),
        "duration_ms": vote.duration_ms,
        "guidelines_version": vote.guidelines_version,
        "is_gold": task.is_gold,
        "batch_id": task.batch_id,
        "created_at": vote.created_at.isoformat(),
        "updated_at": vote.updated_at.isoformat(),
    }


def judge_row(example: Example, text: Text) -> dict[str, Any]:
    """A judge's verdict in the shape of a judgment row, marked as the judge's: ``source``
    "judge", its ``verdict_id`` (also its ``id``: verdicts and judgments are numbered apart),
    the ``judge`` and its ``judge_prompt_version``; the rationale is its comment and the
    judge's latency its duration."""
    task, prompt, verdict = example.tasks[0], example.prompt, example.tasks[0].verdict
    if verdict is None or verdict.created_at is None or verdict.updated_at is None:
        raise ValueError("A verdict is written with its details.")
    responses = task.responses()
    chosen = rejected = None
    if task.b is not None and verdict.choice in ("A", "B"):
        chosen, rejected = (task.a, task.b) if verdict.choice == "A" else (task.b, task.a)
    return {
        "id": verdict.id,
        "task_id": task.id,
        "prompt_id": prompt.id,
        "prompt_external_id": prompt.external_id,
        "kind": task.kind,
        "annotator": "judge",
        "rating": verdict.rating,
        "choice": verdict.choice,
        "chosen_response_id": chosen.id if chosen else None,
        "rejected_response_id": rejected.id if rejected else None,
        "response_ids": [r.id for r in responses],
        "models": [r.model for r in responses],
        "prompt": _conversation(example, text),
        "responses": [text(r.text) for r in responses],
        "comment": text(verdict.rationale),
        "rewrite": "",
        "duration_ms": verdict.latency_ms,
        "guidelines_version": None,
        "is_gold": task.is_gold,
        "batch_id": task.batch_id,
        "created_at": verdict.created_at.isoformat(),
        "updated_at": verdict.updated_at.isoformat(),
        "source": "judge",
        "verdict_id": verdict.id,
        "judge": {"id": verdict.judge.id, "name": verdict.judge.name},
        "judge_prompt_version": verdict.judge.prompt_version,
    }


ROWS = {"sft": sft_row, "dpo": dpo_row, "kto": kto_row, "judgments": judgment_row}
