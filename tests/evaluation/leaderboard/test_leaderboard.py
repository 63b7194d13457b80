"""The evaluation figures against projects seeded through the real services with known
outcomes: the leaderboard and agreement selectors, their API and their pages."""

import json
from datetime import timedelta

import pytest
from rest_framework import serializers

from annotation.models import Claim, Judgment, Membership, Task
from annotation.services import claim_next, judgment_submit, prompt_records_load
from annotation.services.leads import membership_set_aside, task_set_gold
from evaluation.leaderboard import agreement_figures, charts, leaderboard_figures
from evaluation.leaderboard.api import AgreementSerializer, LeaderboardSerializer
from evaluation.stats.metrics import Coincidences
from ftapp.actors import SYSTEM
from tests.factories import (
    AnnotatorFactory,
    ProjectFactory,
    UserFactory,
    add_member,
    assign,
    client_for,
    judge_all,
    make_pairwise_project,
    make_project,
    make_rated_project,
)

pytestmark = pytest.mark.django_db

STRENGTH = {"strong": 3, "mid": 2, "weak": 1}


def by_model(rows):
    return {row["model"]: row for row in rows}


def make_ranked_project(lead, *, prompts=6, annotators=2):
    """Three models on every pair of every prompt; each annotator always prefers the
    stronger model (in the task's terms: judge_all turns it into the screen side)."""
    project = make_project(
        lead, kind="pairwise", prompts=prompts, models=tuple(STRENGTH), overlap=annotators
    )
    team = [AnnotatorFactory() for _ in range(annotators)]
    assign(project, team, overlap=annotators)

    def decide(index, task):
        a, b = task.response_a.model_name, task.response_b.model_name
        return {"choice": "A" if STRENGTH[a] > STRENGTH[b] else "B"}

    judge_all(project, team, decide)
    project.team = team
    return project


def make_sided_project(lead, prompts=8):
    """m1 (long answers) against m2 (short ones). An honest annotator always picks m1 and sees
    it on the right one claim in four; a lazy one always presses A, the left side, which is
    m2 every other claim."""
    project = ProjectFactory(created_by=lead, kind="pairwise", overlap=2)
    records = [
        {
            "id": f"q{i}",
            "prompt": f"Question {i}?",
            "responses": [
                {"model": "m1", "text": f"A long and careful answer to question {i}."},
                {"model": "m2", "text": f"Short {i}."},
            ],
        }
        for i in range(prompts)
    ]
    prompt_records_load(by=SYSTEM, project=project, records=records)
    honest, lazy = AnnotatorFactory(username="honest"), AnnotatorFactory(username="lazy")
    assign(project, [honest, lazy], overlap=2)
    for annotator in (honest, lazy):
        index = 0
        while (claim := claim_next(user=annotator, project_id=project.pk)) is not None:
            # The sides are drawn at random when a task is claimed; fixing them here makes
            # the counts below exact.
            swapped = index % 4 == 0 if annotator is honest else index % 2 == 1
            Claim.objects.filter(pk=claim.pk).update(swapped=swapped)
            task = claim.task
            if annotator is lazy:
                choice = "A"
            else:
                m1_left = (task.response_a.model_name == "m1") != swapped
                choice = "A" if m1_left else "B"
            judgment_submit(user=annotator, task_id=task.pk, choice=choice)
            index += 1
    return project


class TestLeaderboard:
    def test_a_model_that_always_wins_ranks_first_with_its_interval_above(self, lead):
        project = make_ranked_project(lead)
        board = leaderboard_figures(project=project)["pairwise"]
        assert [row["model"] for row in board["models"]] == ["strong", "mid", "weak"]
        strong, mid, weak = board["models"]
        assert strong["lower"] > mid["upper"] and mid["lower"] > weak["upper"]
        assert [row["rank"] for row in board["models"]] == [1, 2, 3]
        assert all(row["tied_with"] == [] for row in board["models"])
        # Six prompts times two annotators per pair, every model in two pairs.
        assert board["battles"] == 36 and board["judgments"] == 36 and board["adjudicated"] == 0
        assert (strong["wins"], strong["ties"], strong["losses"]) == (24, 0, 0)
        assert (weak["wins"], weak["losses"], weak["battles"]) == (0, 24, 24)
        rates = board["win_rates"]
        assert rates["models"] == ["strong", "mid", "weak"]
        assert rates["rate"] == [[None, 1.0, 1.0], [0.0, None, 1.0], [0.0, 0.0, None]]
        assert rates["games"] == [[0, 12, 12], [12, 0, 12], [12, 12, 0]]
        assert board["connected"] is True
        assert sum(row["rating"] for row in board["models"]) == pytest.approx(3000)

    def test_an_adjudicated_task_counts_once_with_the_leads_outcome(self, lead):
        # p0 A,A,B · p1 B,tie,tie · p2 A,B,both_bad · p3 both_bad x3 · p4 adjudicated to B:
        # m1 scores 2 + 1 + 1.5 + 1.5 + 0 = 6 of 13 battles.
        project = make_pairwise_project(lead)
        board = leaderboard_figures(project=project)["pairwise"]
        assert board["battles"] == 13 and board["judgments"] == 12 and board["adjudicated"] == 1
        m1 = by_model(board["models"])["m1"]
        assert (m1["wins"], m1["ties"], m1["losses"]) == (3, 6, 4)
        rates = board["win_rates"]
        i, j = rates["models"].index("m1"), rates["models"].index("m2")
        assert rates["rate"][i][j] == pytest.approx(6 / 13)
        assert rates["ties"][i][j] == 6 and rates["games"][i][j] == 13
        # The two cannot be told apart from 13 close battles.
        assert by_model(board["models"])["m2"]["tied_with"] == ["m1"]
        assert {row["rank"] for row in board["models"]} == {1}

    def test_mean_ratings_use_settled_scores_and_leave_gold_out(self, lead):
        # make_rated_project: q2/m2 judged 1 and 5 is adjudicated to 5; q3/m1 is gold.
        project = make_rated_project(lead)
        figures = leaderboard_figures(project=project)
        board = figures["ratings"]
        assert figures["pairwise"]["models"] == []
        rows = by_model(board["models"])
        assert [row["model"] for row in board["models"]] == ["m1", "m2", "m3"]
        assert rows["m1"]["mean"] == pytest.approx((5 + 4.5 + 2 + 4) / 4)
        assert rows["m2"]["mean"] == pytest.approx((3 + 4 + 5 + 2) / 4)
        assert rows["m3"]["mean"] == pytest.approx((1.5 + 3.5 + 3 + 4) / 4)
        assert (rows["m1"]["tasks"], rows["m1"]["judgments"]) == (4, 8)
        assert (rows["m2"]["tasks"], rows["m2"]["judgments"]) == (4, 8)
        assert board["tasks"] == 12 and board["adjudicated"] == 1 and board["judgments"] == 24
        for row in board["models"]:
            assert row["lower"] <= row["mean"] <= row["upper"]

    def test_excluded_annotators_are_left_out(self, lead):
        project = make_ranked_project(lead, prompts=3, annotators=3)
        contrarian = project.team[2]
        # Their judgments all favoured the stronger model too: reverse them, then exclude them.
        for judgment in Judgment.objects.filter(annotator=contrarian):
            judgment.chosen_response_id, judgment.rejected_response_id = (
                judgment.rejected_response_id,
                judgment.chosen_response_id,
            )
            judgment.choice = "B" if judgment.choice == "A" else "A"
            judgment.save()
        before = leaderboard_figures(project=project)["pairwise"]
        assert before["battles"] == 27
        assert by_model(before["models"])["strong"]["losses"] == 6
        membership_set_aside(
            by=lead, project_id=project.pk, username=contrarian.username, set_aside=True
        )
        after = leaderboard_figures(project=project)["pairwise"]
        assert after["battles"] == 18
        assert by_model(after["models"])["strong"]["losses"] == 0
        agreement = agreement_figures(project=project)
        excluded = Membership.objects.get(project=project, user=contrarian).pseudonym
        assert excluded not in {row["annotator"] for row in agreement["annotators"]}
        assert agreement["judgments"] == 18

    def test_the_winner_is_resolved_from_the_screen_side(self, lead):
        project = make_sided_project(lead)
        board = leaderboard_figures(project=project)["pairwise"]
        m1 = by_model(board["models"])["m1"]
        # honest: m1 eight times; lazy pressed left, which was m1 on its four unswapped claims.
        # (Read on the screen, A would be m1 fourteen times: six of honest's, all of lazy's.)
        chosen_m1 = Judgment.objects.filter(
            task__project=project, chosen_response__model_name="m1"
        ).count()
        assert m1["wins"] == chosen_m1 == 12
        assert (m1["battles"], m1["losses"]) == (16, 4)

    def test_prompt_and_model_filters_narrow_it_to_a_round(self, lead):
        project = make_ranked_project(lead, prompts=4)
        prompts = set(
            project.prompts.filter(external_id__in=["q0", "q1"]).values_list("pk", flat=True)
        )
        board = leaderboard_figures(project=project, prompt_ids=prompts, models={"mid", "weak"})[
            "pairwise"
        ]
        assert [row["model"] for row in board["models"]] == ["mid", "weak"]
        assert board["battles"] == 4
        assert board["win_rates"]["rate"] == [[None, 1.0], [0.0, None]]
        nothing = leaderboard_figures(project=project, prompt_ids=set(), models={"mid", "weak"})
        assert nothing["pairwise"]["battles"] == 0
        assert agreement_figures(project=project, models=set())["judgments"] == 0

    def test_batch_filter(self, lead):
        project = make_project(lead, prompts=4, models=("m1", "m2"), overlap=1)
        annotator = AnnotatorFactory()
        tasks = list(Task.objects.filter(project=project).order_by("pk"))
        first = assign(project, [annotator], name="first", tasks=tasks[:4])
        second = assign(project, [annotator], name="second", tasks=tasks[4:])
        judge_all(project, [annotator], lambda index, task: {"rating": 5})
        only_first = leaderboard_figures(project=project, batch_ids=[first.pk])
        assert only_first["batches"] == [first.pk]
        assert only_first["ratings"]["judgments"] == 4
        both = leaderboard_figures(project=project, batch_ids=[first.pk, second.pk])
        assert both["ratings"]["judgments"] == 8

    def test_empty_project(self, lead):
        project = make_project(lead, kind="pairwise", prompts=2, models=("m1", "m2"))
        board = leaderboard_figures(project=project)
        assert board["pairwise"]["models"] == [] and board["pairwise"]["battles"] == 0
        assert board["ratings"]["models"] == []
        agreement = agreement_figures(project=project)
        assert agreement["judgments"] == 0 and agreement["annotators"] == []
        assert agreement["alpha"]["overall"] is None
        json.dumps(agreement, allow_nan=False)
        json.dumps(board, allow_nan=False)


class TestAgreement:
    def test_pairwise_alpha_reads_choices_in_the_tasks_terms(self, lead):
        project = make_pairwise_project(lead)
        figures = agreement_figures(project=project)
        expected = Coincidences()
        for votes in (
            "A A B",
            "B tie tie",
            "A B both_bad",
            "both_bad both_bad both_bad",
            "A B tie",
        ):
            expected.add_unit(votes.split())
        assert figures["level"] == "nominal"
        assert figures["alpha"]["overall"] == pytest.approx(expected.alpha("nominal"))
        assert figures["judgments"] == 15 and figures["tasks"] == 5
        (batch,) = figures["alpha"]["by_batch"]
        assert batch["name"] == "b" and batch["alpha"] == pytest.approx(expected.alpha())
        # Raw agreement, pairs agreeing: A A B 1 of 3, B tie tie 1, none in A B both_bad,
        # 3 in both_bad x 3, none in A B tie: 5 of 15.
        assert (figures["alpha"]["raw_agreement"], figures["alpha"]["pairs"]) == (1 / 3, 15)
        assert figures["alpha"]["by_version"] == [
            {
                "version": 1,
                "alpha": pytest.approx(expected.alpha()),
                "raw_agreement": 1 / 3,
                "pairs": 15,
                "judgments": 15,
            }
        ]
        assert (batch["raw_agreement"], batch["pairs"]) == (1 / 3, 15)

    def test_leave_one_out_agreement_and_agreement_over_time(self, lead):
        project = make_pairwise_project(lead)
        figures = agreement_figures(project=project)
        first = (
            Membership.objects.filter(project=project, role="annotator").order_by("user_id").first()
        )
        rows = {row["annotator"]: row for row in figures["annotators"]}
        # The first annotator voted A, B, A, both_bad, A: half credit on p0 (the others
        # split A/B), full on p3, none elsewhere.
        assert rows[first.pseudonym]["agreement"] == pytest.approx(0.3)
        assert rows[first.pseudonym]["agreement_judgments"] == 5
        assert rows[first.pseudonym]["judgments"] == 5
        # Credits of all 15: p0 ½ ½ 0 · p1 0 ½ ½ · p2 0 0 0 · p3 1 1 1 · p4 0 0 0.
        (window,) = figures["over_time"]["windows"]
        assert window["agreement"] == pytest.approx(5 / 15) and window["judgments"] == 15
        for row in figures["annotators"]:
            assert 0 <= row["reliability"] <= 1
            assert row["position_bias"]["n"] + row["judgments"] > 0
        assert figures["dawid_skene"]["iterations"] >= 1

    def test_rating_alpha_gold_accuracy_and_histograms(self, lead):
        project = make_rated_project(lead)
        figures = agreement_figures(project=project)
        expected = Coincidences()
        for task in Task.objects.filter(project=project, is_gold=False):
            expected.add_unit(task.judgments.values_list("rating", flat=True))
        assert figures["level"] == "ordinal"
        assert figures["alpha"]["overall"] == pytest.approx(expected.alpha("ordinal"))
        rows = {row["annotator"]: row for row in figures["annotators"]}
        for annotator in project.annotators:
            row = rows[Membership.objects.get(project=project, user=annotator).pseudonym]
            # Both rated the gold q3/m1 a 5, within its 4 to 5.
            assert row["gold"]["n"] == 1 and row["gold"]["correct"] == 1
            assert row["gold"]["accuracy"] == 1.0
            assert sum(row["rating_histogram"]) == row["judgments"] == 12
            assert row["position_bias"] is None
            assert row["agreement"] is not None and row["mean_abs_diff"] is not None
        # Histogram of the 24 non-gold ratings (the gold task's two 5s left out).
        assert figures["rating_histogram"] == [2, 5, 5, 8, 4]
        assert figures["position_bias"] is None and figures["length_bias"] is None

    def test_position_and_length_bias_from_the_screen_side(self, lead):
        project = make_sided_project(lead)
        figures = agreement_figures(project=project)
        rows = {row["annotator"]: row for row in figures["annotators"]}
        pseudonym = dict(
            Membership.objects.filter(project=project).values_list("user__username", "pseudonym")
        )
        lazy, honest = (
            rows[pseudonym["lazy"]]["position_bias"],
            rows[pseudonym["honest"]]["position_bias"],
        )
        assert (lazy["count"], lazy["n"], lazy["share"]) == (8, 8, 1.0)
        assert lazy["p_value"] == pytest.approx(2 * 0.5**8)
        assert (honest["count"], honest["n"]) == (6, 8)
        assert honest["p_value"] == pytest.approx(2 * (1 + 8 + 28) / 2**8)
        assert figures["position_bias"]["share"] == pytest.approx(14 / 16)
        # m1's answers are the longer ones and won 12 of the 16 verdicts.
        assert (figures["length_bias"]["count"], figures["length_bias"]["n"]) == (12, 16)
        json.dumps(figures, allow_nan=False)

    def test_pairwise_gold_is_judged_by_the_resolved_winner(self, lead):
        project = make_sided_project(lead, prompts=4)
        # Gold: m1 (the task's A or B, whichever it is) is the right answer on every task.
        for task in Task.objects.filter(project=project):
            choice = "A" if task.response_a.model_name == "m1" else "B"
            task_set_gold(by=lead, task_id=task.pk, is_gold=True, choice=choice)
        figures = agreement_figures(project=project)
        gold = {row["annotator"]: row["gold"] for row in figures["annotators"]}
        pseudonym = dict(
            Membership.objects.filter(project=project).values_list("user__username", "pseudonym")
        )
        assert gold[pseudonym["honest"]]["correct"] == 4
        assert gold[pseudonym["lazy"]]["correct"] == 2
        # Gold tasks are out of everything else.
        assert figures["judgments"] == 0
        assert leaderboard_figures(project=project)["pairwise"]["battles"] == 0

    def test_drift_windows(self, lead):
        project = make_rated_project(lead)
        earlier = Judgment.objects.filter(
            task__project=project, task__prompt__external_id__in=["q0", "q1"]
        )
        earlier.update(created_at=earlier.first().created_at - timedelta(days=8))
        figures = agreement_figures(project=project, window_days=7)
        windows = figures["over_time"]["windows"]
        assert [w["judgments"] for w in windows] == [12, 12]
        assert figures["over_time"]["window_days"] == 7
        assert figures["over_time"]["slope_per_day"] is not None
        for row in figures["annotators"]:
            assert [w["judgments"] for w in row["drift"]["windows"]] == [6, 6]
            assert row["drift"]["p_value"] is not None
        one_window = agreement_figures(project=project, window_days=30)
        assert len(one_window["over_time"]["windows"]) == 1
        # Within one window there is no trend to speak of.
        assert one_window["over_time"]["slope_per_day"] is None
        assert all(row["drift"]["slope_per_day"] is None for row in one_window["annotators"])


def undescribed(field, value, path="$"):
    """Where ``value`` strays from what the serializer ``field`` (hence the OpenAPI schema)
    says: keys it lacks or does not know, and nulls where it does not allow null."""
    if value is None:
        return [] if field.allow_null else [f"{path} is null"]
    if isinstance(field, serializers.ListSerializer):
        return [p for i, v in enumerate(value) for p in undescribed(field.child, v, f"{path}[{i}]")]
    if isinstance(field, serializers.Serializer):
        problems = [f"{path}.{key} is not described" for key in set(value) - set(field.fields)]
        problems += [f"{path}.{key} is missing" for key in set(field.fields) - set(value)]
        for key, child in field.fields.items():
            if key in value:
                problems += undescribed(child, value[key], f"{path}.{key}")
        return problems
    if isinstance(field, serializers.ListField):
        return [p for i, v in enumerate(value) for p in undescribed(field.child, v, f"{path}[{i}]")]
    return []


class TestApi:
    @pytest.mark.parametrize(
        "make", [make_pairwise_project, make_rated_project, make_sided_project]
    )
    def test_responses_are_what_the_schema_describes(self, lead, make):
        project = make(lead)
        client = client_for(lead)
        for url, serializer, compute in (
            ("leaderboard", LeaderboardSerializer(), leaderboard_figures),
            ("agreement", AgreementSerializer(), agreement_figures),
        ):
            response = client.get(f"/api/v1/projects/{project.pk}/{url}/")
            assert response.status_code == 200, response.content
            body = response.json()
            assert body == json.loads(json.dumps(compute(project=project)))
            assert undescribed(serializer, body) == []

    def test_empty_project_responses_are_described_too(self, lead):
        project = make_project(lead, kind="pairwise", prompts=1, models=("m1", "m2"))
        client = client_for(lead)
        for url, serializer in (
            ("leaderboard", LeaderboardSerializer()),
            ("agreement", AgreementSerializer()),
        ):
            body = client.get(f"/api/v1/projects/{project.pk}/{url}/").json()
            assert undescribed(serializer, body) == []

    def test_only_leads_see_the_figures(self, lead):
        project = make_pairwise_project(lead)
        annotator = Membership.objects.filter(project=project, role="annotator").first().user
        for url in ("leaderboard", "agreement"):
            path = f"/api/v1/projects/{project.pk}/{url}/"
            assert client_for(annotator).get(path).status_code == 403
            assert client_for(UserFactory()).get(path).status_code == 404

    def test_batch_filter_is_validated_strictly(self, lead):
        project = make_rated_project(lead)
        other = make_project(lead, prompts=1)
        other_batch = assign(other, [AnnotatorFactory()])
        batch = project.batches.get()
        client = client_for(lead)
        url = f"/api/v1/projects/{project.pk}/leaderboard/"
        assert client.get(url, {"batch": batch.pk}).json()["batches"] == [batch.pk]
        assert client.get(f"{url}?batch={batch.pk},{batch.pk}").json()["batches"] == [batch.pk]
        for bad in ("x", "0", "-1", "1.5", "", str(2**70), str(other_batch.pk)):
            response = client.get(url, {"batch": bad})
            assert response.status_code == 400, bad
            assert "batch" in response.json()["error"]["fields"]
        unknown = client.get(url, {"bach": batch.pk})
        assert unknown.status_code == 400 and "bach" in unknown.json()["error"]["fields"]
        agreement = f"/api/v1/projects/{project.pk}/agreement/"
        assert client.get(agreement, {"window_days": "1"}).json()["over_time"]["window_days"] == 1
        for bad in ("0", "nan", "inf", "x", "1000"):
            response = client.get(agreement, {"window_days": bad})
            assert response.status_code == 400, bad
            assert "window_days" in response.json()["error"]["fields"]


def test_a_former_member_goes_by_the_same_pseudonym_in_the_agreement_as_in_the_pull(lead):
    """Their membership, and its pseudonym, is gone; their judgments stay. The agreement
    figures name them as the pull does, without disclosing their user id."""
    project = make_ranked_project(lead)
    leaver = project.team[0]
    Membership.objects.filter(project=project, user=leaver).delete()
    client = client_for(lead)
    pulled = client.get(f"/api/v1/projects/{project.pk}/judgments/").json()["results"]
    agreement = client.get(f"/api/v1/projects/{project.pk}/agreement/").json()
    named = {row["annotator"] for row in agreement["annotators"]}
    assert named == {row["annotator"] for row in pulled}
    assert any(name.startswith("former-") for name in named)


class TestPages:
    def test_leaderboard_page_draws_svg_and_escapes_model_names(self, client, lead):
        evil = "<script>alert(1)</script>"
        project = make_project(lead, kind="pairwise", prompts=3, models=(evil, "good"))
        annotator = AnnotatorFactory()
        assign(project, [annotator])
        judge_all(
            project,
            [annotator],
            lambda index, task: {"choice": "A" if task.response_a.model_name == "good" else "B"},
        )
        client.force_login(lead)
        page = client.get(f"/projects/{project.pk}/leaderboard/")
        assert page.status_code == 200
        html = page.content.decode()
        assert html.count("<svg") == 2  # the interval chart and the heat map
        assert "<circle" in html and "<rect" in html
        assert evil not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        agreement = client.get(f"/projects/{project.pk}/agreement/").content.decode()
        assert evil not in agreement

    def test_rating_pages_show_interval_bars_histograms_and_usernames(self, client, lead):
        project = make_rated_project(lead)
        client.force_login(lead)
        html = client.get(f"/projects/{project.pk}/leaderboard/").content.decode()
        assert 'id="mean-ratings"' in html and 'class="chart interval-chart"' in html
        assert html.count('<g class="interval">') == 3
        agreement = client.get(f"/projects/{project.pk}/agreement/").content.decode()
        assert agreement.count('class="chart histogram"') == 3  # two annotators and overall
        # Everything was judged within one week: one point, no line yet.
        assert 'class="chart line-chart"' not in agreement
        assert "the trend appears once the judgments span a second window of 7 days" in agreement
        assert "u1" in agreement and "u2" in agreement
        pseudonym = Membership.objects.get(project=project, user__username="u1").pseudonym
        assert pseudonym in agreement

    def test_agreement_over_time_is_drawn_from_the_second_window(self, client, lead):
        project = make_rated_project(lead)
        earlier = Judgment.objects.filter(
            task__project=project, task__prompt__external_id__in=["q0", "q1"]
        )
        earlier.update(created_at=earlier.first().created_at - timedelta(days=8))
        client.force_login(lead)
        html = client.get(f"/projects/{project.pk}/agreement/").content.decode()
        assert 'class="chart line-chart"' in html and 'id="trend-waits"' not in html

    def test_raw_agreement_stands_beside_each_alpha_with_why_they_differ(self, client, lead):
        project = make_pairwise_project(lead)
        client.force_login(lead)
        page = client.get(f"/projects/{project.pk}/agreement/")
        html = page.content.decode()
        # 5 of the 15 pairs agree (see test_pairwise_alpha_reads_choices_in_the_tasks_terms).
        assert '<strong id="raw-agreement-overall">33%</strong> of 15 pairs' in html
        assert html.count('33% <small class="muted">of 15 pairs</small>') == 2  # batch, version
        assert "Alpha can be near 0, or below, while raw agreement is high" in html

    def test_pages_filter_by_batch_and_report_a_bad_one(self, client, lead):
        project = make_rated_project(lead)
        client.force_login(lead)
        batch = project.batches.get()
        page = client.get(f"/projects/{project.pk}/leaderboard/", {"batch": batch.pk})
        assert page.status_code == 200 and page.context["figures"]["batches"] == [batch.pk]
        bad = client.get(f"/projects/{project.pk}/agreement/", {"batch": "nope"})
        assert bad.status_code == 200 and bad.context["figures"]["batches"] is None
        assert "is not a batch id" in bad.content.decode()

    def test_empty_states(self, client, lead):
        pairwise = make_project(lead, kind="pairwise", prompts=1, models=("m1", "m2"))
        rated = make_project(lead, prompts=1)
        add_member(rated, AnnotatorFactory())
        client.force_login(lead)
        for project in (pairwise, rated):
            for name in ("leaderboard", "agreement"):
                page = client.get(f"/projects/{project.pk}/{name}/")
                assert page.status_code == 200
                html = page.content.decode()
                assert "<svg" not in html and 'class="empty"' in html
                assert f'href="/projects/{project.pk}/{name}/"' in html  # the nav links it


class TestCharts:
    def test_interval_chart_places_dots_bars_and_ticks_on_one_axis(self):
        rows = [
            {"model": "a", "rating": 1100.0, "lower": 1050.0, "upper": 1150.0},
            {"model": "b", "rating": 900.0, "lower": 860.0, "upper": 990.0},
            {"model": "c", "rating": None, "lower": None, "upper": None},
        ]
        chart = charts.interval_chart(
            rows, value="rating", lower="lower", upper="upper", reference=1000.0
        )
        first, second, unmarked = chart["rows"]
        assert first["y"] < second["y"] < unmarked["y"]
        assert first["x1"] < first["cx"] < first["x2"] and second["x2"] < first["x1"]
        assert not unmarked["marked"]
        ticks = [float(t["label"]) for t in chart["ticks"]]
        assert ticks[0] <= 860 and ticks[-1] >= 1150
        assert all(chart["plot_left"] <= t["x"] <= chart["plot_right"] for t in chart["ticks"])
        assert second["cx"] < chart["reference_x"] < first["cx"]

    def test_heatmap_shows_rates_and_pairs_that_never_met(self):
        chart = charts.heatmap(
            ["a", "b", "c"],
            [[None, 0.75, None], [0.25, None, 0.5], [None, 0.5, None]],
            [[0, 4, 0], [4, 0, 2], [0, 2, 0]],
            [[0, 0, 0], [0, 0, 2], [0, 2, 0]],
        )
        cells = {(c["y"], c["x"]): c for c in chart["cells"]}
        grid = [
            [cells[key] for key in sorted(cells) if key[0] == y]
            for y in sorted({k[0] for k in cells})
        ]
        assert grid[0][0]["text"] == "" and grid[0][1]["text"] == "0.75"
        assert grid[0][2]["text"] == "–" and grid[0][2]["fill"] == charts.NO_GAMES_FILL
        assert "2 tied" in grid[1][2]["title"] and grid[1][2]["fill"] == "rgb(247, 247, 247)"
        assert grid[0][1]["fill"] != grid[1][0]["fill"]

    def test_line_chart_skips_undefined_windows_and_long_labels_are_cut(self):
        points = [
            {"start": "2026-01-01T00:00:00Z", "agreement": 0.5, "judgments": 4},
            {"start": "2026-01-08T00:00:00Z", "agreement": None, "judgments": 0},
            {"start": "2026-01-15T00:00:00Z", "agreement": 1.0, "judgments": 1},
        ]
        chart = charts.line_chart(points)
        assert len(chart["dots"]) == 2 and len(chart["points"].split()) == 2
        low, high = chart["dots"]
        assert low["x"] < high["x"] and high["y"] < low["y"]
        assert "1 judgment" in high["title"] and "4 judgments" in low["title"]
        assert charts.short_label("x" * 40) == "x" * 31 + "…"
        assert charts.histogram([0, 2, 1, 0, 4])["bars"][4]["height"] == 30
