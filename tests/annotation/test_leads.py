import io
import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from annotation.models import Adjudication, Batch, Claim, Judgment, Membership, Task
from annotation.selectors import conflicts, project_dashboard
from annotation.services import claim_next, judgment_submit, judgment_undo, task_skip
from annotation.services.leads import (
    adjudication_record,
    batch_assign,
    batch_cut,
    batch_set_status,
    batch_unassign,
    membership_set_aside,
    task_set_gold,
)
from ftapp.errors import Conflict, Forbidden, InvalidInput, NotFound
from tests.factories import (
    AnnotatorFactory,
    add_member,
    assign,
    client_for,
    make_project,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(lead):
    a, b = AnnotatorFactory(username="alice"), AnnotatorFactory(username="bob")
    return a, b


def tagged_project(lead, annotators):
    project = make_project(
        lead,
        prompts=6,
        models=lambda i: ("m1",) if i < 4 else ("m2",),
        metadata=lambda i: {"topic": "cards" if i % 2 else "loans"},
    )
    for user in annotators:
        add_member(project, user)
    return project


def test_cut_a_batch_by_filter_and_size(lead, team):
    project = tagged_project(lead, team)
    batch = batch_cut(
        by=lead,
        project_id=project.pk,
        name="cards",
        size=10,
        annotators=["alice"],
        filters={"metadata": {"topic": "cards"}, "model": "m1"},
        overlap=2,
    )
    assert sorted(batch.tasks.values_list("prompt__external_id", flat=True)) == ["q1", "q3"]
    assert batch.overlap == 2 and list(batch.annotators.values_list("username", flat=True)) == [
        "alice"
    ]
    second = batch_cut(by=lead, project_id=project.pk, name="rest", size=3)
    assert second.tasks.count() == 3 and second.position == batch.position + 1
    with pytest.raises(InvalidInput, match="No unbatched task"):
        batch_cut(by=lead, project_id=project.pk, name="none", size=1, filters={"model": "zz"})
    with pytest.raises(InvalidInput):
        batch_cut(by=lead, project_id=project.pk, name="x", size=1, filters={"colour": "red"})
    with pytest.raises(InvalidInput, match="No such user"):
        batch_cut(by=lead, project_id=project.pk, name="x", size=1, annotators=["nobody"])


def test_only_unjudged_and_gold_filters(lead, team):
    project = tagged_project(lead, team)
    Task.objects.filter(prompt__external_id="q0").update(
        is_gold=True, gold_rating_min=4, gold_rating_max=5
    )
    gold = batch_cut(by=lead, project_id=project.pk, name="gold", size=5, filters={"gold": True})
    assert gold.tasks.count() == 1
    rest = batch_cut(
        by=lead,
        project_id=project.pk,
        name="rest",
        size=9,
        filters={"gold": False, "unjudged": True},
    )
    assert rest.tasks.count() == 5


def test_assign_unassign_close(lead, team):
    alice, bob = team
    project = tagged_project(lead, team)
    batch = batch_cut(by=lead, project_id=project.pk, name="b", size=6, annotators=["alice"])
    claim = claim_next(user=alice, project_id=project.pk)
    batch_assign(by=lead, batch_id=batch.pk, usernames=["bob"])
    assert claim_next(user=bob, project_id=project.pk) is not None
    batch_unassign(by=lead, batch_id=batch.pk, usernames=["alice"])
    assert Claim.objects.get(pk=claim.pk).status == "released"
    assert claim_next(user=alice, project_id=project.pk) is None
    batch_set_status(by=lead, batch_id=batch.pk, status="closed")
    assert claim_next(user=bob, project_id=project.pk) is None
    batch_set_status(by=lead, batch_id=batch.pk, status="open")
    assert claim_next(user=bob, project_id=project.pk) is not None
    outsider = AnnotatorFactory()
    add_member(project, outsider)
    Membership.objects.filter(user=outsider).update(role="lead")
    with pytest.raises(InvalidInput, match="Not annotators"):
        batch_assign(by=lead, batch_id=batch.pk, usernames=[outsider.username])
    with pytest.raises(Forbidden):
        batch_set_status(by=alice, batch_id=batch.pk, status="closed")
    with pytest.raises(NotFound):
        batch_set_status(by=lead, batch_id=999999, status="closed")


def test_dashboard_figures_on_a_known_fixture(lead, team):
    alice, bob = team
    project = tagged_project(lead, team)
    gold_task = Task.objects.get(prompt__external_id="q5")
    task_set_gold(by=lead, task_id=gold_task.pk, is_gold=True, rating_min=1, rating_max=2)
    batch = batch_cut(
        by=lead, project_id=project.pk, name="all", size=6, annotators=["alice", "bob"], overlap=2
    )
    now = timezone.now()
    # alice judges three tasks taking 10, 20 and 60 s; one is the gold task, rated 2 (correct)
    done = []
    for seconds in (10, 20, 60):
        claim = claim_next(user=alice, project_id=project.pk)
        rating = 2 if claim.task.is_gold else 4
        judgment_submit(
            user=alice, task_id=claim.task_id, rating=rating, duration_ms=seconds * 1000
        )
        done.append(claim.task_id)
    Judgment.objects.filter(task_id=done[0]).update(created_at=now - timedelta(hours=3))
    # bob skips one, judges one (5 s), and holds one claim
    task_skip(
        user=bob, task_id=claim_next(user=bob, project_id=project.pk).task_id, reason="unsure"
    )
    claim = claim_next(user=bob, project_id=project.pk)
    judgment_submit(
        user=bob, task_id=claim.task_id, rating=1 if claim.task.is_gold else 3, duration_ms=5000
    )
    claim_next(user=bob, project_id=project.pk)

    figures = project_dashboard(project=project, now=now + timedelta(seconds=1))
    (row,) = figures["batches"]
    judged_non_gold = Judgment.objects.filter(task__is_gold=False).count()
    assert row["batch"] == batch and row["tasks"] == 6 and row["gold"] == 1
    assert row["slots"] == 10 and row["judged"] == judged_non_gold
    assert row["claimed"] == 1 and row["skipped"] == 1
    assert row["remaining"] == 10 - judged_non_gold
    by_name = {r["username"]: r for r in figures["annotators"]}
    assert by_name["alice"]["judged"] == 3 and by_name["alice"]["median_seconds"] == 20
    assert by_name["alice"]["last_hour"] == 2
    assert by_name["bob"]["judged"] == 1 and by_name["bob"]["skipped"] == 1
    assert by_name["bob"]["claimed"] == 1 and by_name["bob"]["median_seconds"] == 5
    alice_gold = Judgment.objects.filter(annotator=alice, task__is_gold=True).count()
    assert by_name["alice"]["gold_judged"] == alice_gold
    assert by_name["alice"]["gold_accuracy"] == (1.0 if alice_gold else None)


def test_gold_accuracy_for_pairwise_follows_the_winner_not_the_screen(lead, annotator):
    project = make_project(lead, kind="pairwise", prompts=2, models=("m1", "m2"))
    add_member(project, annotator)
    tasks = list(Task.objects.filter(project=project).order_by("id"))
    for task in tasks:
        task_set_gold(by=lead, task_id=task.pk, is_gold=True, choice="A")  # response_a wins
    batch_cut(by=lead, project_id=project.pk, name="g", size=2, annotators=[annotator.username])
    for swapped, choice in ((True, "B"), (False, "B")):
        claim = claim_next(user=annotator, project_id=project.pk)
        Claim.objects.filter(pk=claim.pk).update(swapped=swapped)
        judgment_submit(user=annotator, task_id=claim.task_id, choice=choice)
    row = project_dashboard(project=project)["annotators"][0]
    # swapped: B on screen is response_a, correct; not swapped: B is response_b, wrong
    assert (row["gold_correct"], row["gold_judged"]) == (1, 2)


def test_gold_answers_are_validated(lead):
    project = make_project(lead, prompts=1)
    task = Task.objects.get(project=project)
    with pytest.raises(InvalidInput):
        task_set_gold(by=lead, task_id=task.pk, is_gold=True, rating_min=4, rating_max=2)
    task_set_gold(by=lead, task_id=task.pk, is_gold=True, rating_min=4)
    task.refresh_from_db()
    assert (task.is_gold, task.gold_rating_min, task.gold_rating_max) == (True, 4, 4)
    task_set_gold(by=lead, task_id=task.pk, is_gold=False)
    task.refresh_from_db()
    assert not task.is_gold and task.gold_rating_min is None


def test_conflicts_and_adjudication(lead, team):
    alice, bob = team
    project = tagged_project(lead, team)
    batch_cut(
        by=lead, project_id=project.pk, name="b", size=2, annotators=["alice", "bob"], overlap=2
    )
    ratings = {alice: [1, 4], bob: [5, 3]}
    for user, values in ratings.items():
        for value in values:
            claim = claim_next(user=user, project_id=project.pk)
            judgment_submit(user=user, task_id=claim.task_id, rating=value)
    found = conflicts(project=project)
    assert len(found) == 1 and found[0]["summary"] == "1 ×1 · 5 ×1"
    task = found[0]["task"]
    adjudication_record(by=lead, task_id=task.pk, rating=2, note="Answer misses the fee.")
    assert Adjudication.objects.get(task=task).rating == 2
    assert conflicts(project=project) == []
    assert len(conflicts(project=project, include_adjudicated=True)) == 1
    with pytest.raises(InvalidInput):
        adjudication_record(by=lead, task_id=task.pk, choice="A")
    with pytest.raises(Forbidden):
        adjudication_record(by=alice, task_id=task.pk, rating=3)
    last = Judgment.objects.filter(annotator=bob).order_by("-id").first()
    if last.task_id == task.pk:
        with pytest.raises(Conflict, match="adjudicated"):
            judgment_undo(user=bob, project_id=project.pk)


def test_pairwise_adjudication_resolves_chosen_and_rejected(lead):
    project = make_project(lead, kind="pairwise", prompts=1, models=("m1", "m2"))
    task = Task.objects.get(project=project)
    adjudication = adjudication_record(by=lead, task_id=task.pk, choice="B")
    assert (adjudication.chosen_response_id, adjudication.rejected_response_id) == (
        task.response_b_id,
        task.response_a_id,
    )


def test_exclusion_is_recorded(lead, team):
    project = tagged_project(lead, team)
    membership_set_aside(by=lead, project_id=project.pk, username="alice", set_aside=True)
    assert Membership.objects.get(user__username="alice").set_aside


def test_a_batch_that_would_have_no_task_is_refused_naming_its_filter(client, lead, team):
    project = tagged_project(lead, team)
    matches = "No unbatched task matches topic = 'cards', model 'zz'"
    with pytest.raises(InvalidInput) as refused:
        batch_cut(
            by=lead,
            project_id=project.pk,
            name="none",
            size=5,
            filters={"metadata": {"topic": "cards"}, "model": "zz", "gold": True},
        )
    assert refused.value.fields["filter"] == [
        f"{matches}, gold only (the project has 6 unbatched tasks)."
    ]
    answer = client_for(lead).post(
        f"/api/v1/projects/{project.pk}/batches/",
        {"name": "none", "size": 5, "filter": {"metadata": {"topic": "cards"}, "model": "zz"}},
        format="json",
    )
    assert answer.status_code == 400 and answer.json()["error"]["fields"]["filter"] == [
        f"{matches} (the project has 6 unbatched tasks)."
    ]
    client.force_login(lead)
    page = client.post(
        f"/projects/{project.pk}/batches/new/",
        {
            "name": "none",
            "size": "5",
            "metadata_key": "topic",
            "metadata_value": "cards",
            "model": "zz",
        },
    ).content.decode()
    assert "model &#x27;zz&#x27; (the project has 6 unbatched tasks)" in page
    batch_cut(by=lead, project_id=project.pk, name="all", size=10)
    with pytest.raises(InvalidInput, match="every task is in a batch already"):
        batch_cut(by=lead, project_id=project.pk, name="none", size=1)
    assert not Batch.objects.filter(name="none").exists()


def test_batches_api(lead, team):
    project = tagged_project(lead, team)
    client = client_for(lead)
    url = f"/api/v1/projects/{project.pk}/batches/"
    response = client.post(
        url,
        {
            "name": "API",
            "size": 2,
            "annotators": ["alice", "bob"],
            "overlap": 2,
            "filter": {"metadata": {"topic": "loans"}},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["tasks"], body["overlap"], body["annotators"]) == (2, 2, ["alice", "bob"])
    assert client.get(url).json()[0]["id"] == body["id"]
    bad = client.post(url, {"name": "x", "size": 1, "filter": {"colour": "red"}}, format="json")
    assert bad.status_code == 400 and "filter.colour" in bad.json()["error"]["fields"]
    assert client_for(team[0]).post(url, {"name": "x", "size": 1}, format="json").status_code == 403


def test_lead_pages_render_and_act(client, lead, team):
    project = tagged_project(lead, team)
    client.force_login(lead)
    page = client.get(reverse("project", args=[project.pk]))
    assert page.status_code == 200 and b"No batches yet" in page.content
    partial = client.get(reverse("project", args=[project.pk]), HTTP_HX_REQUEST="true")
    assert b"<html" not in partial.content and b'id="annotators"' in partial.content
    response = client.post(
        reverse("batch-new", args=[project.pk]),
        {
            "name": "Cards",
            "size": "2",
            "overlap": "2",
            "metadata_key": "topic",
            "metadata_value": "cards",
            "annotators": ["alice"],
            "due_at": "2026-12-01",
        },
    )
    assert response.status_code == 302
    batch = Batch.objects.get(name="Cards")
    assert batch.due_at.date().isoformat() == "2026-12-01" and batch.tasks.count() == 2
    page = client.get(reverse("project", args=[project.pk])).content.decode()
    assert "Cards" in page and "0 / 4" in page
    client.post(
        reverse("guidelines", args=[project.pk]), {"body": "Be **kind**.", "anchor_5": "Perfect"}
    )
    assert project.guidelines.order_by("-version").first().body == "Be **kind**."
    client.post(reverse("member-exclusion", args=[project.pk, "bob"]), {"excluded": "1"})
    assert Membership.objects.get(user__username="bob").set_aside
    assert client.get(reverse("conflicts", args=[project.pk])).status_code == 200
    task = Task.objects.filter(project=project).first()
    assert client.get(reverse("task-review", args=[task.pk])).status_code == 200
    client.post(
        reverse("task-review", args=[task.pk]),
        {"action": "gold", "is_gold": "1", "rating_min": "4", "rating_max": "5"},
    )
    task.refresh_from_db()
    assert task.is_gold and task.gold_rating_max == 5


def test_import_page_reports_then_imports(client, lead, rating_project):
    client.force_login(lead)
    url = reverse("project-import", args=[rating_project.pk])
    bad = io.BytesIO(b'{"id": "a", "prompt": "ok"}\n{"id": "b"}\n')
    bad.name = "bad.jsonl"
    page = client.post(url, {"file": bad}).content.decode()
    assert "1 error — nothing was imported" in page and "Missing prompt" in page
    assert "confirm-import" not in page
    good = io.BytesIO(
        json.dumps({"id": "a", "prompt": "ok", "responses": [{"model": "m", "text": "t"}]}).encode()
    )
    good.name = "good.jsonl"
    page = client.post(url, {"file": good}).content.decode()
    assert "Ready to import good.jsonl" in page
    assert not rating_project.prompts.exists()
    token = page.split('name="token" value="')[1].split('"')[0]
    response = client.post(url, {"token": token})
    assert response.status_code == 302 and rating_project.prompts.count() == 1
    assert client.post(url, {"token": token}).status_code == 302  # the upload is gone: a message


def test_new_project_and_settings_pages(client, lead):
    client.force_login(lead)
    response = client.post(
        reverse("project-new"), {"name": "Claims QA", "kind": "pairwise", "overlap": "3"}
    )
    project = Membership.objects.get(user=lead, project__name="Claims QA").project
    assert response.url == reverse("project-import", args=[project.pk])
    assert (project.kind, project.overlap) == ("pairwise", 3)
    client.post(
        reverse("project-settings", args=[project.pk]),
        {
            "gold_rate": "0.2",
            "lease_minutes": "30",
            "pairing": "baseline",
            "baseline_model": "base-v1",
        },
    )
    project.refresh_from_db()
    assert (project.gold_rate, project.lease_minutes, project.baseline_model) == (
        0.2,
        30,
        "base-v1",
    )
    page = client.post(
        reverse("project-settings", args=[project.pk]), {"gold_rate": "7"}, follow=True
    )
    project.refresh_from_db()
    assert b"less than or equal to 1" in page.content and project.gold_rate == 0.2


def test_the_task_page_names_a_former_member_as_the_pull_does(client, lead, annotator):
    project = make_project(lead, prompts=1)
    assign(project, [annotator])
    claim = claim_next(user=annotator, project_id=project.pk)
    judgment_submit(user=annotator, task_id=claim.task_id, rating=4)
    Membership.objects.filter(project=project, user=annotator).delete()
    (pulled,) = client_for(lead).get(f"/api/v1/projects/{project.pk}/judgments/").json()["results"]
    client.force_login(lead)
    page = client.get(reverse("task-review", args=[claim.task_id])).content.decode()
    assert pulled["annotator"].startswith("former-") and pulled["annotator"] in page
