"""Without a broker the demo runs the worker's tasks in a background thread of the server
process (ftapp/queueing.py): after the commit, never within the request, each thread closing
its database connections, an error logged and the next piece of work still done. The demo's
SQLite lets that thread and the requests write at once."""

import threading

import pytest
from django.db import connections, transaction

from annotation.models import Project
from ftapp.queueing import enqueue_on_commit
from tests.factories import make_project
from tests.fresh_interpreter import run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def embedded(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.BACKGROUND_WORK = "thread"


def test_work_starts_after_the_commit_in_another_thread_and_the_caller_does_not_wait(
    embedded, lead
):
    project = make_project(lead, prompts=1, models=())
    gate, done = threading.Event(), threading.Event()
    seen: dict = {}

    def send():
        seen["thread"] = threading.current_thread().name
        seen["name"] = Project.objects.get(pk=project.pk).name
        seen["connection"] = connections["default"]
        gate.wait(timeout=30)
        done.set()

    with transaction.atomic():
        Project.objects.filter(pk=project.pk).update(name="Renamed before the work")
        enqueue_on_commit(send, undo=lambda: None)
        assert "thread" not in seen  # not before the commit
    # The work waits on the gate, and the caller went on all the same.
    assert not done.is_set()
    gate.set()
    assert done.wait(timeout=30)
    assert seen["thread"].startswith("ftapp-background-")
    assert seen["name"] == "Renamed before the work"  # it saw what the caller committed
    wrapper = seen["connection"]
    if wrapper.vendor == "sqlite" and wrapper.is_in_memory_db():
        return  # Django keeps an in-memory test database open, shared by every thread
    for _ in range(300):
        if wrapper.connection is None:
            break
        threading.Event().wait(0.01)
    assert wrapper.connection is None  # closed once the work was done


def test_an_error_in_background_work_is_logged_and_the_next_work_still_runs(embedded, caplog):
    done = threading.Event()

    def broken():
        raise RuntimeError("boom")

    enqueue_on_commit(broken, undo=lambda: None)
    enqueue_on_commit(broken, undo=lambda: None)
    enqueue_on_commit(done.set, undo=lambda: None)
    assert done.wait(timeout=30)
    for _ in range(300):
        if len([r for r in caplog.records if r.message == "Background work failed"]) == 2:
            break
        threading.Event().wait(0.01)
    failures = [r for r in caplog.records if r.message == "Background work failed"]
    assert len(failures) == 2 and "boom" in str(failures[0].exc_info[1])


def test_inline_work_runs_within_the_call_after_the_commit(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.BACKGROUND_WORK = "inline"
    ran = []
    with transaction.atomic():
        enqueue_on_commit(lambda: ran.append(threading.current_thread()), undo=lambda: None)
        assert ran == []
    assert ran == [threading.current_thread()]


CONCURRENT_WRITES = """
import threading, django
django.setup()
from django.db import connection, connections, transaction

with connection.cursor() as cursor:
    cursor.execute("PRAGMA journal_mode")
    print("journal", cursor.fetchone()[0])
    cursor.execute("CREATE TABLE counted (id INTEGER PRIMARY KEY, n INTEGER)")
    cursor.execute("INSERT INTO counted (id, n) VALUES (1, 0)")
errors = []

def add(times):
    try:
        for _ in range(times):
            with transaction.atomic():
                with connection.cursor() as cursor:
                    # A read, then a write on what was read: the pattern that deadlocks
                    # ("database is locked") in SQLite's default deferred transactions.
                    cursor.execute("SELECT n FROM counted WHERE id = 1")
                    n = cursor.fetchone()[0]
                    cursor.execute("UPDATE counted SET n = %s WHERE id = 1", [n + 1])
    except Exception as error:
        errors.append(repr(error))
    finally:
        connections.close_all()

threads = [threading.Thread(target=add, args=(200,)) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
with connection.cursor() as cursor:
    cursor.execute("SELECT n FROM counted WHERE id = 1")
    print("count", cursor.fetchone()[0])
print("errors", errors)
"""


@pytest.mark.django_db(transaction=False)
def test_the_demos_sqlite_takes_concurrent_writers_without_database_is_locked(tmp_path):
    shown = run(
        ["-c", CONCURRENT_WRITES], tmp_path, DJANGO_SETTINGS_MODULE="ftapp.settings", DEBUG="true"
    )
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert shown.stdout.split("\n")[:3] == ["journal wal", "count 800", "errors []"]
