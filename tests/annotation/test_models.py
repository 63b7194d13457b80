"""The invariants the database itself holds, whatever code writes to it."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from annotation.models import Claim, Judgment, Prompt, Task
from annotation.services import tasks_create_for_responses
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db


def _violates(model, **fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.create(**fields)
        if connection.vendor == "postgresql":
            # Deferred constraints are checked at commit; force the check now.
            connection.cursor().execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.fixture
def rating_task(rating_project):
    response = ResponseFactory(prompt=PromptFactory(project=rating_project))
    (task,) = tasks_create_for_responses(project=rating_project, responses=[response])
    return task


def test_one_judgment_per_task_and_annotator(rating_task, annotator):
    Judgment.objects.create(task=rating_task, annotator=annotator, rating=4)
    _violates(Judgment, task=rating_task, annotator=annotator, rating=2)


@pytest.mark.parametrize("rating", [0, 6])
def test_rating_is_between_1_and_5(rating_task, annotator, rating):
    _violates(Judgment, task=rating_task, annotator=annotator, rating=rating)


def test_judgment_has_a_rating_or_a_choice_not_both(rating_task, annotator):
    _violates(Judgment, task=rating_task, annotator=annotator, rating=3, choice="A")
    _violates(Judgment, task=rating_task, annotator=annotator)
    _violates(Judgment, task=rating_task, annotator=annotator, choice="maybe")


def test_idempotency_key_is_unique_per_annotator(rating_project, rating_task, annotator):
    other = ResponseFactory(prompt=rating_task.prompt)
    (second,) = tasks_create_for_responses(project=rating_project, responses=[other])
    Judgment.objects.create(task=rating_task, annotator=annotator, rating=4, idempotency_key="k1")
    _violates(Judgment, task=second, annotator=annotator, rating=4, idempotency_key="k1")
    Judgment.objects.create(task=second, annotator=annotator, rating=4, idempotency_key="")


def test_pairwise_task_needs_two_different_responses(pairwise_project):
    prompt = PromptFactory(project=pairwise_project)
    response = ResponseFactory(prompt=prompt)
    base = {"project": pairwise_project, "kind": "pairwise", "prompt": prompt}
    _violates(Task, **base, response_a=response, response_b=response)
    _violates(Task, **base, response_a=response)


def test_rating_task_has_one_response(rating_project):
    prompt = PromptFactory(project=rating_project)
    a, b = ResponseFactory(prompt=prompt), ResponseFactory(prompt=prompt)
    _violates(
        Task, project=rating_project, kind="rating", prompt=prompt, response_a=a, response_b=b
    )


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="composite foreign keys are added on PostgreSQL"
)
def test_pairwise_responses_answer_the_tasks_prompt(pairwise_project):
    first, second = PromptFactory(project=pairwise_project), PromptFactory(project=pairwise_project)
    a = ResponseFactory(prompt=first, model_name="base-v1")
    b = ResponseFactory(prompt=second, model_name="ft-r1")
    _violates(
        Task, project=pairwise_project, kind="pairwise", prompt=first, response_a=a, response_b=b
    )


def test_gold_answer_only_on_gold_tasks(rating_task):
    rating_task.gold_rating_min = 4
    with pytest.raises(IntegrityError), transaction.atomic():
        rating_task.save()
    rating_task.is_gold = True
    rating_task.gold_rating_max = 3
    with pytest.raises(IntegrityError), transaction.atomic():
        rating_task.save()
    rating_task.gold_rating_max = 5
    rating_task.save()


def test_prompt_is_text_or_messages(rating_project):
    with pytest.raises(IntegrityError), transaction.atomic():
        Prompt.objects.create(project=rating_project, external_id="empty")
    with pytest.raises(IntegrityError), transaction.atomic():
        Prompt.objects.create(
            project=rating_project,
            external_id="both",
            text="hi",
            messages=[{"role": "user", "content": "hi"}],
        )


def test_prompt_external_id_is_unique_per_project(rating_project):
    PromptFactory(project=rating_project, external_id="q-1")
    _violates(Prompt, project=rating_project, external_id="q-1", text="again")


def test_content_hash_ignores_case_and_spacing(rating_project):
    a = PromptFactory(project=rating_project, text="How do I  open a\nsavings account?")
    b = PromptFactory(project=rating_project, text="how do i open a savings ACCOUNT?")
    c = PromptFactory(
        project=rating_project,
        text="",
        messages=[{"role": "user", "content": "How do I open a savings account?"}],
    )
    d = PromptFactory(project=rating_project, text="How do I open a checking account?")
    assert a.content_hash == b.content_hash == c.content_hash
    assert d.content_hash != a.content_hash


def test_claim_expiry_follows_claim_time(rating_task, annotator):
    now = timezone.now()
    _violates(Claim, task=rating_task, annotator=annotator, claimed_at=now, expires_at=now)


def test_pairwise_tasks_pair_different_models_once(pairwise_project):
    prompt = PromptFactory(project=pairwise_project)
    for model in ["base-v1", "ft-r1", "ft-r2"]:
        ResponseFactory(prompt=prompt, model_name=model)
    ResponseFactory(prompt=prompt, model_name="ft-r2", text="second sample of ft-r2")
    tasks = tasks_create_for_responses(
        project=pairwise_project, responses=list(prompt.responses.all())
    )
    pairs = {frozenset((t.response_a.model_name, t.response_b.model_name)) for t in tasks}
    assert pairs == {
        frozenset({"base-v1", "ft-r1"}),
        frozenset({"base-v1", "ft-r2"}),
        frozenset({"ft-r1", "ft-r2"}),
    }
    assert len(tasks) == 5  # ft-r2 has two samples, each paired with base-v1 and ft-r1
    assert (
        tasks_create_for_responses(project=pairwise_project, responses=list(prompt.responses.all()))
        == []
    )


def test_baseline_pairing_puts_the_baseline_first(lead):
    from tests.factories import ProjectFactory

    project = ProjectFactory(
        created_by=lead, kind="pairwise", pairing="baseline", baseline_model="base-v1"
    )
    prompt = PromptFactory(project=project)
    for model in ["ft-r1", "base-v1", "ft-r2"]:
        ResponseFactory(prompt=prompt, model_name=model)
    tasks = tasks_create_for_responses(project=project, responses=list(prompt.responses.all()))
    assert sorted((t.response_a.model_name, t.response_b.model_name) for t in tasks) == [
        ("base-v1", "ft-r1"),
        ("base-v1", "ft-r2"),
    ]
