"""The judge's protocol: the default prompt, the messages sent in each order, the schema
asked for and the strict reading of the answer."""

import json

import pytest

from annotation.models import Task
from annotation.services.projects import guidelines_publish
from evaluation.judging.protocol import (
    JudgeAnswerInvalid,
    judge_answer_parse,
    judge_messages,
    judge_prompt_default,
    judge_response_format,
    judge_template_problems,
)
from evaluation.models import JudgePrompt
from tests.factories import make_project

pytestmark = pytest.mark.django_db


def _prompt(project, lead, template=None, system=None):
    default_system, default_template = judge_prompt_default(project=project)
    return JudgePrompt.objects.create(
        project=project,
        version=1,
        system=default_system if system is None else system,
        template=default_template if template is None else template,
        created_by=lead,
    )


def test_default_prompts_are_kind_aware_and_publishable(lead):
    rating = make_project(lead, kind="rating", rubric=["accuracy", "tone"])
    pairwise = make_project(lead, kind="pairwise", models=("m1", "m2"))
    plain = make_project(lead, kind="rating")
    for project in (rating, pairwise, plain):
        system, template = judge_prompt_default(project=project)
        assert system and judge_template_problems(kind=project.kind, template=template) == []
    _, rating_template = judge_prompt_default(project=rating)
    assert "1 to 5" in rating_template and "{rubric}" in rating_template
    assert "answer_A" not in rating_template and '"choice"' not in rating_template
    _, pairwise_template = judge_prompt_default(project=pairwise)
    assert "{response_a}" in pairwise_template and "{response_b}" in pairwise_template
    assert "1 to 5" not in pairwise_template and "{rating_anchors}" not in pairwise_template
    _, plain_template = judge_prompt_default(project=plain)
    assert "{rubric}" not in plain_template and '"rubric"' not in plain_template


def test_template_problems_name_unknown_missing_and_unsafe_placeholders():
    assert judge_template_problems(kind="rating", template="{response} {response_a}") == [
        "Unknown placeholder {response_a}; use {guidelines}, {rating_anchors}, {rubric}, "
        "{conversation}, {response}."
    ]
    assert judge_template_problems(kind="pairwise", template="{response_a}") == [
        "The template must show {response_b}."
    ]
    attribute = judge_template_problems(kind="rating", template="{response.__class__}")
    assert attribute and "Unknown placeholder" in attribute[0]
    assert judge_template_problems(kind="rating", template="{response!r}")
    assert judge_template_problems(kind="rating", template="{response:>10}")
    assert "literal braces" in judge_template_problems(kind="rating", template="{response} {")[0]
    assert judge_template_problems(kind="rating", template='{{"rating": 3}} {response}') == []


def test_pairwise_messages_swap_the_answers_and_keep_braces_in_texts(lead):
    project = make_project(lead, kind="pairwise", prompts=1, models=("m1", "m2"))
    guidelines_publish(by=lead, project=project, body="Prefer the correct answer.")
    task = Task.objects.get(project=project)
    task.response_a.text = "Use {response_b} and {{x}}"
    task.response_a.save()
    judge_prompt = _prompt(project, lead)
    straight = judge_messages(judge_prompt=judge_prompt, task=task, swapped=False)
    swapped = judge_messages(judge_prompt=judge_prompt, task=task, swapped=True)
    assert [m["role"] for m in straight] == ["system", "user"]
    user = straight[1]["content"]
    assert "Prefer the correct answer." in user and "Question 0?" in user
    first, second = task.response_a.text, task.response_b.text
    assert user.index(first) < user.index(second)
    assert "Use {response_b} and {{x}}" in user  # a response's braces stay text
    swapped_user = swapped[1]["content"]
    assert swapped_user.index(second) < swapped_user.index(first)
    with pytest.raises(ValueError, match="pairwise"):
        rating = make_project(lead, kind="rating", prompts=1)
        judge_messages(
            judge_prompt=_prompt(rating, lead),
            task=Task.objects.filter(project=rating).first(),
            swapped=True,
        )


def test_rating_messages_carry_anchors_and_rubric_and_no_system_when_blank(lead):
    project = make_project(lead, kind="rating", prompts=1, rubric=["accuracy"])
    guidelines_publish(
        by=lead, project=project, body="Be strict.", rating_anchors={"1": "Wrong", "5": "Perfect"}
    )
    task = Task.objects.get(project=project)
    messages = judge_messages(
        judge_prompt=_prompt(project, lead, system=""), task=task, swapped=False
    )
    assert [m["role"] for m in messages] == ["user"]
    content = messages[0]["content"]
    assert "1: Wrong\n5: Perfect" in content and "- accuracy" in content
    assert "Be strict." in content and task.response_a.text in content


def test_response_format_is_a_strict_json_schema_per_kind(lead):
    rating = judge_response_format(project=make_project(lead, kind="rating", rubric=["tone"]))
    assert rating["type"] == "json_schema" and rating["json_schema"]["strict"] is True
    schema = rating["json_schema"]["schema"]
    assert schema["required"] == ["rationale", "rating", "rubric"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["rating"]["enum"] == [1, 2, 3, 4, 5]
    assert schema["properties"]["rubric"]["required"] == ["tone"]
    pairwise = judge_response_format(project=make_project(lead, kind="pairwise"))
    choice = pairwise["json_schema"]["schema"]["properties"]["choice"]
    assert choice["enum"] == ["A", "B", "tie", "both_bad"]
    json.dumps(pairwise)  # sent as JSON


def test_answers_are_parsed_strictly(lead):
    rating = make_project(lead, kind="rating", rubric=["tone"])
    pairwise = make_project(lead, kind="pairwise")
    good = {"rationale": "Fine.", "rating": 4, "rubric": {"tone": 5}}
    assert judge_answer_parse(project=rating, text=f"  {json.dumps(good)}\n") == good
    assert judge_answer_parse(
        project=pairwise, text='{"rationale": "B is right.", "choice": "B"}'
    ) == {"rationale": "B is right.", "choice": "B"}
    plain = make_project(lead, kind="rating")
    assert judge_answer_parse(project=plain, text='{"rationale": "", "rating": 1}') == {
        "rationale": "",
        "rating": 1,
        "rubric": {},
    }
    bad = [
        (rating, "```json\n" + json.dumps(good) + "\n```", "Not JSON"),
        (rating, "[4]", "Not a JSON object"),
        (rating, json.dumps({**good, "rating": 6}), "rating must be"),
        (rating, json.dumps({**good, "rating": True}), "rating must be"),
        (rating, json.dumps({**good, "rating": 4.0}), "rating must be"),
        (rating, json.dumps({**good, "rubric": {}}), "rubric must score exactly tone"),
        (rating, json.dumps({**good, "rubric": {"tone": 0}}), "rubric tone must be"),
        (rating, json.dumps({"rating": 3, "rubric": {"tone": 3}}), "missing rationale"),
        (rating, json.dumps({**good, "extra": 1}), "unexpected extra"),
        (pairwise, '{"rationale": "x", "choice": "left"}', "choice must be one of"),
        (pairwise, '{"rationale": 1, "choice": "A"}', "rationale must be text"),
        (pairwise, "", "Not JSON"),
    ]
    for project, text, reason in bad:
        with pytest.raises(JudgeAnswerInvalid, match=reason):
            judge_answer_parse(project=project, text=text)
