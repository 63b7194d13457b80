"""Bulk inserts for imports. On PostgreSQL, ids are drawn from the table's sequence in one
query and the rows sent with ``COPY``, several times faster than ``INSERT … VALUES`` for
large batches; other databases use ``bulk_create``. Either way the objects get their ids."""

from django.db import connection
from django.db.models import Model


def bulk_insert(model: type[Model], objects: list[Model]) -> None:
    if not objects:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objects)
        return
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [meta.db_table, len(objects)],
        )
        for obj, (pk,) in zip(objects, cursor.fetchall(), strict=True):
            obj.pk = pk
        columns = ", ".join(connection.ops.quote_name(f.column) for f in [meta.pk, *fields])
        table = connection.ops.quote_name(meta.db_table)
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for obj in objects:
                copy.write_row(
                    [obj.pk]
                    + [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields]
                )
    for obj in objects:
        obj._state.adding = False
        obj._state.db = connection.alias
