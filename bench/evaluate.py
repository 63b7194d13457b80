"""Evaluation statistics over a million judgments, in memory (no database): the leaderboard
(Bradley–Terry with 200 bootstrap resamples, win rates, mean ratings with 200 resamples) and
the agreement figures (alpha per batch and guideline version, leave-one-out agreement, gold
accuracy, drift, Dawid–Skene), then the bias reports and a round verdict. Prints one JSON
line: seconds and peak RSS after each step (peak RSS only grows, so each figure is the high
water mark so far).

    .venv/bin/python -m bench.evaluate                      # 1,000,000 judgments
    .venv/bin/python -m bench.evaluate --judgments 20000    # a smoke run

The judgments are synthesized with numpy: 60% pairwise (two annotators per task, ten models
of known strength, screen sides randomized, a few position-biased annotators), 40% ratings
(two per response); annotators of varied skill, one of them a spammer.
"""

import argparse
import json
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from annotation import choices
from evaluation import stats

MODELS = np.array([f"model-{i:02d}" for i in range(10)])
STRENGTHS = np.linspace(-1.0, 1.0, len(MODELS))
CHOICES = np.array(choices.CHOICES)
DAY = 86_400.0


def peak_rss_mb() -> float:
    # Linux reports ru_maxrss in kilobytes.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class Steps:
    def __init__(self) -> None:
        self.figures: dict[str, dict[str, float]] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.figures[name] = {
            "seconds": round(time.perf_counter() - started, 3),
            "peak_rss_mb": peak_rss_mb(),
        }


def synthesize_pairwise(rng: np.random.Generator, judgments: int, annotators: int) -> dict:
    tasks = judgments // 2
    skill = rng.uniform(0.6, 0.95, annotators)
    skill[0] = 0.0  # a spammer
    left_bias = np.where(np.arange(annotators) % 10 == 1, 0.25, 0.0)
    model_a = rng.integers(0, len(MODELS), tasks)
    model_b = (model_a + rng.integers(1, len(MODELS), tasks)) % len(MODELS)
    p_a = 1 / (1 + np.exp(STRENGTHS[model_b] - STRENGTHS[model_a]))
    truth = np.where(rng.random(tasks) < 0.1, 2, np.where(rng.random(tasks) < p_a, 0, 1))
    unit = np.repeat(np.arange(tasks), 2)
    first = rng.integers(0, annotators, tasks)
    second = (first + rng.integers(1, annotators, tasks)) % annotators
    annotator = np.stack([first, second], axis=1).reshape(-1)
    # Verdict in the task's terms: on merit with the annotator's skill, else at random.
    on_merit = rng.random(len(unit)) < skill[annotator]
    verdict = np.where(on_merit, truth[unit], rng.integers(0, 4, len(unit)))
    swapped = rng.random(len(unit)) < 0.5
    screen = np.where(swapped & (verdict < 2), 1 - verdict, verdict)
    takes_left = rng.random(len(unit)) < left_bias[annotator]
    screen = np.where(takes_left, 0, screen)
    verdict = np.where(takes_left, swapped.astype(int), verdict)
    length_a = rng.integers(200, 3000, tasks)
    length_b = rng.integers(200, 3000, tasks)
    return {
        "unit": unit,
        "prompt": unit // 3,
        "annotator": annotator,
        "model_a": MODELS[model_a][unit],
        "model_b": MODELS[model_b][unit],
        "choice": CHOICES[verdict],
        "screen_choice": CHOICES[screen],
        "length_a": length_a[unit],
        "length_b": length_b[unit],
        "batch": unit // 2000,
        "time": np.sort(rng.uniform(0, 30 * DAY, len(unit))),
        "gold": np.where(unit % 50 == 0, CHOICES[truth[unit]], ""),
    }


def synthesize_ratings(rng: np.random.Generator, judgments: int, annotators: int) -> dict:
    responses = judgments // 2
    model = rng.integers(0, len(MODELS), responses)
    quality = 3 + STRENGTHS[model] + rng.normal(0, 0.8, responses)
    unit = np.repeat(np.arange(responses), 2)
    first = rng.integers(0, annotators, responses)
    second = (first + rng.integers(1, annotators, responses)) % annotators
    annotator = np.stack([first, second], axis=1).reshape(-1)
    leniency = rng.normal(0, 0.4, annotators)
    rating = np.rint(quality[unit] + leniency[annotator] + rng.normal(0, 0.6, len(unit)))
    rating = np.where(annotator == 0, rng.integers(1, 6, len(unit)), rating)
    return {
        "unit": unit,
        "prompt": unit // 4,
        "annotator": annotator,
        "model": MODELS[model][unit],
        "rating": np.clip(rating, 1, 5).astype(np.int64),
        "version": 1 + unit * 3 // responses,
        "time": np.sort(rng.uniform(0, 30 * DAY, len(unit))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--judgments", type=int, default=1_000_000)
    parser.add_argument("--annotators", type=int, default=40)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    steps = Steps()
    rng = np.random.default_rng(args.seed)
    pairwise_judgments = args.judgments * 3 // 5
    with steps.step("synthesize"):
        pairs = synthesize_pairwise(rng, pairwise_judgments, args.annotators)
        ratings = synthesize_ratings(rng, args.judgments - pairwise_judgments, args.annotators)
    started = time.perf_counter()
    with steps.step("leaderboard"):
        score_a = stats.outcome_scores(pairs["choice"])
        fit = stats.bradley_terry(
            pairs["model_a"], pairs["model_b"], score_a, n_boot=args.bootstrap, seed=args.seed
        )
        stats.overlapping_pairs(fit.estimates)
        stats.win_rates(pairs["model_a"], pairs["model_b"], score_a)
        means = stats.mean_ratings(
            ratings["model"],
            ratings["rating"],
            cluster=ratings["prompt"],
            n_boot=args.bootstrap,
            seed=args.seed,
        )
    with steps.step("aggregation"):
        stats.aggregate_ratings(ratings["unit"], ratings["rating"])
        stats.majority_choice(pairs["unit"], pairs["choice"])
    with steps.step("alpha"):
        stats.alpha_by_group(pairs["unit"], pairs["choice"], pairs["batch"], level="nominal")
        stats.alpha_by_group(
            ratings["unit"], ratings["rating"], ratings["version"], level="ordinal"
        )
    with steps.step("leave_one_out"):
        credit = stats.plurality_agreement(pairs["unit"], pairs["choice"])
        stats.leave_one_out_agreement(pairs["unit"], pairs["annotator"], pairs["choice"])
        stats.leave_one_out_agreement(
            ratings["unit"], ratings["annotator"], ratings["rating"], level="interval"
        )
    with steps.step("gold_and_drift"):
        gold = pairs["gold"] != ""
        stats.gold_accuracy(pairs["annotator"][gold], pairs["choice"][gold], pairs["gold"][gold])
        stats.annotator_drift(pairs["annotator"], pairs["time"], credit, window=DAY)
        stats.annotator_drift(ratings["annotator"], ratings["time"], ratings["rating"], window=DAY)
    with steps.step("dawid_skene"):
        skene = stats.dawid_skene(pairs["unit"], pairs["annotator"], pairs["choice"])
    with steps.step("bias_and_round"):
        stats.position_bias_by_annotator(pairs["annotator"], pairs["screen_choice"])
        stats.length_bias(pairs["length_a"], pairs["length_b"], score_a)
        stats.rating_histograms(ratings["annotator"], ratings["rating"])
        verdict = stats.round_verdict(
            pairs["model_a"],
            pairs["model_b"],
            score_a,
            new=MODELS[-1],
            previous=MODELS[-2],
            cluster=pairs["prompt"],
            seed=args.seed,
        )
    total = time.perf_counter() - started
    print(
        json.dumps(
            {
                "bench": "evaluate",
                "judgments": args.judgments,
                "pairwise_judgments": pairwise_judgments,
                "rating_judgments": args.judgments - pairwise_judgments,
                "models": len(MODELS),
                "annotators": args.annotators,
                "bootstrap": args.bootstrap,
                "steps": steps.figures,
                "analysis_seconds": round(total, 2),
                "peak_rss_mb": peak_rss_mb(),
                "checks": {
                    "bt_order_true": [e.model for e in fit.estimates] == MODELS[::-1].tolist(),
                    "rating_order_true": [e.model for e in means] == MODELS[::-1].tolist(),
                    "dawid_skene_iterations": skene.iterations,
                    "spammer_reliability": round(float(skene.reliability[0]), 3),
                    "round_verdict": verdict.verdict,
                },
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
