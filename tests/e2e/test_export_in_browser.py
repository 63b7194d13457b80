"""A lead cancels an export and retries it from its page in a real browser: the buttons post
through htmx (with the CSRF token) and the status swaps in place, then follows the build the
worker makes. And the new-export form shows the chosen kind's options only, by keyboard, and
asks for judge labels by keyboard at phone width."""

import pytest

from annotation.models import Task
from evaluation.exports.services.jobs import export_start
from evaluation.models import (
    Export,
    GenerationRun,
    JudgePrompt,
    JudgeVerdict,
    ModelEndpoint,
    RunPurpose,
)
from ftapp.actors import SYSTEM
from tests.e2e.browser import log_in
from tests.factories import make_pairwise_project, make_rated_project

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.worker
def test_cancel_then_retry_an_export_from_its_page(celery_worker, live_server, page, lead):
    project = make_rated_project(lead)
    # Recorded as the command line records it, so no worker takes it before the click.
    export = export_start(by=SYSTEM, project=project, kind="sft", format="trl")
    log_in(page, live_server.url, lead)
    page.goto(f"{live_server.url}/exports/{export.pk}/")
    assert page.text_content("#export-state") == "queued"
    page.evaluate("window.notReloaded = true")
    page.click("#export-cancel")
    page.wait_for_selector("#export-retry")
    assert page.text_content("#export-state") == "cancelled"
    assert page.evaluate("window.notReloaded === true")  # htmx swapped it in place
    page.click("#export-retry")
    page.wait_for_selector("text=Download train.jsonl", timeout=60_000)
    assert page.text_content("#export-state") == "completed"
    assert page.evaluate("window.notReloaded === true")
    assert Export.objects.get(pk=export.pk).attempts == 1


def test_the_form_shows_the_chosen_kinds_options_only(live_server, page, lead):
    project = make_pairwise_project(lead)
    log_in(page, live_server.url, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/exports/")
    kind = page.locator("#kind")
    assert kind.input_value() == "dpo"  # a pairwise project's kind
    page.select_option("#format", "openai")
    assert page.is_visible("input[name=margin]")
    assert not page.is_visible("input[name=per_prompt]")
    assert page.is_disabled("input[name=kto_desirable_min]")
    kind.focus()
    page.keyboard.press("ArrowDown")  # DPO → KTO, from the keyboard
    assert kind.input_value() == "kto"
    assert page.is_visible("input[name=kto_desirable_min]")
    assert page.is_visible("input[name=include_rewrites]")  # SFT's and KTO's
    assert not page.is_visible("input[name=margin]") and page.is_disabled("input[name=margin]")
    assert page.get_attribute('#rows-expected tr[data-export-kind="kto"]', "class") == "current"
    # OpenAI's fine-tuning has no KTO format: the form went back to TRL's.
    assert page.input_value("#format") == "trl"
    assert page.is_disabled('#format option[value="openai"]')
    page.fill("input[name=kto_desirable_min]", "5")
    # What the form would send (not sent: a build would outlive the test): KTO's options,
    # none of the hidden kinds'.
    sent = page.evaluate("() => [...new FormData(document.getElementById('export-form')).keys()]")
    assert {"kind", "format", "kto_desirable_min", "include_rewrites"} <= set(sent)
    assert not {"margin", "pairs_from", "per_prompt", "sft_min_rating"} & set(sent)


def test_judge_labels_are_asked_for_by_keyboard_and_a_refusal_is_shown_beside_them(
    live_server, page, lead
):
    project = make_pairwise_project(lead)
    endpoint = ModelEndpoint.objects.create(
        name="judge-a", base_url="http://127.0.0.1:9/v1", model="judge-a", created_by=lead
    )
    prompt = JudgePrompt.objects.create(
        project=project, version=1, template="{response_a}{response_b}", created_by=lead
    )
    run = GenerationRun.objects.create(
        project=project, purpose=RunPurpose.JUDGE, judge_prompt=prompt, created_by=lead
    )
    for task in Task.objects.filter(project=project):
        JudgeVerdict.objects.create(
            project=project,
            run=run,
            task=task,
            endpoint=endpoint,
            judge_prompt=prompt,
            kind="pairwise",
            choice="A",
            order_choices=["A", "A"],
            consistent=True,
        )
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server.url, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/exports/")
    fill = page.locator("input[name=judge_fill]")
    assert not fill.is_checked()  # off by default
    fill.focus()
    page.keyboard.press("Space")
    assert fill.is_checked()
    page.locator("#judge").focus()
    page.keyboard.press("ArrowDown")
    assert page.input_value("#judge") == str(endpoint.pk)
    page.locator("input[name=judge_min_agreement]").focus()
    page.keyboard.type("0.5")
    page.keyboard.press("Enter")
    page.wait_for_selector("#judge-threshold-error")
    # Five tasks both labeled: too few to trust the judge, and the form says so beside it.
    assert "at least 30" in page.text_content("#judge-threshold-error")
    assert page.locator("input[name=judge_fill]").is_checked()
    assert page.input_value("#judge") == str(endpoint.pk)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert not Export.objects.exists()
