"""How far annotators agree: Krippendorff's alpha per group, each annotator against the
consensus of the others, accuracy on gold tasks, and drift over time."""

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import t as student_t

from evaluation.stats._arrays import factorize, same_length, wilson_interval
from evaluation.stats.metrics import Coincidences

Level = Literal["nominal", "ordinal", "interval"]


@dataclass(frozen=True, slots=True)
class _Cells:
    """The judgments counted per (group, unit) cell and value, for the cells holding two or
    more: ``counts[cell, value]``, ``group[cell]`` the cell's index into ``groups``."""

    values: list
    groups: list
    counts: np.ndarray
    group: np.ndarray


def _pairable_cells(unit: ArrayLike, value: ArrayLike, group: ArrayLike) -> _Cells:
    """The one pairing rule of agreement: two judgments pair when they are of the same unit
    (task) in the same group (batch, guideline version)."""
    unit, value, group = np.asarray(unit), np.asarray(value), np.asarray(group)
    same_length(unit, value, group)
    values, value_codes = factorize(value)
    groups, group_codes = factorize(group)
    _, unit_codes = factorize(unit)
    n_units = int(unit_codes.max()) + 1 if len(unit_codes) else 0
    cells, cell_codes = np.unique(group_codes * n_units + unit_codes, return_inverse=True)
    width = len(values)
    counts = np.bincount(cell_codes * width + value_codes, minlength=len(cells) * width)
    counts = counts.reshape(len(cells), width).astype(float)
    kept = counts.sum(axis=1) >= 2
    return _Cells(
        values=values,
        groups=groups,
        counts=counts[kept],
        group=(cells[kept] // max(n_units, 1)).astype(np.intp),
    )


def alpha_by_group(
    unit: ArrayLike, value: ArrayLike, group: ArrayLike, *, level: Level
) -> dict[Hashable, float | None]:
    """Krippendorff's alpha per group (project, batch, guideline version): ``ordinal`` for
    ratings, ``nominal`` for choices. Only values in the same unit *and* group are paired, so
    a task judged under two guideline versions counts as one unit in each. The coincidence
    matrices are summed with numpy and handed to the validated ``Coincidences.alpha``;
    ``None`` where alpha is undefined (nothing to pair, or no variation)."""
    cells = _pairable_cells(unit, value, group)
    values, groups, counts, cell_group = cells.values, cells.groups, cells.counts, cells.group
    width = len(values)
    weight = 1.0 / (counts.sum(axis=1) - 1)
    # Krippendorff (2011): o_ck = sum over units of n_uc * (n_uk - [c == k]) / (m_u - 1).
    matrix = np.zeros((len(groups), width, width))
    for c in range(width):
        for k in range(width):
            pairs = counts[:, c] * (counts[:, k] - (c == k)) * weight
            matrix[:, c, k] = np.bincount(cell_group, weights=pairs, minlength=len(groups))
    units_per_group = np.bincount(cell_group, minlength=len(groups))
    result: dict[Hashable, float | None] = {}
    for g, name in enumerate(groups):
        coincidences = Coincidences()
        c_idx, k_idx = np.nonzero(matrix[g])
        for c, k in zip(c_idx.tolist(), k_idx.tolist(), strict=True):
            coincidences.matrix[values[c], values[k]] = float(matrix[g, c, k])
        coincidences.units = int(units_per_group[g])
        result[name] = coincidences.alpha(level)
    return result


def alpha(unit: ArrayLike, value: ArrayLike, *, level: Level) -> float | None:
    """Krippendorff's alpha over all the judgments (see ``alpha_by_group``)."""
    unit = np.asarray(unit)
    return alpha_by_group(unit, value, np.zeros(len(unit), dtype=np.int8), level=level).get(0)


@dataclass(frozen=True, slots=True)
class PairAgreement:
    """Raw (percent) agreement: of the ``pairs`` of judgments of the same unit in the same
    group, ``agreeing`` give the very same value (for ratings: the same rating, exactly)."""

    agreeing: int
    pairs: int

    @property
    def share(self) -> float | None:
        return self.agreeing / self.pairs if self.pairs else None


def pair_agreement_by_group(
    unit: ArrayLike, value: ArrayLike, group: ArrayLike
) -> dict[Hashable, PairAgreement]:
    """Per group, the share of pairs of judgments that agree exactly, pairing as
    ``alpha_by_group`` does. Unlike alpha it does not discount the agreement chance alone
    would give: when nearly every judgment says the same, it is high while alpha is near 0."""
    cells = _pairable_cells(unit, value, group)
    size = cells.counts.sum(axis=1)
    pairs = np.bincount(cells.group, weights=size * (size - 1) / 2, minlength=len(cells.groups))
    same = (cells.counts * (cells.counts - 1) / 2).sum(axis=1)
    agreeing = np.bincount(cells.group, weights=same, minlength=len(cells.groups))
    return {
        name: PairAgreement(agreeing=round(agreeing[g]), pairs=round(pairs[g]))
        for g, name in enumerate(cells.groups)
    }


def pair_agreement(unit: ArrayLike, value: ArrayLike) -> PairAgreement:
    """Raw agreement over all the judgments (see ``pair_agreement_by_group``)."""
    unit = np.asarray(unit)
    found = pair_agreement_by_group(unit, value, np.zeros(len(unit), dtype=np.int8))
    return found.get(0, PairAgreement(agreeing=0, pairs=0))


def plurality_agreement(unit: ArrayLike, value: ArrayLike) -> np.ndarray:
    """Per judgment, the chance its label equals the plurality label of the *other*
    judgments of its unit: 1 or 0, or 1/k when k labels share the others' top count (a fair
    tie-break). NaN where the judgment is alone on its unit."""
    unit, value = np.asarray(unit), np.asarray(value)
    same_length(unit, value)
    _, unit_codes = factorize(unit)
    _, value_codes = factorize(value)
    width = int(value_codes.max()) + 1 if len(value_codes) else 1
    n_units = int(unit_codes.max()) + 1 if len(unit_codes) else 0
    table = np.bincount(unit_codes * width + value_codes, minlength=n_units * width)
    others = table.reshape(n_units, width)[unit_codes]
    rows = np.arange(len(value_codes))
    others[rows, value_codes] -= 1
    top = others.max(axis=1)
    shared = (others == top[:, None]).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        credit = (others[rows, value_codes] == top) / shared
    credit[others.sum(axis=1) == 0] = np.nan
    return credit


def others_mean(unit: ArrayLike, value: ArrayLike) -> np.ndarray:
    """Per judgment, the mean value of the other judgments of its unit (NaN when alone)."""
    unit, value = np.asarray(unit), np.asarray(value, dtype=float)
    same_length(unit, value)
    _, unit_codes = factorize(unit)
    sums = np.bincount(unit_codes, weights=value)
    counts = np.bincount(unit_codes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sums[unit_codes] - value) / (counts[unit_codes] - 1)


@dataclass(frozen=True, slots=True)
class AnnotatorAgreement:
    """One annotator against the leave-one-out consensus, over the ``n`` judgments that have
    other judgments beside them. ``agreement`` is the plurality match rate (nominal) or the
    Pearson correlation with the others' mean (interval), NaN when undefined (a rater who
    always gives the same rating); ``mean_abs_diff`` is the mean distance to the others'
    mean (interval only)."""

    annotator: Any
    n: int
    agreement: float
    mean_abs_diff: float | None


def leave_one_out_agreement(
    unit: ArrayLike,
    annotator: ArrayLike,
    value: ArrayLike,
    *,
    level: Literal["nominal", "interval"] = "nominal",
) -> list[AnnotatorAgreement]:
    """Each annotator's agreement with the consensus of the *other* annotators on the same
    tasks (leaving them out keeps their own vote from inflating it), best first. Ratings use
    ``interval``: the item–rest correlation of classical test theory."""
    annotator = np.asarray(annotator)
    same_length(np.asarray(unit), annotator, np.asarray(value))
    names, codes = factorize(annotator)
    size = len(names)
    if level == "nominal":
        credit = plurality_agreement(unit, value)
        paired = ~np.isnan(credit)
        n = np.bincount(codes[paired], minlength=size)
        with np.errstate(invalid="ignore", divide="ignore"):
            score = np.bincount(codes[paired], weights=credit[paired], minlength=size) / n
        distance = np.full(size, np.nan)
    elif level == "interval":
        x = np.asarray(value, dtype=float)
        y = others_mean(unit, x)
        paired = ~np.isnan(y)
        x, y, c = x[paired], y[paired], codes[paired]
        n = np.bincount(c, minlength=size)

        def total(weights: np.ndarray) -> np.ndarray:
            return np.bincount(c, weights=weights, minlength=size)

        with np.errstate(invalid="ignore", divide="ignore"):
            mean_x, mean_y = total(x) / n, total(y) / n
            cov = total(x * y) / n - mean_x * mean_y
            var_x = total(x * x) / n - mean_x**2
            var_y = total(y * y) / n - mean_y**2
            score = cov / np.sqrt(np.clip(var_x, 0, None) * np.clip(var_y, 0, None))
            distance = total(np.abs(x - y)) / n
    else:
        raise ValueError(f"Unknown level {level!r}: nominal or interval.")
    rows = [
        AnnotatorAgreement(
            name,
            int(n[i]),
            float(score[i]),
            None if np.isnan(distance[i]) else float(distance[i]),
        )
        for i, name in enumerate(names)
    ]
    return sorted(rows, key=lambda r: (np.isnan(r.agreement), -np.nan_to_num(r.agreement)))


@dataclass(frozen=True, slots=True)
class GoldAccuracy:
    """An annotator's accuracy on gold tasks, with a Wilson interval (small n is common)."""

    annotator: Any
    n: int
    correct: int
    accuracy: float
    lower: float
    upper: float


def gold_accuracy(
    annotator: ArrayLike,
    value: ArrayLike,
    gold: ArrayLike,
    *,
    tolerance: float | None = None,
    level: float = 0.95,
) -> list[GoldAccuracy]:
    """Share of each annotator's gold judgments that match the known answer: exactly, or
    within ``tolerance`` for ratings (``tolerance=1``: off by at most one point)."""
    annotator, value, gold = np.asarray(annotator), np.asarray(value), np.asarray(gold)
    same_length(annotator, value, gold)
    if tolerance is None:
        correct = value == gold
    else:
        correct = np.abs(value.astype(float) - gold.astype(float)) <= tolerance
    names, codes = factorize(annotator)
    n = np.bincount(codes, minlength=len(names))
    hits = np.bincount(codes, weights=correct, minlength=len(names))
    return [
        GoldAccuracy(
            name,
            int(n[i]),
            int(hits[i]),
            float(hits[i] / n[i]),
            *wilson_interval(hits[i], n[i], level),
        )
        for i, name in enumerate(names)
    ]


@dataclass(frozen=True, slots=True)
class Drift:
    """An annotator's score per time window (windows aligned across annotators, starting at
    ``window_start``) and its linear trend: ``slope`` per unit of time, with the two-sided
    p-value of the t-test that the slope is zero (NaN with fewer than three judgments)."""

    annotator: Any
    window_start: np.ndarray
    window_mean: np.ndarray
    window_n: np.ndarray
    n: int
    slope: float
    p_value: float


def annotator_drift(
    annotator: ArrayLike, time: ArrayLike, score: ArrayLike, *, window: float
) -> list[Drift]:
    """Drift of each annotator over time: the mean ``score`` (a rating, or a judgment's
    ``plurality_agreement``) per window of ``window`` time units, and the least-squares slope
    of score on time with its t-test. The test treats judgments as independent, so read a
    small p-value with a plot beside it. NaN scores are left out."""
    annotator = np.asarray(annotator)
    time, score = np.asarray(time, dtype=float), np.asarray(score, dtype=float)
    same_length(annotator, time, score)
    if window <= 0:
        raise ValueError("The window must be positive.")
    kept = ~np.isnan(score)
    names, codes = factorize(annotator)
    codes, times, scores = codes[kept], time[kept], score[kept]
    size = len(names)
    origin = times.min() if len(times) else 0.0
    bins = np.floor((times - origin) / window).astype(np.int64)
    n_bins = int(bins.max()) + 1 if len(bins) else 0
    flat = codes * n_bins + bins
    window_n = np.bincount(flat, minlength=size * n_bins).reshape(size, n_bins)
    window_sum = np.bincount(flat, weights=scores, minlength=size * n_bins).reshape(size, n_bins)

    def total(weights: np.ndarray) -> np.ndarray:
        return np.bincount(codes, weights=weights, minlength=size)

    n = np.bincount(codes, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        # Centred on the annotator's mean time: the sums of squares stay accurate for epochs.
        mean_t, mean_s = total(times) / n, total(scores) / n
        dt, ds = times - mean_t[codes], scores - mean_s[codes]
        sxx, sxy, syy = total(dt * dt), total(dt * ds), total(ds * ds)
        slope = sxy / sxx
        residual = np.clip(syy - slope * sxy, 0, None) / (n - 2)
        t_stat = slope / np.sqrt(residual / sxx)
        p_value = np.where(n > 2, 2 * student_t.sf(np.abs(t_stat), n - 2), np.nan)
    # A constant score has slope 0 over 0 residual: no trend, not an undefined one.
    p_value = np.where((n > 2) & (sxx > 0) & np.isnan(t_stat), 1.0, p_value)
    starts = origin + window * np.arange(n_bins)
    result = []
    for i, name in enumerate(names):
        present = window_n[i] > 0
        result.append(
            Drift(
                name,
                starts[present],
                window_sum[i, present] / window_n[i, present],
                window_n[i, present],
                int(n[i]),
                float(slope[i]),
                float(p_value[i]),
            )
        )
    return result
