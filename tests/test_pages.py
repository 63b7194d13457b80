"""The one mapping of domain errors to pages (ftapp/pages.py): what a page loads is a 404 or
a 403; what its action fails with is shown, each field's messages kept."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from annotation.models import Batch, Task
from ftapp.errors import InvalidInput
from ftapp.pages import form_errors
from tests.factories import AnnotatorFactory, add_member, build, make_project

pytestmark = pytest.mark.django_db


def test_a_form_shows_its_fields_messages_beside_them_and_the_rest_above():
    context: dict = {}
    with form_errors(context, fields=("size",)):
        raise InvalidInput(
            "No unbatched task matches.",
            fields={"size": ["At least 1."], "filter": ["Unknown key 'colour'."]},
        )
    assert context["fields"] == {"size": ["At least 1."]}
    assert context["error"] == "No unbatched task matches. filter: Unknown key 'colour'."


def test_a_models_validation_error_is_shown_like_a_domain_error():
    context: dict = {}
    with form_errors(context, fields=("overlap",)):
        raise ValidationError(
            {"overlap": ["At most 50."], "name": ["Too long."], "__all__": ["Clashes."]}
        )
    assert context["fields"] == {"overlap": ["At most 50."]}
    assert context["error"] == "Clashes. name: Too long."


def test_what_a_form_does_not_raise_passes_through():
    context: dict = {}
    with pytest.raises(NotImplementedError), form_errors(context):
        raise NotImplementedError
    assert context == {}


def _signed_in_lead(client, lead):
    project = make_project(lead, prompts=2)
    client.force_login(lead)
    return project


def test_a_field_message_shows_beside_the_field_on_the_new_batch_form(client, lead):
    project = _signed_in_lead(client, lead)
    page = client.post(
        reverse("batch-new", args=[project.pk]), {"name": "B", "size": "1", "overlap": "-1"}
    )
    html = page.content.decode()
    assert page.status_code == 200 and not Batch.objects.exists()
    overlap_input = html.index('id="overlap"')
    message = html.index("greater than or equal to 1", overlap_input)
    assert message < html.index('id="due_at"')


def test_the_new_batch_form_names_the_annotators_at_fault_beside_them(client, lead):
    project = _signed_in_lead(client, lead)
    html = client.post(
        reverse("batch-new", args=[project.pk]),
        {"name": "B", "size": "1", "annotators": ["nobody"]},
    ).content.decode()
    assert "No such user: nobody." in html[html.index("<legend>Assign to</legend>") :]


def test_a_message_after_an_action_keeps_the_field_messages(client, lead):
    project = _signed_in_lead(client, lead)
    page = client.post(reverse("members", args=[project.pk]), {"username": "nobody"}, follow=True)
    html = page.content.decode()
    assert "No such user." in html and "No active user by that name." in html


def test_an_object_a_page_cannot_find_is_a_404_and_one_it_may_not_show_a_403(client, lead):
    project = _signed_in_lead(client, lead)
    task = Task.objects.filter(project=project).first()
    assert client.get(reverse("task-review", args=[task.pk + 1000])).status_code == 404
    assert client.get(reverse("batch", args=[999_999])).status_code == 404
    annotator = AnnotatorFactory()
    add_member(project, annotator)
    client.force_login(annotator)
    assert client.get(reverse("task-review", args=[task.pk])).status_code == 403
    client.force_login(AnnotatorFactory())
    assert client.get(reverse("task-review", args=[task.pk])).status_code == 404


def test_a_field_named_in_a_message_is_named_in_words():
    context: dict = {}
    with form_errors(context):
        raise InvalidInput("No such batch.", fields={"fresh_batch": ["Not a batch here."]})
    assert context["error"] == "No such batch. fresh batch: Not a batch here."


def test_the_lists_name_kinds_formats_and_statuses_in_words(client, lead):
    project = _signed_in_lead(client, lead)
    build(project, "dpo", fmt="openai")
    html = client.get(reverse("export-new", args=[project.pk])).content.decode()
    assert "<td>DPO / reward</td><td>OpenAI fine-tuning</td><td>completed</td>" in html
    assert '<option value="best_vs_worst">best vs worst</option>' in html
