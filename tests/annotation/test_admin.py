"""The Django admin lists and shows the human side's rows but changes none: an edit or a
delete there would skip the services that keep a task's counters, so the queue would hide a
task that still needs judgments."""

import pytest
from django.contrib import admin
from django.urls import reverse

from annotation.models import Batch, Claim, Judgment, Membership, Task
from annotation.services import claim_next
from tests.factories import AnnotatorFactory, UserFactory, assign, judge, make_project

pytestmark = pytest.mark.django_db

READ_ONLY = [
    "annotation.project",
    "annotation.guidelines",
    "annotation.membership",
    "annotation.prompt",
    "annotation.response",
    "annotation.task",
    "annotation.batch",
    "annotation.claim",
    "annotation.judgment",
    "annotation.repeat",
    "evaluation.workerheartbeat",
]


@pytest.fixture
def judged(lead):
    """A rating task with overlap 2 that one annotator has judged."""
    project = make_project(lead, prompts=1, overlap=2)
    first, second = AnnotatorFactory(), AnnotatorFactory()
    assign(project, [first, second])
    return judge(first, claim_next(user=first, project_id=project.pk))


@pytest.fixture
def staff(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_deleting_a_judgment_in_the_admin_is_refused_and_the_task_stays_counted(staff, judged):
    url = reverse("admin:annotation_judgment_delete", args=[judged.pk])
    assert staff.post(url, {"post": "yes"}).status_code == 403
    changelist = reverse("admin:annotation_judgment_changelist")
    bulk = staff.post(
        changelist, {"action": "delete_selected", "_selected_action": [judged.pk], "post": "yes"}
    )
    assert bulk.status_code in (200, 302)
    assert Judgment.objects.filter(pk=judged.pk).exists()
    task = Task.objects.get(pk=judged.task_id)
    assert task.judgment_count == 1


def test_editing_a_task_batch_or_membership_in_the_admin_is_refused(staff, judged):
    task = Task.objects.get(pk=judged.task_id)
    membership = Membership.objects.get(user=judged.annotator)
    for name, obj, data in [
        ("task", task, {"is_gold": "on"}),
        ("batch", task.batch, {"overlap": "9", "status": "closed"}),
        ("membership", membership, {"role": "lead"}),
    ]:
        url = reverse(f"admin:annotation_{name}_change", args=[obj.pk])
        assert staff.post(url, data).status_code == 403
    assert not Task.objects.get(pk=task.pk).is_gold
    assert Batch.objects.get(pk=task.batch_id).overlap == 2
    assert Membership.objects.get(pk=membership.pk).role == "annotator"
    assert Claim.objects.filter(task=task).count() == 1


@pytest.mark.parametrize("label", READ_ONLY)
def test_the_admin_lists_and_shows_but_adds_changes_and_deletes_nothing(staff, judged, label):
    model_admin = next(a for m, a in admin.site._registry.items() if m._meta.label_lower == label)
    app, model = label.split(".")
    assert staff.get(reverse(f"admin:{app}_{model}_changelist")).status_code == 200
    assert staff.get(reverse(f"admin:{app}_{model}_add")).status_code == 403
    request = staff.get("/").wsgi_request
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    assert "delete_selected" not in model_admin.get_actions(request)
    for inline in model_admin.get_inline_instances(request):
        assert not inline.has_add_permission(request, None)
        assert not inline.has_change_permission(request)
        assert not inline.has_delete_permission(request)
