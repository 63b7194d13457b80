"""The export page explains itself: the project's exports first, then a form starting from the
kind that fits the project and showing each kind's options apart, the rows the current
judgments would give per split with a warning when one is empty or too small to fine-tune on,
and an export's data card in sentences and tables, in words."""

import re

import pytest

from evaluation.exports.card import card_for_page, option_in_words, reason_in_words
from evaluation.exports.options import (
    PER_KIND,
    export_options_clean,
    kind_default,
    option_groups,
)
from evaluation.exports.services.build import export_rows_expected
from evaluation.exports.services.files import export_dir
from evaluation.models import Export
from tests.factories import (
    AnnotatorFactory,
    assign,
    build,
    judge_all,
    make_pairwise_project,
    make_project,
    make_rated_project,
)

pytestmark = pytest.mark.django_db

# What a Python repr of the card's values would leave on the page.
REPRS = re.compile(r"\bTrue\b|\bFalse\b|\bNone\b|\{'|\[\]|\{\}")


def card_html(html: str) -> str:
    start = html.index('id="data-card"')
    return html[start : html.index("</section>", start)]


def test_the_list_of_exports_comes_before_the_form(client, lead):
    project = make_rated_project(lead)
    build(project, "sft")
    client.force_login(lead)
    html = client.get(f"/projects/{project.pk}/exports/").content.decode()
    assert html.index('id="export-list"') < html.index('id="export-form"')
    assert "Download train" in html and "#data-card" in html


@pytest.mark.parametrize(("kind", "default"), [("pairwise", "dpo"), ("rating", "sft")])
def test_the_form_starts_from_the_kind_that_fits_the_project(client, lead, kind, default):
    assert kind_default(kind) == default
    project = make_project(lead, kind=kind, models=("m1", "m2"))
    client.force_login(lead)
    html = client.get(f"/projects/{project.pk}/exports/").content.decode()
    selected = re.findall(r'<option value="(\w+)" selected>', html.split('id="kind"')[1])
    assert selected[0] == default


def test_each_kinds_options_are_grouped_by_the_kinds_of_the_options_table(client, lead):
    project = make_rated_project(lead)
    client.force_login(lead)
    html = client.get(f"/projects/{project.pk}/exports/").content.decode()
    assert '<script src="/static/js/export-form.js" defer></script>' in html
    for kinds, names in option_groups():
        start = html.index(f'data-export-kinds="{" ".join(kinds)}"')
        group = html[start : html.index("</fieldset>", start)]
        for name in names:
            assert f'name="{name}"' in group
    # Every option of a kind has its field, once: a new option in the table needs one.
    for options in PER_KIND.values():
        for name in options:
            assert html.count(f'name="{name}"') == (3 if name == "pairs_from" else 1)


def test_each_format_names_the_kinds_written_in_it(client, lead):
    project = make_rated_project(lead)
    client.force_login(lead)
    html = client.get(f"/projects/{project.pk}/exports/").content.decode()
    assert '<option value="trl" data-export-kinds="sft dpo kto judgments">' in html
    assert '<option value="openai" data-export-kinds="sft dpo judgments">' in html


def test_a_form_without_script_sends_every_group_and_only_the_kinds_options_are_used(client, lead):
    project = make_rated_project(lead)
    client.force_login(lead)
    response = client.post(
        f"/projects/{project.pk}/exports/",
        {
            "kind": "kto",
            "format": "trl",
            "per_prompt": "7",
            "margin": "2",
            "kto_desirable_min": "5",
            "exclude_gold": "on",
            "dedupe": "on",
        },
    )
    export = Export.objects.get()
    assert response.status_code == 302 and export.kind == "kto"
    assert export.options["kto_desirable_min"] == 5.0
    assert "per_prompt" not in export.options and "margin" not in export.options


def test_the_rows_expected_are_those_the_build_writes(lead):
    project = make_rated_project(lead)
    for kind in PER_KIND:
        options = export_options_clean(kind=kind, format="trl", filters={})
        expected = export_rows_expected(
            project=project, kind=kind, options=options, test_fraction=0.3, seed=2
        )
        built = build(project, kind, test_fraction=0.3, seed=2)
        assert expected == {split: info["rows"] for split, info in built.files.items()}, kind


def test_a_small_split_is_warned_of_before_and_after_the_build(client, lead):
    # Three prompts rated 5 by one annotator: three SFT rows, all in train at test fraction 0.
    project = make_project(lead, prompts=3)
    annotator = AnnotatorFactory()
    assign(project, [annotator])
    judge_all(project, [annotator], lambda index, task: {"rating": 5})
    client.force_login(lead)
    form = client.get(f"/projects/{project.pk}/exports/").content.decode()
    expected = form[form.index('id="rows-expected"') :]
    sft = expected[expected.index('data-export-kind="sft"') :].split("</tr>")[0]
    assert "Only 3: OpenAI fine-tuning needs at least 10 examples." in sft
    export = build(project, "sft", test_fraction=0.0)
    assert export.files["train"]["rows"] == 3
    page = client.get(f"/exports/{export.pk}/").content.decode()
    card = card_html(page)
    train = card[card.index("<td>train</td>") :].split("</tr>")[0]
    assert "Only 3: OpenAI fine-tuning needs at least 10 examples." in train
    # No test split was asked for: its emptiness is no warning.
    test = card[card.index("<td>test</td>") :].split("</tr>")[0]
    assert "warning" not in test


def test_an_empty_split_is_warned_of(client, lead):
    project = make_rated_project(lead)
    export = build(project, "sft", test_fraction=0.5, seed=0)
    shown = card_for_page(export.card, project_kind="rating")
    empty = [s for s in shown["splits"] if s["rows"] == 0]
    for split in empty:
        assert split["warning"].startswith("Empty")
    small = [s for s in shown["splits"] if 0 < s["rows"] < 10]
    assert all("at least 10 examples" in s["warning"] for s in small)
    assert shown["warned"]


def test_the_card_speaks_words_not_python(client, lead):
    project = make_project(
        lead,
        prompts=3,
        metadata=lambda i: {"flag": i == 0, "extra": None, "nested": {"a": i}, "topic": "x"},
    )
    annotator = AnnotatorFactory()
    assign(project, [annotator])
    judge_all(project, [annotator], lambda index, task: {"rating": 5})
    export = build(project, "sft")
    client.force_login(lead)
    card = card_html(client.get(f"/exports/{export.pk}/").content.decode())
    text = re.sub(r"<[^>]+>", " ", card)
    assert not REPRS.findall(text), REPRS.findall(text)
    assert not re.findall(r"\b[a-z]+_[a-z_]+\b", re.sub(r"<code>.*?</code>", "", card))
    assert "Leave gold tasks out" in card and ">yes<" in card
    # Metadata values are JSON as imported, in the page and in the card's file.
    assert "<code>true</code>" in card and "<code>null</code>" in card
    assert "{&quot;a&quot;: 0}" in card
    metadata = export.card["stats"]["prompts"]["metadata"]
    assert metadata["flag"] == {"false": 2, "true": 1} and metadata["extra"] == {"null": 3}
    written = (export_dir(export) / "card.md").read_text()
    assert "| true | 1 |" in written and "True" not in written and "None" not in written


def test_a_pairwise_card_has_no_rating_histogram_nor_ordinal_alpha(client, lead):
    project = make_pairwise_project(lead)
    export = build(project, "dpo")
    client.force_login(lead)
    card = card_html(client.get(f"/exports/{export.pk}/").content.decode())
    assert 'id="card-rating-histogram"' not in card and "ordinal" not in card
    assert "nominal, choices" in card and 'id="card-position-bias"' in card


def test_a_rating_card_has_its_histogram_and_no_choice_figures(client, lead):
    project = make_rated_project(lead)
    export = build(project, "sft")
    client.force_login(lead)
    card = card_html(client.get(f"/exports/{export.pk}/").content.decode())
    assert 'id="card-rating-histogram"' in card and "ordinal, ratings" in card
    assert "nominal" not in card and 'id="card-position-bias"' not in card


def test_option_values_and_reasons_in_words():
    assert option_in_words("exclude_gold", True) == "yes"
    assert option_in_words("min_gold_accuracy", None) == "none"
    assert option_in_words("batches", []) == "all"
    assert option_in_words("rating_pairs", "best_vs_each") == "best vs each"
    assert option_in_words("models", ["base_v1"]) == "base_v1"
    assert option_in_words("margin", 1.0) == "1"
    assert reason_in_words("rated below sft_min_rating") == "rated below min. mean rating"
    assert reason_in_words("pairwise verdict both_bad") == "pairwise verdict both bad"


def test_a_project_too_large_to_count_on_each_visit_is_not_counted(client, lead, monkeypatch):
    monkeypatch.setattr("evaluation.exports.views.EXPECTED_ROWS_MAX_TASKS", 3)
    project = make_rated_project(lead)
    client.force_login(lead)
    page = client.get(f"/projects/{project.pk}/exports/")
    assert page.context["expected"] is None
    assert "too many judged tasks to count the rows" in page.content.decode()
