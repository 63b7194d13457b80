"""A pairwise project with many judgments, written in bulk with ``INSERT … SELECT
generate_series`` as bench/export.py seeds it, so that an export of it takes seconds to build
and a test can stop a worker in the middle of one."""

from django.db import connection

from annotation.models import Membership
from annotation.services import batch_create, project_create
from ftapp.actors import SYSTEM
from tests.factories import AnnotatorFactory

ANSWER = (
    "Open the app, go to Cards and select Change PIN; you confirm with a code sent to "
    "jane.doe@example.com or +44 20 7946 0958. "
)


def seed_pairwise(lead, *, prompts: int) -> int:
    """``prompts`` prompts with two responses, one task each, two judgments per task from
    four annotators; returns the project's id. PostgreSQL only."""
    project = project_create(by=SYSTEM, lead=lead, name=f"bulk {prompts}", kind="pairwise")
    annotators = [AnnotatorFactory() for _ in range(4)]
    for user in annotators:
        Membership.objects.create(project=project, user=user, role="annotator")
    batch = batch_create(by=SYSTEM, project=project, name="all", tasks=[], overlap=2)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO annotation_prompt (project_id, external_id, text, messages, system,
                metadata, content_hash, created_at, updated_at)
            SELECT %s, 'q-' || g, 'Question ' || g || ': how do I change my PIN?', NULL, '',
                   jsonb_build_object('shard', g %% 16),
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
        # B (the fine-tuned model) wins 60%, A 30%, tie 10%; the second judgment disagrees
        # on one task in seven.
        cursor.execute(
            """
            WITH v AS (
              SELECT t.id AS task_id, t.response_a_id AS a, t.response_b_id AS b, k,
                     (%s::int[])[1 + (t.id + k) %% 4] AS annotator_id,
                     CASE WHEN k = 1 AND t.id %% 7 = 0 THEN
                            CASE WHEN t.id %% 10 < 6 THEN 'A' ELSE 'B' END
                          WHEN t.id %% 10 < 6 THEN 'B'
                          WHEN t.id %% 10 < 9 THEN 'A'
                          ELSE 'tie' END AS verdict
                FROM annotation_task t CROSS JOIN generate_series(0, 1) AS k
               WHERE t.project_id = %s
            )
            INSERT INTO annotation_judgment (task_id, annotator_id, rating, rubric_scores,
                choice, swapped, chosen_response_id, rejected_response_id, comment, rewrite,
                duration_ms, guidelines_version, idempotency_key, late, created_at, updated_at)
            SELECT task_id, annotator_id, NULL, '{}', verdict, false,
                   CASE verdict WHEN 'A' THEN a WHEN 'B' THEN b END,
                   CASE verdict WHEN 'A' THEN b WHEN 'B' THEN a END,
                   '', '', 20000, 1, '', false, now(), now()
              FROM v
            """,
            [[u.pk for u in annotators], project.pk],
        )
        cursor.execute("ANALYZE")
    return project.pk
