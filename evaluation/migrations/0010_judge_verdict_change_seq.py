"""JudgeVerdict.change_seq, written by a trigger as annotation's Judgment.change_seq is
(annotation migration 0005): on PostgreSQL the writing transaction's id, on SQLite a
counter. The verdicts pull pages by (change_seq, id)."""

from django.db import migrations

POSTGRES = [
    """
    CREATE FUNCTION evaluation_judgeverdict_change_seq() RETURNS trigger AS $$
    BEGIN
        NEW.change_seq := pg_current_xact_id()::text::bigint;
        RETURN NEW;
    END;
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER evaluation_judgeverdict_change_seq
    BEFORE INSERT OR UPDATE ON evaluation_judgeverdict
    FOR EACH ROW EXECUTE FUNCTION evaluation_judgeverdict_change_seq()
    """,
]
POSTGRES_UNDO = [
    "DROP TRIGGER IF EXISTS evaluation_judgeverdict_change_seq ON evaluation_judgeverdict",
    "DROP FUNCTION IF EXISTS evaluation_judgeverdict_change_seq()",
]
# SQLite runs one writer at a time, so a counter gives commit order. Recursive triggers are
# off by default: the trigger's own UPDATE does not fire it again.
SQLITE = [
    """
    CREATE TRIGGER evaluation_judgeverdict_change_seq_insert
    AFTER INSERT ON evaluation_judgeverdict
    BEGIN
        UPDATE evaluation_judgeverdict SET change_seq =
            (SELECT COALESCE(MAX(change_seq), 0) + 1 FROM evaluation_judgeverdict)
         WHERE id = NEW.id;
    END
    """,
    """
    CREATE TRIGGER evaluation_judgeverdict_change_seq_update
    AFTER UPDATE ON evaluation_judgeverdict
    BEGIN
        UPDATE evaluation_judgeverdict SET change_seq =
            (SELECT COALESCE(MAX(change_seq), 0) + 1 FROM evaluation_judgeverdict)
         WHERE id = NEW.id;
    END
    """,
]
SQLITE_UNDO = [
    "DROP TRIGGER IF EXISTS evaluation_judgeverdict_change_seq_insert",
    "DROP TRIGGER IF EXISTS evaluation_judgeverdict_change_seq_update",
]


def _run(statements):
    def run(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("evaluation", "0009_judging"),
    ]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRES, "sqlite": SQLITE}),
            _run({"postgresql": POSTGRES_UNDO, "sqlite": SQLITE_UNDO}),
        ),
    ]
