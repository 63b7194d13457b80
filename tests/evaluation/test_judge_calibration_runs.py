"""Calibration of scripted judges run for real: judge runs on the Celery worker against a
loopback OpenAI-compatible server, over pairs whose better answer is a hidden truth that the
annotators know and whose lengths have nothing to do with it. A judge that follows the truth
with known noise has its agreement recovered within the interval; one that always prefers the
answer shown first is flagged on position bias and consistency; one that prefers the longer
answer is flagged on length bias."""

import random
import re
from contextlib import ExitStack

import pytest

from annotation.services import prompt_records_load
from evaluation.judging.calibration import judge_calibration
from evaluation.judging.services.runs import judge_run_start
from ftapp.actors import SYSTEM
from tests.evaluation.judges import first_shown, longer, truthful
from tests.factories import AnnotatorFactory, ProjectFactory, assign, judge_all, make_endpoint
from tests.fake_model_server import FakeModelServer
from tests.workers import TEST_MODEL_KEY, wait_for_run

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

PROMPTS = 60
NOISE = 0.2
# The truthful judge answers at random (one of four choices) NOISE of the time, in each order
# independently, so each order names the truth with probability 0.85; its verdict is the
# truth only when both orders do (a disagreement is stored as a tie, never the truth here).
EXPECTED_AGREEMENT = (1 - NOISE + NOISE / 4) ** 2


def _project(lead):
    """Pairs of m1 and m2 whose better answer is drawn at random (the hidden truth), padded
    to random lengths, judged by three annotators who all know the truth."""
    rng = random.Random(7)
    winners = {i: rng.choice(["m1", "m2"]) for i in range(PROMPTS)}
    records = [
        {
            "id": f"q{i}",
            "prompt": f"Question {i}?",
            "responses": [
                {"model": m, "text": f"Answer {i} by {m}." + " More detail." * rng.randint(0, 30)}
                for m in ("m1", "m2")
            ],
        }
        for i in range(PROMPTS)
    ]
    project = ProjectFactory(created_by=lead, kind="pairwise", overlap=3)
    prompt_records_load(by=SYSTEM, project=project, records=records)
    annotators = [AnnotatorFactory() for _ in range(3)]
    assign(project, annotators, overlap=3)

    def truth(_, task):
        winner = winners[int(task.prompt.external_id[1:])]
        return {"choice": "A" if task.response_a.model_name == winner else "B"}

    judge_all(project, annotators, truth)

    def quality(text: str) -> float:
        number, model = re.match(r"Answer (\d+) by (m\d)\.", text).groups()
        return 1.0 if winners[int(number)] == model else 0.0

    return project, quality


def test_scripted_judges_are_calibrated_and_flagged(celery_worker, lead):
    project, quality = _project(lead)
    judges = {"truthful": truthful(quality, noise=NOISE), "first": first_shown, "longer": longer}
    with ExitStack() as stack:
        for name, answer in judges.items():
            server = stack.enter_context(FakeModelServer(answer=answer, require_key=TEST_MODEL_KEY))
            endpoint = make_endpoint(lead, server, name)
            run = judge_run_start(
                by=lead,
                project_id=project.pk,
                endpoint_id=endpoint.pk,
                selection={"scope": "judged"},
            )
            assert wait_for_run(run, timeout=120).status == "completed"

    found = {j["judge"]["name"]: j for j in judge_calibration(project=project)["judges"]}
    assert set(found) == set(judges)
    for figures in found.values():
        assert figures["tasks"] == PROMPTS

    truthful_figures = found["truthful"]
    share = truthful_figures["majority"]["share"]
    assert share["lower"] <= EXPECTED_AGREEMENT <= share["upper"]
    assert share["upper"] - share["lower"] < 0.3
    # The annotators agree perfectly, so the ceiling is 1 and the judge sits below it.
    assert truthful_figures["ceiling"]["experts"]["share"]["value"] == 1.0
    assert truthful_figures["ceiling"]["difference"]["share"]["upper"] < 0
    assert "position_bias" not in truthful_figures["flags"]
    assert "length_bias" not in truthful_figures["flags"]

    first = found["first"]
    assert {"position_bias", "position_consistency"} <= set(first["flags"])
    assert first["position"]["bias"]["share"] == 1.0
    assert first["position"]["consistency"]["count"] == 0

    long = found["longer"]
    assert "length_bias" in long["flags"]
    assert long["length"]["judge"]["share"] == 1.0
    assert long["length"]["difference"]["lower"] > 0
    # The humans follow the truth, which has nothing to do with length.
    assert 0.25 < long["length"]["humans"]["share"] < 0.75
