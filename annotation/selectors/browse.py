"""The lead's data browser: a project's tasks filtered, searched, sorted and paged by key.

The page ``/projects/{id}/data/``, ``GET /api/v1/projects/{id}/tasks/``, the bulk actions on
"all matches" and the previous / next links of the lead's task page all read through here, so
a filter means the same thing everywhere.

A task's agreement state (``TASK_STATES``), decided in this order:

- ``adjudicated``: a lead has settled it (an ``Adjudication``), whatever its judgments say;
- ``unjudged``: it has no judgment;
- ``split``: its judgments are a conflict under the project's ``conflict_rule``, the very rule
  of the conflicts list (``review.vote_split`` and ``review.is_conflict``: pairwise choices in
  the task's terms, ratings agreeing within one point), however many there are yet;
- ``partial``: fewer judgments than its overlap (its batch's, or the project's for a task in
  no batch), and no conflict so far;
- ``unanimous``: at least its overlap, every one the same verdict;
- ``majority``: at least its overlap, no conflict, but not all the same verdict.

Every judgment counts, set aside or not, as on the conflicts list. ``task_state`` is the rule
in Python; ``review.task_state_expression`` is the same rule in SQL, so that a filter by state
and the conflicts list run in the database (tests compare the two on random data).

Pages are keyed by the sort's columns and the id, never by offset, and the number of matches
is counted up to ``COUNT_CAP`` (and, on PostgreSQL, within ``COUNT_TIMEOUT_MS``): past that
the page says "at least"."""

import base64
import binascii
import json
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any, TypedDict
from urllib.parse import urlencode

from django.db import OperationalError, connection, transaction
from django.db.models import (
    BooleanField,
    CharField,
    Count,
    Exists,
    F,
    Func,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Value,
)
from django.utils import timezone
from psycopg.errors import QueryCanceled

from annotation.judgment_rules import Pseudonyms
from annotation.models import (
    Adjudication,
    Claim,
    ClaimStatus,
    Judgment,
    Project,
    Prompt,
    Response,
    Task,
)
from annotation.selectors.projects import metadata_matching
from annotation.selectors.review import is_conflict, task_state_expression, vote_split
from ftapp.errors import InvalidInput
from ftapp.json_input import contains_nul

TASK_STATES = ("unjudged", "partial", "unanimous", "majority", "split", "adjudicated")
# Each sort is keyed by columns an index of the task table holds with the project and the id:
# (project, id) and (project, judgment_count, id).
TASK_SORTS = ("id", "-id", "judgments", "-judgments")
SORT_WORDS = {
    "id": "Oldest first",
    "-id": "Newest first",
    "judgments": "Fewest judgments first",
    "-judgments": "Most judgments first",
}
_SORT_COLUMN = {
    "id": None,
    "-id": None,
    "judgments": "judgment_count",
    "-judgments": "judgment_count",
}
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# Matches are counted up to this many; past it the page says "more than 10,000".
COUNT_CAP = 10_000
# A count that would take longer than this is given up (PostgreSQL): the page then says "at
# least" the rows it has.
COUNT_TIMEOUT_MS = 100
EXCERPT_CHARS = 160
# The text search configuration of the indexed expressions (migration
# ``task_browse_indexes``) and of the query: the two must be the same.
SEARCH_CONFIG = "english"
BOOLEAN_WORDS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
QUERY_FIELDS = (
    "batch",
    "model",
    "meta",
    "state",
    "annotator",
    "gold",
    "rewrite",
    "comment",
    "skipped",
    "late",
    "judged_from",
    "judged_to",
    "q",
    "sort",
)
MAX_TEXT = 500


@dataclass(frozen=True)
class TaskFilter:
    """What the lead asked for; every field empty means every task of the project.

    ``metadata`` is key → value, each a string or, written as JSON in the query string
    (``meta=shard:3``), a number, boolean or null. ``annotator`` is a pseudonym, as leads see
    annotators. ``judged_from`` / ``judged_to`` are days (inclusive, in the site's time zone)
    on which a judgment of the task was written. ``q`` is searched in the prompt and both
    responses."""

    batch_id: int | None = None
    model: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    state: str = ""
    annotator: str = ""
    gold: bool | None = None
    has_rewrite: bool | None = None
    has_comment: bool | None = None
    skipped: bool | None = None
    late: bool | None = None
    judged_from: date | None = None
    judged_to: date | None = None
    q: str = ""
    sort: str = "id"

    def query_string(self) -> str:
        """The filter as a query string (what ``task_filter_from_query`` reads back)."""
        pairs: list[tuple[str, str]] = []
        if self.batch_id is not None:
            pairs.append(("batch", str(self.batch_id)))
        if self.model:
            pairs.append(("model", self.model))
        for key, value in self.metadata.items():
            written = value if isinstance(value, str) and not _reads_as_json(value) else None
            pairs.append(("meta", f"{key}:{written if written is not None else json.dumps(value)}"))
        for name, value in (("state", self.state), ("annotator", self.annotator)):
            if value:
                pairs.append((name, value))
        for name, flag in (
            ("gold", self.gold),
            ("rewrite", self.has_rewrite),
            ("comment", self.has_comment),
            ("skipped", self.skipped),
            ("late", self.late),
        ):
            if flag is not None:
                pairs.append((name, "1" if flag else "0"))
        for name, day in (("judged_from", self.judged_from), ("judged_to", self.judged_to)):
            if day is not None:
                pairs.append((name, day.isoformat()))
        if self.q:
            pairs.append(("q", self.q))
        if self.sort != "id":
            pairs.append(("sort", self.sort))
        return urlencode(pairs)

    @property
    def is_empty(self) -> bool:
        """No condition at all (the sort aside): every task of the project."""
        return replace(self, sort="id") == TaskFilter()


def _reads_as_json(text: str) -> bool:
    """Whether a metadata value written in a query string is read as JSON (not a string)."""
    try:
        return not isinstance(json.loads(text), list | dict)
    except ValueError:
        return False


def _bad(name: str, problem: str) -> InvalidInput:
    return InvalidInput("Invalid filter.", fields={name: [problem]})


def _text(params: Mapping, name: str) -> str:
    value = str(params.get(name) or "").strip()
    if contains_nul(value):
        raise _bad(name, "Null characters are not allowed.")
    if len(value) > MAX_TEXT:
        raise _bad(name, f"At most {MAX_TEXT} characters.")
    return value


def _flag(params: Mapping, name: str) -> bool | None:
    value = _text(params, name).lower()
    if not value:
        return None
    if value not in BOOLEAN_WORDS:
        raise _bad(name, "Yes or no: 1 or 0.")
    return BOOLEAN_WORDS[value]


def _day(params: Mapping, name: str) -> date | None:
    value = _text(params, name)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _bad(name, "A date as YYYY-MM-DD.") from None


def _all(params: Mapping, name: str) -> list[str]:
    getlist = getattr(params, "getlist", None)
    values = getlist(name) if getlist else params.get(name)
    # A plain mapping (a JSON body) gives a repeated name as a list of its values.
    if not isinstance(values, list):
        values = [values]
    return [str(v) for v in values if v not in (None, "")]


def task_filter_from_query(params) -> TaskFilter:
    """A filter from a query string or form (a ``QueryDict``, or any mapping); raises
    ``InvalidInput`` naming the bad field. Names: ``batch, model, meta`` (``key:value``,
    repeatable), ``state, annotator, gold, rewrite, comment, skipped, late`` (1 or 0),
    ``judged_from, judged_to`` (YYYY-MM-DD), ``q`` and ``sort``; other names are left to the
    caller (a cursor, a page size)."""
    batch = _text(params, "batch")
    if batch and not (batch.isdigit() and 0 < int(batch) < 2**63):
        raise _bad("batch", "A batch id.")
    metadata: dict[str, Any] = {}
    for item in _all(params, "meta"):
        if contains_nul(item) or len(item) > MAX_TEXT:
            raise _bad("meta", "A key and a value, as key:value.")
        key, sep, value = item.partition(":")
        if not sep or not key.strip():
            raise _bad("meta", "A key and a value, as key:value.")
        value = value.strip()
        metadata[key.strip()] = json.loads(value) if _reads_as_json(value) else value
        if len(metadata) > 10:
            raise _bad("meta", "At most 10 keys.")
    state = _text(params, "state")
    if state and state not in TASK_STATES:
        raise _bad("state", f"One of {', '.join(TASK_STATES)}.")
    sort = _text(params, "sort") or "id"
    if sort not in TASK_SORTS:
        raise _bad("sort", f"One of {', '.join(TASK_SORTS)}.")
    task_filter = TaskFilter(
        batch_id=int(batch) if batch else None,
        model=_text(params, "model"),
        metadata=metadata,
        state=state,
        annotator=_text(params, "annotator"),
        gold=_flag(params, "gold"),
        has_rewrite=_flag(params, "rewrite"),
        has_comment=_flag(params, "comment"),
        skipped=_flag(params, "skipped"),
        late=_flag(params, "late"),
        judged_from=_day(params, "judged_from"),
        judged_to=_day(params, "judged_to"),
        q=_text(params, "q"),
        sort=sort,
    )
    first, last = task_filter.judged_from, task_filter.judged_to
    if first and last and first > last:
        raise _bad("judged_to", "On or after the first day.")
    return task_filter


# The state rule -----------------------------------------------------------------------------


def task_state(*, kind: str, rule: str, judgments: list, overlap: int, adjudicated: bool) -> str:
    """A task's agreement state (see the module's docstring): the rule in Python."""
    if adjudicated:
        return "adjudicated"
    if not judgments:
        return "unjudged"
    split = vote_split(kind=kind, judgments=judgments)
    if is_conflict(kind=kind, split=split, rule=rule):
        return "split"
    if len(judgments) < overlap:
        return "partial"
    return "unanimous" if len(split) <= 1 else "majority"


# Full-text search ---------------------------------------------------------------------------


class _Document(Func):
    """A column as the search index holds it: ``to_tsvector`` of a text column, or
    ``jsonb_to_tsvector`` of the string values of a JSON one (a chat prompt's messages)."""

    output_field = CharField()

    def __init__(self, column: str, *, json: bool = False):
        self.template = (
            f"jsonb_to_tsvector('{SEARCH_CONFIG}'::regconfig, %(expressions)s, '[\"string\"]')"
            if json
            else f"to_tsvector('{SEARCH_CONFIG}'::regconfig, %(expressions)s)"
        )
        super().__init__(F(column))


class _Matches(Func):
    """``document @@ websearch_to_tsquery(config, query)``: what a GIN index on the document
    answers."""

    output_field = BooleanField()
    arg_joiner = " @@ "
    template = "%(expressions)s"

    def __init__(self, document: _Document, query: str):
        super().__init__(
            document,
            Func(
                Value(query),
                template=f"websearch_to_tsquery('{SEARCH_CONFIG}'::regconfig, %(expressions)s)",
                output_field=CharField(),
            ),
        )


def _search(tasks: QuerySet[Task], *, project: Project, q: str) -> QuerySet[Task]:
    """Tasks whose prompt (text or messages) or either response has ``q``: on PostgreSQL a
    web-search style full-text query over the indexed documents, elsewhere a substring."""
    if connection.vendor == "postgresql":
        # No condition beside the match, so that the GIN indexes answer it alone: the
        # tasks are the project's already.
        prompts = Prompt.objects.filter(
            _Matches(_Document("text"), q) | _Matches(_Document("messages", json=True), q)
        )
        responses = Response.objects.filter(_Matches(_Document("text"), q))
    else:
        prompts = Prompt.objects.filter(project=project).filter(
            Q(text__icontains=q) | Q(messages__icontains=q)
        )
        responses = Response.objects.filter(prompt__project=project, text__icontains=q)
    return tasks.filter(
        Q(prompt_id__in=prompts.values("pk"))
        | Q(response_a_id__in=responses.values("pk"))
        | Q(response_b_id__in=responses.values("pk"))
    )


# Filtering ----------------------------------------------------------------------------------


def _judged(**conditions) -> Exists:
    return Exists(Judgment.objects.filter(task_id=OuterRef("pk"), **conditions))


def _either(flag: bool, condition) -> Q:
    return Q(condition) if flag else ~Q(condition)


def tasks_matching(*, project: Project, task_filter: TaskFilter) -> QuerySet[Task]:
    """Every task of ``project`` the filter matches, unordered: what "all matches" acts on.
    Raises ``InvalidInput`` for an annotator no one goes by or a bad metadata value."""
    f = task_filter
    tasks = Task.objects.filter(project=project).order_by()
    if f.batch_id is not None:
        tasks = tasks.filter(batch_id=f.batch_id)
    if f.model:
        tasks = tasks.filter(Q(response_a__model_name=f.model) | Q(response_b__model_name=f.model))
    if f.metadata:
        tasks = metadata_matching(tasks, field="prompt__metadata", metadata=f.metadata)
    if f.annotator:
        user_id = Pseudonyms(project_id=project.pk).user_id(f.annotator)
        if user_id is None:
            raise _bad("annotator", "No annotator of this project goes by that name.")
        tasks = tasks.filter(_judged(annotator_id=user_id))
    if f.gold is not None:
        tasks = tasks.filter(is_gold=f.gold)
    if f.has_rewrite is not None:
        tasks = tasks.filter(_either(f.has_rewrite, _judged(rewrite__gt="")))
    if f.has_comment is not None:
        tasks = tasks.filter(_either(f.has_comment, _judged(comment__gt="")))
    if f.late is not None:
        tasks = tasks.filter(_either(f.late, _judged(late=True)))
    if f.skipped is not None:
        skips = Claim.objects.filter(task_id=OuterRef("pk"), status=ClaimStatus.SKIPPED)
        tasks = tasks.filter(_either(f.skipped, Exists(skips)))
    if f.judged_from or f.judged_to:
        moment: dict[str, datetime] = {}
        if f.judged_from:
            moment["created_at__gte"] = _day_start(f.judged_from)
        if f.judged_to:
            moment["created_at__lt"] = _day_start(f.judged_to + timedelta(days=1))
        tasks = tasks.filter(_judged(**moment))
    if f.q:
        tasks = _search(tasks, project=project, q=f.q)
    if f.state == "adjudicated":
        tasks = tasks.filter(adjudication__isnull=False)
    elif f.state == "unjudged":
        tasks = tasks.filter(~_judged(), adjudication__isnull=True)
    elif f.state:
        tasks = tasks.alias(browse_state=task_state_expression(project=project)).filter(
            browse_state=f.state
        )
    return tasks


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


# Cursors ------------------------------------------------------------------------------------


def cursor_encode(*, sort: str, key: list[int], backward: bool = False) -> str:
    """An opaque cursor: the sort, the sort key of the row to page from, and the direction
    (``backward``: the page before that row)."""
    raw = json.dumps([sort, key, 1 if backward else 0], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(cursor: str, *, sort: str) -> tuple[list[int], bool]:
    """The key and direction of a cursor made for ``sort``; ``InvalidInput`` otherwise."""
    width = 1 if _SORT_COLUMN[sort] is None else 2
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, key, backward = json.loads(raw)
        if (
            cursor_sort != sort
            or not isinstance(key, list)
            or len(key) != width
            or not all(type(v) is int and 0 <= v < 2**63 for v in key)
            or backward not in (0, 1)
        ):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(
            "Invalid cursor.",
            fields={"cursor": ["Pass back a cursor of a page with the same sort."]},
        ) from None
    return key, bool(backward)


def _key_of(task: Task, sort: str) -> list[int]:
    column = _SORT_COLUMN[sort]
    return [task.pk] if column is None else [getattr(task, column), task.pk]


def _ordered(tasks: QuerySet[Task], sort: str, *, reverse: bool = False) -> QuerySet[Task]:
    descending = sort.startswith("-") != reverse
    column = _SORT_COLUMN[sort]
    names = ["pk"] if column is None else [column, "pk"]
    return tasks.order_by(*(f"-{n}" if descending else n for n in names))


def _beyond(
    tasks: QuerySet[Task], sort: str, key: list[int], *, reverse: bool = False
) -> QuerySet[Task]:
    """The tasks after ``key`` in the sort's order (``reverse``: before it). The leading
    column's bound is given alone as well, so an index on it is entered at the key."""
    descending = sort.startswith("-") != reverse
    past, reach = ("lt", "lte") if descending else ("gt", "gte")
    column = _SORT_COLUMN[sort]
    if column is None:
        return tasks.filter(**{f"pk__{past}": key[0]})
    return tasks.filter(**{f"{column}__{reach}": key[0]}).filter(
        Q(**{f"{column}__{past}": key[0]}) | Q(**{column: key[0], f"pk__{past}": key[1]})
    )


# Pages --------------------------------------------------------------------------------------


class TaskRow(TypedDict):
    """One row of the browser. ``task`` has its prompt, batch and responses fetched.
    ``judgments`` is how many it has and ``overlap`` how many it needs (``None`` in no
    batch); ``models`` the models of its responses, A first; ``skips`` how many annotators
    skipped it; ``rewrites`` / ``comments`` how many of its judgments have one;
    ``last_activity`` the latest judgment, skip or adjudication (``None``: nothing yet)."""

    task: Task
    excerpt: str
    models: list[str]
    judgments: int
    overlap: int | None
    state: str
    skips: int
    rewrites: int
    comments: int
    last_activity: datetime | None


@dataclass(frozen=True)
class BrowsePage:
    """A page of rows and the cursors around it. ``count`` is exact unless
    ``count_is_estimate``, when there are at least that many matches."""

    rows: list[TaskRow]
    next_cursor: str | None
    previous_cursor: str | None
    count: int
    count_is_estimate: bool


def excerpt(prompt: Prompt, chars: int = EXCERPT_CHARS) -> str:
    """The start of a prompt on one line: its text, or its chat's last user turn."""
    text = prompt.text
    if prompt.messages is not None:
        users = [m for m in prompt.messages if isinstance(m, dict) and m.get("role") == "user"]
        text = str((users or prompt.messages or [{}])[-1].get("content", ""))
    text = " ".join(text.split())
    return text if len(text) <= chars else text[: chars - 1].rstrip() + "…"


def _latest(*moments: datetime | None) -> datetime | None:
    present = [m for m in moments if m is not None]
    return max(present) if present else None


def _rows(project: Project, tasks: list[Task]) -> list[TaskRow]:
    """The rows of ``tasks``, in three more queries however many tasks and judgments."""
    ids = [t.pk for t in tasks]
    judgments: dict[int, list[Judgment]] = defaultdict(list)
    for judgment in Judgment.objects.filter(task_id__in=ids).only(
        "task_id", "rating", "choice", "swapped", "comment", "rewrite", "updated_at"
    ):
        judgments[judgment.task_id].append(judgment)
    skips: dict[int, tuple[int, datetime]] = {
        row["task_id"]: (row["n"], row["last"])
        for row in Claim.objects.filter(task_id__in=ids, status=ClaimStatus.SKIPPED)
        .order_by()
        .values("task_id")
        .annotate(n=Count("pk"), last=Max("updated_at"))
    }
    adjudicated = dict(
        Adjudication.objects.filter(task_id__in=ids).values_list("task_id", "updated_at")
    )
    rows: list[TaskRow] = []
    for task in tasks:
        judged = judgments.get(task.pk, [])
        overlap = task.batch.overlap + task.extra_slots if task.batch else None
        skipped, skipped_at = skips.get(task.pk, (0, None))
        rows.append(
            {
                "task": task,
                "excerpt": excerpt(task.prompt),
                "models": [r.model_name for r in (task.response_a, task.response_b) if r],
                "judgments": len(judged),
                "overlap": overlap,
                "state": task_state(
                    kind=project.kind,
                    rule=project.conflict_rule,
                    judgments=judged,
                    overlap=overlap or project.overlap,
                    adjudicated=task.pk in adjudicated,
                ),
                "skips": skipped,
                "rewrites": sum(1 for j in judged if j.rewrite),
                "comments": sum(1 for j in judged if j.comment),
                "last_activity": _latest(
                    max((j.updated_at for j in judged), default=None),
                    skipped_at,
                    adjudicated.get(task.pk),
                ),
            }
        )
    return rows


@contextmanager
def _postgres_settings(**values: str) -> Iterator[None]:
    """PostgreSQL settings for the statements of the block alone: set in a savepoint (or a
    transaction) and put back as they were before it is released (a failed block's savepoint
    rollback puts them back itself). Elsewhere, nothing."""
    if connection.vendor != "postgresql":
        yield
        return
    names = list(values)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT " + ", ".join(["current_setting(%s), set_config(%s, %s, true)"] * len(names)),
            [v for name in names for v in (name, name, values[name])],
        )
        row = cursor.fetchone()
        before = [row[2 * i] for i in range(len(names))]
        yield
        cursor.execute(
            "SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(names)),
            [v for name, old in zip(names, before, strict=True) for v in (name, old)],
        )


# A filter by state costs the planner's estimate much more than it takes (a subquery per task,
# most of them never run past a page's LIMIT): just-in-time compilation would add more time
# than the query takes.
_NO_JIT = {"jit": "off"}


def tasks_count(
    *,
    project: Project,
    task_filter: TaskFilter,
    cap: int = COUNT_CAP,
    timeout_ms: int = COUNT_TIMEOUT_MS,
) -> tuple[int, bool]:
    """How many tasks match, counted up to ``cap``: ``(count, is_estimate)``. Past the cap,
    or on PostgreSQL when counting takes longer than ``timeout_ms``, the count is a lower
    bound (``cap``, or 0 when given up) and ``is_estimate`` is true."""
    tasks = tasks_matching(project=project, task_filter=task_filter).order_by().values("pk")
    try:
        with _postgres_settings(statement_timeout=f"{timeout_ms}ms", **_NO_JIT):
            found = tasks[: cap + 1].count()
    except OperationalError as error:
        if not isinstance(error.__cause__, QueryCanceled):
            raise
        return 0, True
    return (cap, True) if found > cap else (found, False)


def tasks_browse(
    *,
    project: Project,
    task_filter: TaskFilter,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
    count_cap: int = COUNT_CAP,
) -> BrowsePage:
    """One page of the filter's tasks in its sort order, starting after ``cursor`` (a
    ``next_cursor`` or ``previous_cursor`` of an earlier page with the same sort), with
    the number of matches (see ``tasks_count``). A fixed number of queries whatever the
    page size and the number of judgments."""
    if not 1 <= limit <= MAX_LIMIT:
        raise _bad("page_size", f"1 to {MAX_LIMIT}.")
    sort = task_filter.sort
    key, backward = cursor_decode(cursor, sort=sort) if cursor else (None, False)
    tasks = tasks_matching(project=project, task_filter=task_filter).select_related(
        "prompt", "batch", "response_a", "response_b"
    )
    if key is not None:
        tasks = _beyond(tasks, sort, key, reverse=backward)
    with _postgres_settings(**_NO_JIT):
        found = list(_ordered(tasks, sort, reverse=backward)[: limit + 1])
    more = len(found) > limit
    page = found[:limit]
    if backward:
        page.reverse()
    # Going forward there is a page before whenever we started from a row; going back, a
    # page after.
    has_before, has_after = (more, key is not None) if backward else (key is not None, more)
    count, estimate = tasks_count(project=project, task_filter=task_filter, cap=count_cap)
    if estimate and count < len(page):
        count = len(page)
    return BrowsePage(
        rows=_rows(project, page),
        next_cursor=cursor_encode(sort=sort, key=_key_of(page[-1], sort))
        if page and has_after
        else None,
        previous_cursor=cursor_encode(sort=sort, key=_key_of(page[0], sort), backward=True)
        if page and has_before
        else None,
        count=count,
        count_is_estimate=estimate,
    )


def task_neighbours(
    *, project: Project, task_filter: TaskFilter, task_id: int
) -> tuple[int | None, int | None]:
    """The ids of the tasks before and after ``task_id`` in the filter's order (the task
    itself need not match the filter; one not in the project has no neighbours)."""
    task = Task.objects.filter(project=project, pk=task_id).first()
    if task is None:
        return None, None
    sort = task_filter.sort
    key = _key_of(task, sort)
    tasks = tasks_matching(project=project, task_filter=task_filter)
    with _postgres_settings(**_NO_JIT):
        before = (
            _ordered(_beyond(tasks, sort, key, reverse=True), sort, reverse=True)
            .values_list("pk", flat=True)
            .first()
        )
        after = _ordered(_beyond(tasks, sort, key), sort).values_list("pk", flat=True).first()
    return before, after
