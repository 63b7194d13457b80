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


ROWS = {"sft": sft_row, "dpo": dpo_row, "kto": kto_row, "judgments": judgment_row}
