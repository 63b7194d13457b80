"""The lead's task page: the conversation, every judgment with the side each response was
shown on and its rewrite as an escaped diff, skips, the gold answer, and, from the data
browser, the previous / next task of the browser's view."""

import re

import pytest
from django.urls import reverse

from annotation.models import Judgment, Response, Task
from annotation.selectors.review import duration_words, text_diff
from annotation.services import claim_next, judgment_submit, task_skip
from annotation.services.leads import adjudication_record, task_set_gold
from tests.factories import AnnotatorFactory, assign, make_project, queries

pytestmark = pytest.mark.django_db


def test_a_rewrite_is_shown_as_an_escaped_diff_of_the_response(client, lead):
    project = make_project(lead, prompts=1)
    Response.objects.filter(prompt__project=project).update(text="Use <b>bold</b> here.")
    annotator = AnnotatorFactory()
    assign(project, [annotator])
    claim = claim_next(user=annotator, project_id=project.pk)
    judgment_submit(
        user=annotator,
        task_id=claim.task_id,
        rating=2,
        rewrite="Use <script>alert(1)</script> here.",
        comment="Too <i>bold</i>.",
        duration_ms=65_000,
    )
    client.force_login(lead)
    page = client.get(reverse("task-review", args=[claim.task_id])).content.decode()
    assert "<script>alert(1)" not in page and "<i>bold" not in page
    assert (
        "<del>&lt;b&gt;bold&lt;/b&gt;</del><ins>&lt;script&gt;alert(1)&lt;/script&gt;</ins>" in page
    )
    assert "Rewrite of A (m1)" in page
    assert "Too &lt;i&gt;bold&lt;/i&gt;." in page
    assert "1 min 5 s" in page


def test_each_judgment_says_which_side_each_response_was_shown_on(client, lead):
    project = make_project(lead, kind="pairwise", prompts=1, models=("m1", "m2"), overlap=2)
    first, second = AnnotatorFactory(), AnnotatorFactory()
    assign(project, [first, second], overlap=2)
    for annotator in (first, second):
        claim = claim_next(user=annotator, project_id=project.pk)
        judgment_submit(user=annotator, task_id=claim.task_id, choice="A")
    task = Task.objects.get(project=project)
    # One of them saw the pair swapped, whatever the draw gave.
    Judgment.objects.filter(annotator=first).update(swapped=False)
    Judgment.objects.filter(annotator=second).update(swapped=True)
    client.force_login(lead)
    page = client.get(reverse("task-review", args=[task.pk])).content.decode()
    assert "A (m1) on the left, B (m2) on the right" in page
    assert "B (m2) on the left, A (m1) on the right" in page
    # Each chose the left response: A for the first, B in the task's terms for the second.
    assert "A (m1) is better" in page and "B (m2) is better" in page


def test_skips_the_gold_answer_and_the_adjudication_are_shown(client, lead):
    project = make_project(lead, prompts=1, overlap=2)
    judged, skipped = AnnotatorFactory(), AnnotatorFactory()
    assign(project, [judged, skipped], overlap=2)
    task = Task.objects.get(project=project)
    claim_next(user=skipped, project_id=project.pk)
    task_skip(user=skipped, task_id=task.pk, reason="Not my <field>")
    claim_next(user=judged, project_id=project.pk)
    judgment_submit(user=judged, task_id=task.pk, rating=4)
    adjudication_record(by=lead, task_id=task.pk, rating=3, note="Close call")
    task_set_gold(by=lead, task_id=task.pk, is_gold=True, rating_min=3, rating_max=4)
    client.force_login(lead)
    page = client.get(reverse("task-review", args=[task.pk])).content.decode()
    skips = page.split('id="skips"')[1].split("</section>")[0]
    pseudonym = skipped.memberships.get(project=project).pseudonym
    assert f"{pseudonym}: Not my &lt;field&gt;" in skips
    assert "gold: expected 3 to 4" in page
    assert "Settled by" in page and "<strong>3</strong>" in page and "Close call" in page


def test_from_the_data_browser_it_links_to_the_neighbours_in_the_view(client, lead):
    project = make_project(lead, prompts=5)
    tasks = list(Task.objects.filter(project=project).order_by("pk"))
    batch = assign(project, [], name="Middle", tasks=[tasks[1], tasks[2], tasks[3]])
    client.force_login(lead)
    url = reverse("task-review", args=[tasks[2].pk])
    view = f"from=data&batch={batch.pk}"
    page = client.get(f"{url}?{view}").content.decode()
    back = view.replace("&", "&amp;")
    assert f'href="/tasks/{tasks[1].pk}/review/?{back}" id="previous-task"' in page
    assert f'href="/tasks/{tasks[3].pk}/review/?{back}" id="next-task"' in page
    assert f'href="/projects/{project.pk}/data/?batch={batch.pk}">Back to the data' in page
    assert "<kbd>j</kbd>" in page and "<kbd>k</kbd>" in page
    assert f'href="/projects/{project.pk}/data/" aria-current="true">Data<' in page
    assert re.search(r'<script src="[^"]*js/review\.js"', page)
    # Browsing, the verdict list does not take the focus, so j and k work at once.
    assert "autofocus" not in page
    last = client.get(f"{reverse('task-review', args=[tasks[3].pk])}?{view}").content.decode()
    assert 'id="next-task"' not in last and "Last in this view" in last
    response = client.post(f"{url}?{view}", {"action": "adjudicate", "rating": "4"})
    assert response.url == f"{url}?{view}"


def test_from_elsewhere_there_are_no_neighbour_links(client, lead):
    project = make_project(lead, prompts=3)
    task = Task.objects.filter(project=project).order_by("pk")[1]
    client.force_login(lead)
    page = client.get(reverse("task-review", args=[task.pk])).content.decode()
    assert 'id="next-task"' not in page and "autofocus" in page


def test_the_page_makes_as_many_queries_for_many_judgments_as_for_one(client, lead):
    def judged(count):
        project = make_project(lead, prompts=1, overlap=count)
        annotators = [AnnotatorFactory() for _ in range(count)]
        assign(project, annotators, overlap=count)
        for annotator in annotators:
            claim = claim_next(user=annotator, project_id=project.pk)
            judgment_submit(user=annotator, task_id=claim.task_id, rating=3, rewrite="Mine.")
        return Task.objects.get(project=project)

    one, many = judged(1), judged(5)
    client.force_login(lead)
    assert queries(lambda: client.get(reverse("task-review", args=[many.pk]))) == queries(
        lambda: client.get(reverse("task-review", args=[one.pk]))
    )


def test_text_diff_and_duration_words():
    assert text_diff(original="a b c", changed="a x c") == [
        {"op": "same", "text": "a "},
        {"op": "del", "text": "b"},
        {"op": "ins", "text": "x"},
        {"op": "same", "text": " c"},
    ]
    assert text_diff(original="", changed="new") == [{"op": "ins", "text": "new"}]
    assert [duration_words(ms) for ms in (None, 4_400, 60_000, 3_725_000)] == [
        "",
        "4 s",
        "1 min",
        "1 h 2 min",
    ]
