"""``bench.judge --part calibration``: the whole calibration report of one judge
(agreement with the human majority and with each annotator, each with 1,000 bootstrap
resamples; the expert ceiling pooled and per expert; position and length bias; a breakdown by
a metadata key; judge and human leaderboards with their rank correlation) over judged tasks
synthesized in memory with numpy (no database: the figures' own cost). Prints one JSON line.

    .venv/bin/python -m bench.judge --part calibration                  # 100,000 tasks
    .venv/bin/python -m bench.judge --part calibration --tasks 2000     # a smoke run
    .venv/bin/python -m bench.judge --part calibration --database-url postgres://…/ftapp_bench

With ``--database-url`` (PostgreSQL; the database is dropped and re-created) the same report
is timed from the database instead, end to end as the API computes it: a pairwise project of
``--tasks`` tasks with two judgments each (``bench.seeding``) and one judge's verdicts written
in bulk, then ``judge_calibration`` broken down by a metadata key.

Pairwise tasks (or ``--kind rating``) between ten models of known strength, three experts
each from a pool of twenty of varied accuracy, and a judge that follows the truth 70% of the
time, asked in both orders, with a lean to the first-shown answer; prompts carry a topic.
"""

import argparse
import os
import resource
import time

import django
import numpy as np

CHOICES = np.array(["A", "B", "tie", "both_bad"])
MODELS = np.array([f"model-{i:02d}" for i in range(10)])
STRENGTHS = np.linspace(-1.0, 1.0, len(MODELS))
TOPICS = np.array(["code", "math", "law", "health", "travel", "cooking", "history", "poetry"])


def peak_rss_mb() -> float:
    # Linux reports ru_maxrss in kilobytes.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def synthesize(rng: np.random.Generator, tasks: int, kind: str, experts: int = 20):
    from evaluation.judging.calibration.figures import HumanLabels, JudgeLabels, TaskFacts

    task = np.arange(1, tasks + 1, dtype=np.int64)
    model_a = rng.integers(0, len(MODELS), tasks)
    model_b = (model_a + rng.integers(1, len(MODELS), tasks)) % len(MODELS)
    per_task = 3
    unit = np.repeat(np.arange(tasks), per_task)
    annotator = (unit * 7 + np.tile(np.arange(per_task), tasks) * 3) % experts
    accuracy = rng.uniform(0.6, 0.95, experts)[annotator]
    right = rng.random(len(unit)) < accuracy
    if kind == "pairwise":
        p_a = 1 / (1 + np.exp(STRENGTHS[model_b] - STRENGTHS[model_a]))
        truth = np.where(rng.random(tasks) < 0.1, 2, np.where(rng.random(tasks) < p_a, 0, 1))
        human = np.where(right, truth[unit], rng.integers(0, 4, len(unit)))
        first = np.where(rng.random(tasks) < 0.7, truth, rng.integers(0, 4, tasks))
        first = np.where(rng.random(tasks) < 0.15, 0, first)  # leans to the first shown
        second_task_terms = np.where(rng.random(tasks) < 0.8, first, rng.integers(0, 4, tasks))
        flip = np.array([1, 0, 2, 3])
        second_screen = flip[second_task_terms]
        consistent = first == second_task_terms
        label = np.where(consistent, first, 2)
        judge = JudgeLabels(
            1, "bench-judge", 1, task, CHOICES[label], CHOICES[first],
            CHOICES[second_screen], consistent,
        )  # fmt: skip
        human_label = CHOICES[human]
        swapped = rng.random(len(unit)) < 0.5
        screen = np.where(swapped & (human < 2), flip[human], human)
        humans = HumanLabels(
            task[unit], annotator.astype(str).astype(object), human_label, CHOICES[screen],
            np.zeros(0, np.int64), np.zeros(0, dtype="<U8"),
        )  # fmt: skip
        model_b_names = MODELS[model_b]
    else:
        quality = np.clip(np.rint(3 + STRENGTHS[model_a] + rng.normal(0, 0.8, tasks)), 1, 5)
        noise = rng.integers(-1, 2, len(unit))
        human = np.clip(np.where(right, quality[unit], quality[unit] + noise), 1, 5)
        judged = np.clip(quality + rng.integers(-1, 2, tasks) * (rng.random(tasks) < 0.3), 1, 5)
        judge = JudgeLabels(
            1, "bench-judge", 1, task, judged.astype(np.int64), np.full(tasks, "", "<U8"),
            np.full(tasks, "", "<U8"), np.zeros(tasks, bool),
        )  # fmt: skip
        humans = HumanLabels(
            task[unit], annotator.astype(str).astype(object), human.astype(np.int64),
            np.full(len(unit), "", "<U8"), np.zeros(0, np.int64), np.zeros(0, np.int64),
        )  # fmt: skip
        model_b_names = np.full(tasks, "", dtype=object)
    facts = TaskFacts(
        task,
        MODELS[model_a].astype(object),
        model_b_names.astype(object),
        rng.integers(200, 3000, tasks),
        rng.integers(200, 3000, tasks),
        TOPICS[rng.integers(0, len(TOPICS), tasks)].astype(object),
    )
    return judge, humans, facts


def calibration(args: argparse.Namespace) -> dict:
    from evaluation.judging.calibration.figures import calibration_figures

    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    judge, humans, facts = synthesize(rng, args.tasks, args.kind)
    synthesized = time.perf_counter() - started
    started, cpu = time.perf_counter(), time.process_time()
    figures = calibration_figures(
        kind=args.kind,
        judges=[judge],
        humans=humans,
        tasks=facts,
        group_by="topic",
        n_boot=args.bootstrap,
    )
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    (found,) = figures["judges"]
    return {
        "bench": "judge",
        "part": "calibration",
        "kind": args.kind,
        "tasks": args.tasks,
        "human_judgments": len(humans.task),
        "bootstrap": args.bootstrap,
        "synthesize_seconds": round(synthesized, 3),
        "calibration_seconds": round(seconds, 3),
        # CPU time beside the wall clock: on a shared machine the wall clock also counts the
        # time other processes held the cores.
        "calibration_cpu_seconds": round(cpu, 3),
        "peak_rss_mb": peak_rss_mb(),
        "checks": {
            "majority_share": found["majority"]["share"],
            "ceiling_difference": found["ceiling"]["difference"]["share"],
            "experts": len(found["ceiling"]["by_expert"]),
            "groups": len(found["groups"]),
            "flags": found["flags"],
            "kendall": found["leaderboard"]["rank_correlation"]["kendall"],
        },
    }


def seed_verdicts(project_id: int, lead) -> None:
    """One judge's verdict on every task, in bulk: B (the fine-tuned model) for six tasks in
    ten, A for two, tie for two; one pair in nine answered A when swapped (inconsistent)."""
    from django.db import connection

    from evaluation.models import GenerationRun, JudgePrompt, ModelEndpoint, RunPurpose

    endpoint = ModelEndpoint.objects.create(
        name="bench-judge", base_url="http://127.0.0.1:9/v1", model="judge", created_by=lead
    )
    prompt = JudgePrompt.objects.create(
        project_id=project_id, version=1, template="{response_a}{response_b}", created_by=lead
    )
    run = GenerationRun.objects.create(
        project_id=project_id, purpose=RunPurpose.JUDGE, judge_prompt=prompt, created_by=lead
    )
    run.endpoints.add(endpoint)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH v AS (
              SELECT t.id AS task_id,
                     CASE WHEN t.id %% 10 < 6 THEN 'B' WHEN t.id %% 10 < 8 THEN 'A'
                          ELSE 'tie' END AS first,
                     CASE WHEN t.id %% 9 = 0 THEN 'A'
                          WHEN t.id %% 10 < 6 THEN 'B' WHEN t.id %% 10 < 8 THEN 'A'
                          ELSE 'tie' END AS second
                FROM annotation_task t WHERE t.project_id = %s
            )
            INSERT INTO evaluation_judgeverdict (project_id, run_id, task_id, endpoint_id,
                judge_prompt_id, kind, rating, rubric_scores, choice, order_choices,
                consistent, rationale, tokens_in, tokens_out, latency_ms, created_at,
                updated_at, change_seq)
            SELECT %s, %s, task_id, %s, %s, 'pairwise', NULL, '{}',
                   CASE WHEN first = second THEN first ELSE 'tie' END,
                   jsonb_build_array(first, second), first = second, 'Bench.', 300, 40,
                   200, now(), now(), 0
              FROM v
            """,
            [project_id, project_id, run.pk, endpoint.pk, prompt.pk],
        )
        cursor.execute("ANALYZE")


def calibration_from_database(args: argparse.Namespace) -> dict:
    from bench._common import fresh_django

    fresh_django(args.database_url)
    from annotation.models import Project
    from bench.seeding import bench_team, seed_pairwise
    from evaluation.judging.calibration import judge_calibration

    started = time.perf_counter()
    lead, annotators = bench_team()
    project_id = seed_pairwise(lead=lead, annotators=annotators, prompts=args.tasks)
    seed_verdicts(project_id, lead)
    seeded = time.perf_counter() - started
    project = Project.objects.get(pk=project_id)
    started, cpu = time.perf_counter(), time.process_time()
    figures = judge_calibration(project=project, group_by="shard")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    (found,) = figures["judges"]
    return {
        "bench": "judge",
        "part": "calibration",
        "source": "database",
        "kind": "pairwise",
        "tasks": args.tasks,
        "human_judgments": 2 * args.tasks,
        "bootstrap": figures["bootstrap"]["resamples"],
        "seed_seconds": round(seeded, 1),
        "calibration_seconds": round(seconds, 3),
        "calibration_cpu_seconds": round(cpu, 3),
        "peak_rss_mb": peak_rss_mb(),
        "checks": {
            "majority_share": found["majority"]["share"],
            "groups": len(found["groups"]),
            "flags": found["flags"],
        },
    }


def main(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="bench.judge --part calibration")
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--kind", choices=["pairwise", "rating"], default="pairwise")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--database-url", help="Time the report from this PostgreSQL database (re-created)."
    )
    args = parser.parse_args(argv)
    if args.database_url:
        return calibration_from_database(args)
    # The figures import the project's models (for the kinds): Django set up, no database.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ftapp.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-" + "x" * 50)
    django.setup()
    return calibration(args)
