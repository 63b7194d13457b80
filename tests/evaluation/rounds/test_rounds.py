"""Rounds: a fine-tuned model answers the held-out prompts of the export it was trained on,
each answer is judged against the previous model's, and the round reads as a verdict."""

import pytest
from django.urls import reverse

from annotation.models import Response, Task
from annotation.services import prompt_records_load
from evaluation.exports.consensus import consensus_fit
from evaluation.exports.options import export_options_clean
from evaluation.exports.services.build import split_of
from evaluation.exports.services.files import export_dir
from evaluation.models import Round
from evaluation.rounds.selectors import round_result
from evaluation.rounds.services import round_start, round_test_prompt_ids
from ftapp.actors import SYSTEM
from ftapp.errors import InvalidInput
from tests.factories import (
    AnnotatorFactory,
    add_member,
    assign,
    build,
    client_for,
    judge_all,
    make_endpoint,
    make_trained_project,
    queries,
    rows,
)
from tests.fake_model_server import FakeModelServer
from tests.workers import wait_for_run

PROMPTS = 16


@pytest.mark.django_db
def test_the_held_out_prompts_are_the_exports_test_split(lead):
    project, _, export = make_trained_project(lead)
    held_out = round_test_prompt_ids(export=export)
    expected = [
        p.pk for p in project.prompts.order_by("id")
        if split_of(p.content_hash, seed=4, test_fraction=0.5) == "test"
    ]
    assert held_out == expected and 0 < len(held_out) < PROMPTS
    test_rows = (export_dir(export) / "test.jsonl").read_text().splitlines()
    assert len({row.split('"chosen"')[0] for row in test_rows}) == len(held_out)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_next_round_generates_pairs_against_the_previous_model_and_gives_a_verdict(
    celery_worker, lead
):
    project, annotators, export = make_trained_project(lead)
    with FakeModelServer() as server:
        tuned = make_endpoint(lead, server, "tuned-r1")
        response = client_for(lead).post(
            f"/api/v1/projects/{project.pk}/rounds/",
            {"model": tuned.pk, "export": export.pk, "previous_model": "base",
             "annotators": [a.username for a in annotators], "overlap": 2},
            format="json",
        )
        assert response.status_code == 201, response.content
        rnd = Round.objects.get(pk=response.json()["id"])
        wait_for_run(rnd.generation_run, timeout=60)
    held_out = round_test_prompt_ids(export=export)
    assert rnd.prompt_ids == held_out and rnd.number == 1
    assert response.json()["result"]["verdict"] == "not judged yet"
    tasks = Task.objects.filter(batch=rnd.batch).select_related("response_a", "response_b")
    assert tasks.count() == len(held_out)
    assert {(t.response_a.model_name, t.response_b.model_name) for t in tasks} == {
        ("base", "tuned-r1")}
    assert not Task.objects.filter(response_b__model_name="tuned-r1",
                                   response_a__model_name="other").exists()

    def prefer_tuned(index, task):
        return {"choice": "B" if task.response_b.model_name == "tuned-r1" else "A"}

    judge_all(project, annotators, prefer_tuned)
    body = client_for(lead).get(f"/api/v1/rounds/{rnd.pk}/").json()
    assert body["result"]["verdict"] == "better"
    assert body["result"]["win_rate"] == 1.0 and body["result"]["games"] == 2 * len(held_out)
    assert body["generation"]["done"] == len(held_out)
    page = client_for(lead)
    page.force_login(lead)
    html = page.get(f"/rounds/{rnd.pk}/").content.decode()
    assert '<span id="verdict">better</span>' in html and "<svg" in html
    assert 'aria-label="Round leaderboard"' in html and "tuned-r1" in html


@pytest.fixture
def model_server():
    """The tuned models' server, answering while the test starts rounds (no worker calls it
    here: the tests store the answers themselves)."""
    with FakeModelServer() as server:
        yield server


def _round_one(lead, server, kind="rating"):
    """A project's round 1, its tuned answers loaded as the worker would store them."""
    project, annotators, export = make_trained_project(lead, kind=kind)
    tuned = make_endpoint(lead, server, "tuned-r1")
    rnd = round_start(by=lead, project_id=project.pk, model_id=tuned.pk, export_id=export.pk,
                      previous_model="base")
    # What the worker would store: the tuned model's answers to the held-out prompts.
    _answer_as_tuned(project, project.prompts.filter(pk__in=rnd.prompt_ids))
    return project, annotators, rnd


def _answer_as_tuned(project, prompts):
    prompt_records_load(by=SYSTEM, project=project, records=[
        {"id": p.external_id, "prompt": p.text,
         "responses": [{"model": "tuned-r1", "text": f"Tuned answer {p.pk}"}]}
        for p in prompts
    ])


@pytest.mark.django_db
def test_a_rating_round_compares_scores_per_prompt(lead, model_server):
    project, annotators, rnd = _round_one(lead, model_server)
    assert round_result(rnd=rnd)["verdict"] == "not judged yet"
    assign(project, annotators, name="round 1", overlap=2)
    judge_all(project, annotators, lambda i, task: {
        "rating": 2 if task.response_a.model_name == "tuned-r1" else 3})
    result = round_result(rnd=rnd)
    assert result["verdict"] == "worse" and result["win_rate"] == 0.0
    assert result["games"] == len(rnd.prompt_ids) == result["losses"]
    # An export of the round's judgments only: its batch, the tuned answers rated 2.
    Round.objects.filter(pk=rnd.pk).update(batch=project.batches.get(name="round 1"))
    export = build(project, "kto", filters={"rounds": [rnd.pk]}, test_fraction=0.0)
    labelled = {(r["completion"][0]["content"], r["label"]) for r in rows(export)}
    assert labelled == {(f"Tuned answer {pid}", False) for pid in rnd.prompt_ids}
    assert [r["number"] for r in export.card["rounds"]] == [1]


@pytest.mark.parametrize("kind", ["rating", "pairwise"])
@pytest.mark.django_db
def test_the_rounds_list_reads_the_judgments_once_however_many_rounds(
    client, lead, kind, model_server
):
    """Each round's result, bootstrap interval included, is what the round alone gives;
    the list reads the judgments of all its rounds in one load."""
    project, annotators, first = _round_one(lead, model_server, kind)
    _answer_as_tuned(project, project.prompts.exclude(pk__in=first.prompt_ids))
    assign(project, annotators, name="round 1", overlap=2)

    def prefer_tuned(index, task):
        # Only the tuned model's tasks are left to judge: it wins them.
        if kind == "rating":
            return {"rating": 5 - index}
        return {"choice": "A" if task.response_a.model_name == "tuned-r1" else "B"}

    judge_all(project, annotators, prefer_tuned)
    api = client_for(lead)
    client.force_login(lead)
    url = f"/api/v1/projects/{project.pk}/rounds/"
    page_url = reverse("round-new", args=[project.pk])
    api.get(url)  # writes the token's last use, once a minute
    listed, page = queries(lambda: api.get(url)), queries(lambda: client.get(page_url))
    unjudged = make_endpoint(lead, model_server, "tuned-r2")
    every_prompt = project.batches.get(name="b").pk
    for model, previous, fresh in (
        (first.model, "base", every_prompt),
        (first.model, "other", None),
        (unjudged, "base", every_prompt),
    ):
        round_start(by=lead, project_id=project.pk, model_id=model.pk,
                    export_id=first.export_id, previous_model=previous, fresh_batch_id=fresh)
    assert queries(lambda: api.get(url)) == listed
    assert queries(lambda: client.get(page_url)) == page
    rounds = api.get(url).json()
    assert len(rounds) == 4 and len({r["result"]["games"] for r in rounds}) == 3
    for listed_round in rounds:
        alone = api.get(f"/api/v1/rounds/{listed_round['id']}/").json()
        assert listed_round == alone
        assert alone["result"] == round_result(rnd=Round.objects.get(pk=alone["id"]))
        judged = alone["model"] == "tuned-r1"
        assert alone["result"]["verdict"] == ("better" if judged else "not judged yet")
    html = client.get(reverse("round", args=[first.pk])).content.decode()
    assert '<span id="verdict">better</span>' in html and html.count("<svg") == 2


@pytest.mark.django_db
def test_a_dawid_skene_consensus_of_a_round_is_fitted_on_that_rounds_judgments(
    lead, model_server
):
    """The earlier batch's judgments are not the round's: they stay out of the fit as they
    stay out of the export."""
    project, annotators, rnd = _round_one(lead, model_server)
    batch = assign(project, annotators, name="round 1", overlap=2)
    judge_all(project, annotators, lambda i, task: {"rating": 2})
    Round.objects.filter(pk=rnd.pk).update(batch=batch)
    options = export_options_clean(
        kind="kto", format="trl", filters={"rounds": [rnd.pk], "consensus": "dawid_skene"}
    )
    fitted = consensus_fit(project=project, options=options, excluded=[])
    assert sorted(fitted.task_ids.tolist()) == sorted(batch.tasks.values_list("pk", flat=True))


@pytest.mark.django_db
def test_round_start_refuses_what_cannot_be_compared(lead):
    project, _, export = make_trained_project(lead)
    with FakeModelServer() as server:
        tuned = make_endpoint(lead, server, "tuned-r1")

    def refused(**changes):
        arguments = {"by": lead, "project_id": project.pk, "model_id": tuned.pk,
                     "export_id": export.pk, "previous_model": "base", **changes}
        with pytest.raises(InvalidInput) as error:
            round_start(**arguments)
        return error.value.fields

    assert "model" in refused(model_id=999_999)
    assert "export" in refused(export_id=999_999)
    assert "previous_model" in refused(previous_model="nobody")
    assert "previous_model" in refused(previous_model="tuned-r1")
    outsider = AnnotatorFactory()
    assert "annotators" in refused(annotators=[outsider.username])
    assert "annotators" in refused(annotators=["no-such-user"])
    queued = build(project, "sft")
    queued.status = "queued"
    queued.save()
    assert "export" in refused(export_id=queued.pk)
    assert not Round.objects.exists()
    annotator = AnnotatorFactory()
    add_member(project, annotator)
    client = client_for(annotator)
    assert client.get(f"/api/v1/projects/{project.pk}/rounds/").status_code == 403
    bad = client_for(lead).post(f"/api/v1/projects/{project.pk}/rounds/", {"model": "x"},
                                format="json")
    assert bad.status_code == 400 and "model" in bad.json()["error"]["fields"]
    assert Response.objects.filter(model_name="tuned-r1").count() == 0
