"""A pairwise task's two responses answer the task's prompt: composite foreign keys
(response, prompt) → response(id, prompt). PostgreSQL only; SQLite cannot add a foreign key
to an existing table, and there the task services check it."""

from django.db import migrations

CONSTRAINTS = [
    ("task_response_a_same_prompt", "response_a_id"),
    ("task_response_b_same_prompt", "response_b_id"),
]


def add(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, column in CONSTRAINTS:
        schema_editor.execute(
            f"ALTER TABLE annotation_task ADD CONSTRAINT {name} "
            f"FOREIGN KEY ({column}, prompt_id) "
            "REFERENCES annotation_response (id, prompt_id) "
            "ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED"
        )


def remove(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _ in CONSTRAINTS:
        schema_editor.execute(f"ALTER TABLE annotation_task DROP CONSTRAINT {name}")


class Migration(migrations.Migration):
    dependencies = [("annotation", "0001_initial")]

    operations = [migrations.RunPython(add, remove)]
