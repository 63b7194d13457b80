"""Judge labels in exports: off by default (the files are those of an export without them),
on only for tasks no human judged and only for a judge whose calibration against the humans
clears the lead's threshold, read once when the export is created; every judge row traceable
from the card or the row itself; the files valid, loadable and reproducible."""

import hashlib

import pytest
from django.core.management import call_command

from annotation.models import Task
from evaluation.exports.services.build import export_build
from evaluation.exports.services.files import VERDICTS_FILE, export_dir
from evaluation.exports.validate import dataset_validate_file
from evaluation.models import (
    Export,
    GenerationRun,
    JudgePrompt,
    JudgeVerdict,
    ModelEndpoint,
    RunPurpose,
)
from tests.factories import (
    AnnotatorFactory,
    assign,
    build,
    client_for,
    judge_all,
    make_project,
    rows,
)

pytestmark = pytest.mark.django_db

CHOICES = ("A", "B", "tie", "both_bad")
JUDGED = 36  # q0..q35 judged by a human; q36..q45 by nobody
PROMPTS = 46
# The good judge's verdicts on the tasks nobody judged, as (first order, second order) in the
# task's terms; q42 changes with the order, q45 has none.
UNJUDGED = {
    36: ("A", "A"),  # the newest of two runs; the older one said B
    37: ("A", "A"),
    38: ("B", "B"),
    39: ("A", "A"),
    40: ("B", "B"),
    41: ("A", "A"),
    42: ("A", "B"),
    43: ("both_bad", "both_bad"),
    44: ("tie", "tie"),
}


def truth(i: int) -> str:
    return CHOICES[i % 4]


def _endpoint(lead, name: str) -> ModelEndpoint:
    return ModelEndpoint.objects.create(
        name=name, base_url="http://127.0.0.1:9/v1", model=name, created_by=lead
    )


def _verdicts(project, endpoint, answers: dict[int, tuple], *, version: int = 1) -> list:
    """One judge run of ``endpoint`` whose verdict on q<i> is ``answers[i]``: a pair of
    choices (pairwise) or a rating."""
    prompt, _ = JudgePrompt.objects.get_or_create(
        project=project,
        version=version,
        defaults={
            "system": "",
            "template": "{response_a}{response_b}",
            "created_by": endpoint.created_by,
        },
    )
    run = GenerationRun.objects.create(
        project=project,
        purpose=RunPurpose.JUDGE,
        judge_prompt=prompt,
        created_by=endpoint.created_by,
    )
    run.endpoints.add(endpoint)
    made = []
    for i, answer in answers.items():
        task = Task.objects.get(project=project, prompt__external_id=f"q{i}")
        if project.kind == "rating":
            shape = {"rating": answer}
        else:
            first, second = answer
            shape = {
                "choice": first if first == second else "tie",
                "order_choices": [first, second],
                "consistent": first == second,
            }
        made.append(
            JudgeVerdict.objects.create(
                project=project,
                run=run,
                task=task,
                endpoint=endpoint,
                judge_prompt=prompt,
                kind=project.kind,
                rationale=f"<b>because</b> {i}",
                latency_ms=20,
                **shape,
            )
        )
    return made


@pytest.fixture
def project(lead):
    """46 pairs (A = m1's answer); one annotator judged q0..q35 with ``truth``."""
    project = make_project(lead, kind="pairwise", prompts=PROMPTS, models=("m1", "m2"))
    annotator = AnnotatorFactory()
    judged = Task.objects.filter(
        project=project, prompt__external_id__in=[f"q{i}" for i in range(JUDGED)]
    )
    assign(project, [annotator], tasks=judged)
    judge_all(
        project, [annotator], lambda _, task: {"choice": truth(int(task.prompt.external_id[1:]))}
    )
    return project


@pytest.fixture
def good(project, lead):
    """A judge that agrees with the humans but on q0 (humans A, judge B)."""
    endpoint = _endpoint(lead, "good-judge")
    on_judged = {i: (truth(i),) * 2 for i in range(1, JUDGED)}
    _verdicts(project, endpoint, {0: ("B", "B"), **on_judged, **UNJUDGED, 36: ("B", "B")})
    _verdicts(project, endpoint, {36: ("A", "A")})
    return endpoint


def _newest(endpoint, i: int) -> JudgeVerdict:
    return JudgeVerdict.objects.filter(endpoint=endpoint, task__prompt__external_id=f"q{i}").latest(
        "id"
    )


ON = {"judge_fill": True, "judge_min_agreement": 0.6}


def _filters(judge, **extra):
    return {**ON, "judge": judge.pk, **extra}


def _by_question(export) -> dict[str, list[dict]]:
    """A TRL DPO export's pairs by their question."""
    found: dict[str, list[dict]] = {}
    for row in rows(export):
        found.setdefault(row["prompt"][-1]["content"], []).append(row)
    return found


def _sha(export) -> dict[str, str]:
    return {split: info["sha256"] for split, info in export.files.items()}


def test_off_by_default_the_files_are_those_of_an_export_without_judges(project, lead):
    before = {kind: build(project, kind, test_fraction=0.3) for kind in ("dpo", "kto", "judgments")}
    endpoint = _endpoint(lead, "good-judge")
    _verdicts(project, endpoint, {i: (truth(i),) * 2 for i in range(JUDGED)} | UNJUDGED)
    for kind, earlier in before.items():
        default = build(project, kind, test_fraction=0.3)
        off = build(
            project, kind, test_fraction=0.3, filters={"judge_fill": False, "judge": endpoint.pk}
        )
        assert _sha(default) == _sha(off) == _sha(earlier)
        assert (export_dir(default) / "train.jsonl").read_bytes() == (
            export_dir(earlier) / "train.jsonl"
        ).read_bytes()
        assert "judge" not in default.card and default.options["judge_fill"] is False
        assert not (export_dir(default) / VERDICTS_FILE).exists()
        assert "Judge labels" not in (export_dir(default) / "card.md").read_text()


def test_only_tasks_no_human_judged_take_the_judges_consistent_newest_verdict(project, good):
    export = build(project, "dpo", test_fraction=0.0, filters=_filters(good))
    assert export.status == "completed", export.error
    pairs = _by_question(export)
    # A human judged q0 (A): the judge's B is not used.
    assert [r["chosen"][0]["content"] for r in pairs["Question 0?"]] == ["Answer 0 by m1"]
    # Nobody judged q36..q41: the judge's verdicts, the newest of q36's.
    for i in (36, 37, 38, 39, 40, 41):
        winner = "m1" if UNJUDGED[i][0] == "A" else "m2"
        (row,) = pairs[f"Question {i}?"]
        assert row["chosen"][0]["content"] == f"Answer {i} by {winner}"
    # Inconsistent (q42), tie (q44), both bad (q43), no verdict (q45): no pair.
    for i in (42, 43, 44, 45):
        assert f"Question {i}?" not in pairs
    card = export.card
    assert card["stats"]["dropped"]["judge verdict changed when the order was swapped"] == 1
    judge = card["judge"]
    assert judge["judge"] == {"id": good.pk, "name": "good-judge"}
    assert judge["prompt_version"] == 1 and export.options["judge_prompt_version"] == 1
    assert judge["rows"] == {"train": 6, "test": 0} and judge["tasks"] == 6
    human_pairs = sum(1 for i in range(JUDGED) if truth(i) in ("A", "B"))
    assert export.files["train"]["rows"] == human_pairs + 6
    figures = judge["calibration"]
    assert figures["figure"] == "kappa" and figures["tasks"] == JUDGED
    assert 0.6 < figures["kappa"]["lower"] <= figures["kappa"]["value"] < 1
    assert figures["agreement"]["value"] == pytest.approx(35 / 36)
    assert figures["position_consistency"]["n"] == JUDGED + len(UNJUDGED)
    ids = (export_dir(export) / VERDICTS_FILE).read_text().split()
    expected = [_newest(good, i).pk for i in range(36, 42)]
    assert list(map(int, ids)) == sorted(expected)
    assert judge["verdicts_file"]["count"] == 6
    assert (
        judge["verdicts_file"]["sha256"]
        == hashlib.sha256((export_dir(export) / VERDICTS_FILE).read_bytes()).hexdigest()
    )
    markdown = (export_dir(export) / "card.md").read_text()
    assert "## Judge labels" in markdown and "the judge good-judge (endpoint" in markdown
    assert "6 rows" in markdown and "kappa" in markdown and "position consistency" in markdown


def test_kto_takes_both_bad_verdicts_and_judgments_mark_the_judges_rows(project, good, tmp_path):
    kto = build(project, "kto", test_fraction=0.0, filters=_filters(good))
    judged_rows = [r for r in rows(kto) if r["prompt"][-1]["content"] == "Question 43?"]
    assert sorted(r["completion"][0]["content"] for r in judged_rows) == [
        "Answer 43 by m1",
        "Answer 43 by m2",
    ]
    assert all(r["label"] is False for r in judged_rows)
    assert kto.card["judge"]["rows"]["train"] == 2
    export = build(project, "judgments", test_fraction=0.0, filters=_filters(good))
    written = rows(export)
    humans = [r for r in written if "source" not in r]
    judges = [r for r in written if r.get("source") == "judge"]
    assert len(humans) == JUDGED and all(r["annotator"] != "judge" for r in humans)
    # Every verdict used but the inconsistent one (q42); q45 has none.
    assert sorted(r["task_id"] for r in judges) == sorted(
        Task.objects.filter(
            project=project,
            prompt__external_id__in=[f"q{i}" for i in (36, 37, 38, 39, 40, 41, 43, 44)],
        ).values_list("pk", flat=True)
    )
    q36 = next(r for r in judges if r["prompt"][-1]["content"] == "Question 36?")
    assert q36["verdict_id"] == q36["id"] == _newest(good, 36).pk
    assert q36["judge"] == {"id": good.pk, "name": "good-judge"}
    assert q36["judge_prompt_version"] == 1 and q36["annotator"] == "judge"
    assert q36["choice"] == "A" and q36["chosen_response_id"] == q36["response_ids"][0]
    assert q36["comment"] == "<b>because</b> 36"
    # The judgments used are the humans' alone.
    used = (export_dir(export) / "judgments_used.txt").read_text().split()
    assert len(used) == JUDGED
    report = dataset_validate_file(export_dir(export) / "train.jsonl", "judgments", "trl")
    assert report.ok, report.errors


@pytest.mark.parametrize(
    ("kind", "fmt"), [("dpo", "trl"), ("dpo", "openai"), ("kto", "trl"), ("judgments", "trl")]
)
def test_files_with_judge_rows_are_valid_load_with_datasets_and_are_reproducible(
    project, good, tmp_path, monkeypatch, kind, fmt
):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    first = build(project, kind, fmt, test_fraction=0.2, seed=5, filters=_filters(good))
    again = build(project, kind, fmt, test_fraction=0.2, seed=5, filters=_filters(good))
    assert sum(first.card["judge"]["rows"].values()) > 0
    assert _sha(first) == _sha(again)
    assert first.card["judge"]["verdicts_file"] == again.card["judge"]["verdicts_file"]
    datasets = pytest.importorskip("datasets", reason="needs the trl-check extra")
    for split in ("train", "test"):
        path = export_dir(first) / f"{split}.jsonl"
        if not first.files[split]["rows"]:
            continue
        report = dataset_validate_file(path, kind, fmt)
        assert report.ok, report.errors
        loaded = datasets.load_dataset(
            "json", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf")
        )
        assert len(loaded) == first.files[split]["rows"]
    out = tmp_path / "validate.txt"
    with out.open("w") as stdout:
        call_command(
            "validate_dataset",
            str(export_dir(first) / "train.jsonl"),
            kind=kind,
            format=fmt,
            stdout=stdout,
        )
    assert ": error:" not in out.read_text()


def test_a_rating_judge_fills_sft_kto_and_rating_pairs(lead):
    project = make_project(lead, kind="rating", prompts=PROMPTS, models=("m1",))
    annotator = AnnotatorFactory()
    judged = Task.objects.filter(
        project=project, prompt__external_id__in=[f"q{i}" for i in range(JUDGED)]
    )
    assign(project, [annotator], tasks=judged)
    judge_all(
        project, [annotator], lambda _, task: {"rating": int(task.prompt.external_id[1:]) % 5 + 1}
    )
    endpoint = _endpoint(lead, "rater")
    ratings = {i: i % 5 + 1 for i in range(JUDGED)} | {36: 5, 37: 4, 38: 3, 39: 1}
    _verdicts(project, endpoint, ratings)
    sft = build(project, "sft", test_fraction=0.0, filters=_filters(endpoint))
    answers = {r["messages"][-1]["content"] for r in rows(sft)}
    assert {"Answer 36 by m1", "Answer 37 by m1"} <= answers
    assert not {"Answer 38 by m1", "Answer 39 by m1"} & answers
    assert sft.card["judge"]["rows"]["train"] == 2
    assert sft.card["judge"]["calibration"]["kappa_weights"] == "quadratic"
    assert sft.card["judge"]["calibration"]["position_consistency"] is None
    kto = build(project, "kto", test_fraction=0.0, filters=_filters(endpoint))
    labels = {r["completion"][0]["content"]: r["label"] for r in rows(kto)}
    assert labels["Answer 36 by m1"] is True and labels["Answer 39 by m1"] is False
    assert "Answer 38 by m1" not in labels
    assert kto.card["judge"]["rows"]["train"] == 3


def test_refused_below_the_threshold_and_with_too_few_tasks_through_the_api(project, lead, good):
    always_a = _endpoint(lead, "always-a")
    _verdicts(project, always_a, dict.fromkeys(range(PROMPTS), ("A", "A")))
    few = _endpoint(lead, "few")
    _verdicts(project, few, {i: (truth(i),) * 2 for i in range(5)})
    client = client_for(lead)
    url = f"/api/v1/projects/{project.pk}/exports/"
    refused = client.post(url, {"kind": "dpo", "filters": _filters(always_a)}, format="json")
    assert refused.status_code == 400
    (message,) = refused.json()["error"]["fields"]["filters.judge_min_agreement"]
    assert "always-a" in message and "not above 0.6" in message
    too_few = client.post(url, {"kind": "dpo", "filters": _filters(few)}, format="json")
    assert too_few.status_code == 400
    (message,) = too_few.json()["error"]["fields"]["filters.judge_min_agreement"]
    assert "5 tasks" in message and "at least 30" in message
    strict = client.post(
        url, {"kind": "dpo", "filters": _filters(good, judge_min_agreement=0.99)}, format="json"
    )
    assert "filters.judge_min_agreement" in strict.json()["error"]["fields"]
    unnamed = client.post(url, {"kind": "dpo", "filters": {"judge_fill": True}}, format="json")
    assert "filters.judge" in unnamed.json()["error"]["fields"]
    unpublished = client.post(
        url, {"kind": "dpo", "filters": _filters(good, judge_prompt_version=7)}, format="json"
    )
    assert "filters.judge_prompt_version" in unpublished.json()["error"]["fields"]
    assert not Export.objects.exists()
    accepted = client.post(url, {"kind": "dpo", "filters": _filters(good)}, format="json")
    assert accepted.status_code == 202, accepted.content
    stored = accepted.json()["options"]
    assert stored["judge_prompt_version"] == 1
    assert stored["judge_calibration"]["judge"]["name"] == "good-judge"


def test_the_page_offers_the_judges_off_by_default_and_shows_a_refusal_beside_them(
    client, project, lead, good
):
    always_a = _endpoint(lead, "always-a")
    _verdicts(project, always_a, dict.fromkeys(range(PROMPTS), ("A", "A")))
    client.force_login(lead)
    url = f"/projects/{project.pk}/exports/"
    page = client.get(url).content.decode()
    group = page[
        page.index('id="judge-options"') : page.index(
            "</fieldset>", page.index('id="judge-options"')
        )
    ]
    assert (
        'name="judge_fill"' in group
        and 'name="judge_fill" aria-describedby="judge-fill-help">' in group
    )
    assert f'<option value="{good.pk}">good-judge (verdicts with prompt v1)</option>' in group
    assert f'<option value="{always_a.pk}">always-a' in group
    assert "Kappa, not raw agreement" in group
    refused = client.post(
        url,
        {
            "kind": "dpo",
            "format": "trl",
            "pairs_from": "pairwise",
            "judge_fill": "on",
            "judge": str(always_a.pk),
            "judge_min_agreement": "0.6",
        },
    )
    assert refused.status_code == 400 and not Export.objects.exists()
    html = refused.content.decode()
    assert 'id="judge-threshold-error"' in html and "not above 0.6" in html
    assert f'<option value="{always_a.pk}" selected>' in html
    accepted = client.post(
        url,
        {
            "kind": "dpo",
            "format": "trl",
            "pairs_from": "pairwise",
            "judge_fill": "on",
            "judge": str(good.pk),
        },
    )
    export = Export.objects.get()
    assert accepted.status_code == 302 and export.options["judge_fill"] is True
    export_build(export_id=export.pk)
    card = client.get(f"/exports/{export.pk}/").content.decode()
    assert 'id="card-judge"' in card and "good-judge" in card
    assert 'id="card-judge-figures"' in card and "Position consistency (45 pairs)" in card
