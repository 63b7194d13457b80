"""Head to head: did the fine-tuned model beat its predecessor on the same prompts (the verdict
of a round)."""

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from evaluation.stats._arrays import cluster_bootstrap_means, percentile_interval, same_length

Verdict = Literal["better", "no detectable difference", "worse"]


@dataclass(frozen=True, slots=True)
class RoundComparison:
    """The new model's win rate over the previous one (ties as half) with its interval, the
    games behind it, and the verdict: ``better`` when the whole interval is above one half,
    ``worse`` when it is below, else ``no detectable difference``."""

    win_rate: float
    lower: float
    upper: float
    n: int
    wins: int
    ties: int
    losses: int
    verdict: Verdict


def round_verdict(
    model_a: ArrayLike,
    model_b: ArrayLike,
    score_a: ArrayLike,
    *,
    new: Hashable,
    previous: Hashable,
    cluster: ArrayLike | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> RoundComparison:
    """Win rate of ``new`` over ``previous`` from the games between the two (others are
    ignored), with a percentile bootstrap interval that resamples ``cluster`` (pass the
    prompt: a prompt's judgments stand or fall together; default: each game)."""
    model_a, model_b = np.asarray(model_a), np.asarray(model_b)
    score_a = np.asarray(score_a, dtype=float)
    same_length(model_a, model_b, score_a)
    new_is_a = (model_a == new) & (model_b == previous)
    new_is_b = (model_b == new) & (model_a == previous)
    between = new_is_a | new_is_b
    score = np.where(new_is_a, score_a, 1 - score_a)[between]
    if cluster is None:
        clusters = np.arange(len(score))
    else:
        clusters = np.asarray(cluster)
        same_length(model_a, clusters)
        clusters = clusters[between]
    n = len(score)
    wins, ties = int((score == 1).sum()), int((score == 0.5).sum())
    if n == 0:
        nan = float("nan")
        return RoundComparison(nan, nan, nan, 0, 0, 0, 0, "no detectable difference")
    replicates = cluster_bootstrap_means(score, clusters, n_boot, np.random.default_rng(seed))
    lower, upper = (float(x) for x in percentile_interval(replicates, level))
    verdict: Verdict = (
        "better" if lower > 0.5 else "worse" if upper < 0.5 else "no detectable difference"
    )
    return RoundComparison(
        float(score.mean()), lower, upper, n, wins, ties, n - wins - ties, verdict
    )
