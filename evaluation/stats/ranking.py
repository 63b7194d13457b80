"""Ranking models: mean rating with a bootstrap interval, the pairwise win-rate matrix, and
Bradley–Terry strengths on an Elo-like scale with bootstrap intervals.

Pairwise outcomes are ``score_a``: 1 when ``model_a`` won, 0 when ``model_b`` won, 0.5 for a
tie (``outcome_scores`` maps the stored choices)."""

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.sparse.csgraph import connected_components
from scipy.special import expit

from annotation.choices import BOTH_BAD, TIE, A, B
from evaluation.stats._arrays import (
    cluster_bootstrap_means,
    factorize,
    percentile_interval,
    same_length,
)

# Chatbot Arena counts "both bad" as a tie: neither response was preferred.
CHOICE_SCORES = {A: 1.0, B: 0.0, TIE: 0.5, BOTH_BAD: 0.5}


@dataclass(frozen=True, slots=True)
class Estimate:
    """One model's figure with its interval. ``n`` is its ratings or its games. ``rank`` is
    1 + the number of models whose interval lies wholly above this one's, so models whose
    intervals overlap can share a rank (as Chatbot Arena ranks); without intervals
    (``n_boot=0``) every rank is 1."""

    model: Any
    value: float
    lower: float
    upper: float
    n: int
    rank: int


def outcome_scores(choice: ArrayLike) -> np.ndarray:
    """``score_a`` from choices in the task's terms: A 1, B 0, tie and both bad 0.5."""
    choice = np.asarray(choice)
    score = np.full(len(choice), np.nan)
    for name, value in CHOICE_SCORES.items():
        score[choice == name] = value
    if np.isnan(score).any():
        raise ValueError(f"Choices must be one of {sorted(CHOICE_SCORES)}.")
    return score


def _ranked(models: Sequence, value, lower, upper, n) -> list[Estimate]:
    rank = 1 + (np.asarray(lower)[None, :] > np.asarray(upper)[:, None]).sum(axis=1)
    rows = [
        Estimate(m, float(value[i]), float(lower[i]), float(upper[i]), int(n[i]), int(rank[i]))
        for i, m in enumerate(models)
    ]
    return sorted(rows, key=lambda r: (-r.value, str(r.model)))


def overlapping_pairs(estimates: Sequence[Estimate]) -> list[tuple[Any, Any]]:
    """Pairs of models whose intervals overlap: the data cannot tell them apart."""
    return [
        (x.model, y.model)
        for x, y in combinations(estimates, 2)
        if x.lower <= y.upper and y.lower <= x.upper
    ]


def mean_ratings(
    model: ArrayLike,
    rating: ArrayLike,
    *,
    cluster: ArrayLike | None = None,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> list[Estimate]:
    """Each model's mean rating with a percentile bootstrap interval, best first. Pass the
    task or prompt as ``cluster`` so resampling keeps a prompt's ratings together (default:
    every rating is its own cluster)."""
    model, rating = np.asarray(model), np.asarray(rating, dtype=float)
    same_length(model, rating)
    cluster = np.arange(len(model)) if cluster is None else np.asarray(cluster)
    same_length(model, cluster)
    names, codes = factorize(model)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    rng = np.random.default_rng(seed)
    value, lower, upper, n = [], [], [], []
    for i in range(len(names)):
        rows = order[bounds[i] : bounds[i + 1]]
        replicates = cluster_bootstrap_means(rating[rows], cluster[rows], n_boot, rng)
        low, high = percentile_interval(replicates, level)
        value.append(rating[rows].mean())
        lower.append(low)
        upper.append(high)
        n.append(len(rows))
    return _ranked(names, value, lower, upper, n)


@dataclass(frozen=True, slots=True)
class WinRates:
    """``rate[i, j]``: the share of model i's games against model j that i won, ties as
    half (NaN where they never met); ``games[i, j]``: how many games they played."""

    models: list
    rate: np.ndarray
    games: np.ndarray


def _pair_codes(
    model_a: ArrayLike, model_b: ArrayLike, score_a: ArrayLike, models: Sequence | None
) -> tuple[list, np.ndarray, np.ndarray, np.ndarray]:
    model_a, model_b = np.asarray(model_a), np.asarray(model_b)
    score_a = np.asarray(score_a, dtype=float)
    n = same_length(model_a, model_b, score_a)
    if not np.isin(score_a, (0.0, 0.5, 1.0)).all():
        raise ValueError("score_a must be 1 (A won), 0 (B won) or 0.5 (tie).")
    names, codes = factorize(np.concatenate([model_a, model_b]), models)
    a, b = codes[:n], codes[n:]
    if (a == b).any():
        raise ValueError("A model cannot play itself.")
    return names, a, b, score_a


def win_rates(
    model_a: ArrayLike, model_b: ArrayLike, score_a: ArrayLike, *, models: Sequence | None = None
) -> WinRates:
    """The pairwise win-rate matrix, ties counted as half a win to each side."""
    names, a, b, score = _pair_codes(model_a, model_b, score_a, models)
    k = len(names)
    won = np.bincount(a * k + b, weights=score, minlength=k * k)
    won += np.bincount(b * k + a, weights=1 - score, minlength=k * k)
    games = np.bincount(a * k + b, minlength=k * k) + np.bincount(b * k + a, minlength=k * k)
    won, games = won.reshape(k, k), games.reshape(k, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return WinRates(names, won / games, games)


@dataclass(frozen=True, slots=True)
class BradleyTerry:
    """Fitted ratings, best first, on ``base + scale * log10(strength)``: a ``scale``-point
    lead means odds of 10 to 1. ``unrated`` models had no games. ``connected`` is False
    when some models were never linked by games to others: their ratings are then not
    comparable, only held together by the prior."""

    estimates: list[Estimate]
    unrated: list
    connected: bool
    iterations: int


def _log_likelihood(scored: np.ndarray, theta: np.ndarray, prior: float) -> np.ndarray:
    diff = theta[:, :, None] - theta[:, None, :]
    return -(scored * np.logaddexp(0.0, -diff)).sum(axis=(1, 2)) - prior / 2 * (theta**2).sum(1)


def _fit(tables: np.ndarray, prior: float, tol: float, max_iter: int) -> tuple[np.ndarray, int]:
    """Log-strengths for a stack of outcome tables ``[r, lo, hi, outcome]`` (outcome 0: the
    lower-coded model won, 1: tie, 2: the higher won), ties as half a win each, all fitted at
    once by Newton–Raphson with step halving on the penalized log-likelihood (the logistic
    regression Chatbot Arena fits). The L2 penalty ``prior`` keeps strengths finite when a
    model wins or loses everything, and, the likelihood being blind to a common shift, puts
    the mean log-strength at exactly zero. (Hunter's 2004 MM algorithm also converges, but
    with a penalty as the only hold on the common shift it crawls along it: thousands of
    rounds where Newton takes about ten.)"""
    half_tie = 0.5 * tables[..., 1]
    scored = tables[..., 0] + half_tie + np.swapaxes(tables[..., 2] + half_tie, 1, 2)
    games = scored + np.swapaxes(scored, 1, 2)
    replicas, size = scored.shape[:2]
    theta = np.zeros((replicas, size))
    value = _log_likelihood(scored, theta, prior)
    diagonal = np.arange(size)
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        p = expit(theta[:, :, None] - theta[:, None, :])
        gradient = (scored - games * p).sum(axis=2) - prior * theta
        weight = games * p * (1 - p)
        information = -weight
        information[:, diagonal, diagonal] += weight.sum(axis=2) + prior
        step = np.linalg.solve(information, gradient[..., None])[..., 0]
        # Newton can overshoot far from the optimum (near-separated data): halve the step of
        # any replicate whose likelihood would fall.
        length = np.ones(replicas)
        for _ in range(60):
            candidate = theta + length[:, None] * step
            trial = _log_likelihood(scored, candidate, prior)
            worse = trial < value - 1e-12 * np.abs(value)
            if not worse.any():
                break
            length[worse] /= 2
        moved = np.abs(candidate - theta).max()
        theta, value = candidate, trial
        if moved < tol:
            break
    return theta, iterations


def bradley_terry(
    model_a: ArrayLike,
    model_b: ArrayLike,
    score_a: ArrayLike,
    *,
    models: Sequence | None = None,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
    scale: float = 400.0,
    base: float = 1000.0,
    anchor: Hashable | None = None,
    prior: float = 0.01,
    tol: float = 1e-9,
    max_iter: int = 100,
) -> BradleyTerry:
    """Bradley–Terry (1952) strengths by maximum likelihood, ties as half a win to each side
    as Chatbot Arena counts them, with percentile bootstrap intervals over battles.

    The bootstrap resamples the table of outcome counts per model pair with one multinomial
    draw of the total: exactly the distribution of resampling battles with replacement, but
    each refit costs a K-by-K table instead of a pass over the battles. Ratings are anchored
    so their mean is ``base``, or so ``anchor`` sits at ``base``, in every replicate.
    ``prior`` is the L2 penalty on log-strengths (a normal prior of standard deviation 10 at
    the default): negligible against real games, it keeps strengths finite."""
    if prior <= 0:
        raise ValueError("The prior must be positive.")
    names, a, b, score = _pair_codes(model_a, model_b, score_a, models)
    k = len(names)
    played = (np.bincount(a, minlength=k) + np.bincount(b, minlength=k)) > 0
    if anchor is not None and (anchor not in names or not played[names.index(anchor)]):
        raise ValueError(f"The anchor {anchor!r} has no games.")
    if not played.any():
        return BradleyTerry(estimates=[], unrated=names, connected=True, iterations=0)
    low, high = np.minimum(a, b), np.maximum(a, b)
    low_score = np.where(a < b, score, 1 - score)
    outcome = np.rint(2 - 2 * low_score).astype(np.intp)
    table: np.ndarray = np.bincount((low * k + high) * 3 + outcome, minlength=k * k * 3)
    table = table.reshape(k, k, 3)
    active = np.flatnonzero(played)
    table = table[np.ix_(active, active)].reshape(-1)
    cells = np.flatnonzero(table)
    total = int(table.sum())
    rng = np.random.default_rng(seed)
    tables = np.zeros((n_boot + 1, table.size))
    tables[0] = table
    if total:
        tables[1:, cells] = rng.multinomial(total, table[cells] / total, size=n_boot)
    size = len(active)
    theta, iterations = _fit(tables.reshape(-1, size, size, 3), prior, tol, max_iter)
    rating = scale / np.log(10) * theta
    if anchor is None:
        rating -= rating.mean(axis=1, keepdims=True)
    else:
        rating -= rating[:, [int(np.searchsorted(active, names.index(anchor)))]]
    rating += base
    if n_boot:
        lower, upper = percentile_interval(rating[1:], level)
    else:
        lower = upper = np.full(size, np.nan)
    games = table.reshape(size, size, 3).sum(axis=2)
    games = games + games.T
    n_components, _ = connected_components(games > 0, directed=False)
    return BradleyTerry(
        estimates=_ranked([names[i] for i in active], rating[0], lower, upper, games.sum(axis=1)),
        unrated=[names[i] for i in np.flatnonzero(~played)],
        connected=n_components <= 1,
        iterations=iterations,
    )
