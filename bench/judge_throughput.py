"""The judge benchmark's throughput part: a judge run over pairwise tasks (two items a task,
one per order) against a loopback judge that answers at once, on real Celery workers. How
many verdicts per second ftapp stores, and how much time it adds per call compared with a
plain client loop sending the same request at the same concurrency: the wall time of the run
per item times the concurrency, less the plain loop's, which is the server's own time (and
the HTTP client's) per call; and the CPU time the workers spent per item.

Needs PostgreSQL and Redis; drops and re-creates the database named by --database-url."""

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench._common import DEFAULT_DATABASE_URL, ROOT, fresh_django


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.judge --part throughput")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--tasks", type=int, default=1000, help="pairwise tasks judged")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    return parser.parse_args(argv)


def _worker(name: str, concurrency: int, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "ftapp", "worker", "-Q", "generation,default",
            "--concurrency", str(concurrency), "--hostname", name, "--loglevel", "WARNING",
            "--without-gossip", "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
    )  # fmt: skip


def _stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (the state is the first)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of the processes and of their children (a Celery worker's
    pool), from /proc: what the workers themselves spent, whatever else shares the cores."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(_stat(int(stat.parent.name))[1]) in pids:
                children.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue  # a process that ended meanwhile
    ticks = 0
    for pid in [*pids, *children]:
        try:
            fields = _stat(pid)
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def main(argv: list[str]) -> dict[str, Any]:
    args = arguments(argv)
    os.environ["REDIS_URL"] = args.redis_url
    env = {**fresh_django(args.database_url), "REDIS_URL": args.redis_url}
    from annotation.models import Project
    from bench.seeding import bench_team, seed_pairwise
    from evaluation.generation.client import chat_completion
    from evaluation.judging.protocol import (
        judge_messages,
        judge_prompt_default,
        judge_response_format,
    )
    from evaluation.judging.services.prompts import judge_prompt_publish
    from evaluation.judging.services.runs import judge_run_start
    from evaluation.models import (
        GenerationItem,
        GenerationRun,
        ItemStatus,
        JudgeVerdict,
        ModelEndpoint,
    )
    from ftapp.celery import app
    from tests.evaluation.judges import longer
    from tests.fake_model_server import FakeModelServer

    app.control.purge()
    lead, annotators = bench_team(annotators=2)
    project_id = seed_pairwise(lead=lead, annotators=annotators, prompts=args.tasks)
    project = Project.objects.get(pk=project_id)
    system, template = judge_prompt_default(project=project)
    judge_prompt = judge_prompt_publish(
        by=lead, project_id=project_id, system=system, template=template
    )
    batch = project.batches.get()
    items = 2 * args.tasks
    # The judge reads the answers from the prompt and picks the longer one: verdicts
    # consistent across the swap, as a good judge's are.
    with FakeModelServer(answer=longer) as server:
        endpoint = ModelEndpoint.objects.create(
            name="instant-judge",
            base_url=server.base_url,
            model="fake-model",
            max_concurrency=args.concurrency,
            created_by=lead,
        )
        task = batch.tasks.select_related("prompt", "response_a", "response_b").first()
        messages = judge_messages(judge_prompt=judge_prompt, task=task, swapped=False)
        params = {"response_format": judge_response_format(project=project), "seed": 0}
        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(
                pool.map(
                    lambda _: chat_completion(
                        base_url=server.base_url,
                        model="fake-model",
                        messages=messages,
                        params=params,
                    ),
                    range(items),
                )
            )
        plain = time.perf_counter() - started
        server.requests.clear()

        names = [f"bench-judge{i}@localhost" for i in range(args.workers)]
        workers = [_worker(name, args.concurrency // args.workers, env) for name in names]
        try:
            while len(app.control.ping(destination=names, timeout=0.5)) < args.workers:
                time.sleep(0.2)
            pids = [worker.pid for worker in workers]
            cpu = cpu_seconds(pids)
            started = time.perf_counter()
            run = judge_run_start(
                by=lead,
                project_id=project_id,
                endpoint_id=endpoint.pk,
                selection={"scope": "batch", "batch_id": batch.pk},
            )
            while not GenerationRun.objects.get(pk=run.pk).ended:
                time.sleep(0.1)
            managed = time.perf_counter() - started
            cpu = cpu_seconds(pids) - cpu
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.wait(timeout=60)
        calls = len(server.requests)
    verdicts = JudgeVerdict.objects.filter(run=run)
    per_call_plain = plain / items * args.concurrency * 1000
    per_call_managed = managed / items * args.concurrency * 1000
    return {
        "bench": "judge",
        "part": "throughput",
        "tasks": args.tasks,
        "items": items,
        "concurrency": args.concurrency,
        "workers": args.workers,
        "judge_calls": calls,
        "verdicts": verdicts.count(),
        "consistent_verdicts": verdicts.filter(consistent=True).count(),
        "failed_items": GenerationItem.objects.filter(run=run, status=ItemStatus.FAILED).count(),
        "plain_client_calls_per_s": round(items / plain, 1),
        "items_stored_per_s": round(items / managed, 1),
        "verdicts_stored_per_s": round(args.tasks / managed, 1),
        "plain_ms_per_call": round(per_call_plain, 2),
        "ftapp_ms_per_call": round(per_call_managed, 2),
        "overhead_ms_per_call": round(per_call_managed - per_call_plain, 2),
        # The CPU the workers spent per item (PostgreSQL's and Redis's not counted): the
        # figure a busy machine does not inflate, as it does the wall times above.
        "worker_cpu_ms_per_item": round(cpu / items * 1000, 2),
    }
