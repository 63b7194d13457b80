"""Reads of who may do what: memberships, the lead's check, a user's projects and tokens."""

from typing import Protocol, TypeVar

from django.contrib.auth.models import User
from django.db.models import QuerySet

from annotation.models import ApiToken, Batch, Membership, Project, Role, Task
from ftapp.actors import Actor, System
from ftapp.errors import Forbidden, NotFound


class NotAMember(NotFound):
    def __init__(self) -> None:
        super().__init__("No such project.")


class NotALead(Forbidden):
    def __init__(self) -> None:
        super().__init__("Only a lead of this project can do that.")


def api_token_list(*, user: User) -> QuerySet[ApiToken]:
    """The user's own tokens, newest first; revoked ones stay listed so the history is visible."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-pk")


def project_by_id_or_name(value: str) -> Project | None:
    """A project named on the command line: its id, or else its exact name."""
    if value.isdigit():
        return Project.objects.filter(pk=int(value)).first()
    return Project.objects.filter(name=value).first()


def project_list_for_user(*, user: User, archived: bool = False) -> QuerySet[Project]:
    """The user's projects; archived ones only when asked for (``archived``: all of them)."""
    projects = Project.objects.filter(memberships__user=user).distinct()
    return projects if archived else projects.filter(archived_at__isnull=True)


def projects_archived_led(*, user: User) -> QuerySet[Project]:
    """The archived projects the user leads: the home page lists them apart, for a lead to
    find one again."""
    return Project.objects.filter(
        memberships__user=user, memberships__role=Role.LEAD, archived_at__isnull=False
    )


def membership_get(*, user: User, project_id: int) -> Membership:
    """The caller's membership of a project; ``NotAMember`` (a 404) for anyone else."""
    if not user.is_authenticated:
        raise NotAMember()
    membership = (
        Membership.objects.select_related("project")
        .filter(user=user, project_id=project_id)
        .first()
    )
    if membership is None:
        raise NotAMember()
    return membership


def membership_list(*, project: Project, role: str | None = None) -> QuerySet[Membership]:
    """The project's members (of ``role``, if given) with their users: by role, then name."""
    members = Membership.objects.filter(project=project).select_related("user")
    return members if role is None else members.filter(role=role)


def usernames_by_pseudonym(*, project: Project) -> dict[str, str]:
    """For a lead, who already sees usernames on the dashboard: the figures name annotators
    by pseudonym."""
    return dict(
        Membership.objects.filter(project=project).values_list("pseudonym", "user__username")
    )


def project_get_for_lead(*, user: User, project_id: int) -> Project:
    membership = membership_get(user=user, project_id=project_id)
    if membership.role != Role.LEAD:
        raise NotALead()
    return membership.project


class _OfAProject(Protocol):
    project_id: int


OfAProject = TypeVar("OfAProject", bound=_OfAProject)


def in_led_project(found: OfAProject | None, *, user: User, name: str) -> OfAProject:
    """``found``, an object of a project (None: there is none), if the user leads that project:
    the check of every ``<object>_get_for_lead``. Someone outside the project gets the very
    answer a missing object gets, so they learn nothing of which ids exist; a member who does
    not lead it gets ``NotALead``."""
    missing = NotFound(f"No such {name}.")
    if found is None:
        raise missing
    try:
        project_get_for_lead(user=user, project_id=found.project_id)
    except NotAMember:
        raise missing from None
    return found


def batch_get_for_lead(*, user: User, batch_id: int) -> Batch:
    """The batch, if the user leads its project (404 outside it, 403 for its other members)."""
    batch = Batch.objects.select_related("project").filter(pk=batch_id).first()
    return in_led_project(batch, user=user, name="batch")


def task_project_id(*, task_id: int) -> int:
    """The project of a task, for the check that the caller may act on it."""
    project_id = Task.objects.filter(pk=task_id).values_list("project_id", flat=True).first()
    if project_id is None:
        raise NotFound("No such task.")
    return project_id


def task_get_for_lead(*, user: User, task_id: int) -> Task:
    """The task with its prompt and responses, if the user leads its project (404 outside it,
    403 for its other members)."""
    task = (
        Task.objects.select_related("project", "prompt", "response_a", "response_b")
        .filter(pk=task_id)
        .first()
    )
    return in_led_project(task, user=user, name="task")


def project_check_lead(*, by: Actor, project: Project) -> Project:
    """The permission check of a service given a project: ``by`` leads it, or is the system."""
    if isinstance(by, System):
        return project
    return project_get_for_lead(user=by, project_id=project.pk)
