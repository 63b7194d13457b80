"""One set of rules for JSON from outside (ftapp/json_input.py): the API's parser, the import,
and JSON typed into a page or given to a command."""

import json

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command

from evaluation.models import Export, ModelEndpoint
from ftapp.json_input import MAX_DEPTH, JSONInputError, decode_at, loads


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("NaN", "NaN is not a JSON number"),
        ('{"a": [Infinity]}', "Infinity is not a JSON number"),
        ("-Infinity", "-Infinity is not a JSON number"),
        ("1e400", "1e400 is out of range"),
        ("-1.5E309", "out of range"),
        ("9" * 310, "out of range (beyond"),
        ("-" + "1" * 5000, "5,001 characters"),
        (str(2 * 10**308), "out of range"),
        (nested(MAX_DEPTH + 1), "nested deeper than 64 levels"),
        (nested(100_000), "nested deeper than 64 levels"),
        ('{"a":' * 100_000 + "1" + "}" * 100_000, "nested deeper than 64 levels"),
    ],
)
def test_what_the_rules_refuse(text, message):
    with pytest.raises(JSONInputError, match=message.replace("(", r"\(").replace("+", r"\+")):
        loads(text)


def test_what_they_take_reads_as_json_loads_would():
    text = json.dumps(
        {"deepest": json.loads(nested(MAX_DEPTH - 1)), "n": [1.7e308, -(10**300), 0.1, 2]}
    )
    assert loads(text) == json.loads(text)
    assert decode_at(' x [1, {"a": 2}] tail', 3) == ([1, {"a": 2}], 16)
    with pytest.raises(json.JSONDecodeError):
        loads("[1] extra")


@pytest.mark.django_db
@pytest.mark.parametrize("params", ['{"temperature": NaN}', '{"seed": 1e400}', nested(5000)])
def test_the_models_page_refuses_such_params_with_a_message(client, lead, params):
    # NaN reached PostgreSQL's jsonb (a 500); 5,000 levels overflowed the parser's stack.
    lead.user_permissions.add(
        Permission.objects.get(content_type__app_label="evaluation", codename="add_modelendpoint")
    )
    client.force_login(lead)
    page = client.post(
        "/models/",
        {"name": "x", "base_url": "http://127.0.0.1:9/v1", "model": "m", "params": params},
        follow=True,
    )
    assert page.status_code == 200 and b"JSON object" in page.content
    assert not ModelEndpoint.objects.exists()


@pytest.mark.django_db
def test_the_export_command_refuses_such_filters(rating_project, tmp_path):
    for filters in ('{"margin": NaN}', nested(5000)):
        with pytest.raises(CommandError, match="--filters is not JSON"):
            call_command(
                "export", str(rating_project.pk), "--kind", "dpo", "-o", str(tmp_path),
                "--filters", filters,
            )
    assert not Export.objects.exists()
