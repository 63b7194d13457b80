"""The data browser's indexes: its sorts within a project, and on PostgreSQL the full-text
search over prompts and responses (GIN indexes on exactly the expressions
``annotation.selectors.browse`` queries; SQLite searches by substring and needs none)."""

from django.db import migrations, models

POSTGRES = [
    "CREATE INDEX prompt_text_search ON annotation_prompt"
    " USING gin (to_tsvector('english'::regconfig, text))",
    "CREATE INDEX prompt_messages_search ON annotation_prompt"
    " USING gin (jsonb_to_tsvector('english'::regconfig, messages, '[\"string\"]'))",
    "CREATE INDEX response_text_search ON annotation_response"
    " USING gin (to_tsvector('english'::regconfig, text))",
]
POSTGRES_UNDO = [
    "DROP INDEX IF EXISTS prompt_text_search",
    "DROP INDEX IF EXISTS prompt_messages_search",
    "DROP INDEX IF EXISTS response_text_search",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0010_task_review_requested"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="task",
            index=models.Index(fields=["project", "id"], name="task_project_order"),
        ),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(
                fields=["project", "judgment_count", "id"], name="task_project_judgments"
            ),
        ),
        migrations.RunPython(_run(POSTGRES), _run(POSTGRES_UNDO)),
    ]
