"""Writes about projects, people, tokens, prompts, tasks and batches. Every state change on the
human side goes through one function in this package, which the pages, the API, the CLI and
the Celery tasks all call."""

from collections.abc import Iterable
from itertools import combinations
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from annotation.models import (
    ApiToken,
    Batch,
    BatchAssignment,
    Guidelines,
    Membership,
    Pairing,
    Project,
    ProjectKind,
    Prompt,
    Response,
    Role,
    Task,
)
from annotation.models.tokens import TOKEN_PREFIX_LENGTH, hash_token_key, new_token_key
from ftapp.errors import Conflict, InvalidInput, NotFound

User = get_user_model()


@transaction.atomic
def project_create(
    *,
    creator: AbstractBaseUser,
    name: str,
    kind: str,
    guidelines: str = "",
    rating_anchors: dict[str, str] | None = None,
    overlap: int = 1,
    **options: Any,
) -> Project:
    """Creates a project with its first guidelines version; the creator becomes its lead."""
    project = Project(name=name, kind=kind, overlap=overlap, created_by=creator, **options)
    project.full_clean()
    project.save()
    Membership.objects.create(project=project, user=creator, role=Role.LEAD)
    guidelines_publish(
        project=project, author=creator, body=guidelines, rating_anchors=rating_anchors
    )
    return project


_EDITABLE = {
    "name",
    "description",
    "overlap",
    "lease_minutes",
    "gold_rate",
    "pairing",
    "baseline_model",
    "rubric",
}


@transaction.atomic
def project_update(
    *, project: Project, editor: AbstractBaseUser, guidelines: str | None = None, **changes: Any
) -> Project:
    """Changes settings; guidelines that differ from the current ones publish a new version.
    A project's kind is fixed once it exists."""
    unknown = set(changes) - _EDITABLE
    if unknown:
        raise InvalidInput(
            "These settings cannot be changed.",
            fields={name: ["Cannot be changed."] for name in sorted(unknown)},
        )
    for name, value in changes.items():
        setattr(project, name, value)
    project.full_clean()
    project.save()
    current = project.guidelines.order_by("-version").first()
    if guidelines is not None and (current is None or guidelines != current.body):
        guidelines_publish(project=project, author=editor, body=guidelines)
    return project


@transaction.atomic
def guidelines_publish(
    *,
    project: Project,
    author: AbstractBaseUser,
    body: str,
    rating_anchors: dict[str, str] | None = None,
) -> Guidelines:
    """Publishes a new version; annotators see it on their next task."""
    locked = Project.objects.select_for_update().get(pk=project.pk)
    latest = locked.guidelines.order_by("-version").first()
    anchors = (
        rating_anchors if rating_anchors is not None else (latest.rating_anchors if latest else {})
    )
    return Guidelines.objects.create(
        project=locked,
        version=(latest.version + 1) if latest else 1,
        body=body,
        rating_anchors=anchors,
        created_by=author,
    )


def membership_set(*, project: Project, username: str, role: str) -> Membership:
    """Adds a user to a project, or changes their role there."""
    if role not in Role.values:
        raise InvalidInput("Unknown role.", fields={"role": [f"Use one of {Role.values}."]})
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise InvalidInput("No such user.", fields={"username": ["No active user by that name."]})
    membership, created = Membership.objects.get_or_create(
        project=project, user=user, defaults={"role": role}
    )
    if not created and membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def api_token_create(*, user: AbstractBaseUser, name: str) -> tuple[ApiToken, str]:
    """Returns the token and its key; the key is not stored and cannot be shown again."""
    name = name.strip()
    if not name:
        raise InvalidInput("A token needs a name.", fields={"name": ["This field is required."]})
    key = new_token_key()
    token = ApiToken.objects.create(
        user=user, name=name[:100], prefix=key[:TOKEN_PREFIX_LENGTH], key_hash=hash_token_key(key)
    )
    return token, key


def api_token_revoke(*, user: AbstractBaseUser, token_id: int) -> ApiToken:
    token = ApiToken.objects.filter(pk=token_id, user=user).first()
    if token is None:
        raise NotFound("No such token.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


@transaction.atomic
def prompt_records_load(*, project: Project, records: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Stores records already in the SPEC's import shape (``id``, ``prompt`` or ``messages``,
    ``system``, ``metadata``, ``responses``) and creates the tasks their responses call for.

    Keyed by ``id``: a known prompt keeps its text, and only responses it does not already
    have (same model, same text) are added.
    """
    counts = {"prompts": 0, "responses": 0, "tasks": 0}
    for record in records:
        prompt, created = Prompt.objects.get_or_create(
            project=project,
            external_id=str(record["id"]),
            defaults={
                "text": record.get("prompt", "") if "messages" not in record else "",
                "messages": record.get("messages"),
                "system": record.get("system", ""),
                "metadata": record.get("metadata", {}),
            },
        )
        counts["prompts"] += created
        existing = set(prompt.responses.values_list("model_name", "text"))
        new_responses = [
            Response(prompt=prompt, model_name=r["model"], text=r["text"])
            for r in record.get("responses", [])
            if (r["model"], r["text"]) not in existing
        ]
        for response in new_responses:
            response.save()
        counts["responses"] += len(new_responses)
        counts["tasks"] += len(tasks_create_for_responses(project=project, prompt=prompt))
    return counts


def tasks_create_for_responses(*, project: Project, prompt: Prompt) -> list[Task]:
    """The tasks a prompt's responses call for that do not exist yet: one per response in a
    rating project; one per pair of responses from different models in a pairwise project
    (every pair, or each model against the baseline)."""
    responses = list(prompt.responses.order_by("id"))
    if project.kind == ProjectKind.RATING:
        wanted = [(r, None) for r in responses]
    else:
        pairs = [(a, b) for a, b in combinations(responses, 2) if a.model_name != b.model_name]
        if project.pairing == Pairing.BASELINE:
            baseline = project.baseline_model
            pairs = [
                (a, b) if a.model_name == baseline else (b, a)
                for a, b in pairs
                if baseline in (a.model_name, b.model_name)
            ]
        wanted = pairs
    have = set(
        Task.objects.filter(project=project, prompt=prompt).values_list(
            "response_a_id", "response_b_id"
        )
    )
    have |= {(b, a) for a, b in have if b is not None}
    tasks = [
        Task(project=project, kind=project.kind, prompt=prompt, response_a=a, response_b=b)
        for a, b in wanted
        if (a.pk, b.pk if b else None) not in have
    ]
    return Task.objects.bulk_create(tasks)


@transaction.atomic
def batch_create(
    *,
    project: Project,
    creator: AbstractBaseUser,
    name: str,
    tasks: Iterable[Task],
    annotators: Iterable[AbstractBaseUser] = (),
    overlap: int | None = None,
) -> Batch:
    """Puts unbatched tasks into a new batch and assigns it to annotators of the project."""
    last_position = project.batches.order_by("-position").values_list("position", flat=True)
    position = (last_position.first() or 0) + 1
    batch = Batch(
        project=project,
        name=name,
        position=position,
        overlap=overlap or project.overlap,
        created_by=creator,
    )
    batch.full_clean()
    batch.save()
    task_ids = [t.pk for t in tasks]
    moved = Task.objects.filter(pk__in=task_ids, project=project, batch__isnull=True).update(
        batch=batch
    )
    if moved != len(task_ids):
        raise Conflict("Some tasks are already in a batch or belong to another project.")
    chosen = {a.pk: a for a in annotators}
    members = set(
        Membership.objects.filter(
            project=project, user_id__in=chosen, role=Role.ANNOTATOR
        ).values_list("user_id", flat=True)
    )
    outsiders = [str(a) for pk, a in chosen.items() if pk not in members]
    if outsiders:
        message = f"Not annotators of this project: {', '.join(outsiders)}."
        raise InvalidInput(message, fields={"annotators": [message]})
    BatchAssignment.objects.bulk_create(
        [BatchAssignment(batch=batch, annotator=a) for a in chosen.values()]
    )
    return batch
