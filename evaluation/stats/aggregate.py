"""A task's label from its judgments: mean and median rating, majority choice, and a lead's
adjudication, which always wins. Columnar: one array entry per task, in ``units`` order."""

from collections.abc import Collection, Hashable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from evaluation.stats._arrays import factorize, same_length


@dataclass(frozen=True, slots=True)
class RatingAggregate:
    """Per task: the judgments' count, mean and median (NaN without judgments), and the
    settled ``score``: the adjudicated rating where there is one, else the mean."""

    units: list
    n: np.ndarray
    mean: np.ndarray
    median: np.ndarray
    score: np.ndarray
    adjudicated: np.ndarray


@dataclass(frozen=True, slots=True)
class ChoiceAggregate:
    """Per task: the settled ``label`` (``None`` when no majority and no adjudication), the
    number of counted votes, the top label's share of them, and whether the top was shared."""

    units: list
    label: list
    n: np.ndarray
    support: np.ndarray
    tied: np.ndarray
    adjudicated: np.ndarray


def _unit_codes(
    unit: np.ndarray, adjudicated_unit: np.ndarray, units: ArrayLike | None
) -> tuple[list, np.ndarray, np.ndarray]:
    """The tasks reported on and the codes of the votes' and the adjudications' tasks. Given
    ``units``, every one is reported (those without votes too) and no other."""
    if units is None:
        everything = np.concatenate([unit, adjudicated_unit]) if len(adjudicated_unit) else unit
        universe, _ = factorize(everything)
    else:
        universe, _ = factorize(units)
    vote_codes = factorize(unit, universe)[1] if len(unit) else np.zeros(0, np.intp)
    adjudicated_codes = (
        factorize(adjudicated_unit, universe)[1] if len(adjudicated_unit) else np.zeros(0, np.intp)
    )
    if len(np.unique(adjudicated_codes)) != len(adjudicated_codes):
        raise ValueError("A task has more than one adjudication.")
    return universe, vote_codes, adjudicated_codes


def aggregate_ratings(
    unit: ArrayLike,
    rating: ArrayLike,
    *,
    adjudicated_unit: ArrayLike = (),
    adjudicated_rating: ArrayLike = (),
    units: ArrayLike | None = None,
) -> RatingAggregate:
    """Mean and median rating per task; an adjudicated rating overrides both in ``score``."""
    unit, rating = np.asarray(unit), np.asarray(rating, dtype=float)
    adjudicated_unit = np.asarray(adjudicated_unit)
    adjudicated_rating = np.asarray(adjudicated_rating, dtype=float)
    same_length(unit, rating)
    same_length(adjudicated_unit, adjudicated_rating)
    if not np.isfinite(rating).all() or not np.isfinite(adjudicated_rating).all():
        raise ValueError("Ratings must be finite numbers.")
    universe, codes, adjudicated_codes = _unit_codes(unit, adjudicated_unit, units)
    size = len(universe)
    n = np.bincount(codes, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(codes, weights=rating, minlength=size) / n
    # The median of each task from one sort: the middle one or two of its sorted ratings.
    order = np.lexsort((rating, codes))
    ordered = rating[order]
    starts = np.concatenate([[0], np.cumsum(n)[:-1]])
    median = np.full(size, np.nan)
    voted = n > 0
    low = starts[voted] + (n[voted] - 1) // 2
    high = starts[voted] + n[voted] // 2
    median[voted] = (ordered[low] + ordered[high]) / 2
    score = mean.copy()
    score[adjudicated_codes] = adjudicated_rating
    adjudicated = np.zeros(size, dtype=bool)
    adjudicated[adjudicated_codes] = True
    return RatingAggregate(universe, n, mean, median, score, adjudicated)


def majority_choice(
    unit: ArrayLike,
    choice: ArrayLike,
    *,
    tie_label: Hashable | None = None,
    ignore: Collection[Hashable] = (),
    adjudicated_unit: ArrayLike = (),
    adjudicated_choice: ArrayLike = (),
    units: ArrayLike | None = None,
) -> ChoiceAggregate:
    """The label most votes gave each task. Tie policy, explicit: when two or more labels
    share the top count the task gets ``tie_label`` (``None``: no majority, as the exports
    read it; ``"tie"`` reads a split A/B vote as a tie). Values in ``ignore`` are not counted
    (e.g. ``{"tie", "both_bad"}`` to weigh only A against B). An adjudication always wins."""
    unit, choice = np.asarray(unit), np.asarray(choice)
    adjudicated_unit = np.asarray(adjudicated_unit)
    adjudicated_choice = np.asarray(adjudicated_choice, dtype=object)
    same_length(unit, choice)
    same_length(adjudicated_unit, adjudicated_choice)
    universe, codes, adjudicated_codes = _unit_codes(unit, adjudicated_unit, units)
    size = len(universe)
    if ignore:
        counted = ~np.isin(choice, np.array(list(ignore)))
        codes, choice = codes[counted], choice[counted]
    labels, label_codes = factorize(choice) if len(choice) else ([], np.zeros(0, np.intp))
    width = max(len(labels), 1)
    counts = np.bincount(codes * width + label_codes, minlength=size * width).reshape(size, width)
    n = counts.sum(axis=1)
    top = counts.max(axis=1)
    tied = (top > 0) & ((counts == top[:, None]).sum(axis=1) > 1)
    winner = counts.argmax(axis=1)
    label: list = [
        None if count == 0 else tie_label if is_tied else labels[w]
        for count, is_tied, w in zip(top.tolist(), tied.tolist(), winner.tolist(), strict=True)
    ]
    with np.errstate(invalid="ignore", divide="ignore"):
        support = top / n
    adjudicated = np.zeros(size, dtype=bool)
    adjudicated[adjudicated_codes] = True
    for code, value in zip(adjudicated_codes.tolist(), adjudicated_choice.tolist(), strict=True):
        label[code] = value
    return ChoiceAggregate(universe, label, n, support, tied, adjudicated)
