"""Numbers past what the database holds, JSON nested past any sane depth and numbers JSON
cannot carry are bad input (400), never a database or stack error (500): cases the schema
fuzz run and a probe of a deployment turned up."""

import pytest
from django.contrib.auth.models import Permission

from annotation.judgment_feed import cursor_encode
from annotation.models import Batch, Judgment, Project, Prompt, Task
from annotation.services import claim_next
from annotation.services.leads import tasks_matching
from evaluation.generation.services.endpoints import model_endpoint_create
from evaluation.models import Export, GenerationRun, ModelEndpoint
from ftapp.errors import InvalidInput
from tests.factories import assign, client_for, make_project

HUGE = 10**22

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("post", "/api/v1/projects/{p}/batches/", {"name": "b", "size": HUGE}, "size"),
        ("post", "/api/v1/projects/{p}/generation-runs/", {"models": [HUGE]}, "models.0"),
        ("post", "/api/v1/projects/{p}/exports/",
         {"kind": "dpo", "filters": {"batches": [HUGE]}}, "filters.batches"),
        ("post", "/api/v1/projects/{p}/rounds/",
         {"model": HUGE, "export": 1, "previous_model": "m"}, "model"),
        ("get", "/api/v1/projects/{p}/judgments/?batch=" + str(HUGE), None, "batch"),
        ("get", "/api/v1/projects/{p}/judgments/?cursor=" + cursor_encode(HUGE, 1), None,
         "cursor"),
    ],
)
def test_out_of_range_numbers_are_field_errors(lead, method, path, body, field):
    project = make_project(lead, prompts=1)
    client = client_for(lead)
    url = path.format(p=project.pk)
    response = getattr(client, method)(url, body, format="json") if body else client.get(url)
    assert response.status_code == 400, response.content
    fields = response.json()["error"]["fields"]
    assert any(name == field or name.startswith(field) for name in fields), fields


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


MODEL = '{"name": "m", "base_url": "http://127.0.0.1:9/v1", "model": "x", "params": @}'
RUN = '{"models": [{e}], "params": @}'
RUN_BY_METADATA = '{"models": [{e}], "prompts": {"scope": "metadata", "metadata": {"k": @}}}'
BATCH = '{"name": "b", "size": 1, "filter": {"metadata": {"k": @}}}'

# Raw bodies, as a client could send them (a template and what goes in its @): JSON nested
# past any sane depth, and numbers that PostgreSQL's jsonb refuses or Python cannot read.
# Each was a 500, or a 400 in Python's own words about integer string conversion.
HOSTILE_BODIES = [
    ("post", "/api/v1/projects/", '{"name": "x", "kind": "rating", "description": @}',
     deep(100_000)),
    ("patch", "/api/v1/projects/{p}/", '{"description": @}', deep(100_000)),
    ("patch", "/api/v1/projects/{p}/", '{"rating_anchors": @}', deep(900)),
    ("post", "/api/v1/projects/{p}/members/", "@", deep(100_000)),
    ("post", "/api/v1/models/", MODEL, '{"temperature": @}'.replace("@", deep(900))),
    ("post", "/api/v1/models/", MODEL, '{"temperature": 1e400}'),
    ("post", "/api/v1/models/", MODEL, '{"temperature": NaN}'),
    ("post", "/api/v1/projects/{p}/generation-runs/", RUN, '{"temperature": -Infinity}'),
    ("post", "/api/v1/projects/{p}/generation-runs/", RUN, '{"seed": 1e309}'),
    ("post", "/api/v1/projects/{p}/generation-runs/", RUN_BY_METADATA, "1e400"),
    ("post", "/api/v1/projects/{p}/generation-runs/", RUN_BY_METADATA, "9" * 5000),
    ("post", "/api/v1/projects/{p}/batches/", BATCH, "1e400"),
    ("post", "/api/v1/projects/{p}/batches/", BATCH, "-" + "9" * 400),
    ("post", "/api/v1/projects/{p}/batches/", BATCH, deep(900)),
    ("post", "/api/v1/projects/{p}/exports/", '{"kind": "dpo", "filters": {"margin": @}}',
     "1e999"),
    ("post", "/api/v1/projects/{p}/exports/", '{"kind": "dpo", "filters": {"batches": @}}',
     deep(100_000)),
    ("post", "/api/v1/projects/{p}/rounds/", '{"model": 1, "export": @}', "1e400"),
    ("post", "/api/v1/tasks/{t}/judgments/", '{"rating": 4, "rubric_scores": {"clarity": @}}',
     "1e400"),
    ("post", "/api/v1/tasks/{t}/judgments/", '{"rating": 4, "rubric_scores": @}', deep(900)),
    ("post", "/api/v1/tasks/{t}/skip/", '{"reason": @}', deep(100_000)),
    ("post", "/api/v1/auth/token/", '{"username": @}', deep(100_000)),
]


@pytest.fixture
def world(lead, annotator):
    """A project of the lead's in which the annotator holds a task, and a model the lead
    registered."""
    lead.user_permissions.add(
        Permission.objects.get(content_type__app_label="evaluation", codename="add_modelendpoint")
    )
    project = make_project(lead, prompts=2)
    assign(project, [annotator])
    claim = claim_next(user=annotator, project_id=project.pk)
    endpoint = model_endpoint_create(
        by=lead, name="fake", base_url="http://127.0.0.1:9/v1", model="fake-model"
    )
    return {"p": project.pk, "t": claim.task_id, "e": endpoint.pk}


@pytest.mark.parametrize(("method", "path", "template", "value"), HOSTILE_BODIES)
def test_hostile_json_is_a_400_in_the_error_format_and_writes_nothing(
    lead, annotator, world, method, path, template, value
):
    client = client_for(annotator if path.startswith("/api/v1/tasks/") else lead)
    counts = _counts()
    body = template.replace("@", value).replace("{e}", str(world["e"]))
    response = getattr(client, method)(
        path.format(**world), data=body, content_type="application/json"
    )
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == "parse_error" and error["fields"] == {}
    assert any(
        words in error["message"]
        for words in ("nested deeper than", "out of range", "not a JSON number")
    ), error["message"]
    assert _counts() == counts


def _counts() -> tuple[int, ...]:
    return tuple(
        model.objects.count()
        for model in (Project, ModelEndpoint, GenerationRun, Batch, Export, Judgment)
    )


def test_json_within_the_bounds_still_passes(lead, world):
    # The deepest nesting allowed (64 levels, the body's own included) and the largest
    # numbers a double holds are taken.
    client = client_for(lead)
    url = f"/api/v1/projects/{world['p']}/batches/"
    for value in ("[" * 61 + "1" + "]" * 61, "1.7e308", "-" + "9" * 300):
        body = BATCH.replace("@", value)
        response = client.post(url, data=body, content_type="application/json")
        error = response.json()["error"]
        assert error["message"] == "The batch would have no task.", value
        assert error["fields"]["filter"][0].startswith("No unbatched task matches"), value


@pytest.mark.parametrize("key", ["k__in", "k__regex", "k__contains", "a__b", "k__isnull"])
def test_a_metadata_filter_key_is_a_key_never_a_lookup(lead, world, key):
    # "k__regex": "(" reached PostgreSQL as a regular expression (500), "k__in": 1 as an IN
    # list (500). A key is matched literally, so only prompts that have that very key match.
    Prompt.objects.filter(project_id=world["p"]).update(metadata={key: "(", "k": "("})
    client = client_for(lead)
    batch = client.post(
        f"/api/v1/projects/{world['p']}/batches/",
        {"name": "b2", "size": 5, "filter": {"metadata": {key: "("}}},
        format="json",
    )
    assert batch.status_code == 400
    assert batch.json()["error"]["fields"]["filter"][0].startswith("No unbatched task matches")
    Task.objects.filter(project_id=world["p"]).update(batch=None)
    batch = client.post(
        f"/api/v1/projects/{world['p']}/batches/",
        {"name": "b3", "size": 5, "filter": {"metadata": {key: "("}}},
        format="json",
    )
    assert batch.status_code == 201 and batch.json()["tasks"] == 2, batch.json()
    nothing = client.post(
        f"/api/v1/projects/{world['p']}/batches/",
        {"name": "b4", "size": 5, "filter": {"metadata": {key: 1}}},
        format="json",
    )
    assert nothing.status_code == 400
    run = client.post(
        f"/api/v1/projects/{world['p']}/generation-runs/",
        {"models": [world["e"]], "prompts": {"scope": "metadata", "metadata": {key: 1}}},
        format="json",
    )
    assert run.status_code == 400 and run.json()["error"]["message"] == "No prompt matches."


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {"deep": [float("-inf")]}])
def test_a_metadata_filter_value_from_python_must_be_json_too(lead, world, value):
    # A page or a command hands the service Python values: a NaN reached PostgreSQL (500).
    project = Project.objects.get(pk=world["p"])
    with pytest.raises(InvalidInput, match="Bad metadata filter"):
        list(tasks_matching(project=project, filters={"metadata": {"k": value}}))
