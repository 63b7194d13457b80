"""Who may do what: every page and API endpoint × every role → the expected status.

A new URL pattern fails ``test_every_endpoint_is_in_the_matrix`` until it is added here."""

import json
import uuid

import pytest
from django.contrib.auth.models import Permission
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from annotation.models import Batch, Response, Task
from annotation.services import api_token_create, claim_next
from evaluation.exports.services.build import export_build
from evaluation.exports.services.jobs import export_start
from evaluation.models import GenerationRun, JudgePrompt, ModelEndpoint, Round
from tests.factories import (
    AnnotatorFactory,
    LeadFactory,
    UserFactory,
    add_member,
    assign,
    judge,
    make_project,
)

ROLES = ("anonymous", "outsider", "annotator", "lead")
RECORD = json.dumps({"id": "new", "prompt": "A new question?"}) + "\n"

# name: (method, path, payload, {role: status}); {p} project, {t} claimed task, {b} batch,
# {r} generation run, {g} judge run, {m} model endpoint, {e} finished export, {o} round,
# {k} the lead's API token, {j} the annotator's judgment, {x} another annotator's
# judgment
API = {
    "api-token": (
        "post",
        "/api/v1/auth/token/",
        {"username": "x", "password": "y"},
        dict.fromkeys(ROLES, 400),
    ),
    # Each user's own: no one else's can be named.
    "api-preferences": (
        "get",
        "/api/v1/me/preferences/",
        None,
        {"anonymous": 401, "outsider": 200, "annotator": 200, "lead": 200},
    ),
    "api-preferences:put": (
        "put",
        "/api/v1/me/preferences/",
        {"shortcuts": False},
        {"anonymous": 401, "outsider": 200, "annotator": 200, "lead": 200},
    ),
    "api-projects": (
        "get",
        "/api/v1/projects/",
        None,
        {"anonymous": 401, "outsider": 200, "annotator": 200, "lead": 200},
    ),
    "api-projects:post": (
        "post",
        "/api/v1/projects/",
        {"name": "N", "kind": "rating"},
        {"anonymous": 401, "outsider": 403, "annotator": 403, "lead": 201},
    ),
    "api-project": (
        "get",
        "/api/v1/projects/{p}/",
        None,
        {"anonymous": 401, "outsider": 404, "annotator": 200, "lead": 200},
    ),
    "api-project:patch": (
        "patch",
        "/api/v1/projects/{p}/",
        {"overlap": 2},
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 200},
    ),
    "api-project-members": (
        "post",
        "/api/v1/projects/{p}/members/",
        {"username": "spare", "role": "annotator"},
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 200},
    ),
    "api-project-member": (
        "patch",
        "/api/v1/projects/{p}/members/spare/",
        {"role": "lead"},
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 200},
    ),
    "api-project-member:delete": (
        "delete",
        "/api/v1/projects/{p}/members/spare/",
        None,
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 204},
    ),
    "api-project-import": (
        "post",
        "/api/v1/projects/{p}/import/",
        RECORD,
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 200},
    ),
    "api-project-batches": (
        "get",
        "/api/v1/projects/{p}/batches/",
        None,
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 200},
    ),
    "api-project-batches:post": (
        "post",
        "/api/v1/projects/{p}/batches/",
        {"name": "B2", "size": 1},
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 201},
    ),
    "api-queue-next": (
        "post",
        "/api/v1/projects/{p}/queue/next/",
        None,
        {"anonymous": 401, "outsider": 404, "annotator": 200, "lead": 403},
    ),
    "api-guidelines-read": (
        "post",
        "/api/v1/projects/{p}/guidelines/read/",
        {"version": 1},
        {"anonymous": 401, "outsider": 404, "annotator": 200, "lead": 200},
    ),
    "api-queue-undo": (
        "post",
        "/api/v1/projects/{p}/queue/undo/",
        None,
        {"anonymous": 401, "outsider": 404, "annotator": 200, "lead": 403},
    ),
    "api-judge": (
        "post",
        "/api/v1/tasks/{t}/judgments/",
        {"rating": 3},
        {"anonymous": 401, "outsider": 404, "annotator": 201, "lead": 403},
    ),
    "api-my-judgments": (
        "get",
        "/api/v1/projects/{p}/my-judgments/",
        None,
        {"anonymous": 401, "outsider": 404, "annotator": 200, "lead": 200},
    ),
    # Only the judgment's own annotator; anyone else's is a 404, as a missing one would be.
    "api-judgment": (
        "patch",
        "/api/v1/judgments/{j}/",
        {"rating": 5},
        {"anonymous": 401, "outsider": 404, "annotator": 200, "lead": 404},
    ),
    "api-judgment:other": (
        "patch",
        "/api/v1/judgments/{x}/",
        {"rating": 5},
        {"anonymous": 401, "outsider": 404, "annotator": 404, "lead": 404},
    ),
    "api-task": (
        "get",
        "/api/v1/tasks/{t}/",
        None,
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 200},
    ),
    "api-project-tasks-bulk": (
        "post",
        "/api/v1/projects/{p}/tasks/bulk/",
        {"action": "adjudicate", "scope": "all"},
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 200},
    ),
    "api-skip": (
        "post",
        "/api/v1/tasks/{t}/skip/",
        {"reason": "unsure"},
        {"anonymous": 401, "outsider": 404, "annotator": 200, "lead": 403},
    ),
    "api-models": (
        "get",
        "/api/v1/models/",
        None,
        {"anonymous": 401, "outsider": 403, "annotator": 403, "lead": 200},
    ),
    "api-models:post": (
        "post",
        "/api/v1/models/",
        {"name": "M", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
        {"anonymous": 401, "outsider": 403, "annotator": 403, "lead": 201},
    ),
    "api-model": (
        "patch",
        "/api/v1/models/{m}/",
        {"retired": True},
        {"anonymous": 401, "outsider": 403, "annotator": 403, "lead": 200},
    ),
    "api-generation-runs": (
        "post",
        "/api/v1/projects/{p}/generation-runs/",
        {"models": [999999]},
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 400},
    ),
    "api-generation-run": (
        "get",
        "/api/v1/generation-runs/{r}/",
        None,
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 200},
    ),
    "api-generation-run-cancel": (
        "post",
        "/api/v1/generation-runs/{r}/cancel/",
        None,
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 200},
    ),
    "api-generation-run-resume": (
        "post",
        "/api/v1/generation-runs/{r}/resume/",
        None,
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 409},
    ),
    "api-judge-runs": (
        "post",
        "/api/v1/projects/{p}/judge-runs/",
        {"judge": 999999, "selection": {"scope": "judged"}},
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 400},
    ),
    "api-judge-run": (
        "get",
        "/api/v1/judge-runs/{g}/",
        None,
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 200},
    ),
    "api-judge-run-cancel": (
        "post",
        "/api/v1/judge-runs/{g}/cancel/",
        None,
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 200},
    ),
    "api-judge-run-resume": (
        "post",
        "/api/v1/judge-runs/{g}/resume/",
        None,
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 409},
    ),
    # Annotators judge blind: no verdict reaches them.
    "api-judge-verdicts": (
        "get",
        "/api/v1/projects/{p}/judge-verdicts/",
        None,
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 200},
    ),
    "api-judge-calibration": (
        "get",
        "/api/v1/projects/{p}/judge/calibration/",
        None,
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 200},
    ),
    "api-project-judgments": (
        "get",
        "/api/v1/projects/{p}/judgments/",
        None,
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 200},
    ),
    "api-project-tasks": (
        "get",
        "/api/v1/projects/{p}/tasks/",
        None,
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 200},
    ),
    "api-project-exports": (
        "get",
        "/api/v1/projects/{p}/exports/",
        None,
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 200},
    ),
    "api-project-exports:post": (
        "post",
        "/api/v1/projects/{p}/exports/",
        {"kind": "sft"},
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 202},
    ),
    "api-export": (
        "get",
        "/api/v1/exports/{e}/",
        None,
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 200},
    ),
    # {e} is completed: leads get as far as the rule, which says no.
    "api-export-cancel": (
        "post",
        "/api/v1/exports/{e}/cancel/",
        None,
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 409},
    ),
    "api-export-retry": (
        "post",
        "/api/v1/exports/{e}/retry/",
        None,
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 409},
    ),
    "api-export-download": (
        "get",
        "/api/v1/exports/{e}/download/?split=train",
        None,
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 200},
    ),
    "api-project-rounds": (
        "get",
        "/api/v1/projects/{p}/rounds/",
        None,
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 200},
    ),
    "api-project-rounds:post": (
        "post",
        "/api/v1/projects/{p}/rounds/",
        {"model": 999999, "export": 999999, "previous_model": "nobody"},
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 400},
    ),
    "api-round": (
        "get",
        "/api/v1/rounds/{o}/",
        None,
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 200},
    ),
    "api-project-leaderboard": (
        "get",
        "/api/v1/projects/{p}/leaderboard/",
        None,
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 200},
    ),
    "api-project-agreement": (
        "get",
        "/api/v1/projects/{p}/agreement/",
        None,
        {"anonymous": 401, "outsider": 404, "annotator": 403, "lead": 200},
    ),
    "api-schema": ("get", "/api/schema/", None, dict.fromkeys(ROLES, 200)),
    "api-docs": ("get", "/api/docs/", None, dict.fromkeys(ROLES, 200)),
}
LEAD_PAGE = {"anonymous": 302, "outsider": 404, "annotator": 403, "lead": 200}
LEAD_ACTION = {"anonymous": 302, "outsider": 404, "annotator": 403, "lead": 302}
PAGES = {
    "home": ("get", "/", None, {"anonymous": 302, "outsider": 200, "annotator": 200, "lead": 200}),
    "login": (
        "get",
        "/login/",
        None,
        {"anonymous": 200, "outsider": 302, "annotator": 302, "lead": 302},
    ),
    "logout": ("post", "/logout/", None, dict.fromkeys(ROLES, 302)),
    "healthz": ("get", "/healthz/", None, dict.fromkeys(ROLES, 200)),
    "queue": (
        "get",
        "/projects/{p}/queue/",
        None,
        {"anonymous": 302, "outsider": 404, "annotator": 200, "lead": 403},
    ),
    "queue-undo": (
        "post",
        "/projects/{p}/queue/undo/",
        None,
        {"anonymous": 302, "outsider": 404, "annotator": 302, "lead": 403},
    ),
    # Each signed-in user sets only their own: the form names no user.
    "preference-shortcuts": (
        "post",
        "/preferences/shortcuts/",
        {"shortcuts": "off"},
        {"anonymous": 302, "outsider": 302, "annotator": 302, "lead": 302},
    ),
    "guidelines-acknowledge": (
        "post",
        "/projects/{p}/guidelines/read/",
        {"version": "1"},
        {"anonymous": 302, "outsider": 404, "annotator": 302, "lead": 403},
    ),
    "task-judge": (
        "post",
        "/tasks/{t}/judge/",
        {"rating": "3"},
        {"anonymous": 302, "outsider": 404, "annotator": 302, "lead": 403},
    ),
    "task-skip": (
        "post",
        "/tasks/{t}/skip/",
        {"reason": "unsure"},
        {"anonymous": 302, "outsider": 404, "annotator": 302, "lead": 403},
    ),
    # "My work" is the caller's own: a lead sees theirs (none here), never an annotator's.
    "my-work": (
        "get",
        "/projects/{p}/my-work/",
        None,
        {"anonymous": 302, "outsider": 404, "annotator": 200, "lead": 200},
    ),
    "my-judgment": (
        "get",
        "/my-work/{j}/",
        None,
        {"anonymous": 302, "outsider": 404, "annotator": 200, "lead": 404},
    ),
    # The matrix posts JSON, which a page's form does not read: the annotator gets as far as
    # the form's check ("Give a rating"), shown again with 400.
    "my-judgment:post": (
        "post",
        "/my-work/{j}/",
        {"rating": "5"},
        {"anonymous": 302, "outsider": 404, "annotator": 400, "lead": 404},
    ),
    "my-judgment:other": (
        "get",
        "/my-work/{x}/",
        None,
        {"anonymous": 302, "outsider": 404, "annotator": 404, "lead": 404},
    ),
    "project": ("get", "/projects/{p}/", None, LEAD_PAGE),
    "project-new": (
        "get",
        "/projects/new/",
        None,
        {"anonymous": 302, "outsider": 403, "annotator": 403, "lead": 200},
    ),
    "project-settings": ("get", "/projects/{p}/settings/", None, LEAD_PAGE),
    "project-settings:post": (
        "post",
        "/projects/{p}/settings/",
        {"gold_rate": "0.1"},
        LEAD_ACTION,
    ),
    "project-import": ("get", "/projects/{p}/import/", None, LEAD_PAGE),
    "batch-new": ("get", "/projects/{p}/batches/new/", None, LEAD_PAGE),
    "batch": ("get", "/batches/{b}/", None, LEAD_PAGE),
    "members": ("get", "/projects/{p}/members/", None, LEAD_PAGE),
    "members:post": (
        "post",
        "/projects/{p}/members/",
        {"username": "spare", "role": "annotator"},
        LEAD_ACTION,
    ),
    "member-role": ("post", "/projects/{p}/members/spare/role/", {"role": "lead"}, LEAD_ACTION),
    "member-remove": ("get", "/projects/{p}/members/spare/remove/", None, LEAD_PAGE),
    "member-remove:post": ("post", "/projects/{p}/members/spare/remove/", None, LEAD_ACTION),
    "member-exclusion": (
        "post",
        "/projects/{p}/members/spare/exclusion/",
        {"excluded": "1"},
        LEAD_ACTION,
    ),
    "data": ("get", "/projects/{p}/data/", None, LEAD_PAGE),
    "data-bulk": (
        "post",
        "/projects/{p}/data/bulk/",
        {"action": "adjudicate", "scope": "all"},
        LEAD_ACTION,
    ),
    "conflicts": ("get", "/projects/{p}/conflicts/", None, LEAD_PAGE),
    "task-review": ("get", "/tasks/{t}/review/", None, LEAD_PAGE),
    "guidelines": ("get", "/projects/{p}/guidelines/", None, LEAD_PAGE),
    "models": (
        "get",
        "/models/",
        None,
        {"anonymous": 302, "outsider": 403, "annotator": 403, "lead": 200},
    ),
    "model-test": (
        "post",
        "/models/{m}/test/",
        None,
        {"anonymous": 302, "outsider": 403, "annotator": 403, "lead": 302},
    ),
    "model-edit": (
        "get",
        "/models/{m}/",
        None,
        {"anonymous": 302, "outsider": 403, "annotator": 403, "lead": 200},
    ),
    "model-retire": (
        "post",
        "/models/{m}/retire/",
        {"action": "retire"},
        {"anonymous": 302, "outsider": 403, "annotator": 403, "lead": 302},
    ),
    "run-new": ("get", "/projects/{p}/generate/", None, LEAD_PAGE),
    "run": ("get", "/runs/{r}/", None, LEAD_PAGE),
    "judge": ("get", "/projects/{p}/judge/", None, LEAD_PAGE),
    # A preview: shown, nothing published.
    "judge:post": (
        "post",
        "/projects/{p}/judge/",
        {"action": "preview", "template": "{response}"},
        LEAD_PAGE,
    ),
    # The list alone is what the judge page polls; without htmx it is the judge page's.
    "judge-runs": ("get", "/projects/{p}/judge/runs/", None, LEAD_ACTION),
    # No such model: the form is shown again with the error.
    "judge-runs:post": (
        "post",
        "/projects/{p}/judge/runs/",
        {"judge": "999999", "scope": "judged"},
        LEAD_PAGE,
    ),
    "judge-run": ("get", "/judge-runs/{g}/", None, LEAD_PAGE),
    "judge-run:post": ("post", "/judge-runs/{g}/", {"action": "cancel"}, LEAD_ACTION),
    "export-new": ("get", "/projects/{p}/exports/", None, LEAD_PAGE),
    "export": ("get", "/exports/{e}/", None, LEAD_PAGE),
    "export:post": ("post", "/exports/{e}/", {"action": "retry"}, LEAD_ACTION),
    "leaderboard": ("get", "/projects/{p}/leaderboard/", None, LEAD_PAGE),
    "agreement": ("get", "/projects/{p}/agreement/", None, LEAD_PAGE),
    "round-new": ("get", "/projects/{p}/rounds/", None, LEAD_PAGE),
    "round": ("get", "/rounds/{o}/", None, LEAD_PAGE),
    "tokens": (
        "get",
        "/tokens/",
        None,
        {"anonymous": 302, "outsider": 200, "annotator": 200, "lead": 200},
    ),
    # Someone else's token is a 404, as a token that does not exist would be.
    "token-revoke": (
        "post",
        "/tokens/{k}/revoke/",
        None,
        {"anonymous": 302, "outsider": 404, "annotator": 404, "lead": 302},
    ),
}
MATRIX = {**API, **PAGES}


@pytest.fixture(autouse=True)
def own_throttle_counts(settings):
    """API throttle counts of this test's own: the matrix asks for tokens again and again, and
    other runs sharing the same Redis must not push it over the token endpoint's rate."""
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
    }


@pytest.fixture
def world(db):
    lead = LeadFactory()
    annotator = AnnotatorFactory()
    spare = UserFactory(username="spare")
    project = make_project(lead, prompts=4)
    add_member(project, spare)
    batch = assign(project, [annotator], tasks=Task.objects.filter(project=project)[:2])
    first = claim_next(user=annotator, project_id=project.pk)
    endpoint = ModelEndpoint.objects.create(
        name="perm-model", base_url="http://127.0.0.1:9/v1", model="m", created_by=lead
    )
    run = GenerationRun.objects.create(project=project, created_by=lead, status="running")
    run.endpoints.set([endpoint])
    judge_prompt = JudgePrompt.objects.create(
        project=project, version=1, template="{response}", created_by=lead
    )
    judge_run = GenerationRun.objects.create(
        project=project,
        created_by=lead,
        status="running",
        purpose="judge",
        judge_prompt=judge_prompt,
    )
    judge_run.endpoints.set([endpoint])
    lead.user_permissions.add(
        Permission.objects.get(content_type__app_label="evaluation", codename="add_modelendpoint")
    )
    export = export_start(by=lead, project_id=project.pk, kind="sft", format="trl")
    export_build(export_id=export.pk)
    rnd = Round.objects.create(
        project=project,
        number=1,
        model=endpoint,
        previous_model="m1",
        export=export,
        created_by=lead,
    )
    token, _ = api_token_create(user=lead, name="perm-token")
    # Judged after the export's snapshot, so it may still change; another annotator's too.
    judgment = judge(annotator, first, rating=2)
    claim = claim_next(user=annotator, project_id=project.pk)
    other = AnnotatorFactory()
    third = Task.objects.filter(project=project).order_by("id")[2]
    assign(project, [other], name="other", tasks=[third])
    theirs = judge(other, claim_next(user=other, project_id=project.pk), rating=4)
    users = {"anonymous": None, "outsider": UserFactory(), "annotator": annotator, "lead": lead}
    ids = {
        "p": project.pk,
        "t": claim.task_id,
        "b": batch.pk,
        "r": run.pk,
        "g": judge_run.pk,
        "m": endpoint.pk,
        "e": export.pk,
        "o": rnd.pk,
        "k": token.pk,
        "j": judgment.pk,
        "x": theirs.pk,
    }
    return {"users": users, **ids}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(MATRIX))
def test_permission_matrix(world, name, role):
    method, path, payload, expected = MATRIX[name]
    client = APIClient()
    user = world["users"][role]
    if user is not None:
        client.force_login(user)
    url = path.format(**{k: v for k, v in world.items() if k != "users"})
    if name in PAGES:
        response = getattr(client, method)(url, payload or {})
    elif isinstance(payload, str):
        response = client.post(url, data=payload, content_type="application/x-ndjson")
    else:
        response = getattr(client, method)(url, payload, format="json")
    assert response.status_code == expected[role], (name, role, response.content[:300])
    assert Batch.objects.filter(pk=world["b"]).exists()


# Who sees model endpoints: leads of a project (with or without the permission to register),
# users given the permission to add or view them, staff. Annotators and users with no
# membership see none: (GET /models/, GET /api/v1/models/, POST /api/v1/models/, Test
# connection).
MODEL_ROLES = {
    "anonymous": (302, 401, 401, 302),
    "outsider": (403, 403, 403, 403),
    "annotator": (403, 403, 403, 403),
    "plain_lead": (200, 200, 201, 302),
    "lead": (200, 200, 201, 302),
    "registrant": (200, 200, 201, 302),
    "viewer": (200, 200, 403, 403),
    "staff": (200, 200, 403, 403),
}
SECRET = "secret-model"  # in every model name, endpoint name and base URL below


def _with_permission(user, codename: str):
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="evaluation", codename=codename)
    )
    return user


@pytest.fixture
def model_world(db):
    lead = _with_permission(LeadFactory(), "add_modelendpoint")
    plain_lead = LeadFactory()
    annotator = AnnotatorFactory()
    project = make_project(
        lead,
        kind="pairwise",
        prompts=2,
        models=(f"{SECRET}-base", f"{SECRET}-tuned"),
        pairing="baseline",
        baseline_model=f"{SECRET}-base",
    )
    Response.objects.filter(prompt__project=project).update(text="An answer.")
    make_project(plain_lead, prompts=1)
    assign(project, [annotator])
    endpoint = ModelEndpoint.objects.create(
        name=f"{SECRET}-endpoint",
        base_url=f"http://{SECRET}.invalid/v1",
        model=f"{SECRET}-id",
        created_by=lead,
    )
    users = {
        "anonymous": None,
        "outsider": UserFactory(),
        "annotator": annotator,
        "plain_lead": plain_lead,
        "lead": lead,
        "registrant": _with_permission(UserFactory(), "add_modelendpoint"),
        "viewer": _with_permission(UserFactory(), "view_modelendpoint"),
        "staff": UserFactory(is_staff=True),
    }
    return {"users": users, "project": project, "endpoint": endpoint}


def _client(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


@pytest.mark.parametrize("role", sorted(MODEL_ROLES))
def test_model_endpoints_by_role(model_world, role):
    client = _client(model_world["users"][role])
    endpoint = model_world["endpoint"]
    responses = [
        client.get("/models/"),
        client.get("/api/v1/models/"),
        client.post(
            "/api/v1/models/",
            {"name": f"new-{role}", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
            format="json",
        ),
        client.post(f"/models/{endpoint.pk}/test/"),
    ]
    assert tuple(r.status_code for r in responses) == MODEL_ROLES[role]
    for response in responses[:2]:
        assert (SECRET in response.content.decode()) == (response.status_code == 200), role


@pytest.mark.parametrize("role", ["outsider", "annotator", "plain_lead", "lead"])
def test_project_payloads_by_role(model_world, role):
    """The project list and detail give a lead the project's model setup; an annotator the
    same project without any model name; a user with no membership nothing. No page or
    payload an annotator or outsider gets names a model, an endpoint or its URL."""
    user = model_world["users"][role]
    project = model_world["project"]
    client = _client(user)
    listed = client.get("/api/v1/projects/")
    detail = client.get(f"/api/v1/projects/{project.pk}/")
    bodies = [listed, detail, client.get("/")]
    common = {
        "id",
        "name",
        "description",
        "kind",
        "guidelines",
        "guidelines_version",
        "rating_anchors",
        "overlap",
        "lease_minutes",
        "gold_rate",
        "rubric",
        "role",
        "archived_at",
        "progress",
        "created_at",
        "updated_at",
        "conflict_rule",
    }
    if role == "lead":
        (item,) = listed.json()
        lead_only = {"pairing", "baseline_model", "repeat_share"}
        assert set(item) == set(detail.json()) == common | lead_only
        assert item["baseline_model"] == f"{SECRET}-base"
    elif role == "annotator":
        (item,) = listed.json()
        assert set(item) == set(detail.json()) == common
        claimed = client.post(f"/api/v1/projects/{project.pk}/queue/next/")
        assert claimed.status_code == 200
        bodies += [claimed, client.get(f"/projects/{project.pk}/queue/")]
    else:
        assert project.pk not in [p["id"] for p in listed.json()]
        assert detail.status_code == 404
        assert project.name not in client.get("/").content.decode()
    bodies += [client.get("/models/"), client.get("/api/v1/models/")]
    if role in ("outsider", "annotator"):
        for response in bodies:
            assert SECRET not in response.content.decode(), (role, response.request["PATH_INFO"])
            assert 'href="/models/"' not in response.content.decode()


def _names(patterns, prefix="") -> set[str]:
    names = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.app_name == "admin":
                continue
            names |= _names(pattern.url_patterns)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(pattern.name)
    return names


def test_every_endpoint_is_in_the_matrix():
    covered = {name.split(":")[0] for name in MATRIX}
    missing = _names(get_resolver().url_patterns) - covered
    assert not missing, f"add these to the permission matrix: {sorted(missing)}"
