import json

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from annotation.models import Membership, Project, Prompt, Response, Role, Task
from annotation.services import (
    api_token_create,
    batch_create,
    claim_next,
    judgment_submit,
    project_create,
    prompt_records_load,
)
from annotation.services.leads import adjudication_record, task_set_gold
from bench.seeding import seed_pairwise
from evaluation.exports.services.build import export_build
from evaluation.exports.services.files import export_dir
from evaluation.exports.services.jobs import export_start
from evaluation.generation.services.endpoints import model_endpoint_create
from evaluation.models import GenerationRun, ModelEndpoint, Round
from ftapp.actors import SYSTEM
from tests.workers import TEST_MODEL_KEY_ENV

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(self, create, extracted, **kwargs):
        if create:
            self.save()


class LeadFactory(UserFactory):
    username = factory.Sequence(lambda n: f"lead{n}")

    @factory.post_generation
    def may_create_projects(self, create, extracted, **kwargs):
        if create:
            self.user_permissions.add(
                Permission.objects.get(content_type__app_label="annotation", codename="add_project")
            )


class AnnotatorFactory(UserFactory):
    username = factory.Sequence(lambda n: f"annotator{n}")


class ProjectFactory(factory.django.DjangoModelFactory):
    """Made through ``project_create`` so the creator is a lead and guidelines v1 exists."""

    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    kind = "rating"
    created_by = factory.SubFactory(LeadFactory)

    @classmethod
    def _create(cls, model_class, *args, created_by, **kwargs):
        kwargs.setdefault("guidelines", "# Guidelines\n\nRate **carefully**.")
        return project_create(by=created_by, **kwargs)


def add_member(project: Project, user, role: str = Role.ANNOTATOR) -> Membership:
    return Membership.objects.create(project=project, user=user, role=role)


class PromptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prompt

    project = factory.SubFactory(ProjectFactory)
    external_id = factory.Sequence(lambda n: f"p-{n}")
    text = factory.Sequence(lambda n: f"Question number {n}?")


class ResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Response

    prompt = factory.SubFactory(PromptFactory)
    model_name = factory.Iterator(["base-v1", "ft-r1", "ft-r2"])
    text = factory.Sequence(lambda n: f"Answer number {n}.")


def make_project(
    lead, *, kind="rating", prompts=4, models=("m1",), overlap=1, metadata=None, **options
):
    """Prompts q0, q1, … ("Question 0?", …) answered by each of ``models`` ("Answer 0 by m1");
    ``models`` may instead be a function of the prompt's number, and ``metadata`` one that
    gives the prompt's metadata."""
    project = ProjectFactory(created_by=lead, kind=kind, overlap=overlap, **options)
    records = []
    for i in range(prompts):
        answering = models(i) if callable(models) else models
        record = {
            "id": f"q{i}",
            "prompt": f"Question {i}?",
            "responses": [{"model": m, "text": f"Answer {i} by {m}"} for m in answering],
        }
        if metadata:
            record["metadata"] = metadata(i)
        records.append(record)
    prompt_records_load(by=SYSTEM, project=project, records=records)
    return project


def assign(project, annotators, *, name="b", tasks=None, **kwargs):
    for a in annotators:
        if not project.memberships.filter(user=a).exists():
            add_member(project, a)
    if tasks is None:
        tasks = Task.objects.filter(project=project, batch__isnull=True)
    return batch_create(
        by=SYSTEM,
        project=project,
        name=name,
        tasks=list(tasks),
        annotators=annotators,
        **kwargs,
    )


def queries(call) -> int:
    """How many queries ``call`` runs; it must answer 200."""
    with CaptureQueriesContext(connection) as captured:
        response = call()
    assert response.status_code == 200
    return len(captured)


def client_for(user) -> APIClient:
    client = APIClient()
    _, key = api_token_create(user=user, name="tests")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def judge(user, claim, **data):
    data = data or ({"rating": 4} if claim.task.kind == "rating" else {"choice": "A"})
    return judgment_submit(user=user, task_id=claim.task_id, **data).judgment


def judge_all(project, annotators, decide):
    """Works each annotator's queue to the end; ``decide(annotator_index, task)`` gives the
    judgment's data, in the task's terms for pairwise (``choice`` A = response_a)."""
    for index, annotator in enumerate(annotators):
        while (claim := claim_next(user=annotator, project_id=project.pk)) is not None:
            data = dict(decide(index, claim.task))
            if data.get("choice") in ("A", "B") and claim.swapped:
                data["choice"] = "B" if data["choice"] == "A" else "A"
            judgment_submit(user=annotator, task_id=claim.task_id, **data)


def build(project, kind, fmt="trl", by=None, **kwargs):
    """Builds in this process. Without ``by`` it is started as the command line does, so no
    task goes to a worker that tests running one would also have build it."""
    if by is None:
        export = export_start(by=SYSTEM, project=project, kind=kind, format=fmt, **kwargs)
    else:
        export = export_start(by=by, project_id=project.pk, kind=kind, format=fmt, **kwargs)
    return export_build(export_id=export.pk)


def rows(export, split=None):
    splits = [split] if split else ["train", "test"]
    return [
        json.loads(line)
        for s in splits
        for line in (export_dir(export) / f"{s}.jsonl").read_text().splitlines()
    ]


MODELS = ("m1", "m2", "m3")
MULTI_TURN = [
    {"role": "user", "content": "Question 3?"},
    {"role": "assistant", "content": "Which part?"},
    {"role": "user", "content": "All of it."},
]
# (u1, u2) ratings per prompt and model; q4 is q0 again with other spacing and case.
RATINGS = {
    "q0": {"m1": (5, 5), "m2": (3, 3), "m3": (1, 2)},
    "q1": {"m1": (4, 5), "m2": (4, 4), "m3": (4, 3)},
    "q2": {"m1": (2, 2), "m2": (1, 5), "m3": (3, 3)},
    "q3": {"m1": (5, 5), "m2": (2, 2), "m3": (4, 4)},
    "q4": {"m1": (4, 4)},
}
REWRITE = "Expert answer to question 2."


def make_rated_project(lead):
    """A rating project: 5 prompts (q4 duplicates q0), 3 models, 2 annotators at overlap 2;
    q2/m2 is a conflict (1 vs 5) adjudicated to 5; u1 rewrote q2/m1; q3/m1 is gold."""
    project = ProjectFactory(created_by=lead, kind="rating", overlap=2)
    records = []
    for i in range(4):
        record = {"id": f"q{i}", "prompt": f"Question {i}?"}
        if i == 1:
            record["system"] = "You are terse."
        if i == 3:
            record = {"id": "q3", "messages": MULTI_TURN}
        record["responses"] = [{"model": m, "text": f"A{i} {m}"} for m in MODELS]
        records.append(record)
    records.append(
        {"id": "q4", "prompt": "  question   0?", "responses": [{"model": "m1", "text": "A4 m1"}]}
    )
    prompt_records_load(by=SYSTEM, project=project, records=records)
    annotators = [AnnotatorFactory(username="u1"), AnnotatorFactory(username="u2")]
    assign(project, annotators, overlap=2)

    def decide(index, task):
        rating = RATINGS[task.prompt.external_id][task.response_a.model_name][index]
        data = {"rating": rating}
        if index == 0 and task.prompt.external_id == "q2" and task.response_a.model_name == "m1":
            data["rewrite"] = REWRITE
        return data

    judge_all(project, annotators, decide)
    conflict = Task.objects.get(
        project=project, prompt__external_id="q2", response_a__model_name="m2"
    )
    adjudication_record(by=lead, task_id=conflict.pk, rating=5)
    gold = Task.objects.get(project=project, prompt__external_id="q3", response_a__model_name="m1")
    task_set_gold(by=lead, task_id=gold.pk, is_gold=True, rating_min=4, rating_max=5)
    project.annotators = annotators
    return project


def make_pairwise_project(lead):
    """Five pairs judged by three annotators, in the task's terms (A = m1's response):
    p0 A,A,B · p1 B,tie,tie · p2 A,B,both_bad · p3 both_bad×3 · p4 A,B,tie adjudicated B."""
    project = make_project(lead, kind="pairwise", prompts=5, models=("m1", "m2"), overlap=3)
    votes = {
        0: "A A B",
        1: "B tie tie",
        2: "A B both_bad",
        3: "both_bad both_bad both_bad",
        4: "A B tie",
    }
    annotators = [AnnotatorFactory() for _ in range(3)]
    assign(project, annotators, overlap=3)
    for task in Task.objects.filter(project=project):
        assert task.response_a.model_name == "m1"

    def decide(index, task):
        return {"choice": votes[int(task.prompt.external_id[1:])].split()[index]}

    judge_all(project, annotators, decide)
    p4 = Task.objects.get(project=project, prompt__external_id="q4")
    adjudication_record(by=lead, task_id=p4.pk, choice="B")
    return project


# Answers with an e-mail address and a phone number, so that redaction has work on every row.
PII_ANSWER = (
    "Open the app, go to Cards and select Change PIN; you confirm with a code sent to "
    "jane.doe@example.com or +44 20 7946 0958. "
)


def make_bulk_pairwise_project(lead, *, prompts: int) -> int:
    """A pairwise project large enough that exporting it takes seconds (``prompts`` tasks,
    two judgments each from four annotators), written in bulk; returns its id. PostgreSQL
    only."""
    annotators = [AnnotatorFactory() for _ in range(4)]
    return seed_pairwise(lead=lead, annotators=annotators, prompts=prompts, answer=PII_ANSWER)


def may_add_endpoints(lead):
    """The lead with the permission to add model endpoints, read afresh (Django caches a
    user's permissions on the instance)."""
    lead.user_permissions.add(
        Permission.objects.get(content_type__app_label="evaluation", codename="add_modelendpoint")
    )
    return type(lead).objects.get(pk=lead.pk)


def make_endpoint(lead, server, name="fake-a", **extra):
    """An endpoint on a ``FakeModelServer`` that sends the test model key."""
    return model_endpoint_create(
        by=may_add_endpoints(lead),
        name=name,
        base_url=server.base_url,
        model="fake-model",
        params={"temperature": 0.7, "max_tokens": 64},
        api_key_env=TEST_MODEL_KEY_ENV,
        **extra,
    )


def make_run_and_round(lead, project, *, model: str, previous_model: str, export):
    """An endpoint nobody serves (port 9), a run on it still going, and round 1 of its model
    trained on ``export``: what the run and round pages show."""
    endpoint = ModelEndpoint.objects.create(
        name=model, base_url="http://127.0.0.1:9/v1", model=model, created_by=lead
    )
    run = GenerationRun.objects.create(project=project, created_by=lead, status="running")
    run.endpoints.set([endpoint])
    round_ = Round.objects.create(
        project=project,
        number=1,
        model=endpoint,
        previous_model=previous_model,
        export=export,
        created_by=lead,
    )
    return run, round_


def make_trained_project(lead, kind="pairwise", prompts=16):
    """Prompts answered by ``base`` and ``other``, judged, exported with half held out."""
    project = make_project(lead, kind=kind, prompts=prompts, models=("base", "other"))
    annotators = [AnnotatorFactory(), AnnotatorFactory()]
    assign(project, annotators, overlap=2)
    if kind == "pairwise":
        judge_all(project, annotators, lambda i, task: {"choice": "A"})
    else:
        judge_all(project, annotators, lambda i, task: {"rating": 4})
    export = build(project, "dpo" if kind == "pairwise" else "kto", test_fraction=0.5, seed=4)
    return project, annotators, export
