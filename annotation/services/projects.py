"""Writes about projects, people, tokens, prompts, tasks and batches. Every state change on the
human side goes through one function in this package, which the pages, the API, the CLI and
the Celery tasks all call."""

import io
import json
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from annotation.models import (
    ADAPTIVE_OVERLAP_CAP,
    ApiToken,
    Batch,
    BatchAssignment,
    Claim,
    ClaimStatus,
    Guidelines,
    GuidelinesAcknowledgment,
    Membership,
    Project,
    Role,
    Task,
)
from annotation.models.tokens import TOKEN_PREFIX_LENGTH, hash_token_key, new_token_key
from annotation.selectors import guidelines_current, membership_get, project_check_lead
from annotation.services.import_records import ImportReport
from annotation.services.imports import prompts_import
from ftapp.actors import Actor, System, user_or_none
from ftapp.errors import Conflict, Forbidden, InvalidInput, NotFound


@transaction.atomic
def project_create(
    *,
    by: Actor,
    lead: User | None = None,
    name: str,
    kind: str,
    guidelines: str = "",
    rating_anchors: dict[str, str] | None = None,
    overlap: int = 1,
    **options: Any,
) -> Project:
    """Creates a project with its first guidelines version. A user needs the
    ``annotation.add_project`` permission and becomes the lead; the system names the ``lead``."""
    if isinstance(by, System):
        if lead is None:
            raise InvalidInput("Name the project's lead.", fields={"lead": ["Required."]})
    else:
        if not by.has_perm("annotation.add_project"):
            raise Forbidden("You may not create projects; ask an admin for that permission.")
        lead = by
    project = Project(name=name, kind=kind, overlap=overlap, created_by=lead, **options)
    project.full_clean()
    project.save()
    Membership.objects.create(project=project, user=lead, role=Role.LEAD)
    guidelines_publish(by=by, project=project, body=guidelines, rating_anchors=rating_anchors)
    return project


_EDITABLE = {
    "name",
    "description",
    "overlap",
    "lease_minutes",
    "gold_rate",
    "repeat_share",
    "pairing",
    "baseline_model",
    "rubric",
    "conflict_rule",
}


@transaction.atomic
def project_update(
    *,
    by: Actor,
    project: Project,
    guidelines: str | None = None,
    rating_anchors: dict[str, str] | None = None,
    guidelines_change_note: str = "",
    archived: bool | None = None,
    **changes: Any,
) -> Project:
    """Changes settings, and the guidelines through ``guidelines_publish`` (a new version only
    when the text or the anchors change, with ``guidelines_change_note``). Leads only. A
    project's kind is fixed once it exists. ``archived`` takes the project out of home pages
    and queues, or brings it back; nothing is deleted."""
    project_check_lead(by=by, project=project)
    unknown = set(changes) - _EDITABLE
    if unknown:
        raise InvalidInput(
            "These settings cannot be changed.",
            fields={name: ["Cannot be changed."] for name in sorted(unknown)},
        )
    for name, value in changes.items():
        setattr(project, name, value)
    if archived is not None and archived != (project.archived_at is not None):
        project.archived_at = timezone.now() if archived else None
    project.full_clean()
    project.save()
    if guidelines is not None or rating_anchors is not None:
        current = guidelines_current(project=project)
        guidelines_publish(
            by=by,
            project=project,
            body=guidelines if guidelines is not None else (current.body if current else ""),
            rating_anchors=rating_anchors,
            change_note=guidelines_change_note,
        )
    return project


@transaction.atomic
def guidelines_publish(
    *,
    by: Actor,
    project: Project,
    body: str,
    rating_anchors: dict[str, str] | None = None,
    change_note: str = "",
) -> tuple[Guidelines, bool]:
    """Publishes a new version when the text or the rating anchors (``None``: keep them)
    differ from the current version; annotators see it, with ``change_note`` (what changed,
    in a sentence or two), before their next task. Returns the current version and whether
    it is new. Leads only; a version the system publishes is signed by the project's
    creator."""
    project_check_lead(by=by, project=project)
    body = body.replace("\r\n", "\n")  # a browser's textarea sends CRLF; the API, as given
    change_note = change_note.replace("\r\n", "\n").strip()
    if len(change_note) > CHANGE_NOTE_MAX:
        raise InvalidInput(
            "The change note is too long.",
            fields={"change_note": [f"Keep it to {CHANGE_NOTE_MAX} characters."]},
        )
    locked = Project.objects.select_for_update().get(pk=project.pk)
    latest = locked.guidelines.order_by("-version").first()
    if rating_anchors is None:
        anchors = latest.rating_anchors if latest else {}
    else:
        anchors = _anchors_clean(rating_anchors)
    if latest is not None and (latest.body, latest.rating_anchors or {}) == (body, anchors):
        return latest, False
    version = Guidelines.objects.create(
        project=locked,
        version=(latest.version + 1) if latest else 1,
        body=body,
        rating_anchors=anchors,
        change_note=change_note if latest else "",
        created_by=user_or_none(by) or locked.created_by,
    )
    return version, True


CHANGE_NOTE_MAX = 2000


@transaction.atomic
def guidelines_acknowledge(
    *, user: User, project_id: int, version: int
) -> GuidelinesAcknowledgment:
    """Records that ``user``, a member of the project, has read its guidelines ``version``
    (again: the first record stays). Reading a version counts for the older ones too: the
    panel shows only when the current version is unread."""
    membership_get(user=user, project_id=project_id)
    guidelines = Guidelines.objects.filter(project_id=project_id, version=version).first()
    if guidelines is None:
        raise InvalidInput(
            "No such guidelines version.",
            fields={"version": [f"Version {version} was never published in this project."]},
        )
    acknowledgment, _ = GuidelinesAcknowledgment.objects.get_or_create(
        user=user, guidelines=guidelines
    )
    return acknowledgment


RATINGS = ("1", "2", "3", "4", "5")


def _anchors_clean(anchors: dict[str, str]) -> dict[str, str]:
    """What each rating means, keyed "1" to "5"; a blank meaning is no anchor."""
    unknown = sorted(str(key) for key in anchors if str(key) not in RATINGS)
    if unknown:
        raise InvalidInput(
            "Rating anchors are keyed 1 to 5.",
            fields={"rating_anchors": [f"Unknown rating {key!r}." for key in unknown]},
        )
    if not all(isinstance(text, str) for text in anchors.values()):
        raise InvalidInput(
            "A rating anchor is text.", fields={"rating_anchors": ["Give each meaning as text."]}
        )
    return {str(key): text.strip() for key, text in sorted(anchors.items()) if text.strip()}


def membership_set(*, by: Actor, project: Project, username: str, role: str) -> Membership:
    """Adds a user to a project, or changes their role there (``membership_set_role``). Leads
    only."""
    project_check_lead(by=by, project=project)
    if role not in Role.values:
        raise InvalidInput("Unknown role.", fields={"role": [f"Use one of {Role.values}."]})
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise InvalidInput("No such user.", fields={"username": ["No active user by that name."]})
    membership, created = Membership.objects.get_or_create(
        project=project, user=user, defaults={"role": role}
    )
    if not created:
        return membership_set_role(by=by, project=project, username=username, role=role)
    return membership


def _membership_locked(project: Project, username: str) -> Membership:
    """The member's row, locked with the project's, so two leads changing roles at once
    cannot both leave the project without a lead."""
    Project.objects.select_for_update().get(pk=project.pk)
    membership = (
        Membership.objects.select_for_update()
        .select_related("user")
        .filter(project=project, user__username=username)
        .first()
    )
    if membership is None:
        raise NotFound("Not a member of this project.")
    return membership


def _keep_a_lead(membership: Membership) -> None:
    if membership.role != Role.LEAD:
        return
    others = Membership.objects.filter(project_id=membership.project_id, role=Role.LEAD).exclude(
        pk=membership.pk
    )
    if not others.exists():
        raise Conflict("A project needs a lead: make someone else a lead first.")


def _end_annotator_work(membership: Membership) -> None:
    """Someone who stops annotating the project is taken off its batches and their open
    leases end, so the slots go back to the others. What they judged stays."""
    BatchAssignment.objects.filter(
        batch__project_id=membership.project_id, annotator_id=membership.user_id
    ).delete()
    Claim.objects.filter(
        task__project_id=membership.project_id,
        annotator_id=membership.user_id,
        status=ClaimStatus.ACTIVE,
    ).update(status=ClaimStatus.RELEASED, updated_at=timezone.now())


@transaction.atomic
def membership_set_role(*, by: Actor, project: Project, username: str, role: str) -> Membership:
    """Changes a member's role. Leads only; the last lead cannot step down. An annotator made
    a lead leaves the batches and their open leases end; their judgments stay and count."""
    project_check_lead(by=by, project=project)
    if role not in Role.values:
        raise InvalidInput("Unknown role.", fields={"role": [f"Use one of {Role.values}."]})
    membership = _membership_locked(project, username)
    if membership.role == role:
        return membership
    _keep_a_lead(membership)
    if membership.role == Role.ANNOTATOR:
        _end_annotator_work(membership)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, by: Actor, project: Project, username: str) -> None:
    """Takes someone out of the project. Leads only; the last lead cannot be removed. Their
    batch assignments and open leases end (the slots go back to the others); their judgments
    stay and keep counting, shown under a ``former-`` pseudonym. Someone whose judgments are
    set aside is not removed: removing them would make those judgments count again."""
    project_check_lead(by=by, project=project)
    membership = _membership_locked(project, username)
    _keep_a_lead(membership)
    if membership.set_aside:
        raise Conflict(
            f"{username}'s judgments are set aside; removing them would count those judgments "
            "again. Take them off the batches instead."
        )
    _end_annotator_work(membership)
    membership.delete()


def api_token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Returns the token and its key; the key is not stored and cannot be shown again."""
    name = name.strip()
    if not name:
        raise InvalidInput("A token needs a name.", fields={"name": ["This field is required."]})
    key = new_token_key()
    token = ApiToken.objects.create(
        user=user, name=name[:100], prefix=key[:TOKEN_PREFIX_LENGTH], key_hash=hash_token_key(key)
    )
    return token, key


def api_token_revoke(*, user: User, token_id: int) -> ApiToken:
    token = ApiToken.objects.filter(pk=token_id, user=user).first()
    if token is None:
        raise NotFound("No such token.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def prompt_records_load(
    *, by: Actor, project: Project, records: Iterable[dict[str, Any]]
) -> ImportReport:
    """Imports records given as Python objects (the demo, the tests), through the same
    validation as a file; raises ``InvalidInput`` listing the errors if any record is bad."""
    body = io.BytesIO()
    for record in records:
        body.write(json.dumps(record).encode() + b"\n")
    report = prompts_import(by=by, project=project, stream=body, name="records.jsonl")
    if not report.ok:
        raise InvalidInput(
            "The records are not valid.",
            fields={"records": [f"line {e.line}: {e.message}" for e in report.errors]},
        )
    return report


@transaction.atomic
def batch_create(
    *,
    by: Actor,
    project: Project,
    name: str,
    tasks: Iterable[Task],
    annotators: Iterable[User] = (),
    overlap: int | None = None,
    adaptive_max_overlap: int | None = None,
    adaptive_on_split: bool = True,
    adaptive_on_judge: bool = False,
) -> Batch:
    """Puts unbatched tasks into a new batch and assigns it to annotators of the project.
    Leads only; a batch the system cuts is signed by the project's creator. With
    ``adaptive_max_overlap``, tasks whose labels call for more eyes get more slots, up to
    that many (``annotation.services.overlap``)."""
    project_check_lead(by=by, project=project)
    overlap = overlap or project.overlap
    adaptive_settings_check(
        overlap=overlap,
        adaptive_max_overlap=adaptive_max_overlap,
        adaptive_on_split=adaptive_on_split,
        adaptive_on_judge=adaptive_on_judge,
    )
    last_position = project.batches.order_by("-position").values_list("position", flat=True)
    position = (last_position.first() or 0) + 1
    batch = Batch(
        project=project,
        name=name,
        position=position,
        overlap=overlap,
        adaptive_max_overlap=adaptive_max_overlap,
        adaptive_on_split=adaptive_on_split,
        adaptive_on_judge=adaptive_on_judge,
        created_by=user_or_none(by) or project.created_by,
    )
    batch.full_clean()
    batch.save()
    task_ids = [t.pk for t in tasks]
    moved = Task.objects.filter(pk__in=task_ids, project=project, batch__isnull=True).update(
        batch=batch
    )
    if moved != len(task_ids):
        raise Conflict("Some tasks are already in a batch or belong to another project.")
    chosen = list({a.pk: a for a in annotators}.values())
    annotators_require(project=project, users=chosen)
    BatchAssignment.objects.bulk_create([BatchAssignment(batch=batch, annotator=a) for a in chosen])
    return batch


def adaptive_settings_check(
    *,
    overlap: int,
    adaptive_max_overlap: int | None,
    adaptive_on_split: bool,
    adaptive_on_judge: bool,
) -> None:
    """Raises ``InvalidInput`` on adaptive overlap settings a batch cannot take."""
    if adaptive_max_overlap is None:
        return
    if (
        isinstance(adaptive_max_overlap, bool)
        or not isinstance(adaptive_max_overlap, int)
        or not overlap <= adaptive_max_overlap <= ADAPTIVE_OVERLAP_CAP
    ):
        message = (
            f"The maximum overlap is a whole number from the batch's overlap ({overlap}) "
            f"to {ADAPTIVE_OVERLAP_CAP}."
        )
        raise InvalidInput(message, fields={"adaptive_max_overlap": [message]})
    if not (adaptive_on_split or adaptive_on_judge):
        message = "Choose when to add a slot: when humans split, when the judge disagrees, or both."
        raise InvalidInput(message, fields={"adaptive_on_split": [message]})


def annotators_require(*, project: Project, users: list[User]) -> None:
    """Raises ``InvalidInput`` naming every user who is not an annotator of the project."""
    members = set(
        Membership.objects.filter(project=project, user__in=users, role=Role.ANNOTATOR).values_list(
            "user_id", flat=True
        )
    )
    outsiders = [str(u) for u in users if u.pk not in members]
    if outsiders:
        message = f"Not annotators of this project: {', '.join(outsiders)}."
        raise InvalidInput(message, fields={"annotators": [message]})
