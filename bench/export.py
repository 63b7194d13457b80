"""Export throughput and memory: seeds pairwise projects of N judgments in PostgreSQL (in
bulk, with ``INSERT … SELECT generate_series``: N/2 prompts with two responses, one task each,
two judgments per task from ten annotators, ~85% agreeing), then exports each as DPO/TRL with
``manage.py export`` in a process of its own and prints one JSON line per size: rows/s of
the build, rows, file MB and the export process's peak RSS (which must stay flat as N grows).

    .venv/bin/python -m bench.export                       # 100,000 and 1,000,000 judgments
    .venv/bin/python -m bench.export --sizes 2000          # a smoke run

It drops and re-creates the database named by --database-url. Prompts are seeded with a
sha256 of their text as their content hash (the import computes it over the normalized
conversation; for an export only its uniqueness matters).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from bench._common import DEFAULT_DATABASE_URL, ROOT, fresh_django

ANSWER = (
    "Open the app, go to Cards, choose the card and select Change PIN; you confirm with a "
    "one-time code sent to your registered phone number. "
)


def seed(size: int, annotators: list) -> int:
    """A pairwise project with ``size`` judgments; returns its id."""
    from django.db import connection

    from annotation.models import Membership
    from annotation.services import batch_create, project_create
    from ftapp.actors import SYSTEM

    lead = annotators[0].__class__.objects.get(username="bench-lead")
    project = project_create(by=SYSTEM, lead=lead, name=f"export bench {size}", kind="pairwise")
    for user in annotators:
        Membership.objects.create(project=project, user=user, role="annotator")
    batch = batch_create(by=SYSTEM, project=project, name="all", tasks=[], overlap=2)
    ids = [u.pk for u in annotators]
    prompts = size // 2
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO annotation_prompt (project_id, external_id, text, messages, system,
                metadata, content_hash, created_at, updated_at)
            SELECT %s, 'q-' || g, 'Question ' || g || ': how do I change the PIN of my card?',
                   NULL, 'You are Northwind Bank''s assistant.',
                   jsonb_build_object('domain', 'banking', 'shard', g %% 16),
                   encode(sha256(convert_to('q' || g || ':' || %s, 'UTF8')), 'hex'),
                   now(), now()
              FROM generate_series(1, %s) g
            """,
            [project.pk, project.pk, prompts],
        )
        cursor.execute(
            """
            INSERT INTO annotation_response (prompt_id, model_name, text, generation,
                created_at)
            SELECT p.id, m.name, m.name || ' answer ' || p.id || '. ' || repeat(%s, m.n),
                   '{}', now()
              FROM annotation_prompt p
             CROSS JOIN (VALUES ('base-v1', 1), ('ft-r1', 2)) AS m(name, n)
             WHERE p.project_id = %s
            """,
            [ANSWER, project.pk],
        )
        cursor.execute(
            """
            INSERT INTO annotation_task (project_id, kind, prompt_id, response_a_id,
                response_b_id, batch_id, is_gold, judgment_count, is_complete, gold_choice,
                created_at)
            SELECT %s, 'pairwise', p.id, ra.id, rb.id, %s, false, 2, true, '', now()
              FROM annotation_prompt p
              JOIN annotation_response ra ON ra.prompt_id = p.id AND ra.model_name = 'base-v1'
              JOIN annotation_response rb ON rb.prompt_id = p.id AND rb.model_name = 'ft-r1'
             WHERE p.project_id = %s
            """,
            [project.pk, batch.pk, project.pk],
        )
        # Verdict per task (in the task's terms): B (the fine-tuned model) 60%, A 30%, tie
        # 10%; the second annotator disagrees on one task in seven; the screen side is
        # drawn per judgment.
        cursor.execute(
            """
            WITH v AS (
              SELECT t.id AS task_id, t.response_a_id AS a, t.response_b_id AS b, k,
                     (%s::int[])[1 + (t.id + k * 3) %% 10] AS annotator_id,
                     CASE WHEN k = 1 AND t.id %% 7 = 0 THEN
                            CASE WHEN t.id %% 10 < 6 THEN 'A' ELSE 'B' END
                          WHEN t.id %% 10 < 6 THEN 'B'
                          WHEN t.id %% 10 < 9 THEN 'A'
                          ELSE 'tie' END AS verdict,
                     ((t.id * 31 + k * 17) %% 2 = 0) AS swapped
                FROM annotation_task t CROSS JOIN generate_series(0, 1) AS k
               WHERE t.project_id = %s
            )
            INSERT INTO annotation_judgment (task_id, annotator_id, rating, rubric_scores,
                choice, swapped, chosen_response_id, rejected_response_id, comment, rewrite,
                duration_ms, guidelines_version, idempotency_key, late, created_at, updated_at)
            SELECT task_id, annotator_id, NULL, '{}',
                   CASE WHEN verdict = 'tie' OR NOT swapped THEN verdict
                        WHEN verdict = 'A' THEN 'B' ELSE 'A' END,
                   swapped,
                   CASE verdict WHEN 'A' THEN a WHEN 'B' THEN b END,
                   CASE verdict WHEN 'A' THEN b WHEN 'B' THEN a END,
                   '', '', 20000 + task_id %% 30000, 1, '', false, now(), now()
              FROM v
            """,
            [ids, project.pk],
        )
        cursor.execute("ANALYZE")
    return project.pk


def export(project_id: int, env: dict, out: str) -> dict:
    """Runs ``manage.py export`` in a child process; its peak RSS comes from wait4."""
    from evaluation.models import Export

    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "manage.py", "export", str(project_id), "--kind", "dpo",
         "--format", "trl", "-o", out],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"manage.py export failed with status {status}")
    record = Export.objects.filter(project_id=project_id).latest("id")
    build = (record.finished_at - record.started_at).total_seconds()
    rows = sum(info["rows"] for info in record.files.values())
    return {
        "rows": rows,
        "build_seconds": round(build, 2),
        "rows_per_s": round(rows / build),
        "judgments_per_s": round(record.card["stats"]["judgments_used"] / build),
        "file_mb": round(sum(info["bytes"] for info in record.files.values()) / 1e6, 1),
        "process_seconds": round(wall, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()
    env = fresh_django(args.database_url)
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    users.create(username="bench-lead", is_superuser=True)
    annotators = [users.create(username=f"bench-annotator-{i}") for i in range(10)]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**env, "FTAPP_EXPORTS_DIR": tmp}
        for size in args.sizes:
            started = time.perf_counter()
            project_id = seed(size, annotators)
            seeded = time.perf_counter() - started
            result = export(project_id, env, os.path.join(tmp, f"out-{size}"))
            print(json.dumps({"bench": "export", "kind": "dpo", "format": "trl",
                              "judgments": size, "seed_seconds": round(seeded, 1), **result}),
                  flush=True)


if __name__ == "__main__":
    main()
