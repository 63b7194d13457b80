"""Every service checks its own permission; the system (a command, the demo, a worker) says
so by passing ``SYSTEM``, and leaving the caller out is an error, not a way around the check."""

import io

import pytest

from annotation.models import Role, Task
from annotation.selectors import batch_get_for_lead, task_get_for_lead
from annotation.selectors.browse import TaskFilter
from annotation.services import (
    batch_create,
    guidelines_publish,
    membership_set,
    project_create,
    project_update,
    prompts_import,
)
from annotation.services.bulk import BULK_ACTIONS, tasks_bulk_act
from evaluation.exports.services.jobs import export_start
from ftapp.actors import SYSTEM
from ftapp.errors import Forbidden, NotFound
from tests.factories import AnnotatorFactory, UserFactory, add_member, assign, make_project

pytestmark = pytest.mark.django_db

RECORD = b'{"id": "q1", "prompt": "Hi?", "responses": [{"model": "m", "text": "Hello."}]}\n'


@pytest.fixture
def member(rating_project):
    user = AnnotatorFactory()
    add_member(rating_project, user, Role.ANNOTATOR)
    return user


def test_project_create_needs_the_permission_whoever_calls_it(db):
    with pytest.raises(Forbidden):
        project_create(by=UserFactory(), name="Mine", kind="rating")


def test_the_system_creates_a_project_for_a_named_lead(db):
    lead = UserFactory()
    project = project_create(by=SYSTEM, lead=lead, name="Seeded", kind="rating")
    assert project.created_by == lead
    assert project.memberships.get().role == Role.LEAD


@pytest.mark.parametrize(
    "call",
    [
        lambda p, by: project_update(by=by, project=p, overlap=3),
        lambda p, by: guidelines_publish(by=by, project=p, body="Mine now."),
        lambda p, by: membership_set(by=by, project=p, username=by.username, role="lead"),
        lambda p, by: prompts_import(by=by, project=p, stream=io.BytesIO(RECORD)),
        lambda p, by: batch_create(by=by, project=p, name="b", tasks=[]),
        lambda p, by: export_start(by=by, project_id=p.pk, kind="sft", format="trl"),
        *(
            lambda p, by, action=action: tasks_bulk_act(
                by=by, project_id=p.pk, action=action, batch_name="b", task_filter=TaskFilter()
            )
            for action in BULK_ACTIONS
        ),
    ],
    ids=[
        "project_update",
        "guidelines_publish",
        "membership_set",
        "prompts_import",
        "batch_create",
        "export_start",
        *(f"tasks_bulk_act {action}" for action in BULK_ACTIONS),
    ],
)
def test_an_annotator_cannot_do_a_leads_work_through_any_service(rating_project, member, call):
    with pytest.raises(Forbidden):
        call(rating_project, member)
    rating_project.refresh_from_db()
    assert rating_project.overlap == 1
    assert rating_project.guidelines.count() == 1
    assert rating_project.memberships.get(user=member).role == Role.ANNOTATOR
    assert not rating_project.prompts.exists() and not rating_project.batches.exists()


def test_a_stranger_gets_not_found(rating_project):
    with pytest.raises(NotFound):
        project_update(by=UserFactory(), project=rating_project, overlap=3)


@pytest.mark.parametrize(
    "call",
    [
        lambda p: membership_set(project=p, username="x", role="annotator"),
        lambda p: prompts_import(project=p, stream=io.BytesIO(RECORD)),
        lambda p: export_start(project=p, kind="sft", format="trl"),
    ],
    ids=["membership_set", "prompts_import", "export_start"],
)
def test_leaving_the_caller_out_is_an_error_not_the_system(rating_project, call):
    with pytest.raises(TypeError):
        call(rating_project)


def test_the_system_passes_the_checks_and_signs_as_the_projects_creator(rating_project):
    member = AnnotatorFactory()
    membership_set(by=SYSTEM, project=rating_project, username=member.username, role="annotator")
    assert prompts_import(by=SYSTEM, project=rating_project, stream=io.BytesIO(RECORD)).committed
    version, published = guidelines_publish(by=SYSTEM, project=rating_project, body="Seeded.")
    assert published and version.created_by == rating_project.created_by
    batch = batch_create(by=SYSTEM, project=rating_project, name="b", tasks=[])
    assert batch.created_by == rating_project.created_by
    export = export_start(by=SYSTEM, project=rating_project, kind="sft", format="trl")
    assert export.created_by is None


@pytest.mark.parametrize("kind", ["task", "batch"])
def test_an_outsider_cannot_tell_a_projects_object_from_a_missing_one(lead, kind):
    project = make_project(lead, prompts=1)
    if kind == "task":
        get, pk = task_get_for_lead, Task.objects.get(project=project).pk
    else:
        get, pk = batch_get_for_lead, assign(project, []).pk
    outsider = UserFactory()
    with pytest.raises(NotFound) as existing:
        get(user=outsider, **{f"{kind}_id": pk})
    with pytest.raises(NotFound) as missing:
        get(user=outsider, **{f"{kind}_id": pk + 1000})
    assert existing.value.message == missing.value.message == f"No such {kind}."
