"""Raw judgment rows: the fields each one carries and how they must agree."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from annotation.choices import CHOICES, SIDES
from evaluation.exports.validate.report import Checks
from evaluation.exports.validate.values import _is_int, _show


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _iso_datetime(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


JUDGMENT_FIELDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "id": ("an integer", _is_int),
    "task_id": ("an integer", _is_int),
    "prompt_id": ("an integer", _is_int),
    "prompt_external_id": ("a non-empty string", _nonempty_str),
    "kind": ('"rating" or "pairwise"', lambda v: v in ("rating", "pairwise")),
    "annotator": ("a non-empty string", _nonempty_str),
    "rating": ("an integer 1..5 or null", _optional(lambda v: _is_int(v) and 1 <= v <= 5)),
    "choice": ('"A", "B", "tie", "both_bad" or null', _optional(lambda v: v in CHOICES)),
    "chosen_response_id": ("an integer or null", _optional(_is_int)),
    "rejected_response_id": ("an integer or null", _optional(_is_int)),
    "response_ids": (
        "an array of integers",
        lambda v: isinstance(v, list) and all(_is_int(i) for i in v),
    ),
    "models": (
        "an array of strings",
        lambda v: isinstance(v, list) and all(_nonempty_str(m) for m in v),
    ),
    "comment": ("a string or null", _optional(lambda v: isinstance(v, str))),
    "rewrite": ("a string or null", _optional(lambda v: isinstance(v, str))),
    "duration_ms": ("a non-negative integer or null", _optional(lambda v: _is_int(v) and v >= 0)),
    "guidelines_version": (
        "a positive integer or null",
        _optional(lambda v: _is_int(v) and v >= 1),
    ),
    "created_at": ("an ISO 8601 date-time string", _iso_datetime),
    "updated_at": ("an ISO 8601 date-time string", _iso_datetime),
}


class JudgmentChecks(Checks):
    """Raw judgments as the API and ``--kind judgments`` exports carry them."""

    def _judgment(self, row: dict[str, Any]) -> None:
        # The API carries "at least" these keys, so extra keys are no issue at all.
        for key, (expected, check) in JUDGMENT_FIELDS.items():
            if key not in row:
                self.error("", f"missing key {_show(key)}")
            elif not check(row[key]):
                self.error(key, f"expected {expected}, got {_show(row[key])}")
        kind, choice = row.get("kind"), row.get("choice")
        if kind in ("rating", "pairwise"):
            wants, refuses = ("rating", "choice") if kind == "rating" else ("choice", "rating")
            if wants in row and row[wants] is None:
                self.error(wants, f"a {kind} judgment needs a {wants}, got null")
            if row.get(refuses) is not None:
                self.error(
                    refuses, f"a {kind} judgment has no {refuses}, got {_show(row[refuses])}"
                )
        response_ids: Any = row.get("response_ids")
        ids_valid = JUDGMENT_FIELDS["response_ids"][1](response_ids)
        # A rating task shows one response, a pairwise task two (SPEC, "Annotate").
        shown = 1 if kind == "rating" else 2 if kind == "pairwise" else None
        if shown and ids_valid and len(response_ids) != shown:
            self.error(
                "response_ids", f"expected {shown} for a {kind} judgment, got {len(response_ids)}"
            )
        chosen, rejected = row.get("chosen_response_id"), row.get("rejected_response_id")
        if _is_int(chosen) and chosen == rejected:
            self.error("rejected_response_id", f"equals chosen_response_id ({chosen})")
        for key, value in (("chosen_response_id", chosen), ("rejected_response_id", rejected)):
            if choice in SIDES and key in row and value is None:
                self.error(key, f'choice "{choice}" needs a response id, got null')
            if _is_int(value) and ids_valid and value not in response_ids:
                self.error(key, f"{value} is not in response_ids")
        for key in ("comment", "rewrite"):
            text = row.get(key)
            if isinstance(text, str) and len(text) > self.max_chars:
                self.warning(
                    key, f"very long text ({len(text):,} characters, over {self.max_chars:,})"
                )
