"""The LLM judge's hot paths, one part at a time; each prints one JSON line.

``--part throughput`` (``bench/judge_throughput.py``): a judge run over pairwise tasks against
a loopback judge that answers at once, on two Celery workers: verdicts stored per second and
the time ftapp adds per call at concurrency 8 compared with a plain client loop.

    .venv/bin/python -m bench.judge --part throughput                # 1,000 tasks, 2,000 calls
    .venv/bin/python -m bench.judge --part throughput --tasks 20     # a smoke run

``--part calibration`` (``bench/judge_calibration.py``): the whole calibration report of one
judge over 100,000 judged tasks, synthesized in memory or read from PostgreSQL.

    .venv/bin/python -m bench.judge --part calibration                  # 100,000 tasks
    .venv/bin/python -m bench.judge --part calibration --tasks 2000     # a smoke run

The rest of the options are the part's own (``--part throughput --help``)."""

import argparse
import json

from bench import judge_calibration, judge_throughput

PARTS = {"calibration": judge_calibration.main, "throughput": judge_throughput.main}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], add_help=False)
    parser.add_argument("--part", choices=PARTS, required=True)
    args, rest = parser.parse_known_args()
    print(json.dumps(PARTS[args.part](rest)), flush=True)


if __name__ == "__main__":
    main()
