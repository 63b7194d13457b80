"""Orchestration overhead of generation runs: against a loopback server that answers at
once, how many responses per second two Celery workers store, and how much time ftapp adds
per call compared with a plain client loop at the same concurrency. Prints one JSON line.

    .venv/bin/python -m bench.generation                 # 2,000 prompts, concurrency 8
    .venv/bin/python -m bench.generation --prompts 200   # a smoke run

Needs PostgreSQL and Redis; drops and re-creates the database named by --database-url.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from bench._common import DEFAULT_DATABASE_URL, ROOT, fresh_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--prompts", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    os.environ["REDIS_URL"] = args.redis_url
    env = {**fresh_django(args.database_url), "REDIS_URL": args.redis_url}
    from django.contrib.auth import get_user_model

    from annotation.services import project_create, prompt_records_load
    from evaluation.generation.client import chat_completion
    from evaluation.generation.services.runs import generation_run_start
    from evaluation.models import GenerationRun, ModelEndpoint
    from ftapp.actors import SYSTEM
    from ftapp.celery import app
    from tests.fake_model_server import FakeModelServer

    app.control.purge()
    lead = get_user_model().objects.create(username="bench-lead", is_superuser=True)
    project = project_create(by=SYSTEM, lead=lead, name="generation bench", kind="rating")
    prompt_records_load(
        by=SYSTEM,
        project=project,
        records=[{"id": f"q{i}", "prompt": f"Question {i}?"} for i in range(args.prompts)],
    )
    with FakeModelServer() as server:
        endpoint = ModelEndpoint.objects.create(
            name="instant",
            base_url=server.base_url,
            model="fake-model",
            max_concurrency=args.concurrency,
            created_by=lead,
        )
        messages = [{"role": "user", "content": "Question?"}]
        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(
                pool.map(
                    lambda _: chat_completion(
                        base_url=server.base_url, model="fake-model", messages=messages, params={}
                    ),
                    range(args.prompts),
                )
            )
        plain = time.perf_counter() - started

        workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "ftapp",
                    "worker",
                    "-Q",
                    "generation,default",
                    "--concurrency",
                    str(args.concurrency // args.workers),
                    "--hostname",
                    f"bench{i}@localhost",
                    "--loglevel",
                    "WARNING",
                    "--without-gossip",
                    "--without-mingle",
                ],
                cwd=ROOT,
                env=env,
            )
            for i in range(args.workers)
        ]
        try:
            names = [f"bench{i}@localhost" for i in range(args.workers)]
            while len(app.control.ping(destination=names, timeout=0.5)) < args.workers:
                time.sleep(0.2)
            started = time.perf_counter()
            run = generation_run_start(by=lead, project_id=project.pk, endpoint_ids=[endpoint.pk])
            while not GenerationRun.objects.get(pk=run.pk).ended:
                time.sleep(0.1)
            managed = time.perf_counter() - started
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.wait(timeout=60)
    per_call_plain = plain / args.prompts * args.concurrency * 1000
    per_call_managed = managed / args.prompts * args.concurrency * 1000
    print(
        json.dumps(
            {
                "bench": "generation",
                "prompts": args.prompts,
                "concurrency": args.concurrency,
                "workers": args.workers,
                "plain_client_calls_per_s": round(args.prompts / plain, 1),
                "responses_stored_per_s": round(args.prompts / managed, 1),
                "plain_ms_per_call": round(per_call_plain, 2),
                "ftapp_ms_per_call": round(per_call_managed, 2),
                "overhead_ms_per_call": round(per_call_managed - per_call_plain, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
