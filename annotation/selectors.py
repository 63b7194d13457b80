"""Reads: what a user may see, and the figures pages and the API show."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

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
    """The annotator's figures in their open batches: tasks judged and skipped, and tasks they
    may still be given (not yet complete, not yet judged or skipped by them)."""
    open_tasks = Task.objects.filter(
        project=project,
        batch__status=BatchStatus.OPEN,
        batch__assignments__annotator=user,
    )
    counts = Claim.objects.filter(task__in=open_tasks, annotator=user).aggregate(
        judged=Count("id", filter=Q(status=ClaimStatus.SUBMITTED)),
        skipped=Count("id", filter=Q(status=ClaimStatus.SKIPPED)),
    )
    done_by_me = Claim.objects.filter(
        task=OuterRef("pk"),
        annotator=user,
        status__in=[ClaimStatus.SUBMITTED, ClaimStatus.SKIPPED],
    )
    remaining = open_tasks.filter(is_complete=False).exclude(Exists(done_by_me)).count()
    return {
        "judged": counts["judged"],
        "skipped": counts["skipped"],
        "remaining": remaining,
        "total": counts["judged"] + counts["skipped"] + remaining,
    }


def claim_view(*, claim: Claim) -> dict:
    """What an annotator sees of a claimed task: the conversation and the responses in the
    order shown to them. Never the model names."""
    task = (
        Task.objects.select_related("prompt", "response_a", "response_b")
        .only(
            "id",
            "kind",
            "prompt__system",
            "prompt__text",
            "prompt__messages",
            "response_a__text",
            "response_b__text",
        )
        .get(pk=claim.task_id)
    )
    shown = [task.response_a] if task.response_b is None else [task.response_a, task.response_b]
    if claim.swapped:
        shown.reverse()
    labels = ["A", "B"] if len(shown) == 2 else [None]
    return {
        "task_id": task.pk,
        "kind": task.kind,
        "system": task.prompt.system,
        "turns": task.prompt.turns(),
        "responses": [
            {"position": label, "text": response.text}
            for label, response in zip(labels, shown, strict=True)
        ],
        "expires_at": claim.expires_at,
        "claim_id": claim.pk,
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
