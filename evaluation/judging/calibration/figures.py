"""The calibration figures of judges from plain arrays, no queries: ``loading`` reads them
from the database for ``judge_calibration``, the benchmark synthesizes them. Everything comes
out as plain JSON (``None`` where a figure is undefined, never NaN)."""

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from annotation.choices import CHOICES
from annotation.models import ProjectKind
from evaluation import stats
from evaluation.judging.calibration.explanations import calibration_explanations
from evaluation.stats import calibration as calib
from evaluation.stats.calibration import Agreement, Interval, Level

N_BOOT = 1000
LEADERBOARD_BOOT = 200
SEED = 0
CONFIDENCE = 0.95
# A position bias is flagged below this p-value, a consistency whose interval lies wholly
# below this share.
P_VALUE = 0.05
CONSISTENCY_FLOOR = 0.8
# A breakdown by metadata shows the largest groups, so a free-text key cannot make the
# page (and the bootstrap) grow without bound.
MAX_GROUPS = 50
RATING_SCALE = (1, 2, 3, 4, 5)
ELO_BASE = 1000.0
ELO_SCALE = 400.0


@dataclass(frozen=True, slots=True)
class JudgeLabels:
    """One judge (an endpoint with one judge prompt version): its newest verdict on each
    task. ``label`` is the rating, or the choice in the task's terms (a verdict that does not
    survive the swap is a tie). Pairwise only: ``first`` and ``second`` are its answers with
    response_a shown first and with response_b shown first, each in *screen* terms (A = the
    response shown first; "" where that order was not asked), and ``consistent``."""

    endpoint_id: int
    endpoint_name: str
    prompt_version: int
    task: np.ndarray
    label: np.ndarray
    first: np.ndarray
    second: np.ndarray
    consistent: np.ndarray


@dataclass(frozen=True, slots=True)
class HumanLabels:
    """The counted human judgments, one entry each: the annotator's pseudonym, the label
    (a rating, or a choice in the task's terms) and the choice as pressed (screen terms,
    pairwise); and the lead's adjudications, one per task."""

    task: np.ndarray
    annotator: np.ndarray
    label: np.ndarray
    screen_choice: np.ndarray
    adjudicated_task: np.ndarray
    adjudicated_label: np.ndarray


@dataclass(frozen=True, slots=True)
class TaskFacts:
    """Per task (sorted ids) either side labeled: its models (``model_b`` "" for ratings),
    its responses' lengths in characters (pairwise), and its prompt's value of the
    ``group_by`` metadata key (``None`` when missing or not asked)."""

    task: np.ndarray
    model_a: np.ndarray
    model_b: np.ndarray
    length_a: np.ndarray
    length_b: np.ndarray
    group: np.ndarray


def _number(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _interval(found: Interval) -> dict:
    return {
        "value": _number(found.value),
        "lower": _number(found.lower),
        "upper": _number(found.upper),
    }


def _agreement(found: Agreement) -> dict:
    return {
        "pairs": _number(found.pairs),
        "tasks": found.tasks,
        "share": _interval(found.share),
        "kappa": _interval(found.kappa),
        "alpha": _interval(found.alpha),
    }


def _binomial(report: stats.BinomialReport) -> dict:
    return {
        "count": report.successes,
        "n": report.n,
        "share": _number(report.share),
        "p_value": _number(report.p_value),
        "lower": _number(report.lower),
        "upper": _number(report.upper),
    }


def _scale(kind: str) -> tuple[tuple, Level]:
    if kind == ProjectKind.RATING:
        return RATING_SCALE, "ordinal"
    return CHOICES, "nominal"


def _coded(values: np.ndarray) -> tuple[list, np.ndarray]:
    """Names (sorted) and each value's code into them, by a dictionary: numpy sorts an
    array of Python strings slowly, and these hold few distinct names among many rows."""
    names = sorted(set(values.tolist()), key=lambda v: (v is not None, v))
    index = {name: i for i, name in enumerate(names)}
    return names, np.fromiter(map(index.__getitem__, values.tolist()), np.intp, len(values))


def _lookup(keys: np.ndarray, sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each key's position in ``sorted_keys`` and whether it is there."""
    if not len(sorted_keys):
        return np.zeros(len(keys), dtype=np.intp), np.zeros(len(keys), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return at, sorted_keys[at] == keys


class _Calibration:
    """The figures of one project's judges against its humans. Labels, annotators and models
    are coded as integers once (the statistics sort them, and integers sort ten times faster
    than text), and the human majority of every task is worked out once."""

    def __init__(self, *, kind: str, humans: HumanLabels, tasks: TaskFacts, n_boot: int) -> None:
        self.kind, self.tasks, self.n_boot = kind, tasks, n_boot
        self.names, self.level = _scale(kind)
        width = len(self.names)
        self.codes = tuple(range(width))
        self.annotators, annotator_codes = _coded(humans.annotator)
        self.humans = HumanLabels(
            humans.task,
            annotator_codes,
            self.encode(humans.label),
            humans.screen_choice,
            humans.adjudicated_task,
            self.encode(humans.adjudicated_label),
        )
        self.models, model_codes = _coded(np.concatenate([tasks.model_a, tasks.model_b]))
        self.model_a, self.model_b = np.split(model_codes, 2)
        # A choice's score for response_a (ties and both bad as half), a rating's value.
        self.values = (
            stats.outcome_scores(np.asarray(self.names))
            if kind == ProjectKind.PAIRWISE
            else np.asarray(self.names, dtype=float)
        )
        unit_list, shares = calib.plurality_shares(
            self.humans.task, self.humans.label, categories=self.codes
        )
        # The lead's adjudication replaces the judgments of its task, as in every label.
        adjudicated = np.zeros((len(humans.adjudicated_task), width))
        adjudicated[np.arange(len(humans.adjudicated_task)), self.humans.adjudicated_label] = 1.0
        units = np.asarray(unit_list, dtype=np.int64)
        self.reference_task = np.union1d(units, humans.adjudicated_task)
        self.reference = np.zeros((len(self.reference_task), width))
        self.reference[np.searchsorted(self.reference_task, units)] = shares
        self.reference[np.searchsorted(self.reference_task, humans.adjudicated_task)] = adjudicated

    def encode(self, labels: np.ndarray) -> np.ndarray:
        """Labels as codes into the scale (the 1-5 ratings, or the four choices)."""
        index = {name: i for i, name in enumerate(self.names)}
        try:
            return np.fromiter(map(index.__getitem__, labels.tolist()), np.intp, len(labels))
        except KeyError as unknown:
            raise ValueError(f"A label outside {self.names}: {unknown}.") from None

    def judge(self, judge: JudgeLabels, *, group_by: str | None) -> dict:
        """The figures of one judge, on the tasks it and the humans both labeled."""
        at, labeled = _lookup(judge.task, self.reference_task)
        order = np.argsort(judge.task[labeled], kind="stable")
        task = judge.task[labeled][order]
        label = self.encode(judge.label[labeled][order])
        at = at[labeled][order]
        majority = self._majority(task, label, at)
        human_at, human_judged = _lookup(self.humans.task, task)
        figures: dict[str, Any] = {
            "judge": {"id": judge.endpoint_id, "name": judge.endpoint_name},
            "prompt_version": judge.prompt_version,
            "verdicts": len(judge.task),
            "tasks": len(task),
            "majority": _agreement(majority),
            "confusion": {
                "labels": list(self.names),
                "rows": [[_number(x) for x in row] for row in majority.table.tolist()],
            },
            "annotators": self._annotators(human_at, human_judged, label),
            "ceiling": self._ceiling(self.humans, task, label),
            "position": None,
            "length": None,
            "groups": [],
            "leaderboard": self._leaderboard(task, label),
            "flags": [],
        }
        if self.kind == ProjectKind.PAIRWISE:
            figures["position"] = self._position(judge, human_judged)
            figures["length"] = self._length(task, label)
            if figures["position"]["consistency"]["flagged"]:
                figures["flags"].append("position_consistency")
            if figures["position"]["bias"]["flagged"]:
                figures["flags"].append("position_bias")
            if figures["length"]["flagged"]:
                figures["flags"].append("length_bias")
        if group_by is not None:
            figures["groups"] = self._groups(task, label, at)
        return figures

    def _majority(self, task: np.ndarray, label: np.ndarray, at: np.ndarray) -> Agreement:
        """The judge against each task's human majority: one row per (task, majority label),
        weighted by the label's share of the majority (a tie splits it)."""
        width = len(self.codes)
        weight = self.reference[at].ravel()
        kept = weight > 0
        return calib.rater_agreement(
            np.repeat(task, width)[kept],
            np.repeat(label, width)[kept],
            np.tile(np.arange(width), len(task))[kept],
            weight=weight[kept],
            categories=self.codes,
            level=self.level,
            n_boot=self.n_boot,
            seed=SEED,
            confidence=CONFIDENCE,
        )

    def _annotators(
        self, human_at: np.ndarray, human_judged: np.ndarray, judge_label: np.ndarray
    ) -> list[dict]:
        humans = self.humans
        rows = []
        for code in np.unique(humans.annotator[human_judged]).tolist():
            mine = human_judged & (humans.annotator == code)
            found = calib.rater_agreement(
                humans.task[mine],
                judge_label[human_at[mine]],
                humans.label[mine],
                categories=self.codes,
                level=self.level,
                n_boot=self.n_boot,
                seed=SEED,
                confidence=CONFIDENCE,
            )
            rows.append({"annotator": self.annotators[code], **_agreement(found)})
        return rows

    def _ceiling(
        self, humans: HumanLabels, task: np.ndarray, label: np.ndarray, *, per_expert: bool = True
    ) -> dict:
        ceiling, seats = calib.expert_ceiling(
            humans.task,
            humans.annotator,
            humans.label,
            task,
            label,
            categories=self.codes,
            level=self.level,
            per_expert=per_expert,
            n_boot=self.n_boot,
            seed=SEED,
            confidence=CONFIDENCE,
        )
        return {
            "experts": _agreement(ceiling.experts),
            "judge": _agreement(ceiling.judge),
            "difference": {
                "share": _interval(ceiling.difference_share),
                "kappa": _interval(ceiling.difference_kappa),
                "alpha": _interval(ceiling.difference_alpha),
            },
            "by_expert": [
                {
                    "annotator": self.annotators[seat.expert],
                    "expert": _agreement(seat.expert_agreement),
                    "judge": _agreement(seat.judge_agreement),
                }
                for seat in seats
            ],
        }

    def _position(self, judge: JudgeLabels, human_judged: np.ndarray) -> dict:
        """Over every verdict of the judge (humans or not: the order is the judge's own
        affair), and the humans' left share on the pairs the judge labeled."""
        asked_both = (judge.first != "") & (judge.second != "")
        consistency = calib.position_consistency(
            judge.consistent[asked_both], confidence=CONFIDENCE
        )
        bias = stats.position_bias(np.concatenate([judge.first, judge.second]), level=CONFIDENCE)
        humans = stats.position_bias(self.humans.screen_choice[human_judged], level=CONFIDENCE)
        return {
            "consistency": {
                "count": consistency.count,
                "n": consistency.n,
                "share": _number(consistency.share),
                "lower": _number(consistency.lower),
                "upper": _number(consistency.upper),
                "flagged": bool(consistency.n and consistency.upper < CONSISTENCY_FLOOR),
            },
            "bias": {**_binomial(bias), "flagged": bool(bias.n and bias.p_value < P_VALUE)},
            "humans": _binomial(humans),
        }

    def _length(self, task: np.ndarray, label: np.ndarray) -> dict:
        humans, facts = self.humans, self.tasks
        found = calib.length_bias_versus(
            task,
            self.values[label],
            humans.task,
            self.values[humans.label],
            facts.task,
            facts.length_a,
            facts.length_b,
            n_boot=self.n_boot,
            seed=SEED,
            confidence=CONFIDENCE,
        )
        difference = found.difference
        return {
            "judge": _binomial(found.judge),
            "humans": _binomial(found.humans),
            "difference": _interval(difference),
            "flagged": bool(difference.lower > 0 or difference.upper < 0),
        }

    def _groups(self, task: np.ndarray, label: np.ndarray, at: np.ndarray) -> list[dict]:
        """Per value of the metadata key (the largest groups first): the judge against the
        majority, and the experts' ceiling with the judge in its seats, within the group."""
        facts, humans = self.tasks, self.humans
        values, group_codes = _coded(facts.group)
        judge_group = group_codes[_lookup(task, facts.task)[0]]
        human_group = group_codes[_lookup(humans.task, facts.task)[0]]
        counts = np.bincount(judge_group, minlength=len(values))
        rows = []
        for code in np.lexsort((np.arange(len(values)), -counts))[:MAX_GROUPS].tolist():
            if not counts[code]:
                break
            mine, theirs = judge_group == code, human_group == code
            within = HumanLabels(
                humans.task[theirs],
                humans.annotator[theirs],
                humans.label[theirs],
                humans.screen_choice[theirs],
                humans.adjudicated_task,
                humans.adjudicated_label,
            )
            ceiling = self._ceiling(within, task[mine], label[mine], per_expert=False)
            rows.append(
                {
                    "value": values[code],
                    "tasks": int(counts[code]),
                    "majority": _agreement(self._majority(task[mine], label[mine], at[mine])),
                    "experts": ceiling["experts"]["share"],
                    "judge_in_seat": ceiling["judge"]["share"],
                }
            )
        return rows

    def _leaderboard(self, task: np.ndarray, label: np.ndarray) -> dict:
        """The judge's leaderboard and the humans' on the same tasks (``task`` sorted)."""
        humans, facts = self.humans, self.tasks
        fact_at, _ = _lookup(task, facts.task)
        _, on_judged = _lookup(humans.task, task)
        counted = on_judged & ~np.isin(humans.task, humans.adjudicated_task)
        adjudicated = np.isin(humans.adjudicated_task, task)
        if self.kind == ProjectKind.PAIRWISE:
            # Every judgment is a game, except on an adjudicated task: one game, the lead's.
            battle_task = np.concatenate(
                [humans.task[counted], humans.adjudicated_task[adjudicated]]
            )
            battle_label = np.concatenate(
                [humans.label[counted], humans.adjudicated_label[adjudicated]]
            )
            battle_at, _ = _lookup(battle_task, facts.task)
            boards = [
                stats.bradley_terry(
                    self.model_a[at],
                    self.model_b[at],
                    self.values[games],
                    n_boot=LEADERBOARD_BOOT,
                    seed=SEED,
                    level=CONFIDENCE,
                    scale=ELO_SCALE,
                    base=ELO_BASE,
                ).estimates
                for at, games in ((fact_at, label), (battle_at, battle_label))
            ]
            measure = "bradley_terry"
        else:
            # Each task's settled rating: the adjudicated one, else the judgments' mean.
            settled = stats.aggregate_ratings(
                humans.task[on_judged],
                self.values[humans.label[on_judged]],
                adjudicated_unit=humans.adjudicated_task[adjudicated],
                adjudicated_rating=self.values[humans.adjudicated_label[adjudicated]],
            )
            units = np.asarray(settled.units, dtype=np.int64)
            boards = [
                stats.mean_ratings(
                    self.model_a[at],
                    ratings,
                    cluster=cluster,
                    n_boot=LEADERBOARD_BOOT,
                    seed=SEED,
                    level=CONFIDENCE,
                )
                for at, ratings, cluster in (
                    (fact_at, self.values[label], task),
                    (_lookup(units, facts.task)[0], settled.score, units),
                )
            ]
            measure = "mean_rating"
        return _boards(*boards, measure=measure, models=self.models)


def _boards(
    judge_board: list[stats.Estimate],
    human_board: list[stats.Estimate],
    *,
    measure: str,
    models: list,
) -> dict:
    by_human = {e.model: e for e in human_board}
    rows = []
    shared_judge, shared_human = [], []
    for e in judge_board:
        human = by_human.get(e.model)
        rows.append(
            {
                "model": str(models[e.model]),
                "judge": _estimate(e),
                "human": _estimate(human) if human else None,
            }
        )
        if human:
            shared_judge.append(e.value)
            shared_human.append(human.value)
    found = calib.rank_correlation(shared_judge, shared_human)
    return {
        "measure": measure,
        "models": rows,
        "rank_correlation": {
            "models": found.n,
            "spearman": _number(found.spearman),
            "spearman_p": _number(found.spearman_p),
            "kendall": _number(found.kendall),
            "kendall_p": _number(found.kendall_p),
        },
    }


def _estimate(e: stats.Estimate) -> dict:
    return {
        "value": _number(e.value),
        "lower": _number(e.lower),
        "upper": _number(e.upper),
        "n": e.n,
        "rank": e.rank,
    }


def calibration_figures(
    *,
    kind: str,
    judges: list[JudgeLabels],
    humans: HumanLabels,
    tasks: TaskFacts,
    group_by: str | None = None,
    n_boot: int = N_BOOT,
) -> dict:
    """Every judge's calibration against the humans, newest prompt version first within a
    judge, and what each figure means."""
    calibration = _Calibration(kind=kind, humans=humans, tasks=tasks, n_boot=n_boot)
    level = calibration.level
    return {
        "kind": kind,
        "level": level,
        "kappa_weights": calib.kappa_weights_for(level) or "unweighted",
        "group_by": group_by,
        "bootstrap": {"resamples": n_boot, "seed": SEED, "level": CONFIDENCE},
        "explanations": calibration_explanations(
            kind=kind, consistency_floor=CONSISTENCY_FLOOR, p_value=P_VALUE
        ),
        "judges": [calibration.judge(judge, group_by=group_by) for judge in judges],
    }
