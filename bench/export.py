"""Export throughput and memory: seeds pairwise projects of N judgments in PostgreSQL (in
bulk, with ``INSERT … SELECT generate_series``: N/2 prompts with two responses, one task each,
two judgments per task from ten annotators, ~85% agreeing), then exports each as DPO/TRL with
``manage.py export`` in a process of its own and prints one JSON line per size: rows/s of
the build, rows, file MB and the export process's peak RSS (which must stay flat as N grows).

    .venv/bin/python -m bench.export                       # 100,000 and 1,000,000 judgments
    .venv/bin/python -m bench.export --sizes 2000          # a smoke run

It drops and re-creates the database named by --database-url; ``bench.seeding`` writes the
projects.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from bench._common import DEFAULT_DATABASE_URL, ROOT, fresh_django


def export(project_id: int, env: dict, out: str) -> dict:
    """Runs ``manage.py export`` in a child process; its peak RSS comes from wait4."""
    from evaluation.models import Export

    started = time.perf_counter()
    child = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "export",
            str(project_id),
            "--kind",
            "dpo",
            "--format",
            "trl",
            "-o",
            out,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"manage.py export failed with status {status}")
    record = Export.objects.filter(project_id=project_id).latest("id")
    build = (record.finished_at - record.started_at).total_seconds()
    rows = sum(info["rows"] for info in record.files.values())
    return {
        "rows": rows,
        "build_seconds": round(build, 2),
        "rows_per_s": round(rows / build),
        "judgments_per_s": round(record.card["stats"]["judgments_used"] / build),
        "file_mb": round(sum(info["bytes"] for info in record.files.values()) / 1e6, 1),
        "process_seconds": round(wall, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()
    env = fresh_django(args.database_url)
    from bench.seeding import bench_team, seed_pairwise

    lead, annotators = bench_team()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**env, "FTAPP_EXPORTS_DIR": tmp}
        for size in args.sizes:
            started = time.perf_counter()
            project_id = seed_pairwise(lead=lead, annotators=annotators, prompts=size // 2)
            seeded = time.perf_counter() - started
            result = export(project_id, env, os.path.join(tmp, f"out-{size}"))
            print(
                json.dumps(
                    {
                        "bench": "export",
                        "kind": "dpo",
                        "format": "trl",
                        "judgments": size,
                        "seed_seconds": round(seeded, 1),
                        **result,
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
