"""Reads of who may do what: memberships, the lead's check, a user's projects and tokens."""

from django.contrib.auth.models import AbstractBaseUser
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


def api_token_list(*, user: AbstractBaseUser) -> QuerySet[ApiToken]:
    """The user's own tokens, newest first; revoked ones stay listed so the history is visible."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-pk")


def project_by_id_or_name(value: str) -> Project | None:
    """A project named on the command line: its id, or else its exact name."""
    if value.isdigit():
        return Project.objects.filter(pk=int(value)).first()
    return Project.objects.filter(name=value).first()


def project_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Project]:
    return Project.objects.filter(memberships__user=user).distinct()


def membership_get(*, user: AbstractBaseUser, project_id: int) -> Membership:
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


def project_get_for_lead(*, user: AbstractBaseUser, project_id: int) -> Project:
    membership = membership_get(user=user, project_id=project_id)
    if membership.role != Role.LEAD:
        raise NotALead()
    return membership.project


def batch_get_for_lead(*, user: AbstractBaseUser, batch_id: int) -> Batch:
    batch = Batch.objects.select_related("project").filter(pk=batch_id).first()
    if batch is None:
        raise NotFound("No such batch.")
    project_get_for_lead(user=user, project_id=batch.project_id)
    return batch


def task_project_id(*, task_id: int) -> int:
    """The project of a task, for the check that the caller may act on it."""
    project_id = Task.objects.filter(pk=task_id).values_list("project_id", flat=True).first()
    if project_id is None:
        raise NotFound("No such task.")
    return project_id


def task_get_for_lead(*, user: AbstractBaseUser, task_id: int) -> Task:
    task = (
        Task.objects.select_related("project", "prompt", "response_a", "response_b")
        .filter(pk=task_id)
        .first()
    )
    if task is None:
        raise NotFound("No such task.")
    project_get_for_lead(user=user, project_id=task.project_id)
    return task


def project_check_lead(*, by: Actor, project: Project) -> Project:
    """The permission check of a service given a project: ``by`` leads it, or is the system."""
    if isinstance(by, System):
        return project
    return project_get_for_lead(user=by, project_id=project.pk)
