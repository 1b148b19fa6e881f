"""``python -m benchmarks.retrieval``: every retrieval-quality set, in a few minutes.

    python -m benchmarks.retrieval                 # injection set, LoCoMo, LongMemEval
    python -m benchmarks.retrieval --no-longmemeval
    python -m benchmarks.retrieval --experiments   # LongMemEval's alternatives too

The injection case set (:mod:`benchmarks.injection`), the LoCoMo development conversations
(:mod:`benchmarks.locomo`; their facts through the wrapper, :mod:`benchmarks.locomo_wrapper`),
the restated-memory pairs (:mod:`benchmarks.duplicates`) and the
LongMemEval development slice (:mod:`benchmarks.lme_run`), with their targets. A change to
the search path should leave these numbers where they are (or better): run this before and
after. ``python -m benchmarks`` includes the same sets.
Writes ``benchmarks/results/retrieval.{md,json}`` (``--stem`` changes the name); embeddings
come from the on-disk cache, so a second run embeds nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio

from benchmarks.duplicates import run_duplicates
from benchmarks.injection import run_injection
from benchmarks.lme_data import load_questions
from benchmarks.lme_run import cached_embedder, quality_verdicts, run_quality
from benchmarks.locomo import run_locomo
from benchmarks.locomo_data import load_conversations
from benchmarks.locomo_wrapper import wrapper_rows
from benchmarks.machine import describe, load_average
from benchmarks.progress import log
from benchmarks.report import RESULTS_DIR, write_report
from headroom.embedders.base import Embedder

__all__ = ["retrieval_verdicts", "run_retrieval"]

_TARGETS = (
    ("injection", "relevant_injected", "injection set: relevant memory injected", 0.95),
    ("injection", "unrelated_nothing", "injection set: unrelated question, nothing injected", 0.90),
    ("facts", "any@5", "LoCoMo facts: any@5", 0.90),
    ("turns", "R@10", "LoCoMo turns: recall@10", 0.75),
)


def _default_row(retrieval: dict[str, Any], part: str) -> dict[str, Any]:
    if part == "injection":
        row: dict[str, Any] = retrieval["injection"]["variants"][0]
        return row
    overall: dict[str, Any] = retrieval["locomo"][part][0]["by_category"]["overall"]
    return overall


def retrieval_verdicts(retrieval: dict[str, Any]) -> list[dict[str, Any]]:
    """The retrieval targets, in the shape of the latency verdicts."""
    out = []
    for part, metric, description, bound in _TARGETS:
        row = _default_row(retrieval, part)
        value = row[metric]
        count = row.get("questions") or row.get("cases")
        out.append(
            {
                "operation": description,
                "op": f"{part}_{metric}",
                "target": f">= {bound:g}",
                "target_n": None,
                "layout": None,
                "measured": value,
                "measured_at_n": None,
                "unit": "",
                "met": bool(value >= bound),
                "note": f"{count} cases; {value:.3f} exactly",
            }
        )
    return out


async def run_retrieval(embedder: Embedder) -> dict[str, Any]:
    """The injection set and LoCoMo (both settings), with every variant."""
    log("injection case set")
    injection = await run_injection(embedder)
    log("LoCoMo: facts and turns")
    locomo = await run_locomo(embedder)
    log("LoCoMo facts through the wrapper")
    through = await wrapper_rows(load_conversations(), embedder)
    log("restated memories")
    restated = await run_duplicates(embedder)
    return {
        "injection": injection,
        "locomo": locomo,
        "locomo_wrapper": through,
        "duplicates": restated,
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.retrieval", description=__doc__)
    parser.add_argument("--no-longmemeval", action="store_true", help="skip LongMemEval")
    parser.add_argument("--questions", type=int, default=None, help="LongMemEval questions")
    parser.add_argument(
        "--experiments",
        action="store_true",
        help="LongMemEval's alternatives too (fusion replays, context and source runs; the "
        "source run embeds ~16,000 new texts the first time)",
    )
    parser.add_argument("--stem", default="retrieval", help="report file name, without suffix")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="report directory")
    return parser


async def _run(args: argparse.Namespace, command: str) -> dict[str, Any]:
    started = time.perf_counter()
    report: dict[str, Any] = {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "mode": "retrieval",
        "machine": describe(),
        "parameters": {},
        "latency": [],
        "targets": [],
    }
    embedder, onnx = await cached_embedder()
    try:
        report["retrieval"] = await run_retrieval(embedder)
        report["targets"] += retrieval_verdicts(report["retrieval"])
    finally:
        await embedder.aclose()
        await onnx.aclose()
    if not args.no_longmemeval:
        questions = load_questions(limit=args.questions)
        report["parameters"]["longmemeval_questions"] = len(questions)
        log(f"LongMemEval: {len(questions)} questions")
        report["quality"] = await run_quality(questions, experiments=args.experiments)
        report["targets"] += quality_verdicts(report["quality"])
    report["duration_s"] = round(time.perf_counter() - started, 1)
    report["machine"]["load_average_at_end"] = load_average()
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = "python -m benchmarks.retrieval " + " ".join(sys.argv[1:] if argv is None else argv)
    report = anyio.run(_run, args, command.strip())
    path = write_report(report, args.out, args.stem)
    for verdict in report["targets"]:
        met = "met" if verdict["met"] else "MISSED"
        print(f"{verdict['operation']}: {verdict['measured']:.3f} ({verdict['target']}): {met}")
    log(f"report: {path} and {path.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
