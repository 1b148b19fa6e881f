"""``python -m benchmarks [--quick]``: latency, the retrieval sets, and the report.

    python -m benchmarks            # full: N = 1k, 10k, 100k and 1M; every LongMemEval question
    python -m benchmarks --quick    # about a minute: N = 1k and 10k; a LongMemEval slice
    python -m benchmarks --backends-only   # SQLite and PostgreSQL side by side, 10k and 100k

The report goes to benchmarks/results/latest.{md,json} (``--stem`` changes the name). Progress
is printed on stderr.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import anyio

from benchmarks.backends import BACKEND_TARGETS, BackendParams, run_backends
from benchmarks.bulk_ingest import run_bulk_ingest
from benchmarks.embedding_cache import cache_dir
from benchmarks.follow_cost import run_follow_cost
from benchmarks.latency import LatencyParams, run_latency
from benchmarks.lme_data import load_questions
from benchmarks.lme_run import cached_embedder, quality_verdicts, run_quality
from benchmarks.machine import describe, load_average
from benchmarks.progress import log
from benchmarks.report import RESULTS_DIR, write_report
from benchmarks.retrieval import retrieval_verdicts, run_retrieval
from benchmarks.targets import TARGETS, evaluate
from benchmarks.telemetry_cost import run_telemetry_cost

QUICK = LatencyParams(
    sizes=(1_000, 10_000),
    search_reps=100,
    store_reps=50,
    warmup=10,
    reopen_reps=3,
    bulk_count=500,
    million=None,
)
FULL = LatencyParams(
    sizes=(1_000, 10_000, 100_000),
    search_reps=500,
    store_reps=200,
    warmup=20,
    reopen_reps=5,
    bulk_count=3_000,
    million=1_000_000,
)
QUICK_QUESTIONS = 12


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="about a minute; smaller N")
    parser.add_argument("--no-latency", action="store_true", help="skip the latency suite")
    parser.add_argument("--no-quality", action="store_true", help="skip LongMemEval")
    parser.add_argument(
        "--no-retrieval", action="store_true", help="skip the injection set and LoCoMo"
    )
    parser.add_argument("--no-million", action="store_true", help="skip the 1M-memory run")
    parser.add_argument(
        "--no-backends", action="store_true", help="skip SQLite and PostgreSQL side by side"
    )
    parser.add_argument(
        "--no-bulk", action="store_true", help="skip the 200,000-memory bulk ingest"
    )
    parser.add_argument(
        "--backends-only",
        action="store_true",
        help="only SQLite and PostgreSQL side by side (10k and 100k memories)",
    )
    parser.add_argument(
        "--questions", type=int, default=None, help="LongMemEval questions (stratified slice)"
    )
    parser.add_argument("--stem", default="latest", help="report file name, without suffix")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="report directory")
    return parser


async def _run(args: argparse.Namespace, command: str) -> dict[str, Any]:
    params = QUICK if args.quick else FULL
    if args.no_million:
        params = LatencyParams(**{**_fields(params), "million": None})
    started = time.perf_counter()
    report: dict[str, Any] = {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "mode": "quick" if args.quick else "full",
        "machine": describe(),
        "parameters": {"latency": _fields(params)},
        "latency": [],
        "targets": [],
    }
    if args.backends_only:
        args.no_latency = args.no_quality = args.no_retrieval = True
    if not args.no_latency:
        log(f"latency suite: N = {', '.join(f'{n:,}' for n in params.sizes)}")
        cache_dir().mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="bench-", dir=cache_dir()) as tmp:
            measurements = await run_latency(params, Path(tmp))
        report["latency"] = [m.as_dict() for m in measurements]
        report["targets"] = [v.as_dict() for v in evaluate(TARGETS, measurements)]
    if not args.no_retrieval:
        embedder, onnx = await cached_embedder()
        try:
            report["retrieval"] = await run_retrieval(embedder)
        finally:
            await embedder.aclose()
            await onnx.aclose()
        report["targets"] += retrieval_verdicts(report["retrieval"])
    if not args.no_backends:
        sides = BackendParams(sizes=(10_000,)) if args.quick else BackendParams()
        report["parameters"]["backends"] = _fields(sides)
        log(f"backends side by side: N = {', '.join(f'{n:,}' for n in sides.sizes)}")
        cache_dir().mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="bench-", dir=cache_dir()) as tmp:
            side = await run_backends(sides, Path(tmp))
        report["latency"] += [m.as_dict() for m in side]
        report["targets"] += [v.as_dict() for v in evaluate(BACKEND_TARGETS, side)]
    if not args.no_quality:
        limit = args.questions or (QUICK_QUESTIONS if args.quick else None)
        questions = load_questions(limit=limit)
        report["parameters"]["longmemeval_questions"] = len(questions)
        log(f"LongMemEval: {len(questions)} questions")
        report["quality"] = await run_quality(questions, experiments=not args.quick)
        report["targets"] += quality_verdicts(report["quality"])
    if not args.backends_only:
        log("telemetry cost: none, API only, SDK recording")
        report["telemetry"] = run_telemetry_cost(reps=200 if args.quick else 2000)
        log("following other processes: the quiet check and catching up")
        quiet_reps, rounds = (500, 3) if args.quick else (5000, 7)
        report["follow"] = await anyio.to_thread.run_sync(
            partial(run_follow_cost, quiet_reps=quiet_reps, rounds=rounds)
        )
    if not args.backends_only and not args.no_bulk:
        count = 20_000 if args.quick else 200_000
        log(f"bulk ingest: one add_many of {count:,} beside add_many calls of 2,000")
        report["bulk"] = await anyio.to_thread.run_sync(partial(run_bulk_ingest, count))
    report["duration_s"] = round(time.perf_counter() - started, 1)
    report["machine"]["load_average_at_end"] = load_average()
    return report


def _fields(params: LatencyParams | BackendParams) -> dict[str, Any]:
    return {name: getattr(params, name) for name in params.__dataclass_fields__}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv)
    report = anyio.run(_run, args, command.strip())
    path = write_report(report, args.out, args.stem)
    log(f"report: {path} and {path.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
