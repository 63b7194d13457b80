from html.parser import HTMLParser

import pytest
from django.urls import reverse

from annotation.models import Claim, Judgment, Task
from annotation.services import prompt_records_load
from ftapp.actors import SYSTEM
from tests.factories import ProjectFactory, assign
from tests.rendering import DANGEROUS, assert_inert

pytestmark = pytest.mark.django_db


class _Blocks(HTMLParser):
    """Collects the inner HTML of each ``class="markdown"`` element: what untrusted text
    rendered to."""

    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.blocks: list[str] = []
        self._depth = 0

    VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "wbr", "source"})

    def handle_starttag(self, tag, attrs):
        if self._depth:
            self._depth += tag not in self.VOID
            self.blocks[-1] += self.get_starttag_text()
        elif "markdown" in (dict(attrs).get("class") or "").split() and tag == "div":
            self._depth = 1
            self.blocks.append("")

    def handle_endtag(self, tag):
        if self._depth:
            self._depth -= 1
            if self._depth:
                self.blocks[-1] += f"</{tag}>"

    def handle_data(self, data):
        if self._depth:
            self.blocks[-1] += data


def untrusted_blocks(page: str) -> list[str]:
    parser = _Blocks()
    parser.feed(page)
    return parser.blocks


HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def project(lead):
    project = ProjectFactory(created_by=lead, kind="rating", rubric=["accuracy"])
    prompt_records_load(
        by=SYSTEM,
        project=project,
        records=[
            {
                "id": f"q{i}",
                "system": "You are a bank's assistant.",
                "prompt": f"How do I close account {i}?",
                "responses": [{"model": "secret-model-name", "text": f"**Step one** for {i}."}],
            }
            for i in range(3)
        ],
    )
    return project


@pytest.fixture
def signed_in(client, project, annotator):
    assign(project, [annotator])
    client.force_login(annotator)
    return client


def claim_on_page(client, project, annotator) -> int:
    """Takes the next task with the queue page's button; returns the task's id."""
    client.post(reverse("queue", args=[project.pk]))
    return Claim.objects.get(annotator=annotator, status="active").task_id


def test_rating_page_shows_the_conversation_and_the_rendered_response(signed_in, project):
    page = signed_in.post(reverse("queue", args=[project.pk]), follow=True).content.decode()
    assert "You are a bank&#x27;s assistant." in page or "You are a bank's assistant." in page
    assert "How do I close account 0?" in page
    assert "<strong>Step one</strong> for 0." in page
    assert 'name="rating" value="5"' in page and 'name="rubric_accuracy"' in page
    assert "secret-model-name" not in page
    assert "<strong>0</strong> judged" in page and "<strong>3</strong> to go" in page


def test_plain_form_post_judges_and_redirects(signed_in, project, annotator):
    task_id = claim_on_page(signed_in, project, annotator)
    response = signed_in.post(
        reverse("task-judge", args=[task_id]),
        {"rating": "2", "comment": "too vague", "rubric_accuracy": "3", "idempotency_key": "k1"},
    )
    assert response.status_code == 302 and response.url == reverse("queue", args=[project.pk])
    judgment = Judgment.objects.get()
    assert (judgment.rating, judgment.comment, judgment.rubric_scores) == (
        2,
        "too vague",
        {"accuracy": 3},
    )
    assert judgment.duration_ms is not None and judgment.rewrite == ""


def test_htmx_post_swaps_in_the_next_task(signed_in, project, annotator):
    first = claim_on_page(signed_in, project, annotator)
    response = signed_in.post(
        reverse("task-judge", args=[first]), {"rating": "5", "duration_ms": "4200"}, **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and 'id="workspace"' in html
    assert "How do I close account 1?" in html and "1</strong> judged" in html
    assert "Saved. Press u twice to undo." in html
    assert Judgment.objects.get().duration_ms == 4200


def test_missing_rating_shows_the_error_in_place(signed_in, project, annotator):
    task_id = claim_on_page(signed_in, project, annotator)
    html = signed_in.post(
        reverse("task-judge", args=[task_id]), {"comment": "keep me"}, **HTMX
    ).content.decode()
    assert "Give a rating from 1 to 5." in html and "keep me" in html
    assert not Judgment.objects.exists()


def test_rewrite_is_kept_unless_unchanged(signed_in, project, annotator):
    task_id = claim_on_page(signed_in, project, annotator)
    original = Task.objects.get(pk=task_id).response_a.text
    signed_in.post(reverse("task-judge", args=[task_id]), {"rating": "3", "rewrite": original})
    assert Judgment.objects.get().rewrite == ""
    next_id = claim_on_page(signed_in, project, annotator)
    signed_in.post(
        reverse("task-judge", args=[next_id]), {"rating": "2", "rewrite": "Do X, then Y."}
    )
    assert Judgment.objects.get(task_id=next_id).rewrite == "Do X, then Y."


def test_skip_and_undo_pages(signed_in, project, annotator):
    first = claim_on_page(signed_in, project, annotator)
    html = signed_in.post(
        reverse("task-skip", args=[first]), {"reason": "not my field"}, **HTMX
    ).content.decode()
    assert "Skipped." in html and "How do I close account 1?" in html
    second = Claim.objects.get(annotator=annotator, status="active").task_id
    signed_in.post(reverse("task-judge", args=[second]), {"rating": "4"}, **HTMX)
    html = signed_in.post(reverse("queue-undo", args=[project.pk]), **HTMX).content.decode()
    assert "withdrawn" in html and "How do I close account 1?" in html
    assert not Judgment.objects.exists()


def test_empty_queue_state(signed_in, project, annotator):
    for _ in range(3):
        task_id = claim_on_page(signed_in, project, annotator)
        signed_in.post(reverse("task-judge", args=[task_id]), {"rating": "4"})
    page = signed_in.get(reverse("queue", args=[project.pk])).content.decode()
    assert "Your queue is empty" in page and 'id="judge-form"' not in page


def test_a_get_never_claims_a_task(signed_in, project, annotator):
    """A prefetch or a link preview of the queue takes no task: the page offers a start
    button that POSTs, and shows the task the annotator already holds."""
    url = reverse("queue", args=[project.pk])
    page = signed_in.get(url).content.decode()
    assert not Claim.objects.exists()
    assert 'id="start-form"' in page and 'id="judge-form"' not in page
    assert "3 tasks to go." in page
    html = signed_in.post(url, **HTMX).content.decode()
    held = Claim.objects.get(annotator=annotator, status="active")
    assert 'id="judge-form"' in html and 'id="start-form"' not in html
    page = signed_in.get(url).content.decode()
    assert f'data-task="{held.task_id}"' in page
    assert Claim.objects.filter(annotator=annotator).count() == 1


def test_leads_have_no_queue(client, project, lead):
    client.force_login(lead)
    assert client.get(reverse("queue", args=[project.pk])).status_code == 403


@pytest.mark.parametrize("kind", ["rating", "pairwise"])
def test_dangerous_responses_render_inert_on_the_task_page(client, lead, annotator, kind):
    project = ProjectFactory(created_by=lead, kind=kind)
    payload = " ".join(DANGEROUS.values())
    prompt_records_load(
        by=SYSTEM,
        project=project,
        records=[
            {
                "id": "xss",
                "prompt": "Say hi <script>alert('prompt')</script>",
                "responses": [
                    {"model": "m1", "text": payload},
                    {"model": "m2", "text": payload + " (second)"},
                ],
            }
        ],
    )
    assign(project, [annotator])
    client.force_login(annotator)
    page = client.post(reverse("queue", args=[project.pk]), follow=True).content.decode()
    assert "evil.example" in page  # the text is shown, as text
    assert "<script>alert" not in page
    rendered = untrusted_blocks(page)
    assert len(rendered) == (2 if kind == "rating" else 3)  # the prompt, and each response
    for block in rendered:
        assert_inert(block)
