"""Numbers past what the database holds are bad input (400), never a database error (500):
cases the schema fuzz run turned up."""

import pytest

from annotation.judgment_feed import cursor_encode
from tests.annotation.test_api_projects import client_for
from tests.annotation.test_queue import make_project

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
