"""Import throughput and memory: writes a JSON Lines file of N records (each a prompt with two
responses, as a generation run would leave them), imports it into a rating project with
``prompts_import`` on PostgreSQL, and prints one JSON line per size: records/s, file MB and
the process's peak RSS (which must not grow with the file).

    .venv/bin/python -m bench.prompts_import                # 20,000 and 200,000 records
    .venv/bin/python -m bench.prompts_import --sizes 2000   # a smoke run

Each size runs in its own process so peak RSS is per size. It drops and re-creates the
database named by --database-url.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import DEFAULT_DATABASE_URL, ROOT, fresh_django

SENTENCE = (
    "To reset your card PIN, open the app, go to Cards, choose the card and select Change PIN; "
    "you will confirm with a one-time code sent to your registered phone number. "
)


def write_file(path: Path, size: int) -> None:
    with path.open("w") as out:
        for i in range(size):
            record = {
                "id": f"q-{i}",
                "prompt": f"Question {i}: how do I change the PIN of card ending {i % 9000:04d}?",
                "system": "You are Northwind Bank's assistant.",
                "metadata": {"domain": "banking", "lang": "en", "shard": i % 16},
                "responses": [
                    {"model": "base-v1", "text": f"Answer {i}. " + SENTENCE * 3},
                    {"model": "ft-r1", "text": f"Better answer {i}. " + SENTENCE * 5},
                ],
            }
            out.write(json.dumps(record) + "\n")


def one(size: int, database_url: str) -> dict:
    fresh_django(database_url)
    from django.contrib.auth import get_user_model

    from annotation.services import project_create, prompts_import
    from ftapp.actors import SYSTEM

    lead = get_user_model().objects.create(username="bench-lead")
    project = project_create(by=SYSTEM, lead=lead, name="import bench", kind="rating")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prompts.jsonl"
        write_file(path, size)
        baseline_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        with path.open("rb") as stream:
            report = prompts_import(by=SYSTEM, project=project, stream=stream, name=path.name)
        elapsed = time.perf_counter() - started
        megabytes = path.stat().st_size / 1e6
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "records": size,
        "file_mb": round(megabytes, 1),
        "seconds": round(elapsed, 2),
        "records_per_s": round(size / elapsed),
        "prompts": report.prompts,
        "responses": report.responses,
        "tasks": report.tasks,
        "errors": report.error_count,
        "peak_rss_mb": round(peak / 1024, 1),
        "rss_before_import_mb": round(baseline_rss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--sizes", default="20000,200000")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.database_url)))
        return
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.prompts_import",
                "--one",
                str(size),
                "--database-url",
                args.database_url,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(run.stdout.strip().splitlines()[-1]))
    print(json.dumps({"bench": "import", "results": results}))


if __name__ == "__main__":
    main()
