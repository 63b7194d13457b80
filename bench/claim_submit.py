"""The annotator hot path over HTTP: claim (POST queue/next) then submit (POST judgments),
against gunicorn and PostgreSQL, for projects of several sizes and at several concurrencies.

Prints one JSON line: p50/p95/p99 latency of claim and of submit, judgments per second, and
whether any task ever held more active claims plus judgments than its overlap.

    .venv/bin/python -m bench.claim_submit              # 1,000 and 100,000 tasks; c=1, c=32
    .venv/bin/python -m bench.claim_submit --sizes 200 --judgments 40,80      # a smoke run

It creates (and drops first) the database named by --database-url.
"""

import argparse
import http.client
import json
import os
import random
import threading
import time

from bench._common import DEFAULT_DATABASE_URL, fresh_django
from bench.serving import gunicorn


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--sizes", default="1000,100000", help="tasks per project")
    parser.add_argument("--concurrency", default="1,32", help="annotators working at once")
    parser.add_argument(
        "--judgments", default="300,3000", help="judgments per run, one per concurrency level"
    )
    parser.add_argument("--overlap", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--port", type=int, default=8711)
    return parser.parse_args()


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "n": len(ordered)}


def seed(size: int, overlap: int, annotators: int, tag: str):
    """Bulk-inserts a rating project of ``size`` tasks in one batch assigned to
    ``annotators`` fresh annotators; returns the project id and their API keys."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from annotation.models import Batch, BatchAssignment, Membership, Prompt, Response, Task
    from annotation.services import api_token_create, project_create
    from annotation.text import conversation_hash
    from ftapp.actors import SYSTEM

    User = get_user_model()
    lead = User.objects.create(username=f"lead-{tag}", password=make_password(None))
    project = project_create(
        by=SYSTEM, lead=lead, name=f"bench {tag}", kind="rating", overlap=overlap
    )
    chunk = 5000
    for start in range(0, size, chunk):
        count = min(chunk, size - start)
        prompts = Prompt.objects.bulk_create(
            Prompt(
                project=project,
                external_id=f"p{start + i}",
                text=f"Question {start + i}: how do I reset my card PIN?",
                content_hash=conversation_hash(
                    "", [{"role": "user", "content": f"Question {start + i}"}]
                ),
            )
            for i in range(count)
        )
        responses = Response.objects.bulk_create(
            Response(prompt=p, model_name="m1", text=f"Answer to {p.external_id}.") for p in prompts
        )
        Task.objects.bulk_create(
            Task(project=project, kind="rating", prompt=r.prompt, response_a=r) for r in responses
        )
    batch = Batch.objects.create(
        project=project, name="all", position=1, overlap=overlap, created_by=lead
    )
    Task.objects.filter(project=project).update(batch=batch)
    keys = []
    for i in range(annotators):
        user = User.objects.create(username=f"ann-{tag}-{i}", password=make_password(None))
        Membership.objects.create(project=project, user=user, role="annotator")
        BatchAssignment.objects.create(batch=batch, annotator=user)
        keys.append(api_token_create(user=user, name="bench")[1])
    return project.pk, keys


class Client:
    def __init__(self, port: int, key: str):
        self.port = port
        self.headers = {"Authorization": f"Token {key}", "Content-Type": "application/json"}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(self, path: str, body: dict | None = None) -> tuple[int, bytes]:
        payload = json.dumps(body or {})
        for attempt in range(2):
            try:
                self.conn.request("POST", path, body=payload, headers=self.headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed an idle keep-alive connection: reconnect once.
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise
        raise AssertionError("unreachable")


def run(port: int, project_id: int, keys: list[str], judgments: int) -> dict:
    claim_times: list[float] = []
    submit_times: list[float] = []
    errors: list[str] = []
    remaining = [judgments]
    lock = threading.Lock()

    def work(key: str) -> None:
        client = Client(port, key)
        rng = random.Random(key)
        while True:
            with lock:
                if remaining[0] <= 0:
                    return
                remaining[0] -= 1
            started = time.perf_counter()
            status, body = client.post(f"/api/v1/projects/{project_id}/queue/next/")
            claimed = time.perf_counter()
            if status == 204:
                return
            if status != 200:
                errors.append(f"claim {status} {body[:200]!r}")
                return
            task_id = json.loads(body)["task_id"]
            status, body = client.post(
                f"/api/v1/tasks/{task_id}/judgments/", {"rating": rng.randint(1, 5)}
            )
            done = time.perf_counter()
            if status != 201:
                errors.append(f"submit {status} {body[:200]!r}")
                return
            with lock:
                claim_times.append(claimed - started)
                submit_times.append(done - claimed)

    threads = [threading.Thread(target=work, args=(key,)) for key in keys]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return {
        "concurrency": len(keys),
        "judgments": len(submit_times),
        "seconds": round(elapsed, 2),
        "judgments_per_s": round(len(submit_times) / elapsed, 1),
        "claim_ms": percentiles(claim_times),
        "submit_ms": percentiles(submit_times),
        "errors": errors[:5],
    }


def over_assigned(project_id: int) -> int:
    """Tasks holding more submitted plus unexpired active claims than their overlap."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FROM (
              SELECT t.id FROM annotation_task t
              JOIN annotation_batch b ON b.id = t.batch_id
              JOIN annotation_claim c ON c.task_id = t.id
              WHERE t.project_id = %s
                AND (c.status = 'submitted' OR (c.status = 'active' AND c.expires_at > now()))
              GROUP BY t.id, b.overlap HAVING count(*) > b.overlap
            ) over
            """,
            [project_id],
        )
        return cursor.fetchone()[0]


def main() -> None:
    args = parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    levels = [int(c) for c in args.concurrency.split(",")]
    per_level = [int(j) for j in args.judgments.split(",")]
    env = fresh_django(args.database_url)
    from django.db import connection

    seeded = {}
    for size in sizes:
        started = time.perf_counter()
        seeded[size] = {
            level: seed(size, args.overlap, level, tag=f"{size}-c{level}") for level in levels
        }
        seeded[size]["seed_seconds"] = round(time.perf_counter() - started, 1)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    connection.close()

    with gunicorn(env, args.port, workers=args.workers, threads=args.threads):
        results = []
        for size in sizes:
            for level, judgments in zip(levels, per_level, strict=True):
                project_id, keys = seeded[size][level]
                outcome = run(args.port, project_id, keys, judgments)
                outcome["tasks"] = size
                outcome["over_assigned_tasks"] = over_assigned(project_id)
                results.append(outcome)

    print(
        json.dumps(
            {
                "bench": "queue",
                "server": f"gunicorn gthread {args.workers}x{args.threads}",
                "cpus": os.cpu_count(),
                "overlap": args.overlap,
                "seed_seconds": {size: seeded[size]["seed_seconds"] for size in sizes},
                "results": results,
                "over_assigned_tasks": sum(r["over_assigned_tasks"] for r in results),
            }
        )
    )


if __name__ == "__main__":
    main()
