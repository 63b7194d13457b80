"""Exports built in-process against fixtures whose judgments are known, asserting on the rows
themselves. The worker, API and command-line paths are in test_export_api.py."""

import json
import random
from pathlib import Path

import pytest
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone

from annotation.models import Judgment, Task
from annotation.services import prompt_records_load
from annotation.services.judgments import judgment_undo
from annotation.services.leads import (
    membership_set_aside,
)
from evaluation.exports.consensus import consensus_fit
from evaluation.exports.options import export_options_clean
from evaluation.exports.services.build import export_build, split_of
from evaluation.exports.services.files import export_dir
from evaluation.exports.services.jobs import export_start
from evaluation.models import ExportStatus
from ftapp.actors import SYSTEM
from ftapp.errors import Conflict, InvalidInput
from tests.factories import (
    MULTI_TURN,
    REWRITE,
    AnnotatorFactory,
    ProjectFactory,
    assign,
    build,
    judge_all,
    make_pairwise_project,
    make_project,
    make_rated_project,
    rows,
)
from tests.workers import is_postgres

pytestmark = pytest.mark.django_db


def user(content):
    return {"role": "user", "content": content}


def assistant(content):
    return [{"role": "assistant", "content": content}]


def canon(items):
    return sorted(json.dumps(i, sort_keys=True) for i in items)


@pytest.fixture
def rated(lead):
    return make_rated_project(lead)


class TestRatingProject:
    def test_sft_rows_are_rewrites_then_best_rated_one_per_prompt(self, rated):
        export = build(rated, "sft")
        assert export.status == ExportStatus.COMPLETED
        expected = [
            {"messages": [user("Question 0?"), *assistant("A0 m1")]},
            {
                "messages": [
                    {"role": "system", "content": "You are terse."},
                    user("Question 1?"),
                    *assistant("A1 m1"),
                ]
            },
            {"messages": [user("Question 2?"), *assistant(REWRITE)]},
            {"messages": [*MULTI_TURN, *assistant("A3 m3")]},
        ]
        assert canon(rows(export)) == canon(expected)

    def test_sft_per_prompt_and_threshold(self, rated):
        export = build(rated, "sft", filters={"per_prompt": 3, "sft_min_rating": 4.5})
        completions = canon(r["messages"][-1]["content"] for r in rows(export))
        # q2: the rewrite, then m2 (adjudicated 5); q0: m1 5.0; q1: m1 4.5; q3: gold left out.
        assert completions == canon(["A0 m1", "A1 m1", REWRITE, "A2 m2"])

    def test_dpo_pairs_from_ratings_margins_and_rewrites(self, rated):
        export = build(rated, "dpo")
        pairs = canon(
            (r["prompt"][-1]["content"], r["chosen"][0]["content"], r["rejected"][0]["content"])
            for r in rows(export)
        )
        assert pairs == canon(
            [
                # q0 with its duplicate q4: best (5.0) against each response 1 point or more below.
                ("Question 0?", "A0 m1", "A4 m1"),
                ("Question 0?", "A0 m1", "A0 m2"),
                ("Question 0?", "A0 m1", "A0 m3"),
                # q1: 4.5 against 3.5 only (4.0 is within the margin).
                ("Question 1?", "A1 m1", "A1 m3"),
                # q2: the adjudicated 5 beats 3 and 2; the rewrite beats the response it rewrote.
                ("Question 2?", "A2 m2", "A2 m3"),
                ("Question 2?", "A2 m2", "A2 m1"),
                ("Question 2?", REWRITE, "A2 m1"),
                # q3 (multi-turn): gold m1 left out, 4.0 against 2.0.
                ("All of it.", "A3 m3", "A3 m2"),
            ]
        )
        row = next(r for r in rows(export) if r["prompt"][-1]["content"] == "Question 1?")
        assert row == {
            "prompt": [{"role": "system", "content": "You are terse."}, user("Question 1?")],
            "chosen": assistant("A1 m1"),
            "rejected": assistant("A1 m3"),
        }
        multi = next(r for r in rows(export) if r["prompt"][-1]["content"] == "All of it.")
        assert multi["prompt"] == MULTI_TURN

    def test_dpo_best_against_worst_and_margin(self, rated):
        export = build(
            rated,
            "dpo",
            filters={"rating_pairs": "best_vs_worst", "pairs_from": ["ratings"], "margin": 2.0},
        )
        pairs = canon(
            (r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in rows(export)
        )
        assert pairs == canon([("A0 m1", "A0 m3"), ("A2 m2", "A2 m1"), ("A3 m3", "A3 m2")])

    def test_openai_formats(self, rated):
        dpo = build(rated, "dpo", "openai", filters={"pairs_from": ["rewrites"]})
        assert rows(dpo) == [
            {
                "input": {"messages": [user("Question 2?")]},
                "preferred_output": assistant(REWRITE),
                "non_preferred_output": assistant("A2 m1"),
            }
        ]
        sft = build(rated, "sft", "openai", filters={"sft_min_rating": 5.0})
        assert canon(rows(sft)) == canon(
            [
                {"messages": [user("Question 0?"), *assistant("A0 m1")]},
                {"messages": [user("Question 2?"), *assistant(REWRITE)]},
            ]
        )

    def test_kto_thresholds_and_rewrites(self, rated):
        export = build(rated, "kto")
        labelled = canon((r["completion"][0]["content"], r["label"]) for r in rows(export))
        assert labelled == canon(
            [
                ("A0 m1", True),
                ("A4 m1", True),
                ("A0 m3", False),
                ("A1 m1", True),
                ("A1 m2", True),
                (REWRITE, True),
                ("A2 m2", True),
                ("A2 m1", False),
                ("A3 m3", True),
                ("A3 m2", False),
            ]
        )
        row = next(r for r in rows(export) if r["completion"][0]["content"] == "A3 m2")
        assert row == {"prompt": MULTI_TURN, "completion": assistant("A3 m2"), "label": False}
        with pytest.raises(InvalidInput, match="no KTO format"):
            build(rated, "kto", "openai")

    def test_judgments_rows_carry_the_pulled_fields_with_pseudonyms(self, rated):
        export = build(rated, "judgments")
        records = rows(export)
        assert (
            len(records)
            == Judgment.objects.filter(task__project=rated, task__is_gold=False).count()
            == 24
        )
        pseudonyms = set(
            rated.memberships.filter(role="annotator").values_list("pseudonym", flat=True)
        )
        assert {r["annotator"] for r in records} == pseudonyms
        assert not {"u1", "u2"} & {r["annotator"] for r in records}
        rewrite = next(r for r in records if r["rewrite"])
        judgment = Judgment.objects.get(pk=rewrite["id"])
        assert rewrite["task_id"] == judgment.task_id and rewrite["rating"] == 2
        assert rewrite["prompt_external_id"] == "q2" and rewrite["models"] == ["m1"]
        assert rewrite["response_ids"] == [judgment.task.response_a_id]
        assert rewrite["choice"] is None and rewrite["guidelines_version"] == 1
        assert rewrite["created_at"] == judgment.created_at.isoformat()

    def test_filters(self, rated):
        def completions(**filters):
            export = build(rated, "kto", filters=filters)
            return {(r["completion"][0]["content"], r["label"]) for r in rows(export)}

        # Only tasks both annotators rated within a point of each other, or adjudicated.
        strict = completions(min_agreement=1.0, include_rewrites=False)
        assert ("A2 m2", True) in strict  # adjudicated: the conflict is settled
        assert ("A1 m1", True) in strict and len(strict) == 10 - 1
        # Gold kept when asked: q3/m1 (5, 5) becomes a desirable example.
        assert ("A3 m1", True) in completions(exclude_gold=False)
        assert ("A3 m1", True) not in completions()
        # Model filter: only tasks whose responses all come from m3 (and rewrites, none here
        # since the rewritten response is m1's).
        assert completions(models=["m3"], include_rewrites=False) == {
            ("A0 m3", False),
            ("A3 m3", True),
        }
        # Three judgments per task asked: only the adjudicated task remains.
        assert completions(min_judgments=3, include_rewrites=False) == {("A2 m2", True)}
        # Dates: nothing judged after tomorrow.
        tomorrow = (timezone.now() + timezone.timedelta(days=1)).isoformat()
        assert completions(judged_after=tomorrow) == {("A2 m2", True)}
        # Excluding u2 by the lead: means over u1 alone (q1/m3 rated 4 by u1 → desirable).
        membership_set_aside(
            by=rated.created_by, project_id=rated.pk, username="u2", set_aside=True
        )
        assert ("A1 m3", True) in completions()

    def test_annotators_below_a_gold_accuracy_are_left_out(self, rated):
        u1, _ = rated.annotators
        gold = Task.objects.get(project=rated, is_gold=True)
        # u1 rated the gold task 5, inside 4..5; make u2's answer wrong.
        Judgment.objects.filter(task=gold).exclude(annotator=u1).update(rating=1)
        export = build(rated, "judgments", filters={"min_gold_accuracy": 0.5})
        assert {r["annotator"] for r in rows(export)} == {rated.memberships.get(user=u1).pseudonym}
        assert export.card["excluded_annotators"] == {"gold accuracy 0% below the minimum": 1}

    def test_identical_prompts_are_one_prompt_unless_dedupe_is_off(self, rated):
        one = build(rated, "sft", filters={"per_prompt": 1}, test_fraction=0.5)
        two = build(rated, "sft", filters={"per_prompt": 1, "dedupe": False}, test_fraction=0.5)
        assert "A4 m1" not in [r["messages"][-1]["content"] for r in rows(one)]
        assert one.card["stats"]["prompts"]["distinct"] == 4
        split_of_text = {
            r["messages"][-1]["content"]: split
            for split in ("train", "test")
            for r in rows(two, split)
        }
        # Kept apart as examples, but never apart across the split.
        assert split_of_text["A4 m1"] == split_of_text["A0 m1"]

    def test_bad_filters_are_refused_with_field_errors(self, rated):
        with pytest.raises(InvalidInput) as refused:
            build(rated, "dpo", filters={"margn": 1, "margin": -1, "tie_policy": "maybe"})
        assert set(refused.value.fields) == {
            "filters.margn",
            "filters.margin",
            "filters.tie_policy",
        }
        with pytest.raises(InvalidInput):
            build(rated, "sft", test_fraction=0.95)


class TestSplitAndReproducibility:
    def test_no_prompt_in_both_splits_and_the_same_export_twice_is_byte_identical(self, lead):
        project = make_project(lead, prompts=60, models=("m1", "m2", "m3"), overlap=1)
        annotator = AnnotatorFactory()
        assign(project, [annotator])
        judge_all(project, [annotator], lambda i, task: {"rating": task.pk % 5 + 1})
        first = build(project, "dpo", test_fraction=0.3, seed=7)
        second = build(project, "dpo", test_fraction=0.3, seed=7)
        prompts = {
            s: {r["prompt"][-1]["content"] for r in rows(first, s)} for s in ("train", "test")
        }
        assert prompts["train"] and prompts["test"]
        assert not prompts["train"] & prompts["test"]
        for split in ("train", "test"):
            a = (export_dir(first) / f"{split}.jsonl").read_bytes()
            b = (export_dir(second) / f"{split}.jsonl").read_bytes()
            assert a == b and first.files[split]["sha256"] == second.files[split]["sha256"]
        assert first.card["dataset_sha256"] == second.card["dataset_sha256"]
        reseeded = build(project, "dpo", test_fraction=0.3, seed=8)
        assert reseeded.files["test"]["sha256"] != first.files["test"]["sha256"]
        share = len(prompts["test"]) / (len(prompts["train"]) + len(prompts["test"]))
        assert 0.1 < share < 0.5

    def test_split_draw_is_stable_and_follows_the_fraction(self):
        draws = [split_of(f"{i:064x}", seed=3, test_fraction=0.2) for i in range(5000)]
        assert draws == [split_of(f"{i:064x}", seed=3, test_fraction=0.2) for i in range(5000)]
        assert 0.18 < draws.count("test") / 5000 < 0.22
        assert {split_of("ab", seed=1, test_fraction=0.0)} == {"train"}


class TestSnapshot:
    def test_later_judgments_change_nothing_and_exported_ones_cannot_be_undone(self, rated):
        export = build(rated, "judgments")
        before = (export_dir(export) / "train.jsonl").read_bytes()
        used = (export_dir(export) / "judgments_used.txt").read_text().split()
        assert sorted(map(int, used)) == sorted(r["id"] for r in rows(export))
        assert export.card["judgments_file"]["count"] == 24
        with pytest.raises(Conflict, match="export"):
            judgment_undo(user=rated.annotators[0], project_id=rated.pk)
        prompt_records_load(
            by=SYSTEM,
            project=rated,
            records=[
                {"id": "q9", "prompt": "Question 9?", "responses": [{"model": "m1", "text": "A9"}]}
            ],
        )
        newcomer = AnnotatorFactory()
        assign(rated, [newcomer], name="more")
        judge_all(rated, [newcomer], lambda i, task: {"rating": 3})
        assert (export_dir(export) / "train.jsonl").read_bytes() == before
        export.refresh_from_db()
        assert export_build(export_id=export.pk).files == export.files
        again = build(rated, "judgments")
        assert again.card["judgments_file"]["count"] == 25


@pytest.fixture
def pairwise(lead):
    return make_pairwise_project(lead)


class TestPairwiseProject:
    def pairs(self, export):
        return canon(
            (r["prompt"][-1]["content"], r["chosen"][0]["content"], r["rejected"][0]["content"])
            for r in rows(export)
        )

    def test_majority_with_ties_counted_and_adjudication_first(self, pairwise):
        export = build(pairwise, "dpo")
        assert self.pairs(export) == canon(
            [
                ("Question 0?", "Answer 0 by m1", "Answer 0 by m2"),
                ("Question 4?", "Answer 4 by m2", "Answer 4 by m1"),
            ]
        )
        dropped = export.card["stats"]["dropped"]
        assert dropped["pairwise verdict tie"] == 1
        assert dropped["pairwise verdict both_bad"] == 1
        assert dropped["pairwise verdict without a majority"] == 1

    def test_tie_policy_drop_weighs_only_a_against_b(self, pairwise):
        export = build(pairwise, "dpo", filters={"tie_policy": "drop"})
        assert self.pairs(export) == canon(
            [
                ("Question 0?", "Answer 0 by m1", "Answer 0 by m2"),
                ("Question 1?", "Answer 1 by m2", "Answer 1 by m1"),
                ("Question 4?", "Answer 4 by m2", "Answer 4 by m1"),
            ]
        )

    def test_both_bad_pairs_are_undesirable_kto_examples(self, pairwise):
        export = build(pairwise, "kto")
        assert canon((r["completion"][0]["content"], r["label"]) for r in rows(export)) == canon(
            [("Answer 3 by m1", False), ("Answer 3 by m2", False)]
        )

    def test_card_figures(self, pairwise):
        export = build(pairwise, "dpo")
        stats = export.card["stats"]
        judgments = Judgment.objects.filter(
            task__project=pairwise, task__prompt__external_id__in=["q0", "q4"]
        )
        sided = [j for j in judgments if j.choice in ("A", "B")]
        assert stats["position_bias"] == {
            "left_share": round(sum(j.choice == "A" for j in sided) / len(sided), 4),
            "judgments": len(sided),
        }
        assert stats["length_bias"] == {"chosen_longer_share": 0.0, "pairs": 2}
        assert stats["judgments_used"] == 6 and stats["annotators"] == 3
        assert stats["tasks"] == 2 and stats["adjudicated_tasks"] == 1
        assert stats["models"] == {"m1": 2, "m2": 2}
        assert export.card["files"]["train"]["rows"] + export.card["files"]["test"]["rows"] == 2
        markdown = (export_dir(export) / "card.md").read_text()
        assert export.card["files"]["train"]["sha256"] in markdown
        assert json.loads((export_dir(export) / "card.json").read_text()) == export.card


def test_card_of_a_rating_export(rated):
    export = build(rated, "kto")
    stats = export.card["stats"]
    # Judgments of the tasks that made rows: every non-gold task but q1/m3 (3.5) and
    # q0/m2, q2/m3 (3.0) — 12 tasks in all, 9 used, two judgments each.
    assert stats["judgments_used"] == 18
    assert stats["rating_histogram"] == {"1": 2, "2": 5, "3": 0, "4": 7, "5": 4}
    assert stats["kto_labels"] == {"desirable": 7, "undesirable": 3}
    assert stats["guideline_versions"] == {"1": 18}
    assert stats["dropped"]["rating between the KTO thresholds"] == 3
    assert stats["prompts"]["distinct"] == 4
    assert export.card["options"]["kto_desirable_min"] == 4.0
    assert Path(export_dir(export) / "card.md").read_text().startswith("# Data card")


def test_pii_is_redacted_in_every_text_and_counted(lead):
    project = ProjectFactory(created_by=lead, kind="rating", overlap=1)
    prompt_records_load(
        by=SYSTEM,
        project=project,
        records=[
            {
                "id": "pii",
                "system": "Escalate to ops@northwind.example when unsure.",
                "prompt": "My IBAN is DE89 3704 0044 0532 0130 00, why was I charged twice?",
                "responses": [
                    {"model": "m1", "text": "Call us on +44 20 7946 0958 from 10.0.0.12."}
                ],
            }
        ],
    )
    annotator = AnnotatorFactory()
    assign(project, [annotator])
    judge_all(
        project,
        [annotator],
        lambda i, task: {
            "rating": 2,
            "rewrite": "Pay with 4111 1111 1111 1111 and write to ops@northwind.example.",
        },
    )
    plain = build(project, "sft", test_fraction=0.0)
    assert "DE89 3704" in json.dumps(rows(plain)) and plain.card["redactions"] == {}
    export = build(project, "judgments", test_fraction=0.0, filters={"redact_pii": True})
    (row,) = rows(export)
    assert row["prompt"] == [
        {"role": "system", "content": "Escalate to [EMAIL] when unsure."},
        {"role": "user", "content": "My IBAN is [IBAN], why was I charged twice?"},
    ]
    assert row["responses"] == ["Call us on [PHONE] from [IP]."]
    assert row["rewrite"] == "Pay with [CARD] and write to [EMAIL]."
    assert export.card["redactions"] == {"card": 1, "email": 2, "iban": 1, "ip": 1, "phone": 1}
    assert "email" in (export_dir(export) / "card.md").read_text()


@pytest.mark.skipif(not is_postgres(), reason="advisory locks are PostgreSQL's")
def test_an_export_delivered_twice_is_built_once(rated):
    """While one process holds the export's build lock, another delivery of the task leaves
    it alone; once the lock is free the build goes ahead."""
    export = export_start(by=SYSTEM, project=rated, kind="sft", format="trl")
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [0x6578, export.pk])
        assert export_build(export_id=export.pk).status == ExportStatus.QUEUED
        assert not export_dir(export).exists()
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [0x6578, export.pk])
    finally:
        other.close()
    assert export_build(export_id=export.pk).status == ExportStatus.COMPLETED


def test_dawid_skene_consensus_trusts_the_reliable_annotators(lead):
    """Two careful annotators always prefer m1; two careless ones answer at random. Where
    the careless ones both say B the majority is a 2–2 tie and the task gives no pair; the
    Dawid–Skene label, weighing each by their estimated reliability, still says m1."""
    project = make_project(lead, kind="pairwise", prompts=30, models=("m1", "m2"), overlap=4)
    annotators = [AnnotatorFactory() for _ in range(4)]
    assign(project, annotators, overlap=4)
    noise = random.Random(5)

    def decide(index, task):
        if index < 2:
            return {"choice": "A"}
        return {"choice": noise.choice(["A", "B"])}

    judge_all(project, annotators, decide)
    majority = build(project, "dpo", test_fraction=0.0)
    weighted = build(project, "dpo", test_fraction=0.0, filters={"consensus": "dawid_skene"})
    chosen = {r["chosen"][0]["content"].split(" by ")[1] for r in rows(weighted)}
    assert chosen == {"m1"} and len(rows(weighted)) == 30
    ties = majority.card["stats"]["dropped"].get("pairwise verdict without a majority", 0)
    assert ties > 0 and len(rows(majority)) == 30 - ties
    assert weighted.card["options"]["consensus"] == "dawid_skene"


def test_a_dawid_skene_consensus_is_fitted_on_the_models_the_export_keeps(lead):
    """Judgments of pairs with a model filtered out weigh on no label of the export, so they
    stay out of the fit too."""
    project = make_project(lead, kind="pairwise", prompts=3, models=("m1", "m2", "m3"))
    annotator = AnnotatorFactory()
    assign(project, [annotator])
    judge_all(project, [annotator], lambda index, task: {"choice": "A"})
    options = export_options_clean(
        kind="dpo", format="trl", filters={"models": ["m1", "m2"], "consensus": "dawid_skene"}
    )
    fitted = consensus_fit(project=project, options=options, excluded=[])
    kept = Task.objects.filter(
        project=project,
        response_a__model_name__in=["m1", "m2"],
        response_b__model_name__in=["m1", "m2"],
    )
    assert sorted(fitted.task_ids.tolist()) == sorted(kept.values_list("pk", flat=True))
    assert len(fitted.task_ids) == 3
