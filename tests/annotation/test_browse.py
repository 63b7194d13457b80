"""The data browser's reads: each filter alone and together, the agreement state in SQL and in
Python, search on either database, cursors both ways, sorts and the capped count."""

import random
from datetime import timedelta

import pytest
from django.db import connection
from django.http import QueryDict
from django.utils import timezone

from annotation.models import Adjudication, Claim, ClaimStatus, Judgment, Membership, Task
from annotation.selectors.browse import (
    TASK_SORTS,
    TASK_STATES,
    TaskFilter,
    task_filter_from_query,
    task_neighbours,
    task_state,
    tasks_browse,
    tasks_count,
    tasks_matching,
)
from annotation.services import claim_next, judgment_submit, task_skip
from ftapp.errors import InvalidInput
from tests.factories import AnnotatorFactory, assign, make_project

pytestmark = pytest.mark.django_db


def ids(project, **fields) -> list[int]:
    found = tasks_matching(project=project, task_filter=TaskFilter(**fields))
    return sorted(found.values_list("pk", flat=True))


def all_ids(project) -> list[int]:
    return sorted(Task.objects.filter(project=project).values_list("pk", flat=True))


def judge_next(user, project, **data):
    claim = claim_next(user=user, project_id=project.pk)
    assert claim is not None
    data = data or {"rating": 4}
    if data.get("choice") in ("A", "B") and claim.swapped:
        data["choice"] = "B" if data["choice"] == "A" else "A"  # in the task's terms
    judgment_submit(user=user, task_id=claim.task_id, **data)
    return claim.task


@pytest.fixture
def world(lead):
    """Six rating tasks, overlap 2, topics alternating; q0 judged 5/5 by both, q1 judged once
    with a comment and a rewrite, q2 skipped by one annotator, q3 adjudicated."""
    project = make_project(
        lead,
        prompts=6,
        overlap=2,
        models=lambda i: ("base-v1",) if i % 2 else ("ft-r1",),
        metadata=lambda i: {"topic": "cards" if i % 2 else "loans", "shard": i},
    )
    first, second = AnnotatorFactory(), AnnotatorFactory()
    tasks = list(Task.objects.filter(project=project).order_by("pk"))
    batch = assign(project, [first, second], tasks=tasks[:4])
    q0 = judge_next(first, project, rating=5)
    assert q0 == tasks[0]
    judge_next(second, project, rating=5)
    judge_next(first, project, rating=2, comment="Too short", rewrite="A better answer.")
    claim = claim_next(user=first, project_id=project.pk)
    task_skip(user=first, task_id=claim.task_id, reason="Not my language")
    Adjudication.objects.create(task=tasks[3], lead=lead, rating=3)
    pseudonyms = dict(Membership.objects.filter(project=project).values_list("user", "pseudonym"))
    return {
        "project": project,
        "tasks": [t.pk for t in tasks],
        "batch": batch,
        "first": pseudonyms[first.pk],
        "second": pseudonyms[second.pk],
    }


def test_each_filter_alone(world):
    p, t = world["project"], world["tasks"]
    assert ids(p) == t
    assert ids(p, batch_id=world["batch"].pk) == t[:4]
    assert ids(p, model="base-v1") == [t[1], t[3], t[5]]
    assert ids(p, metadata={"topic": "loans"}) == [t[0], t[2], t[4]]
    assert ids(p, metadata={"shard": 4}) == [t[4]]
    assert ids(p, annotator=world["first"]) == [t[0], t[1]]
    assert ids(p, annotator=world["second"]) == [t[0]]
    assert ids(p, gold=False) == t and ids(p, gold=True) == []
    assert ids(p, has_rewrite=True) == [t[1]] and ids(p, has_comment=True) == [t[1]]
    assert ids(p, has_comment=False) == [t[0], *t[2:]]
    assert ids(p, skipped=True) == [t[2]]
    assert ids(p, late=True) == [] and ids(p, late=False) == t
    today = timezone.localdate()
    assert ids(p, judged_from=today, judged_to=today) == [t[0], t[1]]
    assert ids(p, judged_to=today - timedelta(days=1)) == []
    assert ids(p, judged_from=today + timedelta(days=1)) == []
    assert ids(p, state="unanimous") == [t[0]]
    assert ids(p, state="partial") == [t[1]]
    assert ids(p, state="adjudicated") == [t[3]]
    assert ids(p, state="unjudged") == [t[2], t[4], t[5]]
    assert ids(p, state="split") == [] and ids(p, state="majority") == []


def test_filters_combine(world):
    p, t = world["project"], world["tasks"]
    assert ids(p, metadata={"topic": "loans"}, batch_id=world["batch"].pk) == [t[0], t[2]]
    assert ids(p, model="ft-r1", state="unjudged") == [t[2], t[4]]
    assert ids(p, annotator=world["first"], has_comment=False) == [t[0]]
    assert ids(p, q="Question 1", model="ft-r1") == []


def test_an_unknown_annotator_or_bad_metadata_names_the_field(world):
    with pytest.raises(InvalidInput) as raised:
        ids(world["project"], annotator="someone")
    assert list(raised.value.fields) == ["annotator"]
    with pytest.raises(InvalidInput) as raised:
        ids(world["project"], metadata={"topic": float("nan")})
    assert list(raised.value.fields) == ["metadata"]


def test_the_annotator_filter_takes_pseudonyms_not_usernames(world):
    first = Membership.objects.get(pseudonym=world["first"]).user
    with pytest.raises(InvalidInput):
        ids(world["project"], annotator=first.username)


def test_rows_carry_what_the_page_shows(world):
    page = tasks_browse(project=world["project"], task_filter=TaskFilter())
    rows = {row["task"].pk: row for row in page.rows}
    t = world["tasks"]
    assert [row["task"].pk for row in page.rows] == t
    first = rows[t[0]]
    assert first["excerpt"] == "Question 0?" and first["models"] == ["ft-r1"]
    assert (first["judgments"], first["overlap"], first["state"]) == (2, 2, "unanimous")
    assert first["last_activity"] is not None
    assert (rows[t[1]]["comments"], rows[t[1]]["rewrites"]) == (1, 1)
    assert rows[t[2]]["skips"] == 1 and rows[t[2]]["last_activity"] is not None
    assert rows[t[3]]["state"] == "adjudicated"
    assert rows[t[4]]["overlap"] is None and rows[t[4]]["last_activity"] is None
    assert (page.count, page.count_is_estimate) == (6, False)
    assert page.next_cursor is None and page.previous_cursor is None


def test_a_chat_prompt_shows_its_last_user_turn(lead):
    project = make_project(lead, prompts=1)
    prompt = Task.objects.get(project=project).prompt
    prompt.text = ""
    prompt.messages = [
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": "Which one?"},
        {"role": "user", "content": "The   second\none " + "x" * 300},
    ]
    prompt.save()
    [row] = tasks_browse(project=project, task_filter=TaskFilter()).rows
    assert row["excerpt"].startswith("The second one xxx") and row["excerpt"].endswith("…")
    assert len(row["excerpt"]) == 160


# The state rule, the same in SQL and in Python ------------------------------------------------


@pytest.mark.parametrize("kind", ["rating", "pairwise"])
@pytest.mark.parametrize("rule", ["no_majority", "not_unanimous"])
def test_the_state_in_sql_is_the_python_rule(lead, kind, rule):
    rng = random.Random(f"{kind}-{rule}")
    models = ("m1", "m2") if kind == "pairwise" else ("m1",)
    project = make_project(lead, kind=kind, prompts=60, models=models, conflict_rule=rule)
    annotators = [AnnotatorFactory() for _ in range(5)]
    tasks = list(Task.objects.filter(project=project).order_by("pk"))
    assign(project, annotators, name="three", tasks=tasks[:30], overlap=3)
    assign(project, annotators, name="two", tasks=tasks[30:50], overlap=2)
    expected: dict[int, str] = {}
    for task in tasks:
        judged = []
        for annotator in rng.sample(annotators, rng.choice([0, 1, 1, 2, 2, 3, 3, 4, 5])):
            judged.append(
                Judgment.objects.create(
                    task=task,
                    annotator=annotator,
                    rating=rng.randint(1, 5) if kind == "rating" else None,
                    choice=rng.choice(["A", "B", "tie", "both_bad", "A", "B"])
                    if kind == "pairwise"
                    else "",
                    swapped=kind == "pairwise" and rng.random() < 0.5,
                )
            )
        adjudicated = rng.random() < 0.1
        if adjudicated:
            Adjudication.objects.create(
                task=task,
                lead=lead,
                rating=3 if kind == "rating" else None,
                choice="" if kind == "rating" else "A",
            )
        task.refresh_from_db()
        expected[task.pk] = task_state(
            kind=kind,
            rule=rule,
            judgments=judged,
            overlap=task.batch.overlap if task.batch else project.overlap,
            adjudicated=adjudicated,
        )
    assert len(set(expected.values())) >= 5, expected
    for state in TASK_STATES:
        want = sorted(pk for pk, s in expected.items() if s == state)
        assert ids(project, state=state) == want, state
    rows = tasks_browse(project=project, task_filter=TaskFilter(), limit=60).rows
    assert {row["task"].pk: row["state"] for row in rows} == expected


def test_the_state_rule_in_words(lead):
    def j(rating=None, choice="", swapped=False):
        return Judgment(rating=rating, choice=choice, swapped=swapped)

    def state(kind, judgments, rule="no_majority", overlap=3, adjudicated=False):
        return task_state(
            kind=kind, rule=rule, judgments=judgments, overlap=overlap, adjudicated=adjudicated
        )

    assert state("rating", []) == "unjudged"
    assert state("rating", [], adjudicated=True) == "adjudicated"
    assert state("rating", [j(1), j(5)], adjudicated=True) == "adjudicated"
    assert state("rating", [j(4)]) == "partial"
    assert state("rating", [j(1), j(5)]) == "split"  # a conflict before the overlap is reached
    assert state("rating", [j(4), j(4), j(4)]) == "unanimous"
    assert state("rating", [j(4), j(5), j(4)]) == "majority"  # within one point
    assert state("rating", [j(1), j(5), j(5)]) == "majority"
    assert state("rating", [j(1), j(5), j(5)], rule="not_unanimous") == "split"
    # Pairwise choices in the task's terms: A on the right is B.
    assert state("pairwise", [j(choice="A"), j(choice="B", swapped=True)], overlap=2) == (
        "unanimous"
    )
    assert state("pairwise", [j(choice="A"), j(choice="B")], overlap=2) == "split"
    assert state("pairwise", [j(choice="A"), j(choice="A"), j(choice="tie")]) == "majority"


# Search ---------------------------------------------------------------------------------------


def test_search_reads_prompts_chat_messages_and_both_responses(lead):
    project = make_project(lead, kind="pairwise", prompts=3, models=("m1", "m2"))
    t = all_ids(project)
    prompt = Task.objects.get(pk=t[2]).prompt
    prompt.text = ""
    prompt.messages = [{"role": "user", "content": "Where is my mortgage statement?"}]
    prompt.save()
    response = Task.objects.get(pk=t[1]).response_b
    response.text = "You can freeze the card in the app."
    response.save()
    assert ids(project, q="question 0") == [t[0]]
    assert ids(project, q="mortgage") == [t[2]]
    assert ids(project, q="freeze") == [t[1]]
    assert ids(project, q="nothing-like-this") == []
    if connection.vendor == "postgresql":
        # Web search syntax, with stemming: "statements" finds "statement".
        assert ids(project, q='"mortgage statements"') == [t[2]]
        assert ids(project, q="freeze or mortgage") == [t[1], t[2]]
        assert ids(project, q="freeze -card") == []
    else:
        assert ids(project, q="ORTGAGE STAT") == [t[2]]


def test_search_stays_in_the_project(lead):
    mine = make_project(lead, prompts=1)
    make_project(lead, prompts=1)
    assert ids(mine, q="Question") == all_ids(mine)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's indexes")
def test_search_uses_the_gin_indexes(lead):
    project = make_project(lead, prompts=2)
    query = tasks_matching(project=project, task_filter=TaskFilter(q="question"))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = query.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    for index in ("prompt_text_search", "prompt_messages_search", "response_text_search"):
        assert index in plan, plan


# Cursors, sorts and the count -----------------------------------------------------------------


def test_cursors_page_forward_and_back(lead):
    project = make_project(lead, prompts=7)
    t = all_ids(project)
    f = TaskFilter()
    first = tasks_browse(project=project, task_filter=f, limit=3)
    assert [r["task"].pk for r in first.rows] == t[:3] and first.previous_cursor is None
    second = tasks_browse(project=project, task_filter=f, cursor=first.next_cursor, limit=3)
    assert [r["task"].pk for r in second.rows] == t[3:6]
    third = tasks_browse(project=project, task_filter=f, cursor=second.next_cursor, limit=3)
    assert [r["task"].pk for r in third.rows] == t[6:] and third.next_cursor is None
    back = tasks_browse(project=project, task_filter=f, cursor=third.previous_cursor, limit=3)
    assert [r["task"].pk for r in back.rows] == t[3:6]
    assert back.next_cursor and back.previous_cursor
    start = tasks_browse(project=project, task_filter=f, cursor=back.previous_cursor, limit=3)
    assert [r["task"].pk for r in start.rows] == t[:3]
    assert start.previous_cursor is None and start.next_cursor


@pytest.mark.parametrize("sort", TASK_SORTS)
def test_every_sort_pages_through_every_match_once(lead, sort):
    project = make_project(lead, prompts=9, overlap=3)
    annotators = [AnnotatorFactory() for _ in range(3)]
    assign(project, annotators)
    for n, annotator in enumerate(annotators):
        for _ in range(3 + 2 * n):
            if claim_next(user=annotator, project_id=project.pk) is None:
                break
            judgment_submit(
                user=annotator,
                task_id=Claim.objects.get(annotator=annotator, status=ClaimStatus.ACTIVE).task_id,
                rating=3,
            )
    f = TaskFilter(sort=sort)
    tasks = Task.objects.filter(project=project)
    column = "pk" if sort in ("id", "-id") else "judgment_count"
    descending = sort.startswith("-")
    order = [f"-{column}", "-pk"] if descending else [column, "pk"]
    expected = list(tasks.order_by(*dict.fromkeys(order)).values_list("pk", flat=True))
    seen, cursor = [], None
    while True:
        page = tasks_browse(project=project, task_filter=f, cursor=cursor, limit=2)
        seen += [r["task"].pk for r in page.rows]
        if not (cursor := page.next_cursor):
            break
    assert seen == expected
    last = len(page.rows)
    back, cursor = [], page.previous_cursor
    while cursor:
        page = tasks_browse(project=project, task_filter=f, cursor=cursor, limit=2)
        back = [r["task"].pk for r in page.rows] + back
        cursor = page.previous_cursor
    assert back == expected[:-last]
    middle = expected[4]
    assert task_neighbours(project=project, task_filter=f, task_id=middle) == (
        expected[3],
        expected[5],
    )
    assert task_neighbours(project=project, task_filter=f, task_id=expected[0])[0] is None


@pytest.mark.parametrize(
    "cursor",
    [
        "nonsense",
        "",
        "eyJ4IjoxfQ",
        "WyJpZCIsWzFdLDBd" + "x",
        "WyItaWQiLFsxXSwwXQ",
        "WyJpZCIsWy0xXSwwXQ",
    ],
)
def test_a_bad_cursor_is_a_field_error(lead, cursor):
    project = make_project(lead, prompts=1)
    if not cursor:
        assert tasks_browse(project=project, task_filter=TaskFilter(), cursor=cursor).rows
        return
    with pytest.raises(InvalidInput) as raised:
        tasks_browse(project=project, task_filter=TaskFilter(), cursor=cursor)
    assert list(raised.value.fields) == ["cursor"]


def test_a_cursor_made_for_another_sort_is_refused(lead):
    project = make_project(lead, prompts=3)
    page = tasks_browse(project=project, task_filter=TaskFilter(), limit=1)
    with pytest.raises(InvalidInput):
        tasks_browse(project=project, task_filter=TaskFilter(sort="-id"), cursor=page.next_cursor)


def test_the_count_stops_at_its_cap(lead):
    project = make_project(lead, prompts=5)
    page = tasks_browse(project=project, task_filter=TaskFilter(), limit=2, count_cap=3)
    assert (page.count, page.count_is_estimate) == (3, True)
    assert tasks_count(project=project, task_filter=TaskFilter(), cap=5) == (5, False)
    assert tasks_count(project=project, task_filter=TaskFilter(model="m1"), cap=4) == (4, True)


def test_the_filter_round_trips_through_its_query_string(world):
    f = TaskFilter(
        batch_id=world["batch"].pk,
        model="ft r1 & co",
        metadata={"topic": "loans", "shard": 4, "flag": True, "code": "007x"},
        state="split",
        annotator=world["first"],
        gold=False,
        has_rewrite=True,
        has_comment=False,
        skipped=True,
        late=False,
        judged_from=timezone.localdate(),
        judged_to=timezone.localdate(),
        q='"exact phrase" -not',
        sort="-judgments",
    )
    assert task_filter_from_query(QueryDict(f.query_string())) == f
    assert task_filter_from_query(QueryDict("")) == TaskFilter()
    assert TaskFilter().query_string() == ""
    assert TaskFilter(sort="-judgments").is_empty and not f.is_empty


def test_a_metadata_value_that_reads_as_a_number_can_be_a_string(lead):
    assert task_filter_from_query(QueryDict("meta=shard:3")).metadata == {"shard": 3}
    assert task_filter_from_query(QueryDict('meta=shard:"3"')).metadata == {"shard": "3"}
    f = TaskFilter(metadata={"shard": "3"})
    assert task_filter_from_query(QueryDict(f.query_string())) == f


def test_a_plain_mapping_gives_a_repeated_name_as_a_list(lead):
    """As a JSON body does (a judge run's filter): one value a name, or a list of them."""
    both = task_filter_from_query({"meta": ["topic:bank", "lang:en"], "state": "split"})
    assert both == task_filter_from_query(QueryDict("meta=topic:bank&meta=lang:en&state=split"))
    assert task_filter_from_query({"meta": "shard:3"}).metadata == {"shard": 3}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("batch=x", "batch"),
        ("batch=99999999999999999999999", "batch"),
        ("state=fine", "state"),
        ("sort=prompt", "sort"),
        ("gold=maybe", "gold"),
        ("skipped=2", "skipped"),
        ("judged_from=yesterday", "judged_from"),
        ("judged_from=2026-02-02&judged_to=2026-02-01", "judged_to"),
        ("meta=topic", "meta"),
        ("meta=:x", "meta"),
        ("q=a%00b", "q"),
        ("model=" + "m" * 501, "model"),
    ],
)
def test_a_bad_filter_value_names_its_field(query, field):
    with pytest.raises(InvalidInput) as raised:
        task_filter_from_query(QueryDict(query))
    assert list(raised.value.fields) == [field]


def test_gold_tasks_filter(lead):
    project = make_project(lead, prompts=3)
    t = all_ids(project)
    Task.objects.filter(pk=t[1]).update(is_gold=True, gold_rating_min=4, gold_rating_max=5)
    assert ids(project, gold=True) == [t[1]] and ids(project, gold=False) == [t[0], t[2]]


def test_late_and_dates_read_the_judgments(lead):
    project = make_project(lead, prompts=2)
    annotator = AnnotatorFactory()
    assign(project, [annotator])
    task = judge_next(annotator, project)
    judgment = Judgment.objects.get(task=task)
    Judgment.objects.filter(pk=judgment.pk).update(
        late=True, created_at=timezone.now() - timedelta(days=10)
    )
    day = timezone.localdate(timezone.now() - timedelta(days=10))
    assert ids(project, late=True) == [task.pk]
    assert ids(project, judged_from=day, judged_to=day) == [task.pk]
    assert ids(project, judged_from=day + timedelta(days=1)) == []


def test_another_projects_batch_matches_nothing(lead):
    mine, theirs = make_project(lead, prompts=1), make_project(lead, prompts=1)
    batch = assign(theirs, [AnnotatorFactory()])
    assert ids(mine, batch_id=batch.pk) == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's statement timeout")
@pytest.mark.django_db(transaction=True)
def test_a_count_that_takes_too_long_is_given_up(lead):
    import psycopg

    project = make_project(lead, prompts=3)
    db = connection.settings_dict
    blocker = psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        dbname=db["NAME"],
        autocommit=False,
    )
    try:
        # Another transaction holds the task table: the count waits, past its timeout.
        blocker.execute("LOCK TABLE annotation_task IN ACCESS EXCLUSIVE MODE")
        assert tasks_count(project=project, task_filter=TaskFilter(), timeout_ms=50) == (0, True)
    finally:
        blocker.rollback()
        blocker.close()
    assert tasks_count(project=project, task_filter=TaskFilter(), timeout_ms=50) == (3, False)
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's statement timeout")
def test_the_settings_of_the_reads_end_with_them(lead):
    project = make_project(lead, prompts=2)

    def settings():
        with connection.cursor() as cursor:  # still inside the test's transaction
            cursor.execute("SELECT current_setting('statement_timeout'), current_setting('jit')")
            return cursor.fetchone()

    before = settings()
    assert tasks_count(project=project, task_filter=TaskFilter()) == (2, False)
    assert tasks_browse(project=project, task_filter=TaskFilter(state="majority")).rows == []
    assert settings() == before
