"""Changing one's own judgment after the fact: who may, while when, and what it leaves behind."""

import pytest

from annotation.models import Adjudication, Claim, Judgment, JudgmentRevision, Task
from annotation.services import claim_next, judgment_change, judgment_undo
from evaluation.models import Export
from ftapp.errors import Conflict, InvalidInput, NotFound
from tests.factories import AnnotatorFactory, assign, build, client_for, judge, make_project
from tests.pulls import pull_until


@pytest.fixture
def rated(lead, annotator):
    project = make_project(lead, prompts=2)
    assign(project, [annotator])
    claim = claim_next(user=annotator, project_id=project.pk)
    return judge(annotator, claim, rating=2, comment="first look")


@pytest.fixture
def paired(lead, annotator):
    project = make_project(lead, kind="pairwise", prompts=2, models=("m1", "m2"))
    assign(project, [annotator])
    claim = claim_next(user=annotator, project_id=project.pk)
    return judge(annotator, claim, choice="A")


@pytest.mark.django_db
class TestJudgmentChange:
    def test_changes_the_values_and_keeps_what_they_were(self, rated, annotator):
        task = Task.objects.get(pk=rated.task_id)
        changed = judgment_change(
            user=annotator, judgment_id=rated.pk, rating=5, comment="on reflection"
        )
        assert (changed.rating, changed.comment) == (5, "on reflection")
        assert changed.updated_at > rated.updated_at
        (revision,) = JudgmentRevision.objects.filter(judgment=rated)
        assert revision.changed_by == annotator
        assert revision.previous == {
            "rating": 2,
            "choice": "",
            "rubric_scores": {},
            "comment": "first look",
            "rewrite": "",
        }
        after = Task.objects.get(pk=rated.task_id)
        assert (after.judgment_count, after.is_complete) == (task.judgment_count, task.is_complete)
        assert Judgment.objects.count() == 1

    def test_a_change_that_changes_nothing_writes_nothing(self, rated, annotator):
        judgment_change(user=annotator, judgment_id=rated.pk, rating=2)
        assert not JudgmentRevision.objects.exists()
        assert Judgment.objects.get(pk=rated.pk).updated_at == rated.updated_at

    def test_pairwise_choice_is_on_screen_sides_and_recomputes_the_pair(self, paired, annotator):
        task = paired.task
        swapped = paired.swapped
        # B as pressed: the response shown on the right.
        changed = judgment_change(user=annotator, judgment_id=paired.pk, choice="B")
        right = task.response_a if swapped else task.response_b
        left = task.response_b if swapped else task.response_a
        assert (changed.chosen_response, changed.rejected_response) == (right, left)
        tie = judgment_change(user=annotator, judgment_id=paired.pk, choice="tie")
        assert (tie.chosen_response, tie.rejected_response) == (None, None)
        assert JudgmentRevision.objects.filter(judgment=paired).count() == 2

    def test_validated_as_a_submit_is(self, rated, paired, annotator):
        with pytest.raises(InvalidInput) as error:
            judgment_change(user=annotator, judgment_id=rated.pk, rating=9)
        assert "rating" in error.value.fields
        with pytest.raises(InvalidInput) as error:
            judgment_change(user=annotator, judgment_id=paired.pk, choice="C")
        assert "choice" in error.value.fields
        with pytest.raises(InvalidInput):
            judgment_change(user=annotator, judgment_id=rated.pk, rubric_scores={"nope": 3})
        assert not JudgmentRevision.objects.exists()

    def test_an_unedited_copy_is_not_a_rewrite(self, rated, annotator):
        shown = rated.task.response_a.text
        changed = judgment_change(user=annotator, judgment_id=rated.pk, rewrite=shown)
        assert changed.rewrite == ""

    def test_another_annotators_judgment_is_not_found(self, rated, lead):
        other = AnnotatorFactory()
        assign(rated.task.project, [other], name="other", tasks=[])
        for user in (other, lead):
            with pytest.raises(NotFound):
                judgment_change(user=user, judgment_id=rated.pk, rating=5)
        assert Judgment.objects.get(pk=rated.pk).rating == 2

    def test_refused_once_adjudicated(self, rated, annotator, lead):
        Adjudication.objects.create(task=rated.task, lead=lead, rating=3)
        with pytest.raises(Conflict, match="adjudicated"):
            judgment_change(user=annotator, judgment_id=rated.pk, rating=5)
        assert not JudgmentRevision.objects.exists()

    def test_refused_once_in_an_export_snapshot(self, rated, annotator, lead):
        build(rated.task.project, "sft")
        assert Export.objects.exists()
        with pytest.raises(Conflict, match="export"):
            judgment_change(user=annotator, judgment_id=rated.pk, rating=5)

    def test_refused_in_an_archived_project(self, rated, annotator):
        project = rated.task.project
        project.archived_at = rated.created_at
        project.save(update_fields=["archived_at"])
        with pytest.raises(Conflict, match="archived"):
            judgment_change(user=annotator, judgment_id=rated.pk, rating=5)

    def test_undo_follows_the_same_rule(self, rated, annotator, lead):
        Adjudication.objects.create(task=rated.task, lead=lead, rating=3)
        with pytest.raises(Conflict, match="adjudicated"):
            judgment_undo(user=annotator, project_id=rated.task.project_id)

    def test_history_goes_with_an_undone_judgment(self, rated, annotator):
        judgment_change(user=annotator, judgment_id=rated.pk, rating=5)
        judgment_undo(user=annotator, project_id=rated.task.project_id)
        assert not JudgmentRevision.objects.exists()
        assert Claim.objects.get(task=rated.task, annotator=annotator).status == "active"


# Committed writes, as in production: on PostgreSQL a judgment's change_seq is the id of the
# transaction that wrote it, which a change made in the test's own transaction would share.
@pytest.mark.django_db(transaction=True)
def test_the_pull_reports_a_change(rated, annotator, lead):
    client = client_for(lead)
    project = rated.task.project
    url = f"/api/v1/projects/{project.pk}/judgments/"
    (row,), cursor = pull_until(client, project, 1)
    assert row["rating"] == 2
    assert client.get(url, {"cursor": cursor}).json()["results"] == []

    judgment_change(user=annotator, judgment_id=rated.pk, rating=5, comment="changed")

    (changed,), _ = pull_until(client, project, 1, cursor)
    assert (changed["id"], changed["rating"], changed["comment"]) == (rated.pk, 5, "changed")
    assert changed["updated_at"] > row["updated_at"]
    since = client.get(url, {"updated_after": row["updated_at"]}).json()["results"]
    assert [r["id"] for r in since] == [rated.pk]
