"""The data card: what went into an export and what it looks like, accumulated while the rows
stream by (memory bounded by the number of categories, never by the number of rows), written
as JSON and Markdown beside the files."""

import json
import unicodedata
from collections import Counter
from typing import Any

from annotation.choices import SIDES
from evaluation.exports.examples import Example
from evaluation.exports.source import PromptData, TaskData
from evaluation.stats.metrics import Coincidences

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
            shown = value if isinstance(value, str) else repr(value)
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
    # may be names (models, dates).
    lines += [f"- `{k}`: {md(v)}" for k, v in card["options"].items()]
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
        f"- Krippendorff's alpha, ratings (ordinal): {agreement['ratings_alpha_ordinal']} "
        f"over {agreement['rating_tasks_with_2_plus']} tasks judged twice or more",
        f"- Krippendorff's alpha, pairwise (nominal): {agreement['choices_alpha_nominal']} "
        f"over {agreement['pairwise_tasks_with_2_plus']} tasks",
        f"- position bias: left chosen in {position['left_share']} of "
        f"{position['judgments']} A/B judgments",
        f"- length bias: chosen longer than rejected in {length['chosen_longer_share']} of "
        f"{length['pairs']} pairs",
        f"- PII redactions: {_pairs(card['redactions'])}",
        "",
    ]
    return "\n".join(lines)


def _table(title: str, counts: dict[str, Any]) -> list[str]:
    """``title`` is Markdown already; the keys are names, escaped here."""
    rows = [f"**{title}**", "", "| value | count |", "|---|---|"]
    rows += [f"| {md(k)} | {v} |" for k, v in counts.items()]
    return [*rows, ""]
