"""Which examples a prompt's judgments make, per kind of export (SPEC, "How examples are
chosen"). Pure functions over the data read by ``source``: the database is not touched here.

A *group* is the prompts that count as one: every prompt with the same normalized content
when de-duplicating, else a single prompt. Limits such as ``per_prompt`` apply per group."""

from collections import Counter
from dataclasses import dataclass
from statistics import mean
from typing import Any

from annotation.choices import BOTH_BAD, SIDES, TIE
from annotation.text import normalize_text
from evaluation.exports.source import (
    PromptData,
    ResponseData,
    TaskData,
    Vote,
    models_kept,
)
from evaluation.stats import majority_choice

REWRITE_MODEL = "expert-rewrite"


@dataclass(slots=True)
class Label:
    """A task's aggregated label: the mean rating, or the pairwise verdict in the task's
    terms (``A`` = ``response_a``; ``None`` when no verdict has a majority). ``judged`` when
    it is the judge's verdict (a task no human judged, with judge labels on)."""

    score: float | None = None
    verdict: str | None = None
    adjudicated: bool = False
    judged: bool = False


@dataclass(slots=True)
class Example:
    prompt: PromptData
    source: str
    tasks: tuple[TaskData, ...]
    completion: str | None = None
    label: bool | None = None
    chosen: str | None = None
    rejected: str | None = None
    vote: Vote | None = None
    models: tuple[str, ...] = ()
    annotator: str = ""

    @property
    def judged(self) -> bool:
        """Whether the row rests, wholly or partly, on a judge's verdict: only tasks whose
        label is the judge's carry one (``source.prompts_read``)."""
        return any(task.verdict is not None for task in self.tasks)


def agreement(task: TaskData) -> float:
    """Share of the judgments that agree with the best-supported label: for ratings, those
    within one point of it; for choices, those equal to it. 1.0 for a single judgment."""
    votes = task.votes
    if len(votes) < 2:
        return 1.0
    if task.kind == "rating":
        ratings = [v.rating for v in task.votes if v.rating is not None]
        support = max(sum(abs(r - c) <= 1 for r in ratings) for c in range(1, 6))
    else:
        choices = [v.choice for v in votes]
        if choices.count(choices[0]) == len(choices):
            return 1.0  # the common case, without counting
        support = max(Counter(choices).values())
    return support / len(votes)


def majority(task: TaskData, tie_policy: str) -> str | None:
    """The pairwise verdict most judgments gave, by ``stats.majority_choice`` (``None`` when
    two share the top). With ``tie_policy="drop"`` tie and both-bad votes are left out of
    the count, so only A against B is weighed."""
    choices = [v.choice for v in task.votes if v.choice is not None]
    ignore = (TIE, BOTH_BAD) if tie_policy == "drop" else ()
    if choices and choices.count(choices[0]) == len(choices) and choices[0] not in ignore:
        return choices[0]  # unanimous: the common case, without counting
    (label,) = majority_choice(
        [task.id] * len(choices), choices, ignore=ignore, units=[task.id]
    ).label
    return None if label is None else str(label)


def task_label(
    task: TaskData, options: dict[str, Any], dropped: Counter, consensus=None
) -> Label | None:
    """The task's label, or ``None`` (counted in ``dropped`` by reason) when the filters
    leave it out. A lead's adjudication takes precedence over the judgments and passes the
    judgment-count and agreement filters: it settles the task. With a Dawid–Skene
    ``consensus``, its label replaces the majority (pairwise) or the mean (ratings)."""
    if not models_kept(options, (r.model for r in task.responses())):
        dropped["model filter"] += 1
        return None
    adjudication = task.adjudication
    if adjudication is not None:
        if adjudication.rating is not None:  # a rating task's; a pairwise one has a choice
            return Label(score=float(adjudication.rating), adjudicated=True)
        return Label(verdict=adjudication.choice, adjudicated=True)
    verdict = task.verdict
    if verdict is not None:
        # The judgment-count and agreement filters are about humans: a judge's verdict was
        # admitted by its calibration when the export was created.
        if verdict.consistent is False:
            dropped["judge verdict changed when the order was swapped"] += 1
            return None
        if verdict.rating is not None:
            return Label(score=float(verdict.rating), judged=True)
        return Label(verdict=verdict.choice, judged=True)
    if len(task.votes) < options["min_judgments"]:
        dropped["fewer judgments than min_judgments"] += 1
        return None
    if agreement(task) < options["min_agreement"]:
        dropped["agreement below min_agreement"] += 1
        return None
    weighted = consensus.label(task.id) if consensus is not None else None
    if task.kind == "rating":
        return Label(
            score=float(
                weighted
                if weighted is not None
                else mean(v.rating for v in task.votes if v.rating is not None)
            )
        )
    if weighted is not None:
        return Label(verdict=weighted)
    return Label(verdict=majority(task, options.get("tie_policy", "count")))


def _rewrites(tasks: list[tuple[PromptData, TaskData, Label]]):
    for prompt, task, _ in tasks:
        for vote in task.votes:
            if vote.rewrite.strip():
                yield prompt, task, vote


def _same(a: str | None, b: str | None) -> bool:
    if a == b:
        return True
    if a is None or b is None:
        return False
    if a.isascii() and b.isascii():  # NFKC leaves ASCII as it is: skip it
        return a.casefold().split() == b.casefold().split()
    return normalize_text(a) == normalize_text(b)


def _rated(tasks) -> list[tuple[float, ResponseData, PromptData, TaskData]]:
    rated = [
        (label.score, task.a, prompt, task)
        for prompt, task, label in tasks
        if task.kind == "rating" and label.score is not None
    ]
    rated.sort(key=lambda r: (-r[0], r[1].id))
    return rated


def sft_examples(tasks, options: dict[str, Any], dropped: Counter) -> list[Example]:
    """Expert rewrites first, then responses rated at least ``sft_min_rating`` (mean over
    annotators), best first; at most ``per_prompt`` per group."""
    candidates: list[Example] = []
    if options["include_rewrites"]:
        for prompt, task, vote in _rewrites(tasks):
            candidates.append(
                Example(
                    prompt, "rewrite", (task,), completion=vote.rewrite, models=(REWRITE_MODEL,)
                )
            )
    for score, response, prompt, task in _rated(tasks):
        if score >= options["sft_min_rating"]:
            candidates.append(
                Example(
                    prompt, "rating", (task,), completion=response.text, models=(response.model,)
                )
            )
        else:
            dropped["rated below sft_min_rating"] += 1
    chosen = _unique(candidates, lambda e: e.completion, options, dropped)
    if len(chosen) > options["per_prompt"]:
        dropped["over per_prompt"] += len(chosen) - options["per_prompt"]
    return chosen[: options["per_prompt"]]


def dpo_examples(tasks, options: dict[str, Any], dropped: Counter) -> list[Example]:
    """Pairs from the pairwise majority, from ratings of the same prompt that differ by at
    least ``margin``, and from expert rewrites (preferred over the responses they replace)."""
    sources = options["pairs_from"]
    pairs: list[Example] = []
    if "pairwise" in sources:
        for prompt, task, label in tasks:
            if task.kind != "pairwise":
                continue
            if label.verdict in SIDES:
                winner, loser = (task.a, task.b) if label.verdict == "A" else (task.b, task.a)
                pairs.append(
                    Example(
                        prompt,
                        "pairwise",
                        (task,),
                        chosen=winner.text,
                        rejected=loser.text,
                        models=(winner.model, loser.model),
                    )
                )
            else:
                dropped[f"pairwise verdict {label.verdict or 'without a majority'}"] += 1
    if "ratings" in sources:
        rated = _rated(tasks)
        if len(rated) >= 2:
            best, others = rated[0], rated[1:]
            if options["rating_pairs"] == "best_vs_worst":
                others = others[-1:]
            for score, response, _, task in others:
                if best[0] - score >= options["margin"]:
                    pairs.append(
                        Example(
                            best[2],
                            "ratings",
                            (best[3], task),
                            chosen=best[1].text,
                            rejected=response.text,
                            models=(best[1].model, response.model),
                        )
                    )
                else:
                    dropped["rating difference below margin"] += 1
    if "rewrites" in sources:
        for prompt, task, vote in _rewrites(tasks):
            for response in task.responses():
                pairs.append(
                    Example(
                        prompt,
                        "rewrite",
                        (task,),
                        chosen=vote.rewrite,
                        rejected=response.text,
                        models=(REWRITE_MODEL, response.model),
                    )
                )
    kept = []
    for pair in pairs:
        if _same(pair.chosen, pair.rejected):
            dropped["chosen identical to rejected"] += 1
        else:
            kept.append(pair)
    return _unique(kept, lambda e: (e.chosen, e.rejected), options, dropped)


def kto_examples(tasks, options: dict[str, Any], dropped: Counter) -> list[Example]:
    """Rated at least ``kto_desirable_min`` → desirable, at most ``kto_undesirable_max`` →
    undesirable, in between dropped; expert rewrites are desirable; both responses of a pair
    judged both bad are undesirable."""
    examples: list[Example] = []
    if options["include_rewrites"]:
        for prompt, task, vote in _rewrites(tasks):
            examples.append(
                Example(
                    prompt,
                    "rewrite",
                    (task,),
                    completion=vote.rewrite,
                    label=True,
                    models=(REWRITE_MODEL,),
                )
            )
    for score, response, prompt, task in _rated(tasks):
        if score >= options["kto_desirable_min"]:
            label = True
        elif score <= options["kto_undesirable_max"]:
            label = False
        else:
            dropped["rating between the KTO thresholds"] += 1
            continue
        examples.append(
            Example(
                prompt,
                "ratings",
                (task,),
                completion=response.text,
                label=label,
                models=(response.model,),
            )
        )
    for prompt, task, label in tasks:
        if task.kind == "pairwise" and label.verdict == BOTH_BAD:
            for response in task.responses():
                examples.append(
                    Example(
                        prompt,
                        "pairwise",
                        (task,),
                        completion=response.text,
                        label=False,
                        models=(response.model,),
                    )
                )
    return _unique(examples, lambda e: (e.completion, e.label), options, dropped)


def judgment_examples(tasks, options: dict[str, Any], dropped: Counter) -> list[Example]:
    """Every judgment of the tasks the filters keep, as the API gives it, and the judge's
    verdict of each task it labels."""
    examples = []
    for prompt, task, label in tasks:
        models = tuple(r.model for r in task.responses())
        if label.judged:
            examples.append(Example(prompt, "judge", (task,), models=models))
        examples += [
            Example(prompt, "judgment", (task,), vote=vote, models=models) for vote in task.votes
        ]
    return examples


def _unique(examples: list[Example], key, options: dict[str, Any], dropped: Counter):
    """Drops examples identical to an earlier one of the group (same texts, exactly)."""
    if not options["dedupe"] or len(examples) < 2:
        return examples
    seen, kept = set(), []
    for example in examples:
        k = key(example)
        if k in seen:
            dropped["duplicate example"] += 1
            continue
        seen.add(k)
        kept.append(example)
    return kept


SELECTORS = {
    "sft": sft_examples,
    "dpo": dpo_examples,
    "kto": kto_examples,
    "judgments": judgment_examples,
}


def group_examples(
    group: list[PromptData],
    kind: str,
    options: dict[str, Any],
    dropped: Counter,
    consensus=None,
) -> list[Example]:
    labelled = []
    for prompt in group:
        for task in prompt.tasks:
            label = task_label(task, options, dropped, consensus)
            if label is not None:
                labelled.append((prompt, task, label))
    if not labelled:
        return []
    return SELECTORS[kind](labelled, options, dropped)
