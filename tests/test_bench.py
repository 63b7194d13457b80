"""The benchmarks keep working: each runs here in a smoke size and prints its JSON line.
Nothing here asserts on time; the figures come from full runs by hand."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.workers import RedisServer, free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the benchmarks use PostgreSQL")
def test_queue_bench_smoke_run_over_assigns_nothing():
    url = _smoke_url("ftapp_bench_smoke")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.claim_submit",
            "--database-url",
            url,
            "--sizes",
            "120",
            "--concurrency",
            "1,4",
            "--judgments",
            "20,60",
            "--workers",
            "2",
            "--port",
            str(free_port()),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert [(r["tasks"], r["concurrency"], r["judgments"]) for r in figures["results"]] == [
        (120, 1, 20),
        (120, 4, 60),
    ]
    assert all(not r["errors"] for r in figures["results"])
    assert figures["over_assigned_tasks"] == 0
    for run in figures["results"]:
        assert run["claim_ms"]["n"] == run["judgments"] and run["claim_ms"]["p50"] > 0


def _smoke_url(name: str) -> str:
    """A database of the bench's own beside the test database, named after it: the bench
    drops and re-creates it, so two test runs on one server (each with its own test
    database) never drop each other's."""
    db = connection.settings_dict
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{db['USER']}@{host}:{port}/{name}_{db['NAME']}"


def _run(*args: str) -> dict:
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the benchmarks use PostgreSQL")
def test_export_and_pull_bench_smoke_runs():
    export = _run(
        "-m", "bench.export", "--sizes", "2000", "--database-url", _smoke_url("ftapp_bench_smoke")
    )
    assert export["judgments"] == 2000 and 0 < export["rows"] <= 1000
    assert export["peak_rss_mb"] > 0
    pull = _run(
        "-m",
        "bench.pull",
        "--size",
        "2000",
        "--page-size",
        "300",
        "--port",
        str(free_port()),
        "--database-url",
        _smoke_url("ftapp_bench_smoke"),
    )
    assert pull["rows"] == pull["distinct_rows"] == 2000 and pull["pages"] == 7


def test_evaluate_bench_smoke_run():
    figures = _run("-m", "bench.evaluate", "--judgments", "20000")
    assert figures["judgments"] == 20000


@pytest.mark.parametrize("kind", ["pairwise", "rating"])
def test_judge_calibration_bench_smoke_run(kind):
    figures = _run("-m", "bench.judge", "--part", "calibration", "--tasks", "2000", "--kind", kind)
    assert (figures["tasks"], figures["human_judgments"]) == (2000, 6000)
    checks = figures["checks"]
    assert checks["experts"] == 20 and checks["groups"] == 8
    share = checks["majority_share"]
    assert 0 < share["lower"] <= share["value"] <= share["upper"] < 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the benchmarks use PostgreSQL")
def test_judge_calibration_bench_from_the_database_smoke_run():
    figures = _run(
        "-m",
        "bench.judge",
        "--part",
        "calibration",
        "--tasks",
        "500",
        "--database-url",
        _smoke_url("ftapp_bench_judge_smoke"),
    )
    assert (figures["source"], figures["tasks"], figures["human_judgments"]) == (
        "database",
        500,
        1000,
    )
    # Shards 0..15 of the seeded prompts; the judge agrees with most majorities.
    assert figures["checks"]["groups"] == 16
    assert figures["checks"]["majority_share"]["value"] > 0.5


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the benchmarks use PostgreSQL")
def test_data_browser_bench_smoke_run():
    figures = _run(
        "-m",
        "bench.data_browser",
        "--tasks",
        "600",
        "--repeat",
        "3",
        "--task-page-repeat",
        "2",
        "--database-url",
        _smoke_url("ftapp_bench_browser_smoke"),
    )
    assert figures["tasks"] == 600 and 5000 < figures["judgments"] < 7000
    for case in ("first_page", "filtered_page", "metadata_state_page", "text_search", "deep_page"):
        assert figures["ms"][case]["n"] == 3 and figures["ms"][case]["p50"] > 0
    assert figures["ms"]["first_page"]["count, estimate, rows"] == [600, False, 50]
    assert figures["ms"]["deep_page"]["count, estimate, rows"][2] == 50
    assert figures["ms"]["task_page"]["n"] == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the benchmarks use PostgreSQL")
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server on PATH")
def test_judge_throughput_bench_smoke_run(tmp_path):
    # A Redis of its own: the bench's workers must not share a broker with the suite's.
    broker = RedisServer(directory=tmp_path)
    broker.start()
    try:
        figures = _run(
            "-m",
            "bench.judge",
            "--part",
            "throughput",
            "--tasks",
            "20",
            "--database-url",
            _smoke_url("ftapp_bench_judge_throughput_smoke"),
            "--redis-url",
            broker.url,
        )
    finally:
        broker.kill()
    assert (figures["bench"], figures["part"]) == ("judge", "throughput")
    assert figures["tasks"] == figures["verdicts"] == figures["consistent_verdicts"] == 20
    assert figures["items"] == figures["judge_calls"] == 40 and figures["failed_items"] == 0
    for key in (
        "plain_client_calls_per_s",
        "items_stored_per_s",
        "verdicts_stored_per_s",
        "plain_ms_per_call",
        "ftapp_ms_per_call",
        "overhead_ms_per_call",
        "worker_cpu_ms_per_item",
    ):
        assert isinstance(figures[key], float)
