"""Cancel and retry of exports (API and page), what the sweep does with jobs a dead worker
left (in this process: the state such a worker leaves is a row whose lock nobody holds), and
undo, which an export that never completed must not block. The worker kills themselves are in
test_job_recovery.py."""

import io
import threading
from datetime import timedelta

import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from annotation.models import Project
from annotation.services.judgments import judgment_undo
from evaluation.exports.services.build import LOCK_CLASS, export_build
from evaluation.exports.services.files import export_dir
from evaluation.exports.services.jobs import (
    export_cancel,
    export_retry,
    export_start,
    exports_recover,
)
from evaluation.generation.recovery import (
    RUN_LOCK_CLASS,
    generation_item_begin,
    generation_runs_recover,
)
from evaluation.generation.selectors import generation_items_pending_chunks
from evaluation.generation.services.runs import generation_run_mark_running, generation_run_start
from evaluation.models import (
    Export,
    ExportStatus,
    GenerationItem,
    GenerationRun,
    ItemStatus,
    RunStatus,
)
from evaluation.tasks import process_chunk
from ftapp.actors import SYSTEM
from ftapp.errors import Conflict
from tests.factories import (
    client_for,
    make_bulk_pairwise_project,
    make_endpoint,
    make_project,
    make_rated_project,
)
from tests.fake_model_server import FakeModelServer
from tests.workers import (
    TEST_MODEL_KEY,
    TEST_MODEL_KEY_ENV,
    database_url,
    wait_for_export,
    wait_until,
)

pytestmark = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="builders and sweeps coordinate through PostgreSQL advisory locks",
)


@pytest.fixture
def rated(lead):
    return make_rated_project(lead)


def _partial(export):
    final = export_dir(export)
    return final.with_name(final.name + ".partial")


def _left_by_a_dead_worker(export, *, attempts=1):
    """What a worker killed in the middle of a build leaves: the export running, with its
    snapshot time and half its files, and its lock free (PostgreSQL dropped it with the
    connection)."""
    Export.objects.filter(pk=export.pk).update(
        status=ExportStatus.RUNNING,
        attempts=attempts,
        snapshot_at=timezone.now(),
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
        progress_done=3,
        progress_total=10,
    )
    _partial(export).mkdir(parents=True)
    (_partial(export) / "train.jsonl").write_text('{"half": "written"}\n')
    export.refresh_from_db()
    return export


@pytest.fixture
def other_session():
    """A second PostgreSQL session, as a builder or a chunk in another process has."""
    with psycopg.connect(database_url(), autocommit=True) as conn:
        yield conn


# Services -------------------------------------------------------------------------------


@pytest.mark.django_db
class TestSweepOfExports:
    def test_a_running_export_nobody_builds_is_queued_again_from_nothing(
        self, rated, django_capture_on_commit_callbacks
    ):
        export = _left_by_a_dead_worker(
            export_start(by=SYSTEM, project=rated, kind="sft", format="trl")
        )
        with django_capture_on_commit_callbacks() as queued:
            assert exports_recover()["exports_requeued"] == 1
        export.refresh_from_db()
        assert (export.status, export.attempts, export.snapshot_at) == ("queued", 1, None)
        assert export.progress_done == export.progress_total == 0
        assert not _partial(export).exists()
        assert len(queued) == 1
        export = export_build(export_id=export.pk)
        assert (export.status, export.attempts) == ("completed", 2)

    def test_one_that_a_process_still_builds_is_left_alone(self, rated, other_session):
        export = _left_by_a_dead_worker(
            export_start(by=SYSTEM, project=rated, kind="sft", format="trl")
        )
        other_session.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_CLASS, export.pk])
        assert exports_recover()["exports_requeued"] == 0
        export.refresh_from_db()
        assert export.status == ExportStatus.RUNNING and _partial(export).exists()

    def test_after_its_last_attempt_it_is_failed_with_the_reason(self, rated):
        export = _left_by_a_dead_worker(
            export_start(by=SYSTEM, project=rated, kind="sft", format="trl"),
            attempts=settings.JOB_MAX_ATTEMPTS,
        )
        assert exports_recover()["exports_failed"] == 1
        export.refresh_from_db()
        assert export.status == ExportStatus.FAILED and not _partial(export).exists()
        assert export.error.startswith(
            f"The worker building this export stopped {settings.JOB_MAX_ATTEMPTS} times"
        )

    def test_a_redelivered_build_past_its_last_attempt_fails_instead_of_building(self, rated):
        """Celery puts back the message of a pool process killed mid-build at once: that
        redelivery counts as an attempt too."""
        export = export_start(by=SYSTEM, project=rated, kind="sft", format="trl")
        Export.objects.filter(pk=export.pk).update(
            status=ExportStatus.RUNNING, attempts=settings.JOB_MAX_ATTEMPTS
        )
        export = export_build(export_id=export.pk)
        assert export.status == ExportStatus.FAILED and "stopped" in export.error
        assert not export_dir(export).exists()

    def test_a_queued_export_whose_message_may_be_lost_is_sent_again_once(
        self, rated, django_capture_on_commit_callbacks
    ):
        export = export_start(by=SYSTEM, project=rated, kind="sft", format="trl")
        fresh = export_start(by=SYSTEM, project=rated, kind="dpo", format="trl")
        later = timezone.now() + timedelta(seconds=settings.STALE_JOB_SECONDS + 1)
        Export.objects.filter(pk=fresh.pk).update(heartbeat_at=later)
        with django_capture_on_commit_callbacks() as queued:
            assert exports_recover(now=later)["exports_resent"] == 1
            assert exports_recover(now=later)["exports_resent"] == 0
        assert len(queued) == 1
        export.refresh_from_db()
        assert export.status == ExportStatus.QUEUED and export.heartbeat_at == later


@pytest.mark.django_db
class TestCancelAndRetry:
    def test_a_cancelled_export_is_never_built_and_retry_builds_it_with_a_new_snapshot(
        self, rated, django_capture_on_commit_callbacks
    ):
        lead = rated.created_by
        first = export_build(
            export_id=export_start(by=SYSTEM, project=rated, kind="sft", format="trl").pk
        )
        export = export_start(by=SYSTEM, project=rated, kind="sft", format="trl")
        export = export_cancel(by=lead, export_id=export.pk)
        assert export.status == ExportStatus.CANCELLED and export.finished_at is not None
        assert export_build(export_id=export.pk).status == ExportStatus.CANCELLED
        assert not export_dir(export).exists()
        with pytest.raises(Conflict, match="already cancelled"):
            export_cancel(by=lead, export_id=export.pk)
        with django_capture_on_commit_callbacks() as queued:
            export = export_retry(by=lead, export_id=export.pk)
        assert (export.status, export.finished_at, export.attempts) == ("queued", None, 0)
        assert len(queued) == 1
        export = export_build(export_id=export.pk)
        assert export.status == ExportStatus.COMPLETED
        assert export.snapshot_at > first.snapshot_at
        assert export.files == first.files

    def test_a_dead_running_export_cancelled_loses_its_half_written_files(self, rated):
        export = _left_by_a_dead_worker(
            export_start(by=SYSTEM, project=rated, kind="sft", format="trl")
        )
        export_cancel(by=rated.created_by, export_id=export.pk)
        assert not _partial(export).exists()
        assert exports_recover() == {
            "exports_requeued": 0,
            "exports_failed": 0,
            "exports_resent": 0,
        }

    def test_only_failed_or_cancelled_exports_are_retried(self, rated):
        export = export_build(
            export_id=export_start(by=SYSTEM, project=rated, kind="sft", format="trl").pk
        )
        with pytest.raises(Conflict, match="this one is completed"):
            export_retry(by=rated.created_by, export_id=export.pk)
        with pytest.raises(Conflict, match="already completed"):
            export_cancel(by=rated.created_by, export_id=export.pk)

    def test_retry_waits_while_the_cancelled_build_still_runs(self, rated, other_session):
        export = export_start(by=SYSTEM, project=rated, kind="sft", format="trl")
        export_cancel(by=rated.created_by, export_id=export.pk)
        other_session.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_CLASS, export.pk])
        with pytest.raises(Conflict, match="still stopping"):
            export_retry(by=rated.created_by, export_id=export.pk)


@pytest.mark.django_db
class TestUndo:
    def test_an_export_left_running_by_a_dead_worker_blocks_undo_only_until_the_sweep(self, rated):
        export = _left_by_a_dead_worker(
            export_start(by=SYSTEM, project=rated, kind="sft", format="trl")
        )
        annotator = rated.annotators[0]
        with pytest.raises(Conflict, match="export"):
            judgment_undo(user=annotator, project_id=rated.pk)
        exports_recover()
        export.refresh_from_db()
        assert export.status == ExportStatus.QUEUED
        assert judgment_undo(user=annotator, project_id=rated.pk) is not None

    @pytest.mark.parametrize("end", ["failed", "cancelled"])
    def test_an_export_that_never_completed_does_not_block_undo(self, rated, end):
        export = _left_by_a_dead_worker(
            export_start(by=SYSTEM, project=rated, kind="sft", format="trl")
        )
        if end == "cancelled":
            export_cancel(by=rated.created_by, export_id=export.pk)
        else:
            Export.objects.filter(pk=export.pk).update(attempts=settings.JOB_MAX_ATTEMPTS)
            exports_recover()
        export.refresh_from_db()
        assert export.status == end and export.snapshot_at is not None
        assert judgment_undo(user=rated.annotators[0], project_id=rated.pk) is not None


@pytest.mark.django_db
class TestSweepOfGenerationRuns:
    @pytest.fixture
    def run(self, lead):
        """Started and marked running; its dispatch waits for a commit that never comes."""
        project = make_project(lead, prompts=12, models=())
        with FakeModelServer() as server:
            endpoint = make_endpoint(lead, server)
            run = generation_run_start(by=lead, project_id=project.pk, endpoint_ids=[endpoint.pk])
        generation_run_mark_running(run_id=run.pk)
        return run

    def _stale(self):
        return timezone.now() + timedelta(seconds=settings.STALE_JOB_SECONDS + 1)

    def test_a_run_with_items_pending_and_no_chunk_at_work_is_dispatched_again(
        self, run, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks() as sent:
            assert generation_runs_recover(now=self._stale()) == {"runs_redispatched": 1}
        assert len(sent) == 1
        assert generation_runs_recover(now=timezone.now()) == {"runs_redispatched": 0}

    def test_a_run_a_chunk_works_on_or_that_moved_lately_is_left_alone(self, run, other_session):
        assert generation_runs_recover(now=timezone.now()) == {"runs_redispatched": 0}
        other_session.execute("SELECT pg_advisory_lock_shared(%s, %s)", [RUN_LOCK_CLASS, run.pk])
        assert generation_runs_recover(now=self._stale()) == {"runs_redispatched": 0}
        GenerationRun.objects.filter(pk=run.pk).update(status=RunStatus.CANCELLED)
        other_session.execute("SELECT pg_advisory_unlock_all()")
        assert generation_runs_recover(now=self._stale()) == {"runs_redispatched": 0}

    def test_an_item_whose_worker_died_on_it_every_time_is_failed_and_the_run_ends(
        self, lead, monkeypatch
    ):
        """Each begin with no end is a worker that died on the item."""
        monkeypatch.setenv(TEST_MODEL_KEY_ENV, TEST_MODEL_KEY)
        project = make_project(lead, prompts=4, models=())
        with FakeModelServer(require_key=TEST_MODEL_KEY) as server:
            endpoint = make_endpoint(lead, server)
            run = generation_run_start(by=lead, project_id=project.pk, endpoint_ids=[endpoint.pk])
            generation_run_mark_running(run_id=run.pk)
            (chunk,) = generation_items_pending_chunks(run_id=run.pk)
            for _ in range(settings.JOB_MAX_ATTEMPTS):
                assert generation_item_begin(item_id=chunk[0])
            process_chunk(run.pk, chunk)
        run.refresh_from_db()
        assert run.status == RunStatus.COMPLETED_WITH_FAILURES
        poison = GenerationItem.objects.get(pk=chunk[0])
        assert poison.status == ItemStatus.FAILED
        assert f"stopped {settings.JOB_MAX_ATTEMPTS} times" in poison.error
        others = GenerationItem.objects.filter(run=run).exclude(pk=chunk[0])
        assert set(others.values_list("status", "starts")) == {(ItemStatus.DONE, 0)}
        assert len(server.requests) == 3


# API and page ---------------------------------------------------------------------------


def _mid_build(export_id: int) -> bool:
    export = Export.objects.get(pk=export_id)
    return export.status == ExportStatus.RUNNING and export.progress_done > 0


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_api_cancels_a_running_build_which_stops_and_retry_builds_it_again(celery_worker, lead):
    project = Project.objects.get(pk=make_bulk_pairwise_project(lead, prompts=8000))
    client = client_for(lead)
    started = client.post(
        f"/api/v1/projects/{project.pk}/exports/",
        {"kind": "dpo", "filters": {"redact_pii": True}},
        format="json",
    ).json()
    export = Export.objects.get(pk=started["id"])
    wait_until(lambda: _mid_build(export.pk), "the build to be under way")
    response = client.post(f"/api/v1/exports/{export.pk}/cancel/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    wait_until(lambda: not _partial(export).exists(), "the build to stop and clean up")
    export.refresh_from_db()
    assert export.progress_done < export.progress_total  # it stopped, not merely unpublished
    assert export.status == ExportStatus.CANCELLED and not export_dir(export).exists()

    def retried():
        response = client.post(f"/api/v1/exports/{export.pk}/retry/")
        if response.status_code == 409 and "still stopping" in response.json()["error"]["message"]:
            return None
        return response

    response = wait_until(retried, "the cancelled build to let go")
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "queued" and response.json()["attempts"] == 0
    body = wait_for_export(client, export.pk, timeout=120)
    assert body["status"] == "completed" and body["attempts"] == 1
    assert client.post(f"/api/v1/exports/{export.pk}/cancel/").status_code == 409
    assert client.post(f"/api/v1/exports/{export.pk}/retry/").status_code == 409


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_export_page_cancels_without_javascript_and_retries_with_htmx(celery_worker, client, lead):
    project = make_rated_project(lead)
    export = export_start(by=SYSTEM, project=project, kind="sft", format="trl")  # not sent
    client.force_login(lead)
    page = client.get(f"/exports/{export.pk}/").content.decode()
    assert 'name="action" value="cancel"' in page and "csrfmiddlewaretoken" in page
    response = client.post(f"/exports/{export.pk}/", {"action": "cancel"})
    assert response.status_code == 302 and response.url == f"/exports/{export.pk}/"
    page = client.get(f"/exports/{export.pk}/").content.decode()
    assert 'id="export-state">cancelled' in page and 'value="retry"' in page
    assert "hx-trigger" not in page  # nothing to follow any more

    fragment = client.post(
        f"/exports/{export.pk}/", {"action": "retry"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert '<div id="export-status"' in fragment and "<html" not in fragment
    assert 'id="export-state">queued' in fragment and 'hx-trigger="every 2s"' in fragment
    wait_until(
        lambda: Export.objects.get(pk=export.pk).status == ExportStatus.COMPLETED,
        "the worker to build it",
    )
    fragment = client.post(
        f"/exports/{export.pk}/", {"action": "cancel"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "The export is already completed." in fragment
    response = client.post(f"/exports/{export.pk}/", {"action": "cancel"}, follow=True)
    assert "The export is already completed." in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_command_line_says_so_when_its_export_is_cancelled_from_a_page(lead, tmp_path):
    project = make_bulk_pairwise_project(lead, prompts=8000)
    failure: list[BaseException] = []

    def run_command():
        try:
            call_command(
                "export", str(project), "--kind", "dpo", "--filters", '{"redact_pii": true}',
                "-o", str(tmp_path / "out"), stdout=io.StringIO(),
            )  # fmt: skip
        except BaseException as error:
            failure.append(error)
        finally:
            connection.close()

    command = threading.Thread(target=run_command)
    command.start()
    try:
        export = wait_until(
            lambda: Export.objects.filter(project_id=project, status="running").first(),
            "the command's build to start",
        )
        export_cancel(by=lead, export_id=export.pk)
    finally:
        command.join(timeout=120)
    assert not command.is_alive()
    assert len(failure) == 1 and isinstance(failure[0], CommandError)
    assert str(failure[0]) == f"Export {export.pk} is cancelled."
    assert not (tmp_path / "out").exists() and not _partial(export).exists()
