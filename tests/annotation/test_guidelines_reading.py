"""Guidelines in front of the annotator: a new version, with the lead's note on what changed,
is shown before their next task until they say they have read it; the guidelines, the
editor and the shortcut list fit the project's kind."""

import re

import pytest
from django.urls import reverse

from annotation.models import GuidelinesAcknowledgment
from annotation.selectors import guidelines_due
from annotation.services import (
    claim_next,
    guidelines_acknowledge,
    guidelines_publish,
    judgment_submit,
)
from annotation.shortcuts import GUIDELINES_TEMPLATES, VERDICT_KEYS
from ftapp.errors import InvalidInput, NotFound
from tests.factories import AnnotatorFactory, assign, client_for, make_project

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def publish_v2(project, lead, note="Refusals of unsafe requests now count as correct."):
    version, published = guidelines_publish(
        by=lead, project=project, body="# New rules\n\nRefuse unsafe requests.", change_note=note
    )
    assert published
    return version


# --- services and the selector ---------------------------------------------------------


def test_publishing_keeps_the_change_note_and_the_first_version_has_none(rating_project, lead):
    first = rating_project.guidelines.get(version=1)
    assert first.change_note == ""
    second = publish_v2(rating_project, lead, note="  Refusals count.\r\nSee rule 4.  ")
    assert (second.version, second.change_note) == (2, "Refusals count.\nSee rule 4.")
    # Nothing changed: no new version, and the note is not stored anywhere.
    same, published = guidelines_publish(
        by=lead, project=rating_project, body=second.body, change_note="Another note"
    )
    assert (same.version, published, same.change_note) == (2, False, "Refusals count.\nSee rule 4.")


def test_the_api_publishes_with_a_change_note(rating_project, lead, annotator):
    url = f"/api/v1/projects/{rating_project.pk}/"
    body = {"guidelines": "New rules.", "guidelines_change_note": "Rules rewritten."}
    response = client_for(lead).patch(url, body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["guidelines_version"] == 2
    assert rating_project.guidelines.get(version=2).change_note == "Rules rewritten."
    too_long = {"guidelines": "Newer.", "guidelines_change_note": "x" * 2001}
    refused = client_for(lead).patch(url, too_long, format="json")
    assert refused.status_code == 400
    assert "guidelines_change_note" in refused.json()["error"]["fields"]
    assert rating_project.guidelines.count() == 2


def test_a_too_long_change_note_is_refused(rating_project, lead):
    with pytest.raises(InvalidInput) as error:
        guidelines_publish(by=lead, project=rating_project, body="New.", change_note="x" * 2001)
    assert "change_note" in error.value.fields
    assert rating_project.guidelines.count() == 1


def test_the_panel_is_due_until_the_current_version_is_read(rating_project, lead, annotator):
    assign(rating_project, [annotator])
    due = guidelines_due(user=annotator, project=rating_project)
    assert due is not None and due.first_visit and due.current.version == 1 and due.changes == []
    guidelines_acknowledge(user=annotator, project_id=rating_project.pk, version=1)
    assert guidelines_due(user=annotator, project=rating_project) is None
    publish_v2(rating_project, lead)
    guidelines_publish(by=lead, project=rating_project, body="Third.", change_note="")
    due = guidelines_due(user=annotator, project=rating_project)
    assert due is not None and not due.first_visit and due.current.version == 3
    assert [(v.version, v.change_note) for v in due.changes] == [
        (2, "Refusals of unsafe requests now count as correct."),
        (3, ""),
    ]
    guidelines_acknowledge(user=annotator, project_id=rating_project.pk, version=3)
    assert guidelines_due(user=annotator, project=rating_project) is None


def test_a_first_visit_after_several_versions_shows_the_latest_note(
    rating_project, lead, annotator
):
    assign(rating_project, [annotator])
    publish_v2(rating_project, lead)
    due = guidelines_due(user=annotator, project=rating_project)
    assert due.first_visit and [v.version for v in due.changes] == [2]


def test_guidelines_with_nothing_written_are_not_shown(lead, annotator):
    project = make_project(lead, prompts=1, guidelines="  ")
    assign(project, [annotator])
    assert guidelines_due(user=annotator, project=project) is None
    guidelines_publish(by=lead, project=project, body="Now there is something.")
    assert guidelines_due(user=annotator, project=project).current.version == 2


def test_acknowledging_is_recorded_once(rating_project, annotator):
    assign(rating_project, [annotator])
    first = guidelines_acknowledge(user=annotator, project_id=rating_project.pk, version=1)
    again = guidelines_acknowledge(user=annotator, project_id=rating_project.pk, version=1)
    assert first.pk == again.pk
    assert GuidelinesAcknowledgment.objects.filter(user=annotator).count() == 1


def test_only_members_acknowledge_and_only_published_versions(rating_project, annotator):
    outsider = AnnotatorFactory()
    with pytest.raises(NotFound):
        guidelines_acknowledge(user=outsider, project_id=rating_project.pk, version=1)
    assign(rating_project, [annotator])
    with pytest.raises(InvalidInput) as error:
        guidelines_acknowledge(user=annotator, project_id=rating_project.pk, version=9)
    assert "version" in error.value.fields
    assert not GuidelinesAcknowledgment.objects.exists()


def test_the_judgment_records_the_version_it_was_made_under(lead, annotator):
    project = make_project(lead, prompts=2)
    assign(project, [annotator])
    publish_v2(project, lead)
    guidelines_acknowledge(user=annotator, project_id=project.pk, version=2)
    claim = claim_next(user=annotator, project_id=project.pk)
    result = judgment_submit(user=annotator, task_id=claim.task_id, rating=4)
    assert result.judgment.guidelines_version == 2


def test_the_api_claim_says_which_version_is_unread_until_it_is_read(lead, annotator):
    project = make_project(lead, prompts=3)
    assign(project, [annotator])
    client = client_for(annotator)
    claimed = client.post(f"/api/v1/projects/{project.pk}/queue/next/").json()
    assert claimed["guidelines_unread"] == 1
    read = client.post(
        f"/api/v1/projects/{project.pk}/guidelines/read/", {"version": 1}, format="json"
    )
    assert read.status_code == 200 and read.json()["version"] == 1
    assert (
        client.post(f"/api/v1/projects/{project.pk}/queue/next/").json()["guidelines_unread"]
        is None
    )
    publish_v2(project, lead)
    assert (
        client.post(f"/api/v1/projects/{project.pk}/queue/next/").json()["guidelines_unread"] == 2
    )
    unknown = client.post(
        f"/api/v1/projects/{project.pk}/guidelines/read/", {"version": 7}, format="json"
    )
    assert unknown.status_code == 400 and "version" in unknown.json()["error"]["fields"]


# --- pages -------------------------------------------------------------------------------


@pytest.fixture
def queue_client(client, lead, annotator):
    project = make_project(lead, prompts=3)
    assign(project, [annotator])
    client.force_login(annotator)
    return client, project


def panel(page: str) -> str | None:
    found = re.search(r'<dialog id="guidelines-due".*?</dialog>', page, re.S)
    return found.group(0) if found else None


def test_the_first_visit_shows_the_whole_guidelines_before_the_task(queue_client):
    client, project = queue_client
    page = client.get(reverse("queue", args=[project.pk])).content.decode()
    shown = panel(page)
    assert shown is not None
    assert "Before you start: the guidelines" in shown and "What changed" not in shown
    assert "Rate <strong>carefully</strong>" in shown  # the body, rendered
    assert re.search(r"<details[^>]*open", shown)
    assert 'name="version" value="1"' in shown and "autofocus" in shown


def test_reading_closes_the_panel_for_good(queue_client, annotator):
    client, project = queue_client
    url = reverse("guidelines-acknowledge", args=[project.pk])
    swapped = client.post(url, {"version": "1"}, **HTMX)
    assert swapped.status_code == 200
    body = swapped.content.decode()
    assert panel(body) is None and 'id="judge-form"' in body
    assert "Guidelines version 1 marked as read." in body
    assert GuidelinesAcknowledgment.objects.filter(
        user=annotator, guidelines__project=project, guidelines__version=1
    ).exists()
    assert panel(client.get(reverse("queue", args=[project.pk])).content.decode()) is None


def test_without_htmx_reading_redirects_to_the_queue(queue_client):
    client, project = queue_client
    response = client.post(reverse("guidelines-acknowledge", args=[project.pk]), {"version": "1"})
    assert response.status_code == 302 and response.url == reverse("queue", args=[project.pk])


def test_a_missing_version_is_an_error_in_words(queue_client):
    client, project = queue_client
    url = reverse("guidelines-acknowledge", args=[project.pk])
    body = client.post(url, {"version": "x"}, **HTMX).content.decode()
    assert "Say which guidelines version you read." in body
    assert not GuidelinesAcknowledgment.objects.exists()


def test_a_new_version_is_shown_with_its_note_on_the_next_task(queue_client, lead, annotator):
    client, project = queue_client
    client.post(reverse("guidelines-acknowledge", args=[project.pk]), {"version": "1"}, **HTMX)
    claim = annotator.claims.get(status="active")
    publish_v2(project, lead)
    after = client.post(
        reverse("task-judge", args=[claim.task_id]),
        {"rating": "4", "idempotency_key": "k1"},
        **HTMX,
    ).content.decode()
    shown = panel(after)
    assert shown is not None and "The guidelines changed" in shown
    assert "What changed" in shown and "Refusals of unsafe requests now count as correct." in shown
    assert 'name="version" value="2"' in shown
    assert not re.search(r"<details[^>]*open", shown)  # the whole text is one key away
    assert "The whole guidelines (g)" in shown


def test_the_change_note_is_escaped(queue_client, lead):
    client, project = queue_client
    client.post(reverse("guidelines-acknowledge", args=[project.pk]), {"version": "1"})
    publish_v2(project, lead, note="<script>alert(1)</script>")
    page = client.get(reverse("queue", args=[project.pk])).content.decode()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


# --- kind: guidelines, shortcuts, editor --------------------------------------------------


def kbd_keys(html: str) -> list[str]:
    return re.findall(r"<kbd>([^<]+)</kbd>", html)


def dialog(page: str, element_id: str) -> str:
    return re.search(rf'<dialog id="{element_id}".*?</dialog>', page, re.S).group(0)


@pytest.mark.parametrize("kind", ["rating", "pairwise"])
def test_the_shortcut_list_and_guidelines_fit_the_kind(client, lead, annotator, kind):
    project = make_project(lead, kind=kind, models=("m1", "m2"), prompts=2)
    guidelines_publish(
        by=lead, project=project, body="Judge well.", rating_anchors={"1": "Awful", "5": "Great"}
    )
    assign(project, [annotator])
    client.force_login(annotator)
    client.post(reverse("queue", args=[project.pk]))
    page = client.get(reverse("queue", args=[project.pk])).content.decode()
    keys = kbd_keys(dialog(page, "shortcuts"))
    aside = re.search(r'<aside id="guidelines".*?</aside>', page, re.S).group(0)
    if kind == "rating":
        assert keys[:5] == ["1", "2", "3", "4", "5"]
        assert not {"a", "b", "t", "n"} & set(keys)
        assert "The rating scale" in aside and "Awful" in aside
        assert "The choices" not in aside
    else:
        assert keys[:4] == ["a", "b", "t", "n"]
        assert not {"1", "2", "3", "4", "5"} & set(keys)
        assert "The rating scale" not in aside and "Awful" not in aside
        assert "The choices" in aside and "Both bad" in aside
    assert {"Enter", "u", "g", "?"} <= set(keys)


def test_the_pairwise_keys_are_the_ones_the_script_acts_on():
    """The shortcut list is rendered from ``VERDICT_KEYS``; the workspace script keeps its
    own map of the same keys, which must say the same."""
    from pathlib import Path

    script = (Path(__file__).resolve().parents[2] / "static/js/workspace.js").read_text()
    found = re.search(r"const CHOICES = \{([^}]*)\}", script).group(1)
    in_script = dict(re.findall(r'(\w+): "(\w+)"', found))
    assert in_script == {keys[0]: value for keys, _, value in VERDICT_KEYS["pairwise"]}
    assert "/^[1-5]$/" in script
    assert [keys[0] for keys, _, _ in VERDICT_KEYS["rating"]] == ["1", "2", "3", "4", "5"]


def test_the_pairwise_editor_has_no_rating_scale_and_keeps_anchors(client, pairwise_project, lead):
    client.force_login(lead)
    url = reverse("guidelines", args=[pairwise_project.pk])
    page = client.get(url).content.decode()
    assert 'name="anchor_1"' not in page and "What each rating means" not in page
    assert 'name="change_note"' in page
    client.post(url, {"body": "Compare carefully.", "change_note": "Now compare."}, follow=True)
    latest = pairwise_project.guidelines.order_by("-version").first()
    assert (latest.version, latest.change_note) == (2, "Now compare.")
    assert "Now compare." in client.get(url).content.decode()  # in the version list


def test_the_rating_editor_keeps_its_scale(client, rating_project, lead):
    client.force_login(lead)
    url = reverse("guidelines", args=[rating_project.pk])
    page = client.get(url).content.decode()
    assert 'name="anchor_1"' in page and 'name="change_note"' in page
    done = client.post(
        url, {"body": "New.", "anchor_3": "Fine", "change_note": "Anchors."}, follow=True
    ).content.decode()
    latest = rating_project.guidelines.order_by("-version").first()
    assert latest.rating_anchors == {"3": "Fine"} and latest.change_note == "Anchors."
    assert "before their next task" in done


@pytest.mark.parametrize("kind", ["rating", "pairwise"])
def test_guidelines_never_written_start_from_a_template_of_the_kind(client, lead, kind):
    project = make_project(lead, kind=kind, models=("m1", "m2"), guidelines="")
    client.force_login(lead)
    page = client.get(reverse("guidelines", args=[project.pk])).content.decode()
    textarea = re.search(r'<textarea id="body"[^>]*>(.*?)</textarea>', page, re.S).group(1)
    assert textarea.startswith(GUIDELINES_TEMPLATES[kind][:15])
    if kind == "pairwise":
        assert "Both bad" in textarea and "1 to 5" not in textarea
    else:
        assert "1 to 5" in textarea and "Both bad" not in textarea
