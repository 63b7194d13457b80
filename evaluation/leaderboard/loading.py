"""A project's judgments as numpy columns, one ``values_list`` query per kind read a chunk at
a time (so memory holds arrays, not a million tuples), plus its adjudications and the gold
results. Which judgments count: not those of gold tasks (they test the annotators, not the
models) and not those of annotators a lead set aside."""

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from types import SimpleNamespace
from typing import Any

import numpy as np
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import FloatField, Func, Q, QuerySet
from django.db.models.functions import Length
from numpy.typing import DTypeLike

from annotation.choices import SIDES, task_choice
from annotation.judgment_rules import Pseudonyms, counted_judgments, gold_correct
from annotation.models import (
    Adjudication,
    Batch,
    Judgment,
    Project,
    ProjectKind,
    Repeat,
    RepeatStatus,
)
from ftapp.errors import InvalidInput

NO_GROUP = -1  # the code of a missing batch or guideline version, or of no second model
CHUNK = 20_000


@dataclass(frozen=True, slots=True)
class Judgments:
    """A project's judgments of its kind, one array entry per judgment, and its adjudicated
    tasks, one entry each. Models are codes into ``models`` (sorted by name, shared by both
    parts; a rating task's ``model_b`` is -1); annotators are user ids, named by
    ``pseudonyms``; ``time`` is seconds since 1970. ``choice`` is in the task's terms (A =
    ``response_a``), ``screen_choice`` as pressed (A = left); both are "" for ratings.
    ``length_a`` and ``length_b`` are the responses' lengths in characters where they were
    asked for, else zeros."""

    kind: str
    models: list[str]
    pseudonyms: Pseudonyms
    task: np.ndarray
    prompt: np.ndarray
    model_a: np.ndarray
    model_b: np.ndarray
    rating: np.ndarray
    choice: np.ndarray
    screen_choice: np.ndarray
    annotator: np.ndarray
    time: np.ndarray
    version: np.ndarray
    batch: np.ndarray
    length_a: np.ndarray
    length_b: np.ndarray
    adjudicated_task: np.ndarray
    adjudicated_prompt: np.ndarray
    adjudicated_model_a: np.ndarray
    adjudicated_model_b: np.ndarray
    adjudicated_rating: np.ndarray
    adjudicated_choice: np.ndarray


def batch_ids_parse(*, project: Project, values: Iterable[str]) -> list[int] | None:
    """Batch ids as a page or the API gets them (repeated, or comma-separated): each a batch
    of this project. ``None`` when none was given, meaning every batch."""
    ids, errors = [], []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if part.isascii() and part.isdigit() and 0 < int(part) < 2**63:
                ids.append(int(part))
            else:
                errors.append(f"{part!r} is not a batch id.")
    if errors:
        raise InvalidInput("Invalid batch filter.", fields={"batch": errors})
    if not ids:
        return None
    known = set(Batch.objects.filter(project=project, pk__in=ids).values_list("pk", flat=True))
    unknown = sorted(set(ids) - known)
    if unknown:
        raise InvalidInput(
            "Invalid batch filter.",
            fields={"batch": [f"{pk} is not a batch of this project." for pk in unknown]},
        )
    return sorted(set(ids))


class EpochSeconds(Func):
    """A timestamp as seconds since 1970, computed by the database: loading a million
    datetimes as Python objects would take longer than all the statistics."""

    output_field = FloatField()
    template = "date_part('epoch', %(expressions)s)"

    @cached_property
    def convert_value(self):
        # Both drivers already return a float; Django's per-row float() is pure overhead.
        # Django's own no-op converter, which it leaves out of the per-row calls; the stubs
        # do not name it.
        return self._convert_value_noop  # type: ignore[attr-defined]

    def as_sqlite(self, compiler, connection, **extra_context):
        # Django stores UTC datetimes as text there; julianday() reads it, to the microsecond.
        template = "((julianday(%(expressions)s) - 2440587.5) * 86400.0)"
        return super().as_sql(compiler, connection, template=template, **extra_context)


class TextLength(Length):
    """``Length``, without the per-row int() of Django's converter: the drivers give ints."""

    @cached_property
    def convert_value(self):
        return self._convert_value_noop  # type: ignore[attr-defined]


def _task_filter(
    *,
    project: Project,
    gold: bool,
    batch_ids: Collection[int] | None,
    prompt_ids: Collection[int] | None,
    models: Collection[str] | None,
) -> Q:
    condition = Q(task__project=project, task__kind=project.kind, task__is_gold=gold)
    if batch_ids is not None:
        condition &= Q(task__batch_id__in=list(batch_ids))
    if prompt_ids is not None:
        condition &= Q(task__prompt_id__in=list(prompt_ids))
    if models is not None:
        # A pair counts only when both of its models are asked for: a round compares two.
        condition &= Q(task__response_a__model_name__in=list(models))
        if project.kind == ProjectKind.PAIRWISE:
            condition &= Q(task__response_b__model_name__in=list(models))
    return condition


def _judgments(project: Project, *, gold: bool, **selection) -> QuerySet[Judgment]:
    return counted_judgments(project_id=project.pk, gold=gold).filter(
        _task_filter(project=project, gold=gold, **selection)
    )


class _Models:
    """Model names to integer codes, numbered as they come; ``sorted`` renumbers them."""

    def __init__(self) -> None:
        self.codes: dict[str | None, int] = {None: NO_GROUP}

    def encode(self, column: tuple) -> np.ndarray:
        for name in set(column) - self.codes.keys():
            self.codes[name] = len(self.codes) - 1
        return np.fromiter(map(self.codes.__getitem__, column), np.int64, count=len(column))

    def sorted(self, *columns: np.ndarray) -> tuple[list[str], list[np.ndarray]]:
        """The names in order, and the columns recoded to match: whatever sorts by code then
        sorts by name."""
        names = sorted(name for name in self.codes if name is not None)
        recode = np.empty(len(names) + 1, dtype=np.int64)
        recode[[self.codes[name] for name in names]] = np.arange(len(names))
        recode[NO_GROUP] = NO_GROUP
        return names, [recode[column] for column in columns]


def _ints(column: tuple, missing: int | None = None) -> np.ndarray:
    """A column of integers; with ``missing``, None reads as that value."""
    if missing is None:
        return np.array(column, dtype=np.int64)
    # Through float, where None reads as NaN: exact for ids and counts below 2**53.
    values = np.array(column, dtype=float)
    values[np.isnan(values)] = missing
    return values.astype(np.int64)


def _chunks(rows: QuerySet) -> Iterator[list[tuple]]:
    """The rows of a ``values_list`` query, a chunk at a time, on a plain cursor: the rows
    wait in the driver's compact buffer rather than as Python tuples. (``.iterator()`` would
    open a server-side cursor, and PostgreSQL runs no cursor's query in parallel: twice the
    time on a large project.) The fields read here have no Django converters to skip."""
    try:
        sql, params = rows.query.sql_with_params()
    except EmptyResultSet:  # a filter on an empty set of prompts, models or batches
        return
    with connections[rows.db].cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(CHUNK):
            yield chunk


def _read(rows: QuerySet, convert: list, models: _Models) -> list[np.ndarray]:
    """The rows' columns as arrays, converted a chunk at a time: ``convert`` gives, per
    column, "int", "int?" (None read as -1), "float" (None read as NaN), "model" or "text"."""
    parts: list[list[np.ndarray]] = [[] for _ in convert]
    for chunk in _chunks(rows):
        for part, how, column in zip(parts, convert, zip(*chunk, strict=True), strict=True):
            if how == "int":
                part.append(_ints(column))
            elif how == "int?":
                part.append(_ints(column, NO_GROUP))
            elif how == "float":
                part.append(np.array(column, dtype=float))
            elif how == "model":
                part.append(models.encode(column))
            else:
                part.append(np.array(column, dtype="<U8"))
    empty: dict[str, DTypeLike] = {"float": float, "text": "<U8"}
    return [
        np.concatenate(part) if part else np.zeros(0, dtype=empty.get(how, np.int64))
        for part, how in zip(parts, convert, strict=True)
    ]


def _in_task_terms(screen: np.ndarray, swapped: np.ndarray) -> np.ndarray:
    """``task_choice`` over arrays: each screen choice that a swap turns is turned once."""
    choice = screen.copy()
    for side in SIDES:
        choice[(screen == side) & swapped] = task_choice(side, True)
    return choice


def judgments_load(
    *,
    project: Project,
    batch_ids: Collection[int] | None = None,
    prompt_ids: Collection[int] | None = None,
    models: Collection[str] | None = None,
    with_lengths: bool = False,
) -> Judgments:
    """The project's counted judgments and its adjudications of the same tasks, in two
    queries of bare tuples. The texts' lengths (pairwise) only ``with_lengths``: joining the
    texts doubles the query's time, and only the length bias reads them."""
    selection: dict[str, Any] = {"batch_ids": batch_ids, "prompt_ids": prompt_ids, "models": models}
    judgments = _judgments(project, gold=False, **selection)
    names = _Models()
    common: tuple[tuple[str | Func, str], ...] = (
        ("id", "int"),
        ("task_id", "int"),
        ("task__prompt_id", "int"),
        ("annotator_id", "int"),
        (EpochSeconds("created_at"), "float"),
        ("guidelines_version", "int?"),
        ("task__batch_id", "int?"),
        ("task__response_a__model_name", "model"),
    )
    own: tuple[tuple[str | Func, str], ...]
    if project.kind == ProjectKind.PAIRWISE:
        own = (
            ("task__response_b__model_name", "model"),
            ("choice", "text"),
            ("swapped", "int"),
        )
        if with_lengths:
            own += (
                (TextLength("task__response_a__text"), "int"),
                (TextLength("task__response_b__text"), "int"),
            )
    else:
        own = (("rating", "int"),)
    fields = common + own
    values = _read(
        judgments.values_list(*(field for field, _ in fields)),
        [how for _, how in fields],
        names,
    )
    # In judgment order, so the same judgments give the same figures to the last digit;
    # sorted here rather than in the query, where PostgreSQL spills a large sort to disk.
    order = np.argsort(values[0], kind="stable")
    values = [column[order] for column in values]
    _, task, prompt, annotator, time, version, batch, model_a = values[: len(common)]
    n = len(task)
    if project.kind == ProjectKind.PAIRWISE:
        model_b, screen, swapped, *lengths = values[len(common) :]
        length_a, length_b = lengths or (np.zeros(n, dtype=np.int64),) * 2
        choice = _in_task_terms(screen, swapped.astype(bool))
        rating = np.zeros(n, dtype=np.int64)
    else:
        (rating,) = values[len(common) :]
        model_b = np.full(n, NO_GROUP, dtype=np.int64)
        screen = choice = np.full(n, "", dtype="<U8")
        length_a = length_b = np.zeros(n, dtype=np.int64)

    adjudicated = _read(
        Adjudication.objects.filter(_task_filter(project=project, gold=False, **selection))
        .order_by("task_id")
        .values_list(
            "task_id",
            "task__prompt_id",
            "task__response_a__model_name",
            "task__response_b__model_name",
            "rating",
            "choice",
        ),
        ["int", "int", "model", "model", "int?", "text"],
        names,
    )
    ordered, (model_a, model_b, adjudicated_a, adjudicated_b) = names.sorted(
        model_a, model_b, adjudicated[2], adjudicated[3]
    )
    return Judgments(
        kind=project.kind,
        models=ordered,
        pseudonyms=Pseudonyms(project_id=project.pk),
        task=task,
        prompt=prompt,
        model_a=model_a,
        model_b=model_b,
        rating=rating,
        choice=choice,
        screen_choice=screen,
        annotator=annotator,
        time=time,
        version=version,
        batch=batch,
        length_a=length_a,
        length_b=length_b,
        adjudicated_task=adjudicated[0],
        adjudicated_prompt=adjudicated[1],
        adjudicated_model_a=adjudicated_a,
        adjudicated_model_b=adjudicated_b,
        adjudicated_rating=adjudicated[4],
        adjudicated_choice=adjudicated[5],
    )


def gold_results_load(
    *,
    project: Project,
    batch_ids: Collection[int] | None = None,
    prompt_ids: Collection[int] | None = None,
    models: Collection[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per judgment of a gold task (annotators a lead set aside left out): the annotator's user
    id and whether it gave the expected answer, by the dashboard's own rule."""
    rows = _judgments(
        project, gold=True, batch_ids=batch_ids, prompt_ids=prompt_ids, models=models
    ).values_list(
        "annotator_id",
        "rating",
        "choice",
        "swapped",
        "task__kind",
        "task__gold_rating_min",
        "task__gold_rating_max",
        "task__gold_choice",
    )
    annotators, correct = [], []
    for annotator, rating, choice, swapped, kind, low, high, gold in rows:
        task = SimpleNamespace(
            kind=kind, gold_rating_min=low, gold_rating_max=high, gold_choice=gold
        )
        judgment = SimpleNamespace(rating=rating, choice=choice, swapped=swapped)
        annotators.append(annotator)
        correct.append(gold_correct(task, judgment))
    return np.array(annotators, dtype=np.int64), np.array(correct, dtype=bool)


def self_consistency_load(
    *,
    project: Project,
    batch_ids: Collection[int] | None = None,
    prompt_ids: Collection[int] | None = None,
    models: Collection[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per answered repeat of a judgment that counts (annotators set aside left out): the
    annotator's user id and whether they gave the same verdict as the first time, both read
    in the task's terms (the repeat was shown with the sides swapped)."""
    firsts = _judgments(
        project, gold=False, batch_ids=batch_ids, prompt_ids=prompt_ids, models=models
    )
    rows = Repeat.objects.filter(status=RepeatStatus.ANSWERED, first__in=firsts).values_list(
        "annotator_id", "choice", "swapped", "first__choice", "first__swapped"
    )
    annotators, same = [], []
    for annotator, choice, swapped, first_choice, first_swapped in rows:
        annotators.append(annotator)
        same.append(task_choice(choice, swapped) == task_choice(first_choice, first_swapped))
    return np.array(annotators, dtype=np.int64), np.array(same, dtype=bool)
