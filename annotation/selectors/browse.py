"""The lead's data browser: a project's tasks filtered, searched, sorted and paged by key.

The page ``/projects/{id}/data/``, ``GET /api/v1/projects/{id}/tasks/``, the bulk actions on
"all matches" and the previous / next links of the lead's task page all read through here, so
a filter means the same thing everywhere."""

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TypedDict

from django.db.models import QuerySet

from annotation.models import Project, Task

TASK_STATES = ("unjudged", "partial", "unanimous", "majority", "split", "adjudicated")
TASK_SORTS = ("id", "-id")


@dataclass(frozen=True)
class TaskFilter:
    """What the lead asked for; every field empty means every task of the project."""

    batch_id: int | None = None
    model: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
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
        return f"batch={self.batch_id}" if self.batch_id is not None else ""


def task_filter_from_query(params) -> TaskFilter:
    """A filter from a query string or form; raises ``InvalidInput`` naming the bad field."""
    batch = params.get("batch")
    return TaskFilter(batch_id=int(batch) if batch else None)


def tasks_matching(*, project: Project, task_filter: TaskFilter) -> QuerySet[Task]:
    """Every task of ``project`` the filter matches, unordered: what "all matches" acts on."""
    tasks = Task.objects.filter(project=project)
    if task_filter.batch_id is not None:
        tasks = tasks.filter(batch_id=task_filter.batch_id)
    return tasks


class TaskRow(TypedDict):
    """One row of the browser. ``task`` has its prompt, batch and responses fetched."""

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


def tasks_browse(
    *, project: Project, task_filter: TaskFilter, cursor: str | None = None, limit: int = 50
) -> BrowsePage:
    """One page of the filter's tasks in its sort order, starting after ``cursor``."""
    tasks = tasks_matching(project=project, task_filter=task_filter).select_related(
        "prompt", "batch", "response_a", "response_b"
    )
    after = int(cursor) if cursor else 0
    page = list(tasks.filter(pk__gt=after).order_by("pk")[: limit + 1])
    rows: list[TaskRow] = [
        {
            "task": task,
            "excerpt": (task.prompt.text or str(task.prompt.messages))[:120],
            "models": [r.model_name for r in (task.response_a, task.response_b) if r],
            "judgments": task.judgment_count,
            "overlap": task.batch.overlap if task.batch else None,
            "state": "unjudged" if task.judgment_count == 0 else "partial",
            "skips": 0,
            "rewrites": 0,
            "comments": 0,
            "last_activity": None,
        }
        for task in page[:limit]
    ]
    return BrowsePage(
        rows=rows,
        next_cursor=str(page[limit - 1].pk) if len(page) > limit else None,
        previous_cursor=None,
        count=tasks.count(),
        count_is_estimate=False,
    )


def task_neighbours(
    *, project: Project, task_filter: TaskFilter, task_id: int
) -> tuple[int | None, int | None]:
    """The ids of the tasks before and after ``task_id`` in the filter's order."""
    tasks = tasks_matching(project=project, task_filter=task_filter)
    before = tasks.filter(pk__lt=task_id).order_by("-pk").values_list("pk", flat=True).first()
    after = tasks.filter(pk__gt=task_id).order_by("pk").values_list("pk", flat=True).first()
    return before, after
