"""The data card: what went into an export and what it looks like, accumulated while the rows
stream by (memory bounded by the number of categories, never by the number of rows), written
as JSON and Markdown beside the files."""

import json
import re
import unicodedata
from collections import Counter
from typing import Any

from annotation.choices import SIDES
from evaluation.exports.examples import Example
from evaluation.exports.options import LABELS, split_warnings
from evaluation.exports.source import PromptData, TaskData
from evaluation.stats.metrics import Coincidences
from ftapp.pages import in_words

METADATA_KEYS = 20
METADATA_VALUES = 1000
METADATA_SHOWN = 20


class CardStats:
    def __init__(self) -> None:
        self.rows: Counter[str] = Counter()
        self.sources: Counter[str] = Counter()
        self.labels: Counter[str] = Counter()
        self.models: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.guideline_versions: Counter[int | str] = Counter()
        self.annotators: set[int] = set()
        self.rating_histogram: Counter[int] = Counter()
        self.ratings = Coincidences()
        self.choices = Coincidences()
        self.left_choices = 0
        self.sided_choices = 0
        self.chosen_longer = 0
        self.pairs = 0
        self.prompts = 0
        self.prompt_groups = 0
        self.prompts_per_split: Counter[str] = Counter()
        self.tasks = 0
        self.adjudicated = 0
        self.metadata: dict[str, Counter[str]] = {}
        self.judgments_used = 0
        self.judge_rows: Counter[str] = Counter()

    def group(self, group: list[PromptData], split: str, used_tasks: list[TaskData]) -> None:
        """Counts a group that gave at least one row, and the judgments of its tasks that
        went into those rows."""
        self.prompt_groups += 1
        self.prompts += len(group)
        self.prompts_per_split[split] += 1
        for prompt in group:
            self._metadata(prompt.metadata)
        annotators, versions = self.annotators, self.guideline_versions
        for task in used_tasks:
            self.tasks += 1
            self.adjudicated += task.adjudication is not None
            votes = task.votes
            self.judgments_used += len(votes)
            for vote in votes:
                annotators.add(vote.annotator_id)
                versions[vote.guidelines_version or "none"] += 1
                if vote.rating is not None:
                    self.rating_histogram[vote.rating] += 1
                elif vote.screen_choice in SIDES:
                    self.sided_choices += 1
                    self.left_choices += vote.screen_choice == "A"
            if len(votes) > 1:
                if task.kind == "rating":
                    self.ratings.add_unit([v.rating for v in votes])
                else:
                    self.choices.add_unit([v.choice for v in votes])

    def example(self, example: Example, split: str) -> None:
        self.rows[split] += 1
        self.judge_rows[split] += example.judged
        self.sources[example.source] += 1
        self.models.update(example.models)
        if example.label is not None:
            self.labels["desirable" if example.label else "undesirable"] += 1
        if example.chosen is not None and example.rejected is not None:
            self.pairs += 1
            self.chosen_longer += len(example.chosen) > len(example.rejected)

    def _metadata(self, metadata: dict[str, Any]) -> None:
        for key, value in metadata.items():
            values = self.metadata.get(key)
            if values is None:
                if len(self.metadata) >= METADATA_KEYS:
                    continue
                values = self.metadata[key] = Counter()
            # JSON, as the value was imported: true, null, {"a": 1}; never a Python repr.
            shown = (
                value
                if isinstance(value, str)
                else json.dumps(value, ensure_ascii=False, sort_keys=True)
            )
            if shown in values or len(values) < METADATA_VALUES:
                values[shown[:200]] += 1
            else:
                values["(other values)"] += 1

    def as_dict(self) -> dict[str, Any]:
        def share(part: int, whole: int) -> float | None:
            return round(part / whole, 4) if whole else None

        return {
            "rows": dict(self.rows),
            "examples_by_source": dict(sorted(self.sources.items())),
            "kto_labels": dict(sorted(self.labels.items())),
            "dropped": dict(sorted(self.dropped.items())),
            "models": dict(sorted(self.models.items())),
            "prompts": {
                "distinct": self.prompt_groups,
                "records": self.prompts,
                "per_split": dict(self.prompts_per_split),
                "metadata": {
                    key: dict(values.most_common(METADATA_SHOWN))
                    for key, values in sorted(self.metadata.items())
                },
            },
            "tasks": self.tasks,
            "adjudicated_tasks": self.adjudicated,
            "judgments_used": self.judgments_used,
            "annotators": len(self.annotators),
            "guideline_versions": {
                str(k): v for k, v in sorted(self.guideline_versions.items(), key=str)
            },
            "rating_histogram": {str(r): self.rating_histogram[r] for r in range(1, 6)},
            "agreement": {
                "ratings_alpha_ordinal": _round(self.ratings.alpha("ordinal")),
                "rating_tasks_with_2_plus": self.ratings.units,
                "choices_alpha_nominal": _round(self.choices.alpha("nominal")),
                "pairwise_tasks_with_2_plus": self.choices.units,
            },
            "position_bias": {
                "left_share": share(self.left_choices, self.sided_choices),
                "judgments": self.sided_choices,
            },
            "length_bias": {
                "chosen_longer_share": share(self.chosen_longer, self.pairs),
                "pairs": self.pairs,
            },
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


# Characters with a meaning in Markdown anywhere in a line: emphasis, code, links and
# images, table cells, strikethrough, a heading's closing #, maths and attribute lists in
# some renderers. Those opening HTML tags and entities are written as entities instead,
# which every renderer shows as the character.
_MARKDOWN_SPECIAL = set("\\`*_{}[]()#+!|~$")
_HTML_SPECIAL = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def md(value: Any) -> str:
    """``value`` as Markdown text that renders as itself, on one line: a name from a project,
    a model or the data can open no tag, link, code span or table cell of its own."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    out = []
    for ch in text:
        if ch in _HTML_SPECIAL:
            out.append(_HTML_SPECIAL[ch])
        elif ch in _MARKDOWN_SPECIAL:
            out.append("\\" + ch)
        elif ch.isspace() or unicodedata.category(ch) == "Cc":
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def _pairs(counts: dict[str, Any]) -> str:
    return ", ".join(f"{md(k)}: {md(v)}" for k, v in counts.items()) or "none"


def card_markdown(card: dict[str, Any]) -> str:
    """The card for people: the same figures as the JSON, as a Markdown page. Every name
    from a project, a model, the data or the filters goes through ``md``: the card is
    published beside the dataset, where hubs render it with raw HTML allowed. The rest
    (split and file names, hashes, numbers, kinds) is ftapp's own."""
    stats = card["stats"]
    lines = [
        f"# Data card: {md(card['project']['name'])} — {card['kind']} ({card['format']})",
        "",
        f"Export {card['export_id']}, judgments as of {card['snapshot_at']}. "
        f"Split by prompt with seed {card['seed']}, test fraction {card['test_fraction']}.",
        "",
        "## Files",
        "",
        "| split | file | rows | bytes | sha256 |",
        "|---|---|---|---|---|",
    ]
    for split, info in card["files"].items():
        lines.append(
            f"| {split} | `{info['name']}` | {info['rows']} | {info['bytes']} | "
            f"`{info['sha256']}` |"
        )
    judgments_file = card["judgments_file"]
    lines += [
        "",
        f"Judgments used: {stats['judgments_used']} (ids in `{judgments_file['name']}`, "
        f"sha256 `{judgments_file['sha256']}`).",
        "",
        "## Filters",
        "",
    ]
    # Option names come from ftapp's own table (evaluation.exports.options); their values
    # may be names (models, dates). The judge's recorded calibration has a section of its own.
    lines += [f"- `{k}`: {md(v)}" for k, v in card["options"].items() if k != "judge_calibration"]
    if card.get("judge"):
        lines += _judge_markdown(card["judge"])
    lines += ["", "## Content", ""]
    lines += _table("examples by source", stats["examples_by_source"])
    if stats["kto_labels"]:
        lines += _table("KTO labels", stats["kto_labels"])
    lines += _table("models (responses in rows)", stats["models"])
    lines += _table("left out", stats["dropped"] or {"nothing": 0})
    prompts = stats["prompts"]
    lines += [
        f"Prompts: {prompts['distinct']} distinct ({prompts['records']} records), "
        f"per split {_pairs(prompts['per_split'])}.",
        "",
    ]
    for key, values in prompts["metadata"].items():
        lines += _table(f"metadata {md(key)}", values)
    lines += ["## Annotation", ""]
    agreement, position, length = (
        stats["agreement"],
        stats["position_bias"],
        stats["length_bias"],
    )
    lines += [
        f"- tasks: {stats['tasks']} ({stats['adjudicated_tasks']} adjudicated by a lead)",
        f"- annotators: {stats['annotators']}",
        f"- guideline versions (judgments): {_pairs(stats['guideline_versions'])}",
        f"- rating histogram: {_pairs(stats['rating_histogram'])}",
        f"- Krippendorff's alpha, ratings (ordinal): "
        f"{_figure(agreement['ratings_alpha_ordinal'])} "
        f"over {agreement['rating_tasks_with_2_plus']} tasks judged twice or more",
        f"- Krippendorff's alpha, pairwise (nominal): "
        f"{_figure(agreement['choices_alpha_nominal'])} "
        f"over {agreement['pairwise_tasks_with_2_plus']} tasks",
        f"- position bias: left chosen in {_figure(position['left_share'])} of "
        f"{position['judgments']} A/B judgments",
        f"- length bias: chosen longer than rejected in "
        f"{_figure(length['chosen_longer_share'])} of {length['pairs']} pairs",
        f"- PII redactions: {_pairs(card['redactions'])}",
        "",
    ]
    return "\n".join(lines)


def _three(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _interval_text(found: dict[str, float | None]) -> str:
    """A figure with its 95% interval, three decimals."""
    if found["value"] is None:
        return "—"
    lower, upper = _three(found["lower"]), _three(found["upper"])
    return f"{_three(found['value'])} (95% interval {lower}–{upper})"


def _judge_markdown(judge: dict[str, Any]) -> list[str]:
    figures, rows, verdicts = judge["calibration"], judge["rows"], judge["verdicts_file"]
    lines = [
        "",
        "## Judge labels",
        "",
        f"Tasks no human judged are labeled by the judge {md(judge['judge']['name'])} "
        f"(endpoint {judge['judge']['id']}) with judge prompt v{judge['prompt_version']}: "
        f"{sum(rows.values())} rows ({_pairs(rows)}) from {judge['tasks']} verdicts (ids in "
        f"`{verdicts['name']}`, sha256 `{verdicts['sha256']}`). Verdicts that changed when the "
        "order was swapped are not used.",
        "",
        f"Its calibration against the human majority when the export was created, on "
        f"{figures['tasks']} tasks both labeled (the export needed the lower bound of "
        f"kappa above {judge['min_agreement']}):",
        "",
        f"- agreement: {_interval_text(figures['agreement'])}",
        f"- Cohen's kappa ({figures['kappa_weights']}): {_interval_text(figures['kappa'])}",
        f"- Krippendorff's alpha: {_interval_text(figures['alpha'])}",
    ]
    consistency = figures["position_consistency"]
    if consistency is not None:
        lines.append(
            f"- position consistency: {_three(consistency['share'])} of {consistency['n']} "
            f"pairs (95% interval {_three(consistency['lower'])}–"
            f"{_three(consistency['upper'])})"
        )
    lines.append(f"- flags: {', '.join(figures['flags']) or 'none'}")
    return lines


def _figure(value: float | None) -> str:
    """A figure of the card; "—" where it is undefined (nothing to measure it on)."""
    return "—" if value is None else str(value)


def _table(title: str, counts: dict[str, Any]) -> list[str]:
    """``title`` is Markdown already; the keys are names, escaped here."""
    rows = [f"**{title}**", "", "| value | count |", "|---|---|"]
    rows += [f"| {md(k)} | {v} |" for k, v in counts.items()]
    return [*rows, ""]


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def option_in_words(name: str, value: Any) -> str:
    """An export option's value as a person reads it: yes or no, "all" for an empty list of
    batches or models, "none" where there is no minimum, choice values in words. Names (of
    models, dates) are kept as they are."""
    if isinstance(value, bool):
        return _yes_no(value)
    if value is None:
        return "none"
    if isinstance(value, list):
        if not value:
            return "all"
        shown = [in_words(v) if name == "pairs_from" else str(v) for v in value]
        return ", ".join(shown)
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    if name in WORDED_CHOICES:
        return in_words(str(value))
    return str(value)


WORDED_CHOICES = {"consensus", "rating_pairs", "tie_policy"}
_OPTION_NAME = re.compile(r"\b(" + "|".join(sorted(LABELS, key=len, reverse=True)) + r")\b")


def reason_in_words(reason: str) -> str:
    """Why examples were left out ("rated below sft_min_rating") with the option named as on
    the form ("rated below min. mean rating")."""
    parts = _OPTION_NAME.split(reason)  # the names matched are at the odd places
    return "".join(LABELS[p].lower() if i % 2 else in_words(p) for i, p in enumerate(parts))


def _share(value: float | None) -> str | None:
    return None if value is None else f"{value:.0%}"


def _judge_for_page(judge: dict[str, Any] | None) -> dict[str, Any] | None:
    if not judge:
        return None
    return {**judge, "flags": [in_words(flag) for flag in judge["calibration"]["flags"]]}


def card_for_page(card: dict[str, Any], *, project_kind: str) -> dict[str, Any]:
    """The data card as the export's page shows it: sentences and small tables in words,
    only the figures that mean something for the project's kind of judgments (no rating
    histogram or ordinal alpha from pairwise choices, no position bias from ratings) and a
    warning beside each split too small to fine-tune on."""
    stats = card.get("stats", {})
    prompts = stats.get("prompts", {})
    agreement = stats.get("agreement", {})
    rows = {split: int(info.get("rows", 0)) for split, info in card.get("files", {}).items()}
    warnings = split_warnings(rows, test_fraction=card.get("test_fraction") or 0)
    per_split_prompts = prompts.get("per_split", {})
    rating = project_kind == "rating"
    if rating:
        alpha = {
            "value": agreement.get("ratings_alpha_ordinal"),
            "level": "ordinal, ratings",
            "tasks": agreement.get("rating_tasks_with_2_plus", 0),
        }
    else:
        alpha = {
            "value": agreement.get("choices_alpha_nominal"),
            "level": "nominal, choices",
            "tasks": agreement.get("pairwise_tasks_with_2_plus", 0),
        }
    position = stats.get("position_bias", {})
    length = stats.get("length_bias", {})
    return {
        "splits": [
            {
                "split": split,
                "rows": count,
                "prompts": per_split_prompts.get(split, 0),
                "warning": warnings.get(split, ""),
            }
            for split, count in rows.items()
        ],
        "warned": bool(warnings),
        "options": [
            (LABELS.get(name, in_words(name)), option_in_words(name, value))
            for name, value in card.get("options", {}).items()
            if name != "judge_calibration"
        ],
        "judge": _judge_for_page(card.get("judge")),
        "sources": [(in_words(k), v) for k, v in stats.get("examples_by_source", {}).items()],
        "kto_labels": list(stats.get("kto_labels", {}).items()),
        "models": list(stats.get("models", {}).items()),
        "dropped": [(reason_in_words(k), v) for k, v in stats.get("dropped", {}).items()],
        "prompts": {
            "distinct": prompts.get("distinct", 0),
            "records": prompts.get("records", 0),
        },
        "metadata": [
            (key, list(values.items())) for key, values in prompts.get("metadata", {}).items()
        ],
        "tasks": stats.get("tasks", 0),
        "adjudicated": stats.get("adjudicated_tasks", 0),
        "judgments_used": stats.get("judgments_used", 0),
        "annotators": stats.get("annotators", 0),
        "excluded_annotators": list(card.get("excluded_annotators", {}).items()),
        "guideline_versions": [
            (f"v{k}" if k != "none" else "unknown", v)
            for k, v in stats.get("guideline_versions", {}).items()
        ],
        "rating_histogram": list(stats.get("rating_histogram", {}).items()) if rating else [],
        "alpha": alpha,
        "position_bias": None
        if rating
        else {"share": _share(position.get("left_share")), "n": position.get("judgments", 0)},
        "length_bias": {
            "share": _share(length.get("chosen_longer_share")),
            "n": length.get("pairs", 0),
        }
        if length.get("pairs")
        else None,
        "redactions": [(in_words(k), v) for k, v in card.get("redactions", {}).items()],
        "rounds": card.get("rounds", []),
        "dataset_sha256": card.get("dataset_sha256", ""),
    }
