"""Label pull throughput: seeds a pairwise project of N judgments (as ``bench.export``
does), serves the app with gunicorn and pulls every judgment through
``GET /api/v1/projects/{id}/judgments/`` page by page with a token, as a training pipeline
would. Prints one JSON line: rows/s, page latency percentiles, and the mean latency of the
first and last ten pages (flat pages mean no OFFSET creeping in).

    .venv/bin/python -m bench.pull                          # 1,000,000 judgments
    .venv/bin/python -m bench.pull --size 20000             # a smoke run

It drops and re-creates the database named by --database-url.
"""

import argparse
import http.client
import json
import statistics
import time
from urllib.parse import urlencode

from bench._common import DEFAULT_DATABASE_URL, fresh_django
from bench.serving import gunicorn


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--page-size", type=int, default=5000)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()
    env = fresh_django(args.database_url)
    from django.db import connection

    from annotation.services import api_token_create
    from bench.seeding import bench_team, seed_pairwise

    lead, annotators = bench_team()
    started = time.perf_counter()
    project_id = seed_pairwise(lead=lead, annotators=annotators, prompts=args.size // 2)
    seeded = time.perf_counter() - started
    key = api_token_create(user=lead, name="bench")[1]
    connection.close()

    with gunicorn(env, args.port, workers=2):
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=120)
        headers = {"Authorization": f"Token {key}"}
        latencies, rows, ids, cursor = [], 0, set(), None
        began = time.perf_counter()
        while True:
            query = {"page_size": args.page_size, **({"cursor": cursor} if cursor else {})}
            sent = time.perf_counter()
            conn.request(
                "GET",
                f"/api/v1/projects/{project_id}/judgments/?{urlencode(query)}",
                headers=headers,
            )
            response = conn.getresponse()
            body = json.loads(response.read())
            latencies.append(time.perf_counter() - sent)
            if response.status != 200:
                raise SystemExit(f"HTTP {response.status}: {body}")
            rows += len(body["results"])
            ids.update(r["id"] for r in body["results"])
            cursor = body["next_cursor"]
            if not body["has_more"]:
                break
        elapsed = time.perf_counter() - began
    print(
        json.dumps(
            {
                "bench": "pull",
                "judgments": args.size,
                "seed_seconds": round(seeded, 1),
                "page_size": args.page_size,
                "pages": len(latencies),
                "rows": rows,
                "distinct_rows": len(ids),
                "seconds": round(elapsed, 2),
                "rows_per_s": round(rows / elapsed),
                "page_ms": {"p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99)},
                "first_10_pages_ms": round(statistics.mean(latencies[:10]) * 1000, 1),
                "last_10_pages_ms": round(statistics.mean(latencies[-10:]) * 1000, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
