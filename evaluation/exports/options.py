"""The filters and selection rules of an export: their defaults and their validation, in one
place for the page, the API and the command line. The cleaned options are stored with the
export and printed in its data card."""

from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from ftapp.errors import InvalidInput

COMMON: dict[str, Any] = {
    "min_judgments": 1,
    "min_agreement": 0.0,
    "exclude_gold": True,
    "min_gold_accuracy": None,
    "batches": [],
    "rounds": [],
    "models": [],
    "judged_after": None,
    "judged_before": None,
    "dedupe": True,
    "redact_pii": False,
    "consensus": "majority",
    "judge_fill": False,
    "judge": None,
    "judge_prompt_version": None,
    "judge_min_agreement": 0.6,
}
# The options of judge labels, shown in a group of their own (``evaluation.exports.judge``).
JUDGE_OPTIONS = ("judge_fill", "judge", "judge_prompt_version", "judge_min_agreement")
PER_KIND: dict[str, dict[str, Any]] = {
    "sft": {"sft_min_rating": 4.0, "per_prompt": 1, "include_rewrites": True},
    "dpo": {
        "pairs_from": ["pairwise", "ratings", "rewrites"],
        "margin": 1.0,
        "rating_pairs": "best_vs_each",
        "tie_policy": "count",
    },
    "kto": {"kto_desirable_min": 4.0, "kto_undesirable_max": 2.0, "include_rewrites": True},
    "judgments": {},
}
# What each option is called where people read it: the export form and the data card.
LABELS: dict[str, str] = {
    "min_judgments": "Min. judgments per task",
    "min_agreement": "Min. agreement",
    "exclude_gold": "Leave gold tasks out",
    "min_gold_accuracy": "Min. annotator gold accuracy",
    "batches": "Batches",
    "rounds": "Rounds",
    "models": "Models",
    "judged_after": "Judged after",
    "judged_before": "Judged before",
    "dedupe": "Identical prompts count as one",
    "redact_pii": "Redact PII",
    "consensus": "Consensus",
    "sft_min_rating": "Min. mean rating",
    "per_prompt": "Examples per prompt",
    "include_rewrites": "Use expert rewrites",
    "pairs_from": "Pairs from",
    "margin": "Rating margin",
    "rating_pairs": "Rating pairs",
    "tie_policy": "Tie and both-bad votes",
    "kto_desirable_min": "Desirable from",
    "kto_undesirable_max": "Undesirable up to",
    "judge_fill": "Judge labels for tasks no human judged",
    "judge": "Judge",
    "judge_prompt_version": "Judge prompt version",
    "judge_min_agreement": "Min. judge kappa (lower 95% bound)",
}
# Fewer tasks labeled by both the judge and the humans make too wide an interval to trust.
JUDGE_MIN_TASKS = 30
# What an option means, where a label alone would not say it.
HELP: dict[str, str] = {
    "judge_fill": (
        "Off by default. On, a task no human judged takes the judge's newest verdict (of this "
        "judge and prompt version) as its label; a task any human judged keeps the humans' "
        "label, and a pairwise verdict that changed when the order was swapped is never used."
    ),
    "judge_prompt_version": "Blank: the current version, recorded with the export.",
    "judge_min_agreement": (
        "The export is refused unless the lower end of the 95% interval of the judge's Cohen's "
        "kappa with the human majority (weighted for ratings) is above this, on at least "
        f"{JUDGE_MIN_TASKS} tasks both labeled. Kappa, not raw agreement: raw agreement rewards a "
        "judge that always gives the most common label (where 80% of pairs go to A, always "
        "answering A agrees 80% of the time), kappa counts only agreement beyond chance."
    ),
}
# The kind a new export starts from: what the project's judgments are most directly for.
# Pairwise choices are preference pairs; ratings select the good answers to imitate (SFT),
# KTO being the other choice for them.
DEFAULT_KIND = {"pairwise": "dpo", "rating": "sft"}
FORMATS = ("trl", "openai")
# OpenAI's fine-tuning refuses a file of fewer examples.
MIN_SPLIT_ROWS = 10
NULLABLE = {"min_gold_accuracy", "judged_after", "judged_before", "judge", "judge_prompt_version"}
PAIR_SOURCES = ("pairwise", "ratings", "rewrites")
RATING_PAIRS = ("best_vs_each", "best_vs_worst")
TIE_POLICIES = ("count", "drop")


def kind_formats(kind: str) -> tuple[str, ...]:
    """The formats a kind is written in: OpenAI's fine-tuning has no KTO format."""
    return ("trl",) if kind == "kto" else FORMATS


def kind_default(project_kind: str) -> str:
    return DEFAULT_KIND.get(project_kind, "sft")


def option_groups() -> list[tuple[tuple[str, ...], list[str]]]:
    """The options of particular kinds, grouped by the kinds that have them, in ``PER_KIND``'s
    order: ``[(("sft",), ["sft_min_rating", "per_prompt"]), (("sft", "kto"),
    ["include_rewrites"]), ...]``. A form shows the groups of the chosen kind."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for options in PER_KIND.values():
        for name in options:
            kinds = tuple(kind for kind, known in PER_KIND.items() if name in known)
            if name not in groups.setdefault(kinds, []):
                groups[kinds].append(name)
    return list(groups.items())


def split_warnings(rows: dict[str, int], *, test_fraction: float) -> dict[str, str]:
    """Per split, what is wrong with its number of rows: none at all, or fewer than OpenAI's
    fine-tuning takes. A test split is only expected when some fraction goes to it."""
    warnings = {}
    for split, count in rows.items():
        if split == "test" and not test_fraction:
            continue
        if count == 0:
            warnings[split] = "Empty: no example would be written to this split."
        elif count < MIN_SPLIT_ROWS:
            warnings[split] = (
                f"Only {count}: OpenAI fine-tuning needs at least {MIN_SPLIT_ROWS} examples."
            )
    return warnings


def export_options_clean(*, kind: str, format: str, filters: dict[str, Any] | None) -> dict:
    """Fills in the defaults for ``kind`` and checks every value; unknown keys are errors,
    so a misspelt filter never silently exports more than was meant."""
    if kind not in PER_KIND:
        raise InvalidInput("Unknown kind.", fields={"kind": [f"One of {sorted(PER_KIND)}."]})
    if format not in FORMATS:
        raise InvalidInput("Unknown format.", fields={"format": ["trl or openai."]})
    if format not in kind_formats(kind):
        raise InvalidInput(
            "OpenAI fine-tuning has no KTO format.",
            fields={"format": ["KTO is written in TRL's format only: use trl."]},
        )
    defaults = {**COMMON, **PER_KIND[kind]}
    given = dict(filters or {})
    errors: dict[str, list[str]] = {}
    for key in sorted(set(given) - set(defaults)):
        errors[f"filters.{key}"] = [
            f"Unknown filter for a {kind} export; known: {', '.join(sorted(defaults))}."
        ]
    options: dict[str, Any] = {}
    for key, default in defaults.items():
        value = given.get(key, default)
        try:
            if value is None and key not in NULLABLE:
                raise TypeError("May not be null.")
            options[key] = _CHECKS[key](value) if value is not None else None
        except (TypeError, ValueError) as error:
            errors[f"filters.{key}"] = [str(error)]
    if not errors:
        _check_together(options, errors)
    if errors:
        raise InvalidInput("Invalid export filters.", fields=errors)
    return options


def _number(low: float, high: float):
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"Expected a number from {low} to {high}.")
        if not low <= value <= high:
            raise ValueError(f"Expected a number from {low} to {high}.")
        return float(value)

    return check


def _integer(low: int, high: int):
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"Expected a whole number from {low} to {high}.")
        if not low <= value <= high:
            raise ValueError(f"Expected a whole number from {low} to {high}.")
        return value

    return check


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("Expected true or false.")
    return value


def _list_of(kind: type, allowed: tuple[str, ...] | None = None):
    def check(value: Any) -> list:
        if not isinstance(value, list) or not all(
            isinstance(v, kind) and not isinstance(v, bool) for v in value
        ):
            raise TypeError(f"Expected a list of {kind.__name__}.")
        if kind is int and any(not 1 <= v < 2**63 for v in value):
            raise ValueError("Ids are whole numbers from 1 up.")
        if allowed is not None:
            wrong = [v for v in value if v not in allowed]
            if wrong:
                raise ValueError(f"Unknown {wrong}; choose from {list(allowed)}.")
        return sorted(set(value), key=value.index)

    return check


def _choice(allowed: tuple[str, ...]):
    def check(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"Choose from {list(allowed)}.")
        return value

    return check


def _moment(value: Any) -> str:
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if not isinstance(parsed, datetime) or parsed.tzinfo is None:
        raise ValueError(
            "Expected an ISO 8601 date and time with its offset, e.g. 2026-01-31T00:00:00Z."
        )
    return parsed.isoformat()


_CHECKS = {
    "min_judgments": _integer(1, 50),
    "min_agreement": _number(0.0, 1.0),
    "exclude_gold": _boolean,
    "min_gold_accuracy": _number(0.0, 1.0),
    "batches": _list_of(int),
    "rounds": _list_of(int),
    "models": _list_of(str),
    "judged_after": _moment,
    "judged_before": _moment,
    "dedupe": _boolean,
    "consensus": _choice(("majority", "dawid_skene")),
    "redact_pii": _boolean,
    "sft_min_rating": _number(1.0, 5.0),
    "per_prompt": _integer(1, 100),
    "include_rewrites": _boolean,
    "pairs_from": _list_of(str, PAIR_SOURCES),
    "margin": _number(0.0, 4.0),
    "rating_pairs": _choice(RATING_PAIRS),
    "tie_policy": _choice(TIE_POLICIES),
    "kto_desirable_min": _number(1.0, 5.0),
    "kto_undesirable_max": _number(1.0, 5.0),
    "judge_fill": _boolean,
    "judge": _integer(1, 2**63 - 1),
    "judge_prompt_version": _integer(1, 2**31 - 1),
    "judge_min_agreement": _number(0.0, 1.0),
}


def _check_together(options: dict[str, Any], errors: dict[str, list[str]]) -> None:
    if options.get("pairs_from") == []:
        errors["filters.pairs_from"] = ["Name at least one source of pairs."]
    after, before = options.get("judged_after"), options.get("judged_before")
    # Both were checked and written out by _moment.
    if after and before and datetime.fromisoformat(after) >= datetime.fromisoformat(before):
        errors["filters.judged_before"] = ["Must be later than judged_after."]
    desirable, undesirable = options.get("kto_desirable_min"), options.get("kto_undesirable_max")
    if desirable is not None and undesirable is not None and undesirable >= desirable:
        errors["filters.kto_undesirable_max"] = ["Must be below kto_desirable_min."]
    if options.get("judge_fill") and options.get("judge") is None:
        errors["filters.judge"] = ["Name the judge (a model endpoint id) whose verdicts fill in."]
