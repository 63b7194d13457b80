"""The calibration statistics on worked examples and on simulated judges of known noise.
Claims about intervals are asserted as rates over twenty seeds, never on one draw."""

import math

import numpy as np
import pytest

from evaluation.stats._arrays import cluster_bootstrap_sums
from evaluation.stats.calibration import (
    agreement_share,
    cohen_kappa,
    expert_ceiling,
    length_bias_versus,
    pair_alpha,
    plurality_shares,
    position_consistency,
    rank_correlation,
    rater_agreement,
)
from evaluation.stats.metrics import Coincidences

SEEDS = range(20)
CHOICES = ("A", "B", "tie", "both_bad")
SCALE = (1, 2, 3, 4, 5)


def test_kappa_of_the_textbook_two_by_two():
    # 50 items: both say yes 20, both no 15, split 5 and 10: p_o = 0.7, p_e = 0.5.
    table = np.array([[20.0, 5.0], [10.0, 15.0]])
    assert agreement_share(table) == pytest.approx(0.7)
    assert cohen_kappa(table) == pytest.approx(0.4)


def _weighted_kappa_by_agreement_weights(table: np.ndarray, power: int) -> float:
    """Cohen (1968) in its agreement form: (p_o(w) - p_e(w)) / (1 - p_e(w)), with agreement
    weights 1 - (|i - j| / (k - 1)) ** power, one cell at a time."""
    k = table.shape[0]
    n = table.sum()
    rows, cols = table.sum(axis=1) / n, table.sum(axis=0) / n
    p_o = p_e = 0.0
    for i in range(k):
        for j in range(k):
            w = 1 - (abs(i - j) / (k - 1)) ** power
            p_o += w * table[i, j] / n
            p_e += w * rows[i] * cols[j]
    return (p_o - p_e) / (1 - p_e)


@pytest.mark.parametrize("weights,power", [("linear", 1), ("quadratic", 2)])
def test_weighted_kappa_matches_its_agreement_form(weights, power):
    rng = np.random.default_rng(3)
    for _ in range(10):
        table = rng.integers(0, 20, (5, 5)).astype(float)
        assert cohen_kappa(table, weights=weights) == pytest.approx(
            _weighted_kappa_by_agreement_weights(table, power)
        )


def test_kappa_is_undefined_without_chance_disagreement_and_vectorised():
    constant = np.zeros((3, 3))
    constant[1, 1] = 7
    assert math.isnan(cohen_kappa(constant))
    stacked = np.stack([np.array([[20.0, 5.0], [10.0, 15.0]]), np.eye(2) * 4])
    assert cohen_kappa(stacked) == pytest.approx([0.4, 1.0])


@pytest.mark.parametrize("level", ["nominal", "ordinal"])
def test_pair_alpha_agrees_with_the_coincidence_matrix(level):
    rng = np.random.default_rng(11)
    for _ in range(10):
        first = rng.integers(1, 6, 60)
        second = np.where(rng.random(60) < 0.6, first, rng.integers(1, 6, 60))
        table = np.zeros((5, 5))
        np.add.at(table, (first - 1, second - 1), 1)
        coincidences = Coincidences()
        for x, y in zip(first.tolist(), second.tolist(), strict=True):
            coincidences.add_unit([x, y])
        assert pair_alpha(table, level=level) == pytest.approx(coincidences.alpha(level))


def test_pair_alpha_is_undefined_without_variation():
    table = np.zeros((4, 4))
    table[0, 0] = 9
    assert math.isnan(pair_alpha(table, level="nominal"))


def test_cluster_bootstrap_sums_resample_whole_clusters():
    cluster = np.array([0, 0, 1, 2, 2, 2])
    column = np.array([0, 1, 0, 1, 1, 0])
    weight = np.ones(6)
    sums = cluster_bootstrap_sums(cluster, column, weight, 2, 4000, np.random.default_rng(0))
    assert sums[0].tolist() == [3.0, 3.0]
    # Clusters hold 2, 1 and 3 rows: a replicate of three clusters holds 3 to 9 rows.
    totals = sums[1:].sum(axis=1)
    assert totals.min() >= 3 and totals.max() <= 9
    # The mean replicate total is three times the mean cluster size, 3 * 2 = 6; its standard
    # deviation sqrt(3 * var(2, 1, 3)) = sqrt(2).
    assert totals.mean() == pytest.approx(6.0, abs=0.1)
    assert totals.std() == pytest.approx(math.sqrt(2), abs=0.1)


def test_plurality_shares_split_ties():
    units, shares = plurality_shares(
        [7, 7, 7, 9, 9], ["A", "A", "B", "A", "tie"], categories=CHOICES
    )
    assert units == [7, 9]
    assert shares.tolist() == [[1.0, 0.0, 0.0, 0.0], [0.5, 0.0, 0.5, 0.0]]


def _noisy(rng, truth, accuracy, k):
    """Each label the truth with probability ``accuracy``, else uniform over k labels."""
    return np.where(rng.random(len(truth)) < accuracy, truth, rng.integers(0, k, len(truth)))


def test_rater_agreement_recovers_a_known_agreement_within_its_interval():
    # A judge right 70% of the time, else uniform over four labels, against an exact human:
    # it agrees with probability 0.7 + 0.3 / 4 = 0.775.
    covered = 0
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        truth = rng.integers(0, 4, 800)
        judge = _noisy(rng, truth, 0.7, 4)
        found = rater_agreement(
            np.arange(800),
            np.array(CHOICES)[judge],
            np.array(CHOICES)[truth],
            categories=CHOICES,
            level="nominal",
            n_boot=400,
            seed=seed,
        )
        assert found.share.lower < found.share.value < found.share.upper
        assert found.pairs == 800 and found.tasks == 800
        assert found.table.sum() == 800
        covered += found.share.lower <= 0.775 <= found.share.upper
    assert covered >= 17


def test_rater_agreement_kappa_for_a_uniform_truth():
    # With uniform labels chance agreement is 1/4, so kappa = (0.775 - 0.25) / 0.75 = 0.7.
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 4, 20_000)
    judge = _noisy(rng, truth, 0.7, 4)
    found = rater_agreement(
        np.arange(20_000), judge, truth, categories=range(4), level="nominal", n_boot=200
    )
    assert found.kappa.value == pytest.approx(0.7, abs=0.02)
    assert found.kappa.lower < found.kappa.value < found.kappa.upper
    assert found.kappa.upper - found.kappa.lower < 0.05


def test_rater_agreement_intervals_widen_when_tasks_carry_many_rows():
    """Ten annotators per task who all copy one label are one observation, not ten: the
    cluster bootstrap's interval is as wide as with one row per task."""
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 2, 300)
    judge = _noisy(rng, truth, 0.5, 2)
    one = rater_agreement(np.arange(300), judge, truth, categories=(0, 1), level="nominal")
    ten = rater_agreement(
        np.repeat(np.arange(300), 10),
        np.repeat(judge, 10),
        np.repeat(truth, 10),
        categories=(0, 1),
        level="nominal",
    )
    assert ten.share.value == pytest.approx(one.share.value)
    width_one = one.share.upper - one.share.lower
    width_ten = ten.share.upper - ten.share.lower
    assert width_ten == pytest.approx(width_one, rel=0.2)


def test_ordinal_agreement_uses_quadratic_kappa_and_ordinal_alpha():
    rng = np.random.default_rng(2)
    truth = rng.integers(1, 6, 2000)
    near = np.clip(truth + rng.choice([-1, 0, 1], 2000), 1, 5)
    far = np.where(rng.random(2000) < 0.5, truth, 6 - truth)
    close = rater_agreement(np.arange(2000), near, truth, categories=SCALE, level="ordinal")
    distant = rater_agreement(np.arange(2000), far, truth, categories=SCALE, level="ordinal")
    # Near misses keep quadratic kappa and ordinal alpha high; far misses do not.
    assert close.kappa.value > 0.8 and close.alpha.value > 0.8
    assert distant.kappa.value < 0.6 and distant.alpha.value < 0.6
    assert close.kappa.value == pytest.approx(
        cohen_kappa(close.table, weights="quadratic"), rel=1e-12
    )


def _experts(rng, truth, accuracies, k):
    task = np.repeat(np.arange(len(truth)), len(accuracies))
    expert = np.tile(np.arange(len(accuracies)), len(truth))
    accuracy = np.asarray(accuracies)[expert]
    label = np.where(rng.random(len(task)) < accuracy, truth[task], rng.integers(0, k, len(task)))
    return task, expert, label


def test_a_judge_as_good_as_an_expert_sits_at_the_ceiling():
    zero_inside = 0
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        truth = rng.integers(0, 4, 600)
        task, expert, label = _experts(rng, truth, [0.8, 0.8, 0.8], 4)
        judge = _noisy(rng, truth, 0.8, 4)
        ceiling, seats = expert_ceiling(
            task,
            expert,
            label,
            np.arange(600),
            judge,
            categories=range(4),
            level="nominal",
            n_boot=300,
            seed=seed,
        )
        assert ceiling.experts.pairs == pytest.approx(1800)
        assert len(seats) == 3
        zero_inside += ceiling.difference_share.lower <= 0 <= ceiling.difference_share.upper
    assert zero_inside >= 17


def test_a_weak_judge_falls_below_the_ceiling_and_each_expert_is_seated():
    rng = np.random.default_rng(4)
    truth = rng.integers(0, 4, 1000)
    task, expert, label = _experts(rng, truth, [0.95, 0.9, 0.4], 4)
    judge = _noisy(rng, truth, 0.3, 4)
    ceiling, seats = expert_ceiling(
        task, expert, label, np.arange(1000), judge, categories=range(4), level="nominal"
    )
    assert ceiling.difference_share.upper < 0
    assert ceiling.difference_kappa.upper < 0
    # The careless third expert is last; the first two agree with the others best.
    assert [s.expert for s in seats][-1] == 2
    for seat in seats:
        assert seat.judge_agreement.pairs == pytest.approx(seat.expert_agreement.pairs)
        assert seat.judge_agreement.share.value < seat.expert_agreement.share.value


def test_expert_ceiling_skips_lone_judgments_and_tasks_the_judge_did_not_label():
    ceiling, seats = expert_ceiling(
        [1, 1, 2, 3, 3],
        ["x", "y", "x", "x", "y"],
        ["A", "A", "B", "A", "B"],
        [1, 2],
        ["A", "B"],
        categories=CHOICES,
        level="nominal",
        n_boot=50,
    )
    # Task 2 has one judgment (nothing to compare), task 3 no verdict: only task 1's seats.
    assert ceiling.experts.pairs == 2 and ceiling.experts.tasks == 1
    assert ceiling.experts.share.value == 1.0 and ceiling.judge.share.value == 1.0
    assert sorted(s.expert for s in seats) == ["x", "y"]


def test_position_consistency_share_and_interval():
    found = position_consistency([True] * 30 + [False] * 10)
    assert (found.count, found.n, found.share) == (30, 40, 0.75)
    assert found.lower < 0.75 < found.upper
    assert math.isnan(position_consistency([]).share)


def test_length_bias_versus_flags_a_judge_that_prefers_length():
    rng = np.random.default_rng(8)
    n = 1500
    task = np.arange(n)
    length_a, length_b = rng.integers(100, 2000, n), rng.integers(100, 2000, n)
    better_a = rng.random(n) < 0.5
    judge_score = (length_a > length_b).astype(float)  # always the longer
    human_task = np.repeat(task, 2)
    human_score = np.where(rng.random(2 * n) < 0.85, better_a[human_task], ~better_a[human_task])
    found = length_bias_versus(
        task, judge_score, human_task, human_score.astype(float), task, length_a, length_b
    )
    assert found.judge.share == 1.0
    assert found.humans.share == pytest.approx(0.5, abs=0.05)
    assert found.difference.lower > 0.4
    assert found.humans.p_value > 0.001 and found.judge.p_value < 1e-10


def test_length_bias_versus_uses_only_the_same_uneven_pairs_and_decisive_answers():
    found = length_bias_versus(
        [1, 2, 3, 4],
        [1.0, 0.5, 1.0, 0.0],
        [1, 1, 2, 4, 5],
        [0.0, 1.0, 0.0, 0.0, 1.0],
        [1, 2, 3, 4, 5],
        [10, 10, 10, 5, 10],
        [5, 5, 5, 5, 5],
        n_boot=20,
    )
    # Task 3 the humans never judged, task 5 the judge never did, task 4 is even; the judge's
    # tie on task 2 is left out: the judge decided task 1 for the longer, the humans split
    # task 1 and chose the shorter on task 2.
    assert (found.judge.successes, found.judge.n) == (1, 1)
    assert (found.humans.successes, found.humans.n) == (1, 3)
    assert found.difference.value == pytest.approx(1 - 1 / 3)


def test_rank_correlation_of_known_orders():
    found = rank_correlation([1, 2, 3, 4, 5], [2, 1, 4, 3, 5])
    # Sum of squared rank differences 4: rho = 1 - 6 * 4 / (5 * 24) = 0.8; two discordant
    # pairs of ten: tau = (8 - 2) / 10 = 0.6.
    assert found.spearman == pytest.approx(0.8)
    assert found.kendall == pytest.approx(0.6)
    assert rank_correlation([1, 2, 3], [3, 2, 1]).kendall == pytest.approx(-1.0)
    assert math.isnan(rank_correlation([1, 2], [1, 2]).spearman)
