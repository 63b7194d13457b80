"""The annotator's flow around the workspace: undo gives the work back, the shortcut setting,
the home page's figures and its Continue button, errors in the buttons' words."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotation.models import AnnotatorPreference, Batch, Judgment
from annotation.selectors import home_projects, shortcuts_enabled
from annotation.services import claim_next, judgment_submit, judgment_undo
from ftapp.errors import InvalidInput
from tests.factories import (
    AnnotatorFactory,
    add_member,
    assign,
    client_for,
    make_project,
    queries,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def rated(lead, annotator):
    project = make_project(lead, prompts=3, rubric=["accuracy", "tone"])
    assign(project, [annotator])
    return project


def submit_first(annotator, project, **data):
    claim = claim_next(user=annotator, project_id=project.pk)
    judgment_submit(user=annotator, task_id=claim.task_id, **data)
    return claim


# Undo returns what was withdrawn


def test_undo_returns_the_withdrawn_work(rated, annotator):
    claim = submit_first(
        annotator,
        rated,
        rating=2,
        rubric_scores={"accuracy": 3},
        comment="too vague",
        rewrite="Open the app, then tap Close.",
    )
    undone = judgment_undo(user=annotator, project_id=rated.pk)
    assert undone.task_id == claim.task_id and undone.claim.status == "active"
    assert undone.withdrawn == {
        "rating": 2,
        "choice": "",
        "rubric_scores": {"accuracy": 3},
        "comment": "too vague",
        "rewrite": "Open the app, then tap Close.",
    }
    assert not Judgment.objects.exists()


def test_undo_returns_the_choice_as_pressed(lead, annotator):
    project = make_project(lead, kind="pairwise", prompts=1, models=("m1", "m2"))
    assign(project, [annotator])
    claim = submit_first(annotator, project, choice="B")
    undone = judgment_undo(user=annotator, project_id=project.pk)
    # As on the annotator's screen (left/right), whichever response was shown first.
    assert undone.withdrawn["choice"] == "B" and undone.claim.swapped == claim.swapped


def test_undo_page_puts_the_work_back_in_the_form(client, rated, annotator):
    client.force_login(annotator)
    claim = submit_first(
        annotator,
        rated,
        rating=2,
        rubric_scores={"tone": 4},
        comment="too <b>vague</b>",
        rewrite="Open the app.",
    )
    html = client.post(reverse("queue-undo", args=[rated.pk]), **HTMX).content.decode()
    assert f'data-task="{claim.task_id}"' in html
    assert 'name="rating" value="2" checked' in html
    assert 'name="rating" value="3" checked' not in html
    assert 'name="rubric_tone" value="4" checked' in html
    assert 'name="rubric_accuracy" value="4" checked' not in html
    assert "too &lt;b&gt;vague&lt;/b&gt;</textarea>" in html
    assert ">Open the app.</textarea>" in html and '<details class="rewrite" open>' in html
    assert "back in the form" in html


def test_undo_without_htmx_keeps_the_work_for_the_page_it_redirects_to(client, rated, annotator):
    client.force_login(annotator)
    submit_first(annotator, rated, rating=4, comment="fine", rewrite="Better words.")
    response = client.post(reverse("queue-undo", args=[rated.pk]))
    assert response.status_code == 302
    page = client.get(response.url).content.decode()
    assert 'name="rating" value="4" checked' in page and ">Better words.</textarea>" in page
    again = client.get(response.url).content.decode()  # shown once, not forever
    assert ">Better words.</textarea>" not in again


def test_undo_api_returns_the_withdrawn_work(rated, annotator):
    submit_first(annotator, rated, rating=1, comment="wrong", rewrite="Right answer.")
    body = client_for(annotator).post(f"/api/v1/projects/{rated.pk}/queue/undo/").json()
    assert body["withdrawn"] == {
        "rating": 1,
        "choice": "",
        "rubric_scores": {},
        "comment": "wrong",
        "rewrite": "Right answer.",
    }


# The shortcut setting


def test_shortcuts_are_on_until_turned_off_and_the_setting_is_the_users_own(
    client, rated, annotator
):
    other = AnnotatorFactory()
    assert shortcuts_enabled(user=annotator)
    client.force_login(annotator)
    queue = reverse("queue", args=[rated.pk])
    assert 'data-shortcuts="on"' in client.get(queue).content.decode()
    response = client.post(
        reverse("preference-shortcuts"), {"shortcuts": "off", "next": queue}, follow=True
    )
    assert response.redirect_chain == [(queue, 302)]
    page = response.content.decode()
    assert 'data-shortcuts="off"' in page and "Turn single-key shortcuts on" in page
    assert "shortcuts are off" in page
    assert not shortcuts_enabled(user=annotator) and shortcuts_enabled(user=other)
    # Another browser: the setting is on the server, not in this one's storage.
    elsewhere = Client()
    elsewhere.force_login(annotator)
    assert 'data-shortcuts="off"' in elsewhere.get(queue).content.decode()
    client.post(reverse("preference-shortcuts"), {"shortcuts": "on", "next": queue})
    assert shortcuts_enabled(user=annotator)
    assert AnnotatorPreference.objects.count() == 1


def test_shortcut_setting_refuses_a_bad_value_and_a_foreign_next(client, annotator):
    client.force_login(annotator)
    response = client.post(
        reverse("preference-shortcuts"),
        {"shortcuts": "maybe", "next": "https://evil.example/"},
        follow=True,
    )
    assert response.redirect_chain == [(reverse("home"), 302)]
    assert "Choose whether shortcuts are on or off." in response.content.decode()
    assert not AnnotatorPreference.objects.exists()
    assert client.get(reverse("preference-shortcuts")).status_code == 405


# Home: per-batch figures, due dates, Continue


def test_home_shows_each_batch_with_its_due_date_and_progress(client, lead, annotator):
    project = make_project(lead, prompts=5)
    tasks = list(project.tasks.order_by("id"))
    due = timezone.now() + timedelta(days=3)
    assign(project, [annotator], name="Later", tasks=tasks[:2])
    urgent = assign(project, [annotator], name="Urgent", tasks=tasks[2:])
    Batch.objects.filter(pk=urgent.pk).update(due_at=due)
    claim = claim_next(user=annotator, project_id=project.pk)
    judgment_submit(user=annotator, task_id=claim.task_id, rating=3)
    (row,) = home_projects(user=annotator)
    assert [
        (b["name"], b["judged"], b["remaining"], b["total"]) for b in row["figures"]["batches"]
    ] == [
        ("Urgent", 1, 2, 3),
        ("Later", 0, 2, 2),
    ]
    assert (row["figures"]["judged"], row["figures"]["remaining"]) == (1, 4)
    client.force_login(annotator)
    page = client.get(reverse("home")).content.decode()
    assert "Urgent: 1 of 3 done" in page and f"due {timezone.localtime(due):%-d %b %Y}" in page
    assert "Later: 0 of 2 done" in page


def test_continue_is_the_project_worked_in_last(client, lead, annotator):
    first, second, third = (
        make_project(lead, prompts=2, name=n) for n in ("Alpha", "Beta", "Gamma")
    )
    for project in (first, second, third):
        assign(project, [annotator])

    def continued():
        return [row["project"].name for row in home_projects(user=annotator) if row["continue"]]

    assert continued() == ["Alpha"]  # nothing worked yet: the first with work to do
    submit_first(annotator, second, rating=4)
    assert continued() == ["Beta"]
    client.force_login(annotator)
    page = client.get(reverse("home")).content.decode()
    assert f'id="continue" href="{reverse("queue", args=[second.pk])}" autofocus' in page
    assert page.count("autofocus") == 1


def test_home_reads_a_fixed_number_of_queries(client, lead, annotator):
    client.force_login(annotator)
    project = make_project(lead, prompts=4)
    assign(project, [annotator], name="one", tasks=project.tasks.all()[:2])
    assign(project, [annotator], name="two", tasks=project.tasks.all()[2:])
    few = queries(lambda: client.get(reverse("home")))
    for i in range(3):
        more = make_project(lead, prompts=2, name=f"More {i}")
        assign(more, [annotator], name="x", tasks=more.tasks.all()[:1])
        assign(more, [annotator], name="y", tasks=more.tasks.all()[1:])
        submit_first(annotator, more, rating=2)
        led = make_project(lead, prompts=1, name=f"Led {i}")
        add_member(led, annotator, role="lead")
    assert queries(lambda: client.get(reverse("home"))) == few + 3  # the lead's counts, once


# Words, not codes


def test_a_missing_choice_is_told_in_the_buttons_words(lead, annotator):
    project = make_project(lead, kind="pairwise", prompts=1, models=("m1", "m2"))
    assign(project, [annotator])
    claim = claim_next(user=annotator, project_id=project.pk)
    with pytest.raises(InvalidInput) as raised:
        judgment_submit(user=annotator, task_id=claim.task_id, choice="both")
    message = " ".join(raised.value.fields["choice"])
    assert "Both bad" in message and "Tie" in message and "both_bad" not in message


def test_the_api_reads_and_sets_the_callers_own_shortcut_setting(annotator):
    client = client_for(annotator)
    assert client.get("/api/v1/me/preferences/").json() == {"shortcuts": True}
    changed = client.put("/api/v1/me/preferences/", {"shortcuts": False}, format="json")
    assert changed.status_code == 200 and changed.json() == {"shortcuts": False}
    assert not shortcuts_enabled(user=annotator)
    refused = client.put("/api/v1/me/preferences/", {"shortcuts": "perhaps"}, format="json")
    assert refused.status_code == 400 and "shortcuts" in refused.json()["error"]["fields"]
    unknown = client.put(
        "/api/v1/me/preferences/", {"shortcuts": True, "theme": "dark"}, format="json"
    )
    assert unknown.status_code == 400
    assert not shortcuts_enabled(user=annotator)
