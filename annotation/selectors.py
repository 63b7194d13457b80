"""Reads: what a user may see, and the figures pages and the API show."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Q, QuerySet

from annotation.models import (
    BatchStatus,
    Claim,
    ClaimStatus,
    Guidelines,
    Judgment,
    Membership,
    Project,
    Role,
    Task,
)
from ftapp.errors import Forbidden, NotFound


class NotAMember(NotFound):
    def __init__(self) -> None:
        super().__init__("No such project.")


class NotALead(Forbidden):
    def __init__(self) -> None:
        super().__init__("Only a lead of this project can do that.")


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


def project_get_for_lead(*, user: AbstractBaseUser, project_id: int) -> Project:
    membership = membership_get(user=user, project_id=project_id)
    if membership.role != Role.LEAD:
        raise NotALead()
    return membership.project


def project_progress(*, project: Project) -> dict[str, int]:
    tasks = Task.objects.filter(project=project).aggregate(
        total=Count("id"),
        in_batches=Count("id", filter=Q(batch__isnull=False)),
        gold=Count("id", filter=Q(is_gold=True)),
    )
    tasks["judgments"] = Judgment.objects.filter(task__project=project).count()
    tasks["prompts"] = project.prompts.count()
    return {
        "prompts": tasks["prompts"],
        "tasks": tasks["total"],
        "tasks_in_batches": tasks["in_batches"],
        "gold_tasks": tasks["gold"],
        "judgments": tasks["judgments"],
    }


def annotator_progress(*, project: Project, user: AbstractBaseUser) -> dict[str, int]:
    """Task slots in the open batches assigned to this annotator, and what they did with them."""
    assigned = Task.objects.filter(
        project=project,
        batch__status=BatchStatus.OPEN,
        batch__assignments__annotator=user,
    )
    counts = Claim.objects.filter(task__in=assigned, annotator=user).aggregate(
        judged=Count("id", filter=Q(status=ClaimStatus.SUBMITTED)),
        skipped=Count("id", filter=Q(status=ClaimStatus.SKIPPED)),
    )
    total = assigned.count()
    return {
        "assigned": total,
        "judged": counts["judged"],
        "skipped": counts["skipped"],
        "remaining": total - counts["judged"] - counts["skipped"],
    }


def guidelines_current(*, project: Project) -> Guidelines | None:
    return project.guidelines.order_by("-version").first()


def home_projects(*, user: AbstractBaseUser) -> list[dict]:
    """The home page's rows: each project of the user with their role, and the figures that
    role cares about (the annotator's own progress; the lead's project counts)."""
    rows = []
    for membership in Membership.objects.filter(user=user).select_related("project"):
        project = membership.project
        if membership.role == Role.ANNOTATOR:
            figures = annotator_progress(project=project, user=user)
        else:
            figures = project_progress(project=project)
        rows.append({"project": project, "role": membership.role, "figures": figures})
    return rows
