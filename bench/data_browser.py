"""The lead's data browser at size: seeds a pairwise project of N tasks and about ten
judgments each in PostgreSQL (in bulk, ``INSERT … SELECT generate_series``), then times
``GET /api/v1/projects/{id}/tasks/`` (the page's listing, same reads) for the first page, a
filtered page (model, skips and agreement state together), a page of a metadata value and a
state, a text search and a deep page (a cursor 90% of the way in), and the lead's task page
``/tasks/{id}/review/?from=data`` (as the browser opens it), each through Django's test client
in this process. Prints one JSON line: p50/p95 in ms of each, and what each page counted.

    .venv/bin/python -m bench.data_browser                    # 100,000 tasks, 1,000,000 judgments
    .venv/bin/python -m bench.data_browser --tasks 2000 --repeat 5   # a smoke run

It drops and re-creates the database named by --database-url.
"""

import argparse
import json
import random
import time

from bench._common import DEFAULT_DATABASE_URL, fresh_django

MODELS = ("base-v1", "ft-r1", "ft-r2")
TOPICS = ("cards", "loans", "accounts", "mortgages", "savings", "fraud", "travel", "fees")
WORDS = (
    "balance",
    "interest",
    "overdraft",
    "transfer",
    "statement",
    "deposit",
    "withdrawal",
    "pension",
    "insurance",
    "budget",
    "invoice",
    "refund",
    "chargeback",
    "currency",
    "exchange",
    "limit",
    "branch",
    "cheque",
    "standing",
    "order",
    "direct",
    "debit",
    "salary",
    "payslip",
    "credit",
    "score",
    "mortgage",
    "remortgage",
    "equity",
    "tracker",
    "fixed",
    "variable",
    "isa",
    "bond",
    "dividend",
    "tax",
    "allowance",
    "inheritance",
    "trust",
    "loan",
    "repayment",
    "arrears",
    "default",
    "bailiff",
    "hardship",
    "complaint",
    "ombudsman",
    "compensation",
)


def seed(*, lead, annotators: list, tasks: int, per_task: int) -> tuple[int, int]:
    """A pairwise project of ``tasks`` tasks in one batch of overlap ``per_task``: most fully
    judged (agreeing mostly, a conflict now and then), one in ten partly, some skipped,
    commented, rewritten, late or adjudicated. Returns the project's id and how many
    judgments it has."""
    from django.db import connection

    from annotation.models import Membership
    from annotation.services import batch_create, project_create
    from ftapp.actors import SYSTEM

    project = project_create(
        by=SYSTEM, lead=lead, name=f"browser, {tasks} tasks", kind="pairwise", overlap=per_task
    )
    for user in annotators:
        Membership.objects.create(project=project, user=user, role="annotator")
    batch = batch_create(by=SYSTEM, project=project, name="all", tasks=[], overlap=per_task)
    ids = [u.pk for u in annotators]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO annotation_prompt (project_id, external_id, text, messages, system,
                metadata, content_hash, created_at, updated_at)
            SELECT %(p)s, 'q-' || g,
                   'Question ' || g || ': what about my ' || (%(w)s::text[])[1 + g %% %(nw)s]
                   || ' and the ' || (%(w)s::text[])[1 + (g * 7) %% %(nw)s] || '?',
                   NULL, '', jsonb_build_object('topic', (%(t)s::text[])[1 + (g / 3) %% 8],
                                                'shard', g %% 16),
                   encode(sha256(convert_to('q' || g || ':' || %(p)s, 'UTF8')), 'hex'),
                   now(), now()
              FROM generate_series(1, %(n)s) g
            """,
            {"p": project.pk, "w": list(WORDS), "nw": len(WORDS), "t": list(TOPICS), "n": tasks},
        )
        cursor.execute(
            """
            INSERT INTO annotation_response (prompt_id, model_name, text, generation, created_at)
            SELECT p.id, (%(m)s::text[])[1 + (p.id + side) %% 3],
                   'Answer ' || side || ' on ' || (%(w)s::text[])[1 + (p.id * 3 + side) %% %(nw)s]
                   || ': ' || repeat('Open the app, choose the account and follow the steps. ',
                                     1 + side * 2),
                   '{}', now()
              FROM annotation_prompt p CROSS JOIN generate_series(0, 1) AS side
             WHERE p.project_id = %(p)s
            """,
            {"p": project.pk, "m": list(MODELS), "w": list(WORDS), "nw": len(WORDS)},
        )
        cursor.execute(
            """
            INSERT INTO annotation_task (project_id, kind, prompt_id, response_a_id,
                response_b_id, batch_id, is_gold, judgment_count, is_complete, gold_choice,
                created_at)
            SELECT %s, 'pairwise', p.id, min(r.id), max(r.id), %s, false, 0, false, '', now()
              FROM annotation_prompt p JOIN annotation_response r ON r.prompt_id = p.id
             WHERE p.project_id = %s
             GROUP BY p.id
            """,
            [project.pk, batch.pk, project.pk],
        )
        # Per task: one in ten has (id mod per_task) judgments, the rest all of them. The
        # verdict (task's terms) is the task's usual one but one judge in five differs on
        # one task in four, and one task in twenty is split three ways (A, B and tie); the
        # screen side is drawn per judgment.
        cursor.execute(
            """
            WITH v AS (
              SELECT t.id AS task_id, t.response_a_id AS a, t.response_b_id AS b, k,
                     (%(a)s::int[])[1 + (t.id + k) %% cardinality(%(a)s::int[])] AS annotator_id,
                     CASE WHEN t.id %% 20 = 10 THEN (ARRAY['A', 'B', 'tie'])[1 + k %% 3]
                          WHEN t.id %% 4 = 0 AND k %% 5 = 1 THEN
                            (ARRAY['A', 'B', 'tie', 'both_bad'])[1 + (t.id / 4 + k) %% 4]
                          WHEN t.id %% 10 < 6 THEN 'B'
                          WHEN t.id %% 10 < 9 THEN 'A'
                          ELSE 'tie' END AS verdict,
                     ((t.id * 31 + k * 17) %% 2 = 0) AS swapped
                FROM annotation_task t CROSS JOIN generate_series(0, %(k)s - 1) AS k
               WHERE t.project_id = %(p)s
                 AND (t.id %% 10 <> 3 OR k < t.id %% %(k)s)
            )
            INSERT INTO annotation_judgment (task_id, annotator_id, rating, rubric_scores,
                choice, swapped, chosen_response_id, rejected_response_id, comment, rewrite,
                duration_ms, guidelines_version, idempotency_key, late, created_at, updated_at)
            SELECT task_id, annotator_id, NULL, '{}',
                   CASE WHEN verdict IN ('tie', 'both_bad') OR NOT swapped THEN verdict
                        WHEN verdict = 'A' THEN 'B' ELSE 'A' END,
                   swapped,
                   CASE verdict WHEN 'A' THEN a WHEN 'B' THEN b END,
                   CASE verdict WHEN 'A' THEN b WHEN 'B' THEN a END,
                   CASE WHEN (task_id + k) %% 20 = 0 THEN 'Unclear question.' ELSE '' END,
                   CASE WHEN (task_id + k) %% 50 = 0 THEN 'A better answer.' ELSE '' END,
                   20000 + task_id %% 30000, 1, '', (task_id + k) %% 100 = 0,
                   now() - make_interval(days => ((task_id + k) %% 30)::int),
                   now() - make_interval(days => ((task_id + k) %% 30)::int)
              FROM v
            """,
            {"a": ids, "k": per_task, "p": project.pk},
        )
        cursor.execute(
            """
            UPDATE annotation_task t
               SET judgment_count = c.n, is_complete = c.n >= %s
              FROM (SELECT task_id, count(*) AS n FROM annotation_judgment j
                      JOIN annotation_task t2 ON t2.id = j.task_id
                     WHERE t2.project_id = %s GROUP BY task_id) c
             WHERE t.id = c.task_id
            """,
            [per_task, project.pk],
        )
        # A skip on one task in a hundred, by an annotator who did not judge it; an
        # adjudication on one in two hundred.
        cursor.execute(
            """
            INSERT INTO annotation_claim (task_id, annotator_id, status, swapped, skip_reason,
                claimed_at, expires_at, updated_at)
            SELECT t.id, (%(a)s::int[])[1 + (t.id + %(k)s) %% cardinality(%(a)s::int[])],
                   'skipped', false, 'Not my field.', now(), now() + interval '15 minutes', now()
              FROM annotation_task t WHERE t.project_id = %(p)s AND t.id %% 100 = 7
            """,
            {"a": ids, "k": per_task, "p": project.pk},
        )
        cursor.execute(
            """
            INSERT INTO annotation_adjudication (task_id, lead_id, rating, choice, note,
                created_at, updated_at)
            SELECT t.id, %s, NULL, 'B', '', now(), now()
              FROM annotation_task t WHERE t.project_id = %s AND t.id %% 200 = 4
            """,
            [lead.pk, project.pk],
        )
        cursor.execute("ANALYZE")
        cursor.execute(
            "SELECT count(*) FROM annotation_judgment j JOIN annotation_task t ON t.id = j.task_id"
            " WHERE t.project_id = %s",
            [project.pk],
        )
        judgments = cursor.fetchone()[0]
    return project.pk, judgments


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {"p50": at(0.5), "p95": at(0.95), "n": len(ordered)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--per-task", type=int, default=11, help="judgments of a full task")
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per case")
    parser.add_argument(
        "--task-page-repeat", type=int, default=10, help="timed requests of the task page"
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()
    fresh_django(args.database_url)
    from django.conf import settings
    from django.test import Client

    # The pages' static files by name, without the manifest a deployment's collectstatic
    # writes: what is timed is the page's reads and rendering.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }

    from annotation.models import Task
    from annotation.selectors.browse import cursor_encode
    from bench.seeding import bench_team

    lead, annotators = bench_team(annotators=args.per_task + 2)
    started = time.perf_counter()
    project_id, judgments = seed(
        lead=lead, annotators=annotators, tasks=args.tasks, per_task=args.per_task
    )
    seeded = time.perf_counter() - started
    task_ids = list(
        Task.objects.filter(project_id=project_id).order_by("pk").values_list("pk", flat=True)
    )
    deep = cursor_encode(sort="id", key=[task_ids[int(len(task_ids) * 0.9)]])
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(lead)
    listing = f"/api/v1/projects/{project_id}/tasks/"
    cases = {
        "first_page": lambda n: listing,
        "filtered_page": lambda n: (
            f"{listing}?model=ft-r2&skipped=0&state={('split', 'majority', 'unanimous')[n % 3]}"
        ),
        "metadata_state_page": lambda n: f"{listing}?meta=topic:{TOPICS[n % 8]}&state=majority",
        "text_search": lambda n: f"{listing}?q={WORDS[n % len(WORDS)]}",
        "deep_page": lambda n: f"{listing}?cursor={deep}",
    }
    rng = random.Random(7)
    figures: dict[str, dict] = {}
    for name, path in cases.items():
        samples, counted = [], []
        for n in range(args.repeat + 2):
            sent = time.perf_counter()
            response = client.get(path(n))
            elapsed = time.perf_counter() - sent
            if response.status_code != 200:
                raise SystemExit(f"{name}: HTTP {response.status_code}: {response.content[:500]}")
            body = response.json()
            if n >= 2:  # the first two warm the caches
                samples.append(elapsed)
                counted.append((body["count"], body["count_is_estimate"], len(body["results"])))
        figures[name] = {**percentiles(samples), "count, estimate, rows": counted[0]}
    samples = []
    for n in range(args.task_page_repeat + 2):
        sent = time.perf_counter()
        response = client.get(f"/tasks/{rng.choice(task_ids)}/review/?from=data")
        elapsed = time.perf_counter() - sent
        if response.status_code != 200:
            raise SystemExit(f"task page: HTTP {response.status_code}")
        if n >= 2:
            samples.append(elapsed)
    figures["task_page"] = percentiles(samples)
    print(
        json.dumps(
            {
                "bench": "data_browser",
                "tasks": len(task_ids),
                "judgments": judgments,
                "seed_seconds": round(seeded, 1),
                "ms": figures,
            }
        )
    )


if __name__ == "__main__":
    main()
