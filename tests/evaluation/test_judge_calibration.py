"""Calibration on verdicts and judgments made directly, so every figure can be worked out by
hand: agreement with the majority (ties split, adjudication wins), the confusion matrix, each
annotator, the expert ceiling with the judge in the same seats, position flags, a metadata
breakdown; the API (leads only, bad parameters named) and the page's section."""

import pytest
from django.template.loader import render_to_string

from annotation.models import Judgment, Prompt, Role, Task
from evaluation.judging.calibration import judge_calibration, judge_calibration_page
from evaluation.models import GenerationRun, JudgePrompt, JudgeVerdict, ModelEndpoint, RunPurpose
from tests.factories import (
    AnnotatorFactory,
    add_member,
    client_for,
    make_pairwise_project,
    make_project,
    make_rated_project,
)

pytestmark = pytest.mark.django_db


def _judge(project, lead, name: str, answers: dict[str, tuple[str, str]], version: int = 1):
    """A judge whose verdict on prompt q<i> was ``answers["q<i>"]``: its answers with
    response_a shown first and with response_b shown first, both in the task's terms."""
    endpoint = ModelEndpoint.objects.create(
        name=name, base_url="http://127.0.0.1:9/v1", model=name, created_by=lead
    )
    prompt, _ = JudgePrompt.objects.get_or_create(
        project=project,
        version=version,
        defaults={"system": "", "template": "{response_a}{response_b}", "created_by": lead},
    )
    run = GenerationRun.objects.create(
        project=project, purpose=RunPurpose.JUDGE, judge_prompt=prompt, created_by=lead
    )
    run.endpoints.add(endpoint)
    for external_id, (first, second) in answers.items():
        task = Task.objects.get(project=project, prompt__external_id=external_id)
        JudgeVerdict.objects.create(
            project=project,
            run=run,
            task=task,
            endpoint=endpoint,
            judge_prompt=prompt,
            kind=project.kind,
            choice=first if first == second else "tie",
            order_choices=[first, second],
            consistent=first == second,
        )
    return endpoint


# The verdicts of a steady judge on make_pairwise_project's five pairs, whose votes are
# q0 A,A,B · q1 B,tie,tie · q2 A,B,both_bad · q3 both_bad x3 · q4 A,B,tie adjudicated B.
STEADY = {"q0": "A", "q1": "tie", "q2": "A", "q3": "B", "q4": "B"}


@pytest.fixture
def project(lead):
    project = make_pairwise_project(lead)
    _judge(project, lead, "steady", {key: (choice, choice) for key, choice in STEADY.items()})
    return project


def _annotator_names(project) -> list[str]:
    """The annotators' pseudonyms in the order make_pairwise_project made them."""
    members = project.memberships.filter(role=Role.ANNOTATOR).order_by("id")
    return list(members.values_list("pseudonym", flat=True))


def _only(figures: dict, name: str) -> dict:
    (found,) = [judge for judge in figures["judges"] if judge["judge"]["name"] == name]
    return found


def test_agreement_with_the_majority_splits_ties_and_follows_the_adjudication(project):
    found = _only(judge_calibration(project=project), "steady")
    assert found["verdicts"] == 5 and found["tasks"] == 5
    # q0 agrees, q1 agrees (tie), q2 a third (the humans split three ways), q3 not, q4 agrees
    # with the lead's adjudication: (1 + 1 + 1/3 + 0 + 1) / 5.
    assert found["majority"]["share"]["value"] == pytest.approx(10 / 15)
    assert found["majority"]["pairs"] == pytest.approx(5)
    share = found["majority"]["share"]
    assert share["lower"] <= share["value"] <= share["upper"]
    third = pytest.approx(1 / 3)
    assert found["confusion"] == {
        "labels": ["A", "B", "tie", "both_bad"],
        "rows": [
            [pytest.approx(4 / 3), third, 0.0, third],
            [0.0, 1.0, 0.0, 1.0],
            [0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 0.0],
        ],
    }


def test_each_annotator_and_the_expert_ceiling(project):
    found = _only(judge_calibration(project=project), "steady")
    names = _annotator_names(project)
    shares = {row["annotator"]: row["share"]["value"] for row in found["annotators"]}
    # Annotator 0 voted A B A both_bad A, 1 A tie B both_bad B, 2 B tie both_bad both_bad
    # tie; the judge A tie A B B.
    assert shares == {
        names[0]: pytest.approx(2 / 5),
        names[1]: pytest.approx(3 / 5),
        names[2]: pytest.approx(1 / 5),
    }
    ceiling = found["ceiling"]
    # Fifteen seats, each judgment against the plurality of the other two (split in half when
    # they differ). Experts: q0 .5 .5 0, q1 0 .5 .5, q2 0 0 0, q3 1 1 1, q4 0 0 0 = 5. The
    # judge in the same seats: q0 .5 .5 1, q1 1 .5 .5, q2 0 .5 .5, q3 0 0 0, q4 .5 0 .5 = 6.
    assert ceiling["experts"]["pairs"] == pytest.approx(15)
    assert ceiling["experts"]["share"]["value"] == pytest.approx(5 / 15)
    assert ceiling["judge"]["share"]["value"] == pytest.approx(6 / 15)
    assert ceiling["difference"]["share"]["value"] == pytest.approx(1 / 15)
    assert {seat["annotator"] for seat in ceiling["by_expert"]} == set(names)
    for seat in ceiling["by_expert"]:
        assert seat["expert"]["pairs"] == pytest.approx(5)


def test_a_judge_that_always_takes_the_first_shown_is_flagged(project, lead):
    _judge(project, lead, "lefty", dict.fromkeys(STEADY, ("A", "B")), version=2)
    figures = judge_calibration(project=project)
    lefty, steady = _only(figures, "lefty"), _only(figures, "steady")
    assert lefty["prompt_version"] == 2
    position = lefty["position"]
    assert (position["consistency"]["count"], position["consistency"]["n"]) == (0, 5)
    # Ten answers, all for the side shown first: p = 2 / 2**10.
    assert (position["bias"]["count"], position["bias"]["n"]) == (10, 10)
    assert position["bias"]["p_value"] == pytest.approx(2 / 1024)
    assert lefty["flags"] == ["position_consistency", "position_bias"]
    # Its verdicts do not survive the swap: ties, each one.
    assert lefty["confusion"]["rows"][2] == [pytest.approx(x) for x in (4 / 3, 4 / 3, 1, 4 / 3)]
    # The steady judge named the first-shown side in 4 of its 8 answers that named a side.
    assert (steady["position"]["bias"]["count"], steady["position"]["bias"]["n"]) == (4, 8)
    assert steady["flags"] == []
    # The humans' own left share on the same pairs, as they pressed it.
    humans = steady["position"]["humans"]
    decisive = Judgment.objects.filter(task__project=project, choice__in=["A", "B"])
    assert humans["n"] == decisive.count()
    assert humans["count"] == decisive.filter(choice="A").count()


def test_filters_by_judge_and_version(project, lead):
    lefty = _judge(project, lead, "lefty", dict.fromkeys(STEADY, ("A", "B")), version=2)
    assert [j["judge"]["name"] for j in judge_calibration(project=project)["judges"]] == [
        "lefty",
        "steady",
    ]
    only = judge_calibration(project=project, endpoint_id=lefty.pk)
    assert [j["judge"]["name"] for j in only["judges"]] == ["lefty"]
    assert judge_calibration(project=project, prompt_version=1)["judges"][0]["judge"]["name"] == (
        "steady"
    )


def test_breakdown_by_a_metadata_key(project):
    Prompt.objects.filter(project=project, external_id__in=["q0", "q1"]).update(
        metadata={"topic": "tax"}
    )
    Prompt.objects.filter(project=project, external_id__in=["q2", "q3", "q4"]).update(
        metadata={"topic": "law"}
    )
    found = _only(judge_calibration(project=project, group_by="topic"), "steady")
    groups = {group["value"]: group for group in found["groups"]}
    assert [group["value"] for group in found["groups"]] == ["law", "tax"]
    assert groups["tax"]["tasks"] == 2 and groups["law"]["tasks"] == 3
    assert groups["tax"]["majority"]["share"]["value"] == pytest.approx(1.0)
    assert groups["law"]["majority"]["share"]["value"] == pytest.approx(4 / 9)
    # A key no prompt has: one group of tasks without it.
    (missing,) = _only(judge_calibration(project=project, group_by="nope"), "steady")["groups"]
    assert missing["value"] is None and missing["tasks"] == 5


def test_the_leaderboards_side_by_side(project):
    board = _only(judge_calibration(project=project), "steady")["leaderboard"]
    assert board["measure"] == "bradley_terry"
    assert {row["model"] for row in board["models"]} == {"m1", "m2"}
    assert all(row["human"] is not None for row in board["models"])
    # Two models rank the same or reversed by construction: no correlation to speak of.
    assert board["rank_correlation"]["models"] == 2
    assert board["rank_correlation"]["spearman"] is None


def test_a_rating_project_uses_ordinal_figures(lead):
    project = make_rated_project(lead)
    endpoint = ModelEndpoint.objects.create(
        name="rater", base_url="http://127.0.0.1:9/v1", model="rater", created_by=lead
    )
    prompt = JudgePrompt.objects.create(
        project=project, version=1, system="", template="{response}", created_by=lead
    )
    run = GenerationRun.objects.create(
        project=project, purpose=RunPurpose.JUDGE, judge_prompt=prompt, created_by=lead
    )
    for task in Task.objects.filter(project=project, is_gold=False):
        JudgeVerdict.objects.create(
            project=project,
            run=run,
            task=task,
            endpoint=endpoint,
            judge_prompt=prompt,
            kind="rating",
            rating=4,
            order_choices=[],
        )
    figures = judge_calibration(project=project)
    assert (figures["level"], figures["kappa_weights"]) == ("ordinal", "quadratic")
    (found,) = figures["judges"]
    assert found["position"] is None and found["length"] is None
    assert found["confusion"]["labels"] == [1, 2, 3, 4, 5]
    assert found["leaderboard"]["measure"] == "mean_rating"
    # A judge that always says 4: every figure beyond chance is zero or undefined.
    assert found["majority"]["kappa"]["value"] in (None, pytest.approx(0.0))
    assert "quadratic-weighted" in figures["explanations"]["kappa"]


def test_the_api_answers_leads_only_and_names_bad_parameters(project, lead):
    url = f"/api/v1/projects/{project.pk}/judge/calibration/"
    client = client_for(lead)
    answer = client.get(url, {"group_by": "topic"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["project"] == project.pk and body["group_by"] == "topic"
    assert body["judges"][0]["majority"]["share"]["value"] == pytest.approx(10 / 15)
    assert body["explanations"]["position_bias"]
    for query, field in [
        ({"judge": "abc"}, "judge"),
        ({"judge": 10**9}, "judge"),
        ({"prompt_version": 7}, "prompt_version"),
        ({"prompt_version": 0}, "prompt_version"),
        ({"group_by": "x" * 101}, "group_by"),
        ({"colour": "red"}, "colour"),
    ]:
        bad = client.get(url, query)
        assert bad.status_code == 400, query
        assert field in bad.json()["error"]["fields"], query
    annotator = project.memberships.filter(role=Role.ANNOTATOR).first().user
    assert client_for(annotator).get(url).status_code == 403
    outsider = AnnotatorFactory()
    assert client_for(outsider).get(url).status_code == 404
    add_member(project, outsider)
    assert client_for(outsider).get(url).status_code == 403


def test_the_page_section_shows_figures_explained_and_errors_by_field(project, lead):
    endpoint = ModelEndpoint.objects.get(name="steady")
    ModelEndpoint.objects.filter(pk=endpoint.pk).update(name="<b>steady</b>")
    context = judge_calibration_page(project=project, query={"group_by": "topic"})
    assert context["errors"] == {} and context["calibration"]["judges"]
    assert context["judges"] == [{"pk": endpoint.pk, "name": "<b>steady</b>"}]
    assert context["versions"] == [1]
    html = render_to_string("evaluation/judge/partials/calibration.html", context)
    assert "&lt;b&gt;steady&lt;/b&gt;" in html and "<b>steady</b>" not in html
    assert 'class="table-scroll"' in html
    assert context["calibration"]["explanations"]["ceiling"] in html
    assert "0.667" in html  # the share of agreement with the majority
    bad = judge_calibration_page(project=project, query={"judge": "x", "prompt_version": "9"})
    assert bad["calibration"] is None
    assert set(bad["errors"]) == {"judge"}
    html = render_to_string("evaluation/judge/partials/calibration.html", bad)
    assert 'role="alert"' in html and "Judge:" in html and "calibration-agreement" not in html
    unknown = judge_calibration_page(project=project, query={"prompt_version": "9"})
    assert set(unknown["errors"]) == {"prompt_version"} and unknown["calibration"] is None


def test_nothing_to_compare_gives_empty_figures_not_errors(lead):
    project = make_project(lead, kind="pairwise", prompts=3, models=("m1", "m2"))
    assert judge_calibration(project=project)["judges"] == []
    _judge(project, lead, "alone", {"q0": ("A", "A"), "q1": ("B", "A")})
    (found,) = judge_calibration(project=project, group_by="topic")["judges"]
    # Verdicts but no human judgment: nothing to agree with, yet the judge's own position
    # figures stand.
    assert (found["verdicts"], found["tasks"]) == (2, 0)
    assert found["majority"]["share"] == {"value": None, "lower": None, "upper": None}
    assert found["annotators"] == [] and found["groups"] == []
    assert found["ceiling"]["experts"]["pairs"] == 0
    assert found["position"]["consistency"]["n"] == 2
    html = render_to_string(
        "evaluation/judge/partials/calibration.html",
        judge_calibration_page(project=project, query={}),
    )
    assert "No task has both a verdict of this judge and a human judgment yet" in html
