"""Bias reports: does the screen side or the length of a response sway the choice, and how
does each annotator use the rating scale."""

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import binomtest

from evaluation.stats._arrays import factorize, same_length


@dataclass(frozen=True, slots=True)
class BinomialReport:
    """``successes`` out of ``n`` with the exact two-sided binomial test against one half
    and the Clopper–Pearson interval (NaN, and p-value 1, when n is 0)."""

    successes: int
    n: int
    share: float
    p_value: float
    lower: float
    upper: float


def binomial_report(successes: int, n: int, level: float = 0.95) -> BinomialReport:
    if n == 0:
        return BinomialReport(0, 0, float("nan"), 1.0, float("nan"), float("nan"))
    test = binomtest(successes, n, 0.5, alternative="two-sided")
    interval = test.proportion_ci(confidence_level=level, method="exact")
    return BinomialReport(
        successes, n, successes / n, float(test.pvalue), float(interval.low), float(interval.high)
    )


def position_bias(
    choice: ArrayLike, *, left: Hashable = "A", right: Hashable = "B", level: float = 0.95
) -> BinomialReport:
    """Share of left choices among the judgments that chose a side, choices in *screen*
    terms (as a judgment stores them). With the order randomized, an unbiased annotator
    picks left half the time whatever the models' quality."""
    choice = np.asarray(choice)
    lefts, rights = int((choice == left).sum()), int((choice == right).sum())
    return binomial_report(lefts, lefts + rights, level)


def position_bias_by_annotator(
    annotator: ArrayLike,
    choice: ArrayLike,
    *,
    left: Hashable = "A",
    right: Hashable = "B",
    level: float = 0.95,
) -> dict[Any, BinomialReport]:
    """``position_bias`` for each annotator."""
    annotator, choice = np.asarray(annotator), np.asarray(choice)
    same_length(annotator, choice)
    names, codes = factorize(annotator)
    lefts = np.bincount(codes, weights=choice == left, minlength=len(names))
    rights = np.bincount(codes, weights=choice == right, minlength=len(names))
    return {
        name: binomial_report(int(lefts[i]), int(lefts[i] + rights[i]), level)
        for i, name in enumerate(names)
    }


def length_bias(
    length_a: ArrayLike, length_b: ArrayLike, score_a: ArrayLike, *, level: float = 0.95
) -> BinomialReport:
    """How often the longer response wins, among decisive judgments (ties left out) of
    responses of different lengths, tested against one half. A share well above one half
    says length sways the choice, or that longer answers were better: read it with the
    win rates."""
    length_a, length_b = np.asarray(length_a), np.asarray(length_b)
    score_a = np.asarray(score_a, dtype=float)
    same_length(length_a, length_b, score_a)
    counted = (length_a != length_b) & (score_a != 0.5)
    longer_won = (length_a > length_b) == (score_a == 1.0)
    return binomial_report(int((counted & longer_won).sum()), int(counted.sum()), level)


@dataclass(frozen=True, slots=True)
class RatingHistograms:
    """``counts[a, v]``: how often annotator ``annotators[a]`` gave ``values[v]``; ``shares``
    the same as proportions, so a harsh, lenient or one-note rater shows beside the rest."""

    annotators: list
    values: list
    counts: np.ndarray

    @property
    def shares(self) -> np.ndarray:
        totals = self.counts.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.counts / totals


def rating_histograms(
    annotator: ArrayLike, rating: ArrayLike, *, values: Sequence[Hashable] = (1, 2, 3, 4, 5)
) -> RatingHistograms:
    """Per-annotator rating distributions over the scale ``values``."""
    annotator, rating = np.asarray(annotator), np.asarray(rating)
    same_length(annotator, rating)
    names, codes = factorize(annotator)
    scale, rating_codes = factorize(rating, values)
    width = len(scale)
    counts = np.bincount(codes * width + rating_codes, minlength=len(names) * width)
    counts = counts.reshape(len(names), width)
    return RatingHistograms(names, scale, counts)
