"""What a lead does to many tasks at once from the data browser: put them into a new batch,
mark them gold or not, send them for review. Each action takes either the tasks the lead ticked
(``task_ids``) or every task a browser filter matches (``task_filter``), checks that the caller
leads the project, and answers with what it did in numbers, including the tasks it left out and
why: nothing is silently dropped, and a refusal changes nothing.

The rules each action follows:

- *Add to a new batch*: only tasks in no batch yet move (a task belongs to one batch, and
  moving one out of its batch would take it from the queues of the annotators working it);
  the others are counted as left out. No empty batch is ever created.
- *Mark gold*: a gold task needs its expected answer. It is taken from the lead's adjudication
  where there is one, else from the task's judgments when at least two agree and none differs
  (the verdict in the task's terms, annotators set aside not counted). Tasks with neither, and
  tasks already gold, are left as they are and counted.
- *Unmark gold*: gold tasks lose their gold answer; the others are counted as not gold.
- *Send for review*: the task is listed among the conflicts until a lead adjudicates it, even
  when its judgments agree. Tasks already adjudicated or already sent are counted apart.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from annotation.choices import task_choice
from annotation.judgment_rules import counted_judgments
from annotation.models import Adjudication, Batch, Project, ProjectKind, Task
from annotation.selectors import project_get_for_lead
from annotation.selectors.browse import QUERY_FIELDS, TaskFilter, tasks_matching
from annotation.services.leads import _annotators as annotators_by_username
from annotation.services.projects import batch_create
from ftapp.errors import InvalidInput

# The filter's names a form or the API's ``filter`` carries one value of ("meta" is repeated).
FILTER_NAMES = tuple(name for name in QUERY_FIELDS if name != "meta")
BULK_ACTIONS = ("add_to_batch", "gold", "ungold", "adjudicate")
BULK_SCOPES = ("selected", "all")
MAX_SELECTED = 10_000
UPDATE_CHUNK = 500  # ids per UPDATE: SQLite bounds a statement's parameters


@dataclass(frozen=True)
class BulkResult:
    """What a bulk action did: ``done`` tasks changed, ``left_out`` left untouched, and the
    message that says so, with why, in the lead's words; ``batch``, the batch it created."""

    done: int
    left_out: int
    message: str
    batch: Batch | None = None


def _plural(count: int, word: str = "task") -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _left_out(parts: list[tuple[int, str]]) -> tuple[int, str]:
    """The left-out counts and their reasons as one clause: "3 already in a batch were left
    out"."""
    shown = [(count, why) for count, why in parts if count]
    if not shown:
        return 0, ""
    words = [f"{count:,} {why}" for count, why in shown]
    total = sum(count for count, _ in shown)
    verb = "was" if total == 1 else "were"
    return total, f"; {', '.join(words)} {verb} left out"


def tasks_chosen(
    *, project: Project, task_ids: Sequence[int] | None, task_filter: TaskFilter | None
) -> QuerySet[Task]:
    """The tasks a bulk action acts on: the ticked ones (each must be of the project), or
    every match of the filter. Exactly one of the two is given."""
    if (task_ids is None) == (task_filter is None):
        raise InvalidInput(
            "Act on the chosen tasks or on every match, not both.",
            fields={"scope": ["Choose the tasks, or act on every match of the filter."]},
        )
    if task_filter is not None:
        return tasks_matching(project=project, task_filter=task_filter)
    ids = set(task_ids or ())
    if not ids:
        raise InvalidInput(
            "Choose at least one task.", fields={"task": ["Tick the tasks to act on."]}
        )
    if len(ids) > MAX_SELECTED:
        raise InvalidInput(
            "Too many tasks ticked.",
            fields={"task": [f"At most {MAX_SELECTED:,}; act on every match instead."]},
        )
    tasks = Task.objects.filter(project=project, pk__in=ids)
    found = tasks.count()
    if found != len(ids):
        missing = len(ids) - found
        verb = "is" if missing == 1 else "are"
        raise InvalidInput(
            "Unknown task.",
            fields={"task": [f"{_plural(missing)} of the choice {verb} not in this project."]},
        )
    return tasks


@transaction.atomic
def tasks_bulk_add_to_new_batch(
    *,
    by: User,
    project_id: int,
    name: str,
    task_ids: Sequence[int] | None = None,
    task_filter: TaskFilter | None = None,
    overlap: int | None = None,
    annotators: Sequence[str] = (),
) -> BulkResult:
    """A new batch named ``name`` of the chosen tasks that are in no batch yet, assigned to
    ``annotators`` (usernames of the project's annotators); tasks already in a batch stay
    where they are."""
    project = project_get_for_lead(user=by, project_id=project_id)
    name = name.strip()
    if not name:
        raise InvalidInput("Name the new batch.", fields={"batch_name": ["Give it a name."]})
    chosen = tasks_chosen(project=project, task_ids=task_ids, task_filter=task_filter)
    # Locked by id: a filter's query may join or group, which a row lock cannot take.
    free = list(
        Task.objects.filter(pk__in=chosen.values("pk"), batch__isnull=True)
        .select_for_update()
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    batched = chosen.filter(batch__isnull=False).count()
    if not free:
        verb = "is" if batched == 1 else "are"
        raise InvalidInput(
            "The batch would have no task.",
            fields={
                "task": [
                    f"All {_plural(batched)} chosen {verb} in a batch already; only tasks in "
                    "no batch can go into a new one."
                ]
            },
        )
    users = annotators_by_username(project, list(annotators))
    batch = batch_create(
        by=by,
        project=project,
        name=name,
        tasks=Task.objects.filter(pk__in=free),
        annotators=users,
        overlap=overlap,
    )
    left, clause = _left_out([(batched, "already in a batch")])
    return BulkResult(
        done=len(free),
        left_out=left,
        message=f"{_plural(len(free))} added to batch '{batch.name}'{clause}.",
        batch=batch,
    )


def _expected_answers(*, project: Project, tasks: QuerySet[Task]) -> dict[int, tuple[str, object]]:
    """Each task's expected answer where it has one: ``("rating", 4)`` or ``("choice", "A")``
    (the task's terms), from its adjudication, else from agreeing judgments (two or more,
    none different)."""
    ids = tasks.values("pk")
    found: dict[int, tuple[str, object]] = {}
    for adjudication in Adjudication.objects.filter(task_id__in=ids):
        if adjudication.rating is not None:
            found[adjudication.task_id] = ("rating", adjudication.rating)
        else:
            found[adjudication.task_id] = ("choice", adjudication.choice)
    verdicts: dict[int, list[object]] = defaultdict(list)
    judgments = counted_judgments(project_id=project.pk).filter(task_id__in=ids)
    for task_id, rating, choice, swapped in judgments.values_list(
        "task_id", "rating", "choice", "swapped"
    ):
        verdicts[task_id].append(rating if rating is not None else task_choice(choice, swapped))
    for task_id, given in verdicts.items():
        if task_id in found or len(given) < 2 or len(set(given)) != 1:
            continue
        field = "rating" if project.kind == ProjectKind.RATING else "choice"
        found[task_id] = (field, given[0])
    return found


@transaction.atomic
def tasks_bulk_set_gold(
    *,
    by: User,
    project_id: int,
    is_gold: bool,
    task_ids: Sequence[int] | None = None,
    task_filter: TaskFilter | None = None,
) -> BulkResult:
    """Marks the chosen tasks gold with the answer their adjudication or agreeing judgments
    give (see the module's rules), or unmarks them."""
    project = project_get_for_lead(user=by, project_id=project_id)
    chosen = tasks_chosen(project=project, task_ids=task_ids, task_filter=task_filter)
    if not is_gold:
        not_gold = chosen.filter(is_gold=False).count()
        done = Task.objects.filter(pk__in=chosen.filter(is_gold=True).values("pk")).update(
            is_gold=False, gold_rating_min=None, gold_rating_max=None, gold_choice=""
        )
        left, clause = _left_out([(not_gold, "not gold")])
        return BulkResult(
            done=done, left_out=left, message=f"{_plural(done)} no longer gold{clause}."
        )
    already = chosen.filter(is_gold=True).count()
    candidates = chosen.filter(is_gold=False)
    answers = _expected_answers(project=project, tasks=candidates)
    unanswered = candidates.count() - len(answers)
    by_answer: dict[tuple[str, object], list[int]] = defaultdict(list)
    for task_id, answer in answers.items():
        by_answer[answer].append(task_id)
    done = 0
    for (field, value), ids in by_answer.items():
        # A gold task is shown to every annotator, so it is never complete.
        if field == "rating":
            fields = {"gold_rating_min": value, "gold_rating_max": value}
        else:
            fields = {"gold_choice": value}
        for start in range(0, len(ids), UPDATE_CHUNK):
            done += Task.objects.filter(
                pk__in=ids[start : start + UPDATE_CHUNK], is_gold=False
            ).update(is_gold=True, is_complete=False, **fields)
    left, clause = _left_out(
        [
            (unanswered, "with no adjudication nor agreeing judgments"),
            (already, "already gold"),
        ]
    )
    return BulkResult(done=done, left_out=left, message=f"{_plural(done)} marked gold{clause}.")


@transaction.atomic
def tasks_bulk_send_for_review(
    *,
    by: User,
    project_id: int,
    task_ids: Sequence[int] | None = None,
    task_filter: TaskFilter | None = None,
) -> BulkResult:
    """Lists the chosen tasks among the conflicts until a lead adjudicates them."""
    project = project_get_for_lead(user=by, project_id=project_id)
    chosen = tasks_chosen(project=project, task_ids=task_ids, task_filter=task_filter)
    adjudicated = chosen.filter(adjudication__isnull=False).count()
    already = chosen.filter(adjudication__isnull=True, review_requested_at__isnull=False).count()
    done = Task.objects.filter(
        pk__in=chosen.filter(adjudication__isnull=True, review_requested_at__isnull=True).values(
            "pk"
        )
    ).update(review_requested_at=timezone.now())
    left, clause = _left_out([(adjudicated, "already adjudicated"), (already, "already sent")])
    return BulkResult(done=done, left_out=left, message=f"{_plural(done)} sent for review{clause}.")


def tasks_bulk_act(
    *,
    by: User,
    project_id: int,
    action: str,
    task_ids: Sequence[int] | None = None,
    task_filter: TaskFilter | None = None,
    batch_name: str = "",
    overlap: int | None = None,
    annotators: Sequence[str] = (),
) -> BulkResult:
    """One of ``BULK_ACTIONS`` by its name, as the page and the API ask for it."""
    project_get_for_lead(user=by, project_id=project_id)
    if action == "add_to_batch":
        return tasks_bulk_add_to_new_batch(
            by=by,
            project_id=project_id,
            name=batch_name,
            overlap=overlap,
            annotators=annotators,
            task_ids=task_ids,
            task_filter=task_filter,
        )
    if action in ("gold", "ungold"):
        return tasks_bulk_set_gold(
            by=by,
            project_id=project_id,
            is_gold=action == "gold",
            task_ids=task_ids,
            task_filter=task_filter,
        )
    if action == "adjudicate":
        return tasks_bulk_send_for_review(
            by=by, project_id=project_id, task_ids=task_ids, task_filter=task_filter
        )
    raise InvalidInput(
        "Choose what to do with the tasks.",
        fields={"action": ["Add to a new batch, mark gold, unmark gold or send for review."]},
    )
