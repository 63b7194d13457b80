"""A pairwise project with many judgments, written in bulk with ``INSERT … SELECT
generate_series`` (seconds for a million judgments, where the services would take an hour):
what the export and pull benchmarks measure, and what the tests need for an export that takes
long enough to stop a worker in the middle of it. PostgreSQL only.

Prompts get a sha256 of their text as their content hash (the import computes it over the
normalized conversation; for an export only its uniqueness matters)."""

from django.contrib.auth import get_user_model
from django.db import connection

from annotation.models import Membership
from annotation.services import batch_create, project_create
from ftapp.actors import SYSTEM

ANSWER = (
    "Open the app, go to Cards, choose the card and select Change PIN; you confirm with a "
    "one-time code sent to your registered phone number. "
)


def bench_team(annotators: int = 10) -> tuple:
    """The lead (a superuser) and the annotators whom the benchmarks' projects are seeded
    for."""
    users = get_user_model().objects
    lead = users.create(username="bench-lead", is_superuser=True)
    return lead, [users.create(username=f"bench-annotator-{i}") for i in range(annotators)]


def seed_pairwise(*, lead, annotators: list, prompts: int, answer: str = ANSWER) -> int:
    """``prompts`` prompts with two responses (``answer`` once in base-v1's, twice in
    ft-r1's), one task each and two judgments per task from two of ``annotators`` (at least
    two); returns the project's id."""
    project = project_create(
        by=SYSTEM, lead=lead, name=f"bulk pairwise, {prompts} prompts", kind="pairwise"
    )
    for user in annotators:
        Membership.objects.create(project=project, user=user, role="annotator")
    batch = batch_create(by=SYSTEM, project=project, name="all", tasks=[], overlap=2)
    ids = [u.pk for u in annotators]
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
            SELECT p.id, m.name, m.name || ' answer ' || p.external_id || '. ' || repeat(%s, m.n),
                   '{}', now()
              FROM annotation_prompt p
             CROSS JOIN (VALUES ('base-v1', 1), ('ft-r1', 2)) AS m(name, n)
             WHERE p.project_id = %s
            """,
            [answer, project.pk],
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
                     (%s::int[])[1 + (t.id + k) %% cardinality(%s::int[])] AS annotator_id,
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
            [ids, ids, project.pk],
        )
        cursor.execute("ANALYZE")
    return project.pk
