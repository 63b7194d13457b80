"""The statistics of evaluation on simulated annotators of known skill judging models of known
strength. Every simulation is seeded; claims that hold "in most seeds" are asserted as rates
over twenty seeds, not on one lucky draw."""

import math

import krippendorff
import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from evaluation.stats import (
    aggregate_ratings,
    alpha,
    alpha_by_group,
    annotator_drift,
    bradley_terry,
    dawid_skene,
    gold_accuracy,
    leave_one_out_agreement,
    length_bias,
    majority_choice,
    mean_ratings,
    outcome_scores,
    overlapping_pairs,
    pair_agreement,
    pair_agreement_by_group,
    plurality_agreement,
    position_bias,
    position_bias_by_annotator,
    rating_histograms,
    round_verdict,
    win_rates,
)
from evaluation.stats.metrics import Coincidences
from evaluation.stats.ranking import Estimate

SEEDS = range(20)
ELO = 400 / math.log(10)

# Six models' true log-strengths, and four annotators' skills: the chance a judgment is made
# on merit (the Bradley-Terry draw); otherwise the annotator answers A, B or tie at random.
THETA = np.array([-1.0, -0.5, -0.2, 0.1, 0.5, 1.1])
SKILLS = np.array([0.95, 0.9, 0.8, 0.7])


def simulate_battles(rng, n, theta=THETA, skills=SKILLS):
    k = len(theta)
    a = rng.integers(0, k, n)
    b = (a + rng.integers(1, k, n)) % k
    annotator = rng.integers(0, len(skills), n)
    on_merit = rng.random(n) < skills[annotator]
    merit = (rng.random(n) < expit(theta[a] - theta[b])).astype(float)
    guess = rng.choice([0.0, 0.5, 1.0], n)
    return a, b, np.where(on_merit, merit, guess)


def attenuated_truth(theta=THETA, skills=SKILLS):
    """What the fit estimates with noisy annotators, worked out independently: random answers
    pull every expected score towards one half, P(A scores) = s σ(d) + (1 - s) / 2 with s the
    mean skill, and the population maximum-likelihood strengths follow from those expected
    scores (all pairs equally often). Anchored like the leaderboard: mean 1000."""
    s = skills.mean()
    expected = s * expit(theta[:, None] - theta[None, :]) + (1 - s) / 2
    np.fill_diagonal(expected, 0)

    def loss(x):
        return -(expected * log_expit(x[:, None] - x[None, :])).sum()

    x = minimize(loss, np.zeros(len(theta)), method="BFGS", options={"gtol": 1e-10}).x
    return 1000 + ELO * (x - x.mean())


# Aggregation


def test_ratings_mean_median_and_adjudication_override():
    result = aggregate_ratings(
        ["t1", "t1", "t1", "t1", "t2", "t3"],
        [1, 2, 4, 5, 3, 2],
        adjudicated_unit=["t3"],
        adjudicated_rating=[5],
        units=["t1", "t2", "t3", "t4"],
    )
    assert result.units == ["t1", "t2", "t3", "t4"]
    assert result.n.tolist() == [4, 1, 1, 0]
    assert result.mean[:3].tolist() == [3.0, 3.0, 2.0] and math.isnan(result.mean[3])
    assert result.median[:3].tolist() == [3.0, 3.0, 2.0] and math.isnan(result.median[3])
    # The lead's rating settles t3; its judges' own figures stay visible.
    assert result.score[2] == 5.0 and result.adjudicated.tolist() == [False, False, True, False]


def test_median_of_an_odd_count_is_the_middle_rating():
    result = aggregate_ratings([7, 7, 7], [5, 1, 4])
    assert result.median.tolist() == [4.0] and result.mean.tolist() == [pytest.approx(10 / 3)]


def test_majority_choice_tie_policy_is_explicit():
    unit = ["split", "split", "clear", "clear", "clear", "ties"]
    choice = ["A", "B", "B", "B", "A", "tie"]
    strict = majority_choice(unit, choice, units=["clear", "split", "ties", "unjudged"])
    assert strict.label == ["B", None, "tie", None]
    assert strict.tied.tolist() == [False, True, False, False]
    assert strict.n.tolist() == [3, 2, 1, 0]
    assert strict.support[0] == pytest.approx(2 / 3) and math.isnan(strict.support[3])
    lenient = majority_choice(unit, choice, tie_label="tie")
    assert dict(zip(lenient.units, lenient.label, strict=True)) == {
        "clear": "B",
        "split": "tie",
        "ties": "tie",
    }


def test_ignored_votes_are_not_counted():
    result = majority_choice([1, 1, 1], ["A", "tie", "both_bad"], ignore={"tie", "both_bad"})
    assert result.label == ["A"] and result.n.tolist() == [1]


def test_adjudication_wins_even_against_a_clear_majority_and_without_votes():
    result = majority_choice(
        ["t1", "t1", "t1"],
        ["A", "A", "B"],
        adjudicated_unit=["t1", "t2"],
        adjudicated_choice=["B", "tie"],
    )
    assert result.units == ["t1", "t2"]
    assert result.label == ["B", "tie"] and result.adjudicated.tolist() == [True, True]
    assert result.n.tolist() == [3, 0]


def test_two_adjudications_of_one_task_are_refused():
    with pytest.raises(ValueError, match="more than one adjudication"):
        majority_choice([1], ["A"], adjudicated_unit=[1, 1], adjudicated_choice=["A", "B"])


# Agreement


def test_alpha_reproduces_krippendorffs_worked_example():
    # Krippendorff (2011), section C, as in test_metrics.py, in long form.
    rows = [
        "1 2 3 3 2 1 4 1 2 . . .",
        "1 2 3 3 2 2 4 1 2 5 . 3",
        ". 3 3 3 2 3 4 2 2 5 1 .",
        "1 2 3 3 2 4 4 1 2 5 1 .",
    ]
    unit, value = [], []
    for row in rows:
        for u, v in enumerate(row.split()):
            if v != ".":
                unit.append(u)
                value.append(int(v))
    assert round(alpha(unit, value, level="nominal"), 3) == 0.743
    assert round(alpha(unit, value, level="ordinal"), 3) == 0.815


@pytest.mark.parametrize("level", ["nominal", "ordinal"])
def test_alpha_by_group_matches_streaming_and_the_krippendorff_package(level):
    rng = np.random.default_rng(7)
    n_units, n_coders = 150, 5
    truth = rng.integers(1, 6, n_units)
    noisy = np.where(rng.random((n_coders, n_units)) < 0.7, truth, rng.integers(1, 6, n_units))
    present = rng.random((n_coders, n_units)) < 0.7
    group_of_unit = rng.integers(0, 3, n_units)
    coder, unit = np.nonzero(present)
    value = noisy[coder, unit]
    result = alpha_by_group(unit, value, group_of_unit[unit], level=level)
    assert sorted(result) == [0, 1, 2]
    for g in range(3):
        columns = group_of_unit == g
        dense = np.where(present, noisy, np.nan)[:, columns]
        expected = krippendorff.alpha(reliability_data=dense, level_of_measurement=level)
        streamed = Coincidences()
        for column in dense.T:
            streamed.add_unit([int(v) for v in column if not np.isnan(v)])
        assert result[g] == pytest.approx(expected, abs=1e-9)
        assert result[g] == pytest.approx(streamed.alpha(level), abs=1e-12)


def test_a_unit_judged_under_two_groups_is_not_paired_across_them():
    # Under v1 the pair agrees, under v2 it disagrees; pooled across versions they would mix.
    unit = [1, 1, 2, 2, 1, 1, 2, 2]
    value = ["A", "A", "B", "B", "A", "B", "B", "A"]
    version = ["v1"] * 4 + ["v2"] * 4
    result = alpha_by_group(unit, value, version, level="nominal")
    assert result["v1"] == pytest.approx(1.0) and result["v2"] < 0


def test_alpha_is_none_when_nothing_can_be_paired():
    assert alpha_by_group([1, 2], [3, 4], ["g", "g"], level="ordinal") == {"g": None}


def test_raw_agreement_counts_the_pairs_of_a_task_that_agree_exactly():
    # Task 1: A, A, B gives three pairs, one agreeing; task 2: B, B one agreeing pair; task 3
    # is alone (no pair); task 4 pairs 4 with 5, which is no exact agreement.
    unit = [1, 1, 1, 2, 2, 3, 4, 4]
    value = ["A", "A", "B", "B", "B", "A", "4", "5"]
    found = pair_agreement(unit, value)
    assert (found.agreeing, found.pairs) == (2, 5) and found.share == pytest.approx(0.4)
    assert pair_agreement([1, 2], ["A", "A"]).share is None


def test_raw_agreement_pairs_within_a_group_as_alpha_does():
    unit = [1, 1, 2, 2, 1, 1, 2, 2]
    value = ["A", "A", "B", "B", "A", "B", "B", "A"]
    version = ["v1"] * 4 + ["v2"] * 4
    found = pair_agreement_by_group(unit, value, version)
    assert (found["v1"].agreeing, found["v1"].pairs) == (2, 2)
    assert (found["v2"].agreeing, found["v2"].pairs) == (0, 2)


def test_raw_agreement_is_high_where_alpha_is_zero_when_one_label_dominates():
    # Ten tasks rated twice: nine times 5 and 5, once 5 and 4. Nine pairs in ten agree, but
    # with 19 fives in 20 ratings chance alone agrees as often: alpha is 1 - 0.1 / 0.1 = 0.
    unit = [u for u in range(10) for _ in range(2)]
    value = [5] * 19 + [4]
    assert pair_agreement(unit, value).share == pytest.approx(0.9)
    assert alpha(unit, value, level="nominal") == pytest.approx(0.0)


def simulate_labels(rng, n_units, accuracies, classes=3):
    """Every annotator labels every unit; ``None`` accuracy is a spammer answering at random.
    Errors pick one of the wrong classes uniformly."""
    truth = rng.integers(0, classes, n_units)
    unit, annotator, label = [], [], []
    for i, accuracy in enumerate(accuracies):
        wrong = (truth + rng.integers(1, classes, n_units)) % classes
        if accuracy is None:
            said = rng.integers(0, classes, n_units)
        else:
            said = np.where(rng.random(n_units) < accuracy, truth, wrong)
        unit.append(np.arange(n_units))
        annotator.append(np.full(n_units, f"ann{i}"))
        label.append(said)
    return truth, np.concatenate(unit), np.concatenate(annotator), np.concatenate(label)


def test_plurality_agreement_credits_a_split_of_the_others_fairly():
    credit = plurality_agreement([1, 1, 1, 2], ["A", "A", "B", "A"])
    # Judgment 0 sees others A, B (a two-way tie): half credit. The unit-2 judgment is alone.
    assert credit[:3].tolist() == [0.5, 0.5, 0.0] and math.isnan(credit[3])


def test_leave_one_out_agreement_ranks_a_random_annotator_last():
    rng = np.random.default_rng(3)
    _, unit, annotator, label = simulate_labels(rng, 400, [0.85, 0.8, 0.75, None])
    ranking = leave_one_out_agreement(unit, annotator, label)
    assert ranking[-1].annotator == "ann3" and all(r.n == 400 for r in ranking)
    assert ranking[-1].agreement < 0.45 < 0.6 < ranking[-2].agreement


def test_leave_one_out_agreement_for_ratings_uses_the_others_mean():
    rng = np.random.default_rng(4)
    quality = rng.integers(1, 6, 300)
    said = {name: np.clip(quality + rng.integers(-1, 2, 300), 1, 5) for name in ["p", "q", "r"]}
    said["random"] = rng.integers(1, 6, 300)
    unit = np.tile(np.arange(300), len(said))
    annotator = np.repeat(list(said), 300)
    rating = np.concatenate(list(said.values()))
    ranking = leave_one_out_agreement(unit, annotator, rating, level="interval")
    assert ranking[-1].annotator == "random"
    assert ranking[-1].agreement < 0.2 and ranking[-2].agreement > 0.6
    assert ranking[-1].mean_abs_diff > ranking[0].mean_abs_diff


def test_gold_accuracy_exact_and_within_tolerance():
    rows = gold_accuracy(["x", "x", "x", "y"], [5, 4, 2, 3], [5, 5, 5, 3])
    assert [(r.annotator, r.n, r.correct) for r in rows] == [("x", 3, 1), ("y", 1, 1)]
    assert rows[0].lower < rows[0].accuracy < rows[0].upper
    lenient = gold_accuracy(["x", "x", "x"], [5, 4, 2], [5, 5, 5], tolerance=1)
    assert lenient[0].correct == 2


def test_drift_finds_an_annotator_who_tires_and_not_one_who_holds_steady():
    rng = np.random.default_rng(5)
    n = 1500
    day = np.sort(rng.uniform(0, 100, n))
    truth = rng.integers(0, 3, n)

    def label(accuracy):
        wrong = (truth + rng.integers(1, 3, n)) % 3
        return np.where(rng.random(n) < accuracy, truth, wrong)

    judges = {
        "ref1": label(0.9),
        "ref2": label(0.9),
        "steady": label(0.85),
        "tiring": label(0.95 - 0.5 * day / 100),
    }
    unit = np.tile(np.arange(n), len(judges))
    annotator = np.repeat(list(judges), n)
    score = plurality_agreement(unit, np.concatenate(list(judges.values())))
    drift = {
        d.annotator: d
        for d in annotator_drift(annotator, np.tile(day, len(judges)), score, window=10)
    }
    tiring, steady = drift["tiring"], drift["steady"]
    assert len(tiring.window_start) == 10 and tiring.window_n.sum() == n
    assert tiring.slope < 0 and tiring.p_value < 1e-6
    assert tiring.window_mean[0] - tiring.window_mean[-1] > 0.3
    assert steady.p_value > 0.01 and abs(steady.slope) < 1e-3


# Dawid-Skene


@pytest.mark.parametrize("seed", range(5))
def test_dawid_skene_finds_the_spammer_and_beats_majority_vote(seed):
    rng = np.random.default_rng(seed)
    accuracies = [0.9, 0.65, 0.65, None]
    truth, unit, annotator, label = simulate_labels(rng, 800, accuracies)
    fit = dawid_skene(unit, annotator, label)
    assert fit.annotators == ["ann0", "ann1", "ann2", "ann3"] and fit.classes == [0, 1, 2]
    diagonal = np.diagonal(fit.confusion, axis1=1, axis2=2).mean(axis=1)
    assert diagonal[3] < min(diagonal[:3]) and diagonal[0] > max(diagonal[1:])
    assert fit.reliability == pytest.approx([0.9, 0.65, 0.65, 1 / 3], abs=0.08)
    assert fit.priors == pytest.approx(np.bincount(truth) / len(truth), abs=0.08)
    assert np.allclose(fit.posterior.sum(axis=1), 1)
    # Majority vote, a tie broken at random (scored by its expected accuracy).
    counts = np.zeros((800, 3))
    np.add.at(counts, (unit, label), 1)
    top = counts == counts.max(axis=1, keepdims=True)
    majority = (top[np.arange(800), truth] / top.sum(axis=1)).mean()
    weighted = (np.asarray(fit.label) == truth).mean()
    assert weighted > majority + 0.05


def test_dawid_skene_keeps_class_labels_and_order_given():
    fit = dawid_skene(
        [1, 1, 2, 2], ["x", "y", "x", "y"], ["A", "A", "B", "B"], classes=["A", "B", "tie"]
    )
    assert fit.classes == ["A", "B", "tie"] and fit.label == ["A", "B"]
    assert fit.confusion.shape == (2, 3, 3) and (fit.confusion > 0).all()


# Leaderboard


def test_bradley_terry_recovers_the_order_and_its_intervals_cover_the_truth():
    target = attenuated_truth()
    assert np.argsort(target).tolist() == np.argsort(THETA).tolist()
    covered, widths = [], []
    for seed in SEEDS:
        a, b, score = simulate_battles(np.random.default_rng(seed), 6000)
        fit = bradley_terry(a, b, score, n_boot=200, seed=seed)
        assert [e.model for e in fit.estimates] == [5, 4, 3, 2, 1, 0]
        assert fit.connected and not fit.unrated
        assert np.mean([e.value for e in fit.estimates]) == pytest.approx(1000)
        covered += [e.lower <= target[e.model] <= e.upper for e in fit.estimates]
        widths += [e.upper - e.lower for e in fit.estimates]
    # 120 nominal-95% intervals: most cover the truth, and not by being uselessly wide (the
    # true strengths are 40 to 80 points apart).
    assert np.mean(covered) >= 0.85
    assert np.mean(widths) < 40


def test_bradley_terry_on_perfect_annotators_targets_the_true_strengths():
    rng = np.random.default_rng(11)
    a, b, score = simulate_battles(rng, 200_000, skills=np.ones(1))
    fit = bradley_terry(a, b, score, n_boot=0)
    truth = 1000 + ELO * (THETA - THETA.mean())
    for e in fit.estimates:
        assert e.value == pytest.approx(truth[e.model], abs=8)


def test_bradley_terry_counts_ties_as_half_a_win_each():
    # x beat y once and tied once: x scored 1.5 of 2, so odds of 3 to 1 (prior aside).
    fit = bradley_terry(["x", "x"], ["y", "y"], [1, 0.5], n_boot=0, prior=1e-9)
    by_model = {e.model: e.value for e in fit.estimates}
    assert by_model["x"] - by_model["y"] == pytest.approx(400 * math.log10(3), abs=1e-3)


def test_bradley_terry_handles_unplayed_models_separation_and_an_anchor():
    fit = bradley_terry(
        ["x", "x", "y"], ["y", "z", "z"], [1, 1, 1], models=["w", "x", "y", "z"], anchor="y"
    )
    assert fit.unrated == ["w"]
    assert [e.model for e in fit.estimates] == ["x", "y", "z"]
    by_model = {e.model: e for e in fit.estimates}
    assert by_model["y"].value == pytest.approx(1000)
    # Winning everything gives a finite rating, thanks to the prior.
    assert 1000 < by_model["x"].value < 5000 and all(math.isfinite(e.upper) for e in fit.estimates)
    with pytest.raises(ValueError, match="anchor"):
        bradley_terry(["x"], ["y"], [1], models=["w", "x", "y"], anchor="w")


def test_bradley_terry_says_when_models_were_never_linked():
    fit = bradley_terry(["x", "p"], ["y", "q"], [1, 0], n_boot=10)
    assert not fit.connected and len(fit.estimates) == 4


def test_bootstrap_over_the_outcome_table_matches_resampling_battles():
    # The multinomial over (pair, outcome) counts is the distribution of resampled battles'
    # counts, so refitting per resampled battle list gives the same intervals up to noise.
    a, b, score = simulate_battles(np.random.default_rng(12), 3000)
    fast = {e.model: e for e in bradley_terry(a, b, score, n_boot=600, seed=1).estimates}
    rng = np.random.default_rng(2)
    replicates = []
    for _ in range(600):
        i = rng.integers(0, len(a), len(a))
        fit = bradley_terry(a[i], b[i], score[i], n_boot=0)
        replicates.append([e.value for e in sorted(fit.estimates, key=lambda e: e.model)])
    lower, upper = np.quantile(replicates, [0.025, 0.975], axis=0)
    for model, estimate in fast.items():
        width = upper[model] - lower[model]
        assert abs(estimate.lower - lower[model]) < 0.15 * width
        assert abs(estimate.upper - upper[model]) < 0.15 * width


def test_bradley_terry_bootstrap_is_seeded():
    a, b, score = simulate_battles(np.random.default_rng(1), 500)
    first, again = (bradley_terry(a, b, score, n_boot=50, seed=9) for _ in range(2))
    other = bradley_terry(a, b, score, n_boot=50, seed=10)
    assert first == again and first != other


def test_win_rates_count_ties_as_half_and_leave_unmet_pairs_empty():
    rates = win_rates(["x", "x", "y", "x"], ["y", "y", "x", "z"], [1, 0.5, 1, 0], models=None)
    x, y, z = (rates.models.index(m) for m in "xyz")
    assert rates.games[x, y] == 3 and rates.rate[x, y] == pytest.approx(1.5 / 3)
    assert rates.rate[y, x] == pytest.approx(1.5 / 3) and rates.rate[z, x] == 1.0
    assert math.isnan(rates.rate[y, z]) and math.isnan(rates.rate[x, x])


def test_outcome_scores_map_choices_and_refuse_unknown_ones():
    assert outcome_scores(["A", "B", "tie", "both_bad"]).tolist() == [1.0, 0.0, 0.5, 0.5]
    with pytest.raises(ValueError):
        outcome_scores(["left"])


def test_mean_rating_intervals_cover_the_true_means_in_most_seeds():
    true_means = {"m1": 3.6, "m2": 3.2, "m3": 2.5}
    covered = []
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        model, rating, prompt = [], [], []
        for name, mu in true_means.items():
            # Two ratings per prompt share the prompt's difficulty: clustered, as in practice.
            difficulty = np.repeat(rng.normal(0, 0.6, 150), 2)
            rating += list(mu + difficulty + rng.normal(0, 0.8, 300))
            model += [name] * 300
            prompt += list(np.repeat(np.arange(150), 2))
        rows = mean_ratings(model, rating, cluster=prompt, n_boot=300, seed=seed)
        assert [r.model for r in rows] == ["m1", "m2", "m3"] and rows[0].n == 300
        covered += [r.lower <= true_means[r.model] <= r.upper for r in rows]
    assert np.mean(covered) >= 0.85


def test_overlapping_intervals_read_as_tied_and_share_a_rank():
    fit_rows = [
        Estimate("a", 1100, 1080, 1120, 10, 1),
        Estimate("b", 1070, 1050, 1090, 10, 1),
        Estimate("c", 900, 880, 920, 10, 3),
    ]
    assert overlapping_pairs(fit_rows) == [("a", "b")]
    a, b, score = simulate_battles(np.random.default_rng(2), 300, theta=np.array([0, 0, 3.0]))
    ranks = {e.model: e.rank for e in bradley_terry(a, b, score, n_boot=100).estimates}
    assert ranks == {2: 1, 0: 2, 1: 2}


# Bias


def simulate_screen_choices(rng, n, left_bias):
    """Screen-side choices of one annotator: with probability ``left_bias`` they take the
    left response whatever it is; otherwise they judge on merit between two models (0.5 vs
    0.0 log-strength), the task's A shown on the left or right at random."""
    merit_a = rng.random(n) < expit(0.5)
    a_on_left = rng.random(n) < 0.5
    left_is_better = np.where(a_on_left, merit_a, ~merit_a)
    picks_left = np.where(rng.random(n) < left_bias, True, left_is_better)
    return np.where(picks_left, "A", "B")


def test_position_bias_is_detected_in_a_biased_annotator_and_not_in_a_fair_one():
    biased_found, fair_found = [], []
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        biased_found.append(position_bias(simulate_screen_choices(rng, 400, 0.3)).p_value < 0.01)
        fair_found.append(position_bias(simulate_screen_choices(rng, 400, 0.0)).p_value < 0.05)
    assert np.mean(biased_found) >= 0.9 and np.mean(fair_found) <= 0.2


def test_position_bias_per_annotator_ignores_ties():
    reports = position_bias_by_annotator(["p", "p", "p", "p", "q"], ["A", "A", "A", "tie", "B"])
    assert (reports["p"].successes, reports["p"].n, reports["p"].share) == (3, 3, 1.0)
    assert reports["q"].share == 0.0 and reports["p"].p_value == pytest.approx(0.25)
    empty = position_bias(["tie"])
    assert empty.n == 0 and empty.p_value == 1.0 and math.isnan(empty.share)


def test_length_bias_counts_decisive_judgments_of_unequal_lengths():
    rng = np.random.default_rng(6)
    n = 600
    length_a, length_b = rng.integers(50, 500, n), rng.integers(50, 500, n)
    longer_wins = rng.random(n) < 0.7
    score_a = np.where((length_a > length_b) == longer_wins, 1.0, 0.0)
    score_a[:50] = 0.5
    report = length_bias(length_a, length_b, score_a)
    assert report.n == ((length_a != length_b) & (score_a != 0.5)).sum()
    assert 0.64 < report.share < 0.76 and report.p_value < 1e-6
    fair = length_bias([10, 20, 30, 40], [20, 10, 40, 30], [1, 1, 0, 0])
    assert fair.share == 0.5 and fair.p_value == 1.0


def test_rating_histograms_count_the_scale_and_show_a_lenient_rater():
    rng = np.random.default_rng(8)
    usual = rng.choice([1, 2, 3, 4, 5], 400, p=[0.1, 0.2, 0.4, 0.2, 0.1])
    lenient = rng.choice([3, 4, 5], 200, p=[0.1, 0.3, 0.6])
    annotator = ["u1"] * 200 + ["u2"] * 200 + ["len"] * 200
    result = rating_histograms(annotator, np.concatenate([usual, lenient]))
    assert result.annotators == ["len", "u1", "u2"] and result.values == [1, 2, 3, 4, 5]
    assert result.counts.sum(axis=1).tolist() == [200, 200, 200]
    assert result.counts[0, :2].tolist() == [0, 0]
    assert np.allclose(result.shares.sum(axis=1), 1)
    assert result.shares[0, 4] > 0.5 > 0.2 > max(result.shares[1:, 4])
    with pytest.raises(ValueError):
        rating_histograms(["u1"], [6])


# Rounds


def simulate_round(rng, p_new_wins, prompts=300):
    """Two judgments per prompt of new against previous, sides as stored in the task; a
    tenth of judgments are ties."""
    prompt = np.repeat(np.arange(prompts), 2)
    n = len(prompt)
    new_is_a = rng.random(n) < 0.5
    model_a = np.where(new_is_a, "new", "previous")
    model_b = np.where(new_is_a, "previous", "new")
    new_wins = rng.random(n) < p_new_wins
    score_new = np.where(rng.random(n) < 0.1, 0.5, new_wins.astype(float))
    score_a = np.where(new_is_a, score_new, 1 - score_new)
    return model_a, model_b, score_a, prompt


@pytest.mark.parametrize(
    ("p_new_wins", "verdict", "least_share"),
    [(0.7, "better", 1.0), (0.5, "no detectable difference", 0.85), (0.3, "worse", 1.0)],
)
def test_round_verdict(p_new_wins, verdict, least_share):
    verdicts = []
    for seed in SEEDS:
        model_a, model_b, score_a, prompt = simulate_round(np.random.default_rng(seed), p_new_wins)
        result = round_verdict(
            model_a, model_b, score_a, new="new", previous="previous", cluster=prompt, seed=seed
        )
        assert result.lower <= result.win_rate <= result.upper and result.n == 600
        assert result.wins + result.ties + result.losses == 600
        verdicts.append(result.verdict == verdict)
    assert np.mean(verdicts) >= least_share


def test_round_verdict_ignores_other_models_and_reads_ties_as_half():
    result = round_verdict(
        ["new", "previous", "other", "new"],
        ["previous", "new", "new", "previous"],
        [1, 1, 0, 0.5],
        new="new",
        previous="previous",
    )
    assert (result.n, result.wins, result.ties, result.losses) == (3, 1, 1, 1)
    assert result.win_rate == pytest.approx(0.5)
    nothing = round_verdict(["x"], ["y"], [1], new="new", previous="previous")
    assert nothing.n == 0 and nothing.verdict == "no detectable difference"
