"""Label pulls: fields, cursor pages, filters, and incremental sync that neither misses nor
repeats a judgment while others are being written."""

import random
import threading
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from annotation.models import Judgment, Task
from annotation.services import claim_next, judgment_submit
from tests.factories import AnnotatorFactory, assign, client_for, make_project
from tests.pulls import pull_all, pull_until

postgres_only = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="needs PostgreSQL's transaction ids"
)


def work(project, annotator, choose=lambda task: {"rating": 4}):
    while (claim := claim_next(user=annotator, project_id=project.pk)) is not None:
        judgment_submit(user=annotator, task_id=claim.task_id, **choose(claim.task))


@pytest.mark.django_db
class TestPull:
    def test_fields_as_spec_with_pseudonyms_and_choices_in_task_terms(self, lead):
        project = make_project(lead, kind="pairwise", prompts=2, models=("m1", "m2"))
        annotator = AnnotatorFactory()
        assign(project, [annotator])
        work(project, annotator, lambda task: {"choice": "A", "comment": "ok",
                                               "duration_ms": 1200})
        body = client_for(lead).get(f"/api/v1/projects/{project.pk}/judgments/").json()
        assert len(body["results"]) == 2 and body["has_more"] is False
        row = body["results"][0]
        judgment = Judgment.objects.get(pk=row["id"])
        task = judgment.task
        pseudonym = project.memberships.get(user=annotator).pseudonym
        assert row["annotator"] == pseudonym != annotator.username
        assert row["task_id"] == task.pk and row["prompt_id"] == task.prompt_id
        assert row["prompt_external_id"] == task.prompt.external_id
        assert row["response_ids"] == [task.response_a_id, task.response_b_id]
        assert row["models"] == ["m1", "m2"] and row["kind"] == "pairwise"
        # The annotator pressed A (left); in the task's terms that is whichever was left.
        left = task.response_b_id if judgment.swapped else task.response_a_id
        assert row["chosen_response_id"] == left
        assert row["choice"] == ("A" if left == task.response_a_id else "B")
        assert row["shown_swapped"] == judgment.swapped
        assert row["comment"] == "ok" and row["duration_ms"] == 1200
        assert row["guidelines_version"] == 1 and row["rating"] is None
        assert row["created_at"] == judgment.created_at.isoformat()

    def test_pages_cover_everything_once_and_the_cursor_resumes_later(self, lead):
        project = make_project(lead, prompts=10)
        first, second = AnnotatorFactory(), AnnotatorFactory()
        assign(project, [first], tasks=Task.objects.filter(project=project)[:7])
        work(project, first)
        client = client_for(lead)
        rows, cursor = pull_all(client, project, page_size=3)
        assert len(rows) == 7 and len({r["id"] for r in rows}) == 7
        again = client.get(f"/api/v1/projects/{project.pk}/judgments/", {"cursor": cursor})
        assert again.json() == {"results": [], "next_cursor": cursor, "has_more": False}
        assign(project, [second], name="rest")
        work(project, second)
        newer, _ = pull_all(client, project, page_size=2, cursor=cursor)
        assert sorted(r["id"] for r in newer) == sorted(
            Judgment.objects.filter(annotator=second).values_list("id", flat=True))
        assert len(newer) == 3

    def test_a_former_member_is_filtered_by_the_pseudonym_pulled(self, lead):
        project = make_project(lead, prompts=4)
        stays, leaves = AnnotatorFactory(), AnnotatorFactory()
        tasks = list(Task.objects.filter(project=project).order_by("id"))
        assign(project, [stays], tasks=tasks[:2], name="first")
        assign(project, [leaves], tasks=tasks[2:], name="second")
        work(project, stays)
        work(project, leaves)
        project.memberships.filter(user=leaves).delete()
        client = client_for(lead)
        names = {r["annotator"] for r in pull_all(client, project)[0]}
        (former,) = {name for name in names if name.startswith("former-")}
        filtered = pull_all(client, project, annotator=former)[0]
        assert {r["id"] for r in filtered} == set(
            Judgment.objects.filter(annotator=leaves).values_list("id", flat=True))
        assert pull_all(client, project, annotator="former-0000000000")[0] == []

    def test_filters(self, lead):
        project = make_project(lead, prompts=4, models=("m1", "m2"))
        one, two = AnnotatorFactory(), AnnotatorFactory()
        tasks = list(Task.objects.filter(project=project).order_by("id"))
        batch = assign(project, [one], tasks=tasks[:4], name="first")
        assign(project, [two], tasks=tasks[4:], name="second")
        work(project, one)
        work(project, two)
        Task.objects.filter(pk=tasks[0].pk).update(is_gold=True, gold_rating_min=1,
                                                     gold_rating_max=5)
        client = client_for(lead)

        def ids(**params):
            return {r["id"] for r in pull_all(client, project, **params)[0]}

        assert len(ids()) == 8
        assert ids(batch=batch.pk) == set(Judgment.objects.filter(
            task__batch=batch).values_list("id", flat=True))
        assert all(r["models"] == ["m2"] for r in pull_all(client, project, model="m2")[0])
        assert len(ids(model="m2")) == 4
        pseudonym = project.memberships.get(user=two).pseudonym
        assert ids(annotator=pseudonym) == set(Judgment.objects.filter(
            annotator=two).values_list("id", flat=True))
        assert ids(annotator="nobody") == set()
        assert ids(kind="pairwise") == set() and len(ids(kind="rating")) == 8
        assert len(ids(gold="true")) == 1 and len(ids(gold="false")) == 7
        later = timezone.now()
        assert ids(updated_after=later.isoformat()) == set()
        Judgment.objects.filter(annotator=one).update(comment="revised", updated_at=timezone.now())
        assert len(ids(updated_after=later.isoformat())) == 4

    def test_bad_queries_are_400_with_field_errors(self, lead):
        project = make_project(lead, prompts=1)
        url = f"/api/v1/projects/{project.pk}/judgments/"
        client = client_for(lead)
        for query, field in (({"cursor": "!!"}, "cursor"), ({"page_size": 0}, "page_size"),
                             ({"page_size": 20001}, "page_size"), ({"colour": "red"}, "colour"),
                             ({"updated_after": "yesterday"}, "updated_after")):
            response = client.get(url, query)
            assert response.status_code == 400, query
            assert field in response.json()["error"]["fields"]


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_judgment_committed_late_is_not_skipped(lead):
    """A transaction that began first but commits last: a pull in between must not move its
    cursor past the late judgment."""
    project = make_project(lead, prompts=2)
    annotator = AnnotatorFactory()
    slow_task, fast_task = Task.objects.filter(project=project).order_by("id")
    written, release = threading.Event(), threading.Event()

    def slow():
        with transaction.atomic():
            Judgment.objects.create(task=slow_task, annotator=annotator, rating=2)
            written.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=slow)
    thread.start()
    written.wait(10)
    fast = Judgment.objects.create(task=fast_task, annotator=annotator, rating=5)
    client = client_for(lead)
    rows, cursor = pull_all(client, project)
    assert rows == []  # the fast one waits behind the open transaction
    release.set()
    thread.join()
    rows, _ = pull_until(client, project, 2, cursor)
    assert len(rows) == 2 and rows[-1]["id"] == fast.pk


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_incremental_sync_under_concurrent_writers_never_misses_or_repeats(lead):
    project = make_project(lead, prompts=60, models=("m1", "m2"))
    annotators = [AnnotatorFactory() for _ in range(4)]
    tasks = list(Task.objects.filter(project=project).order_by("id"))
    errors = []

    def writer(index):
        rng = random.Random(index)
        try:
            for task in tasks[index::4]:
                with transaction.atomic():
                    Judgment.objects.create(task=task, annotator=annotators[index],
                                            rating=rng.randint(1, 5))
                    time.sleep(rng.random() * 0.02)  # hold the transaction open a while
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    client = client_for(lead)
    pulled, cursor = [], None
    while any(t.is_alive() for t in threads):
        rows, cursor = pull_all(client, project, page_size=7, cursor=cursor)
        pulled += [r["id"] for r in rows]
        time.sleep(0.005)
    for thread in threads:
        thread.join()
    rows, _ = pull_until(client, project, 120 - len(pulled), cursor)
    pulled += [r["id"] for r in rows]
    assert not errors
    assert len(pulled) == len(set(pulled)) == 120
    assert set(pulled) == set(Judgment.objects.filter(task__project=project)
                              .values_list("id", flat=True))
