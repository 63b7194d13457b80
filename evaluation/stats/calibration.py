"""How far to trust a judge (a model, or any one rater) against human experts: agreement of
two raters from their contingency table (raw share, Cohen's kappa, Krippendorff's alpha), each
with a 95% interval from a bootstrap over tasks; the expert ceiling (how well each expert
agrees with the other experts, and the judge in the same seat); the judge's position
consistency and its length bias beside the humans'; the rank correlation of two leaderboards.

Every figure of agreement is computed from contingency tables ``table[j, h]`` (rows the
judge's label, columns the human's, categories in order), stacked over bootstrap replicates
on the leading axis, so one vectorised pass gives the figure and all its replicates. Rows may
carry fractional weights: a human majority tied between two labels counts half to each, as
``plurality_agreement`` credits a tie."""

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import kendalltau, spearmanr

from evaluation.stats._arrays import (
    cluster_bootstrap_sums,
    factorize,
    percentile_interval,
    same_length,
    wilson_interval,
)
from evaluation.stats.bias import BinomialReport, binomial_report

Level = Literal["nominal", "ordinal"]
KappaWeights = Literal["linear", "quadratic"] | None

N_BOOT = 1000


@dataclass(frozen=True, slots=True)
class Interval:
    """A figure and its bootstrap percentile interval (NaN where undefined)."""

    value: float
    lower: float
    upper: float


@dataclass(frozen=True, slots=True)
class Agreement:
    """Two raters over ``pairs`` compared labels (a sum of weights: a tied majority counts
    half to each label): the share that agree exactly, Cohen's kappa and Krippendorff's
    alpha, each with its interval; ``table[j, h]`` the observed contingency table over
    ``categories`` (rows the judge, columns the human)."""

    categories: list
    pairs: float
    tasks: int
    share: Interval
    kappa: Interval
    alpha: Interval
    table: np.ndarray


@dataclass(frozen=True, slots=True)
class Ceiling:
    """The expert ceiling: ``experts`` pools every expert against the plurality of the
    *other* experts of the same task (leave-one-out); ``judge`` puts the judge in each of
    those seats, against the very same references; ``difference`` is judge minus experts
    for share, kappa and alpha, from the same bootstrap replicates (paired), so an interval
    that holds zero reads "the judge agrees with the experts about as well as they agree
    with each other"."""

    experts: Agreement
    judge: Agreement
    difference_share: Interval
    difference_kappa: Interval
    difference_alpha: Interval


@dataclass(frozen=True, slots=True)
class ExpertSeat:
    """One expert against the others (leave-one-out), and the judge in the same seat."""

    expert: Any
    expert_agreement: Agreement
    judge_agreement: Agreement


@dataclass(frozen=True, slots=True)
class Proportion:
    """``count`` of ``n`` with Wilson's interval (NaN when n is 0)."""

    count: int
    n: int
    share: float
    lower: float
    upper: float


@dataclass(frozen=True, slots=True)
class LengthBiasComparison:
    """The share of decisive verdicts that chose the longer response, for the judge and for
    the humans on the same pairs (each tested against one half), and the judge's share minus
    the humans' with a bootstrap interval over tasks: above zero, the judge leans to length
    more than the humans do."""

    judge: BinomialReport
    humans: BinomialReport
    difference: Interval


@dataclass(frozen=True, slots=True)
class RankCorrelation:
    """Spearman's rho and Kendall's tau-b between two scorings of the same ``n`` models,
    with their two-sided p-values against no correlation."""

    n: int
    spearman: float
    spearman_p: float
    kendall: float
    kendall_p: float


def _grid(width: int) -> tuple[np.ndarray, np.ndarray]:
    rows, columns = np.indices((width, width))
    return rows, columns


def agreement_share(tables: np.ndarray) -> np.ndarray:
    """The share of the weight on the diagonal: how often the two raters agree exactly."""
    total = tables.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.trace(tables, axis1=-2, axis2=-1) / total


def cohen_kappa(tables: np.ndarray, *, weights: KappaWeights = None) -> np.ndarray:
    """Cohen's kappa from contingency tables: agreement beyond what the two raters' own
    label frequencies give by chance, 1 - sum(w * observed) / sum(w * expected) with
    disagreement weights w. Unweighted (Cohen 1960): w is 1 off the diagonal. ``linear``
    (|i - j| / (K - 1)) and ``quadratic`` ((i - j)^2 / (K - 1)^2) weight a near miss on an
    ordinal scale less than a far one (Cohen 1968; quadratic as Fleiss & Cohen 1973, where
    it approaches the intraclass correlation). NaN when chance disagreement is zero."""
    tables = np.asarray(tables, dtype=float)
    width = tables.shape[-1]
    i, j = _grid(width)
    if weights is None:
        w = (i != j).astype(float)
    elif weights == "linear":
        w = np.abs(i - j) / max(width - 1, 1)
    elif weights == "quadratic":
        w = ((i - j) / max(width - 1, 1)) ** 2
    else:
        raise ValueError(f"Unknown kappa weights {weights!r}: linear, quadratic or None.")
    total = tables.sum(axis=(-2, -1))
    rows, cols = tables.sum(axis=-1), tables.sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = rows[..., :, None] * cols[..., None, :] / total[..., None, None]
        return 1.0 - (w * tables).sum(axis=(-2, -1)) / (w * expected).sum(axis=(-2, -1))


def pair_alpha(tables: np.ndarray, *, level: Level) -> np.ndarray:
    """Krippendorff's alpha for two raters from their contingency tables: each compared
    pair is a unit of two values, so the coincidence matrix is the table plus its transpose
    and alpha = 1 - (n - 1) * sum(o * delta) / sum(n_c * n_k * delta) (Krippendorff 2011,
    "Computing Krippendorff's Alpha-Reliability"). ``nominal`` for choices; ``ordinal`` for
    ratings, whose distance counts the values between two ranks (categories in order). NaN
    when there is nothing to compare or no variation. It agrees with ``Coincidences``."""
    tables = np.asarray(tables, dtype=float)
    width = tables.shape[-1]
    coincidences = tables + np.swapaxes(tables, -1, -2)
    marginals = coincidences.sum(axis=-1)
    n = marginals.sum(axis=-1)
    i, j = _grid(width)
    if level == "nominal":
        delta = np.broadcast_to((i != j).astype(float), coincidences.shape)
    elif level == "ordinal":
        cumulative = np.concatenate(
            [np.zeros((*marginals.shape[:-1], 1)), np.cumsum(marginals, axis=-1)], axis=-1
        )
        low, high = np.minimum(i, j), np.maximum(i, j)
        between = cumulative[..., high + 1] - cumulative[..., low]
        delta = (between - (marginals[..., :, None] + marginals[..., None, :]) / 2) ** 2
    else:
        raise ValueError(f"Unknown level {level!r}: nominal or ordinal.")
    observed = (coincidences * delta).sum(axis=(-2, -1))
    expected = (marginals[..., :, None] * marginals[..., None, :] * delta).sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = 1.0 - (n - 1) * observed / expected
    return np.where((n > 1) & (expected > 0), alpha, np.nan)


def _interval(values: np.ndarray, confidence: float) -> Interval:
    """Row 0 observed, the rest replicates; replicates where the figure is undefined (a
    resample with no variation) are left out of the interval."""
    replicates = values[1:][np.isfinite(values[1:])]
    if not len(replicates):
        return Interval(float(values[0]), float("nan"), float("nan"))
    low, high = percentile_interval(replicates, confidence)
    return Interval(float(values[0]), float(low), float(high))


def _figures(tables: np.ndarray, level: Level, kappa_weights: KappaWeights) -> np.ndarray:
    """Share, kappa and alpha stacked on the last axis, for every table."""
    return np.stack(
        [
            agreement_share(tables),
            cohen_kappa(tables, weights=kappa_weights),
            pair_alpha(tables, level=level),
        ],
        axis=-1,
    )


def _agreement(
    categories: list,
    tables: np.ndarray,
    figures: np.ndarray,
    tasks: int,
    confidence: float,
) -> Agreement:
    share, kappa, alpha = (_interval(figures[:, f], confidence) for f in range(3))
    observed = tables[0]
    return Agreement(categories, float(observed.sum()), tasks, share, kappa, alpha, observed)


def kappa_weights_for(level: Level) -> KappaWeights:
    """The kappa that fits the level: unweighted for labels, quadratic for ratings."""
    return "quadratic" if level == "ordinal" else None


def rater_agreement(
    task: ArrayLike,
    judge: ArrayLike,
    human: ArrayLike,
    *,
    categories: Sequence[Hashable],
    level: Level,
    weight: ArrayLike | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
    confidence: float = 0.95,
) -> Agreement:
    """The judge against human labels, one row per compared pair (a task, or a task and an
    annotator), with an optional weight per row. Intervals resample whole tasks, so the
    several annotators of one task stay together (a cluster bootstrap). Kappa is unweighted
    for ``nominal`` labels and quadratic-weighted for ``ordinal`` ratings."""
    task = np.asarray(task)
    judge, human = np.asarray(judge), np.asarray(human)
    same_length(task, judge, human)
    weights = np.ones(len(task)) if weight is None else np.asarray(weight, dtype=float)
    same_length(task, weights)
    names, judge_codes = factorize(judge, categories)
    _, human_codes = factorize(human, categories)
    width = len(names)
    tasks, task_codes = np.unique(task, return_inverse=True)
    sums = cluster_bootstrap_sums(
        task_codes.reshape(-1),
        judge_codes * width + human_codes,
        weights,
        width * width,
        n_boot,
        np.random.default_rng(seed),
        dense=True,
    )
    tables = sums.reshape(-1, width, width)
    figures = _figures(tables, level, kappa_weights_for(level))
    return _agreement(names, tables, figures, len(tasks), confidence)


def plurality_shares(
    task: ArrayLike, label: ArrayLike, *, categories: Sequence[Hashable]
) -> tuple[list, np.ndarray]:
    """Per task (sorted), the human majority as shares over ``categories``: 1 on the label
    most judgments gave, split evenly when labels tie for the top."""
    units, unit_codes = factorize(np.asarray(task))
    _, label_codes = factorize(np.asarray(label), categories)
    width = len(categories)
    counts = np.bincount(unit_codes * width + label_codes, minlength=len(units) * width).reshape(
        len(units), width
    )
    return units, _top_shares(counts)


def _top_shares(counts: np.ndarray) -> np.ndarray:
    top = counts.max(axis=1, keepdims=True)
    winners = (counts == top) & (top > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return winners / winners.sum(axis=1, keepdims=True)


def _seats(
    task: np.ndarray,
    expert_codes: np.ndarray,
    label_codes: np.ndarray,
    judge_task: np.ndarray,
    judge_codes: np.ndarray,
    width: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The leave-one-out seats: per human judgment of a task the judge labeled and that
    has other judgments beside it, the plurality of the others as shares (ties split). Row
    arrays: task, expert code, expert label, judge label, reference shares (n x width)."""
    order = np.argsort(judge_task, kind="stable")
    judge_task, judge_codes = judge_task[order], judge_codes[order]
    at = np.minimum(np.searchsorted(judge_task, task), max(len(judge_task) - 1, 0))
    judged = judge_task[at] == task if len(judge_task) else np.zeros(len(task), dtype=bool)
    task, expert_codes, label_codes = task[judged], expert_codes[judged], label_codes[judged]
    judge_code = judge_codes[at[judged]]
    units, unit_codes = np.unique(task, return_inverse=True)
    unit_codes = unit_codes.reshape(-1)
    counts = np.bincount(unit_codes * width + label_codes, minlength=len(units) * width)
    others = counts.reshape(len(units), width)[unit_codes]
    others[np.arange(len(label_codes)), label_codes] -= 1
    kept = others.sum(axis=1) > 0
    return (
        unit_codes[kept],
        expert_codes[kept],
        label_codes[kept],
        judge_code[kept],
        _top_shares(others[kept]),
    )


def _seat_tables(
    task: np.ndarray,
    label: np.ndarray,
    judge: np.ndarray,
    reference: np.ndarray,
    width: int,
    n_boot: int,
    rng: np.random.Generator,
    *,
    paired: bool,
) -> tuple[np.ndarray, int]:
    """Replicates of two tables, [expert vs reference, judge vs reference], shape
    (1 + n_boot, 2, width, width); and the number of tasks. ``paired``: both from the same
    resampled tasks, so that their difference has an interval; else each resampled on its
    own, which is cheaper (fewer distinct profiles per table)."""
    area = width * width
    tasks, codes = np.unique(task, return_inverse=True)
    # One entry per seat and reference label it holds a share of (mostly one).
    seat, ref = np.nonzero(reference)
    codes, weight = codes.reshape(-1)[seat], reference[seat, ref]
    expert_cells, judge_cells = label[seat] * width + ref, judge[seat] * width + ref
    if paired:
        sums = cluster_bootstrap_sums(
            np.concatenate([codes, codes]),
            np.concatenate([expert_cells, area + judge_cells]),
            np.tile(weight, 2),
            2 * area,
            n_boot,
            rng,
            dense=True,
        )
    else:
        sums = np.concatenate(
            [
                cluster_bootstrap_sums(codes, cells, weight, area, n_boot, rng, dense=True)
                for cells in (expert_cells, judge_cells)
            ],
            axis=1,
        )
    return sums.reshape(-1, 2, width, width), len(tasks)


def expert_ceiling(
    task: ArrayLike,
    expert: ArrayLike,
    label: ArrayLike,
    judge_task: ArrayLike,
    judge_label: ArrayLike,
    *,
    categories: Sequence[Hashable],
    level: Level,
    per_expert: bool = True,
    n_boot: int = N_BOOT,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[Ceiling, list[ExpertSeat]]:
    """How well experts agree with each other, and the judge beside them on the same
    footing. Each human judgment (``task``, ``expert``, ``label``) of a task the judge
    labeled (``judge_task``, ``judge_label``: one per task) and that has other judgments
    beside it is a seat; its reference is the plurality of the *other* judgments of the task
    (leave-one-out, as in ``leave_one_out_agreement``). Pooled over the seats, and, with
    ``per_expert``, for each expert (best first by the expert's share)."""
    task, expert, label = np.asarray(task), np.asarray(expert), np.asarray(label)
    same_length(task, expert, label)
    judge_task, judge_label = np.asarray(judge_task), np.asarray(judge_label)
    same_length(judge_task, judge_label)
    names, label_codes = factorize(label, categories)
    _, judge_codes = factorize(judge_label, categories)
    experts, expert_codes = factorize(expert)
    width = len(names)
    seat_task, seat_expert, seat_label, seat_judge, reference = _seats(
        task, expert_codes, label_codes, judge_task, judge_codes, width
    )
    kappa_weights = kappa_weights_for(level)
    rng = np.random.default_rng(seed)

    def both(rows: slice | np.ndarray, paired: bool) -> tuple[Agreement, Agreement, np.ndarray]:
        tables, n_tasks = _seat_tables(
            seat_task[rows],
            seat_label[rows],
            seat_judge[rows],
            reference[rows],
            width,
            n_boot,
            rng,
            paired=paired,
        )
        figures = _figures(tables, level, kappa_weights)
        return (
            _agreement(names, tables[:, 0], figures[:, 0], n_tasks, confidence),
            _agreement(names, tables[:, 1], figures[:, 1], n_tasks, confidence),
            figures[:, 1] - figures[:, 0],
        )

    pooled_experts, pooled_judge, difference = both(slice(None), paired=True)
    ceiling = Ceiling(
        pooled_experts,
        pooled_judge,
        *(_interval(difference[:, f], confidence) for f in range(3)),
    )
    seats: list[ExpertSeat] = []
    # Each expert's seats as one slice of the seats sorted by expert.
    by_expert = np.argsort(seat_expert, kind="stable")
    bounds = np.searchsorted(seat_expert[by_expert], np.arange(len(experts) + 1))
    for code, name in enumerate(experts if per_expert else ()):
        if bounds[code] < bounds[code + 1]:
            mine, judge_here, _ = both(by_expert[bounds[code] : bounds[code + 1]], paired=False)
            seats.append(ExpertSeat(name, mine, judge_here))
    seats.sort(key=lambda s: -np.nan_to_num(s.expert_agreement.share.value, nan=-1.0))
    return ceiling, seats


def position_consistency(consistent: ArrayLike, *, confidence: float = 0.95) -> Proportion:
    """The share of pairwise verdicts that survive the swap (the same choice whichever
    response is shown first), with Wilson's interval: each task is asked once per order, so
    the verdicts are independent units and no bootstrap is needed."""
    consistent = np.asarray(consistent, dtype=bool)
    count, n = int(consistent.sum()), len(consistent)
    low, high = wilson_interval(count, n, confidence)
    return Proportion(count, n, count / n if n else float("nan"), low, high)


def length_bias_versus(
    judge_task: ArrayLike,
    judge_score: ArrayLike,
    human_task: ArrayLike,
    human_score: ArrayLike,
    task: ArrayLike,
    length_a: ArrayLike,
    length_b: ArrayLike,
    *,
    n_boot: int = N_BOOT,
    seed: int = 0,
    confidence: float = 0.95,
) -> LengthBiasComparison:
    """Does the judge choose the longer response more than the humans do on the same
    pairs? The pairs are the tasks (``task``, with its responses' ``length_a`` and
    ``length_b``) of different lengths that both the judge and the humans labeled; on them,
    each side's share counts its decisive answers (``score`` 1 when response_a won, 0 when
    response_b did; 0.5, a tie, is left out). The difference of the shares resamples tasks."""
    judge_task, human_task = np.asarray(judge_task), np.asarray(human_task)
    judge_score = np.asarray(judge_score, dtype=float)
    human_score = np.asarray(human_score, dtype=float)
    same_length(judge_task, judge_score)
    same_length(human_task, human_score)
    task, length_a, length_b = np.asarray(task), np.asarray(length_a), np.asarray(length_b)
    same_length(task, length_a, length_b)
    order = np.argsort(task, kind="stable")
    task, longer_is_a = task[order], (length_a > length_b)[order]
    pairs = np.intersect1d(
        np.intersect1d(judge_task, human_task), task[(length_a != length_b)[order]]
    )

    def decisive(rows_task: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        kept = np.isin(rows_task, pairs) & (score != 0.5)
        a_longer = longer_is_a[np.searchsorted(task, rows_task[kept])]
        return rows_task[kept], (a_longer == (score[kept] == 1.0)).astype(float)

    judge_rows, judge_longer = decisive(judge_task, judge_score)
    human_rows, human_longer = decisive(human_task, human_score)
    # Per task: the judge's longer wins and decisive answers, then the humans'.
    sums = cluster_bootstrap_sums(
        np.concatenate([judge_rows, judge_rows, human_rows, human_rows]),
        np.repeat([0, 1, 2, 3], [len(judge_rows)] * 2 + [len(human_rows)] * 2),
        np.concatenate(
            [judge_longer, np.ones(len(judge_rows)), human_longer, np.ones(len(human_rows))]
        ),
        4,
        n_boot,
        np.random.default_rng(seed),
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        difference = sums[:, 0] / sums[:, 1] - sums[:, 2] / sums[:, 3]
    return LengthBiasComparison(
        binomial_report(int(judge_longer.sum()), len(judge_rows), confidence),
        binomial_report(int(human_longer.sum()), len(human_rows), confidence),
        _interval(difference, confidence),
    )


def rank_correlation(x: ArrayLike, y: ArrayLike) -> RankCorrelation:
    """Spearman's rho (Spearman 1904: Pearson's r of the ranks) and Kendall's tau-b
    (Kendall 1945: concordant minus discordant pairs, corrected for ties) between two
    scorings of the same models, as scipy computes them. NaN below three models, or when one
    scoring gives every model the same score (no order to correlate)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = same_length(x, y)
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        nan = float("nan")
        return RankCorrelation(n, nan, nan, nan, nan)
    rho = spearmanr(x, y)
    tau = kendalltau(x, y)
    return RankCorrelation(
        n, float(rho.statistic), float(rho.pvalue), float(tau.statistic), float(tau.pvalue)
    )
