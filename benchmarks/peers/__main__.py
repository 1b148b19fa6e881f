"""``python -m benchmarks.peers [--sizes 1000 10000 100000]``: install the peers, run, report.

Creates benchmarks/peers/.venv (once) with headroom (editable), ``mem0ai`` + ``faiss-cpu`` and
``chromadb``; each engine's install is tried on its own, and one that fails is reported with
the end of pip's output while the others go on. Every engine runs in its own process with
telemetry off (``MEM0_TELEMETRY=False``, ``ANONYMIZED_TELEMETRY=False``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.machine import describe, load_average
from benchmarks.progress import log
from benchmarks.report import RESULTS_DIR

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(__file__).resolve().parent / ".venv"
INSTALLS: dict[str, list[str]] = {
    "headroom": ["-e", str(ROOT)],
    "mem0": ["mem0ai", "faiss-cpu"],
    "chroma": ["chromadb"],
}
ENGINES = ("headroom", "mem0", "chroma")


def _python() -> Path:
    return VENV / "bin" / "python"


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _ensure_venv() -> None:
    if not _python().exists():
        log(f"creating {VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(_python()), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=False
        )


def _install(name: str) -> str | None:
    """None when installed; else why not."""
    log(f"installing {name}: pip install {' '.join(INSTALLS[name])}")
    done = subprocess.run(
        [str(_python()), "-m", "pip", "install", "--quiet", *INSTALLS[name]],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        return f"pip install failed (exit {done.returncode}):\n{_tail(done.stderr or done.stdout)}"
    return None


def _run_worker(name: str, args: argparse.Namespace) -> dict[str, Any]:
    env = {
        **os.environ,
        "MEM0_TELEMETRY": "False",
        "ANONYMIZED_TELEMETRY": "False",
        "MEM0_DIR": str(VENV / "mem0-home"),
        "PYTHONPATH": str(ROOT),
    }
    command = [
        str(_python()),
        "-m",
        "benchmarks.peers.worker",
        name,
        "--sizes",
        *[str(size) for size in args.sizes],
        f"--adds={args.adds}",
        f"--queries={args.queries}",
        f"--questions={args.questions}",
    ]
    log(f"running {name}")
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=args.timeout
        )
    except subprocess.TimeoutExpired:
        return {"engine": name, "error": f"timed out after {args.timeout} s"}
    if done.returncode != 0:
        return {"engine": name, "error": f"exit {done.returncode}:\n{_tail(done.stderr)}"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_s"] = round(time.perf_counter() - started, 1)
    return result


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "-"
    return f"{value / base:.1f}x"


def _step(result: dict[str, Any], size: int) -> dict[str, Any] | None:
    return next((s for s in result.get("sizes", []) if s["memories"] == size), None)


def render(report: dict[str, Any]) -> str:
    results = {r["engine"]: r for r in report["engines"] if "error" not in r}
    base = results.get("headroom", {})
    sizes = report["parameters"]["sizes"]
    lines = [
        "# headroom vs mem0 vs Chroma (same workload, same local embedder)",
        "",
        f"- Machine: {report['machine']['cores']} cores, {report['machine']['cpu_model']}; "
        f"load average at start {report['machine'].get('load_average_at_start')}, at end "
        f"{report['machine'].get('load_average_at_end')}",
        f"- Workload: `{json.dumps(report['parameters'], sort_keys=True)}`; "
        f"{report['duration_s']:.0f} s in all",
        "",
        "Milliseconds, p50 / p95; \"x headroom\" is the engine's p50 over headroom's (above 1:",
        "headroom is faster).",
        "",
        "| memories | engine | add one | x headroom | search top 10 | x headroom | fill /s |",
        "|---|---|---|---|---|---|---|",
    ]
    for size in sizes:
        mine = _step(base, size) if base else None
        for name in ENGINES:
            step = _step(results.get(name, {}), size)
            if step is None:
                continue
            add, search = step["add_ms"], step["search_ms"]
            fill = step.get("fill_per_s")
            fill_cell = "-" if fill is None else f"{fill:,.0f}"
            if name == "mem0" and fill is not None:
                fill_cell += " (vector store)"
            lines.append(
                f"| {size:,} | {name} | {add['p50']:.2f} / {add['p95']:.2f} | "
                f"{_ratio(add['p50'], mine['add_ms']['p50']) if mine else '-'} | "
                f"{search['p50']:.2f} / {search['p95']:.2f} | "
                f"{_ratio(search['p50'], mine['search_ms']['p50']) if mine else '-'} | "
                f"{fill_cell} |"
            )
    lines += [
        "",
        "Recall on the LongMemEval development slice (one fresh store per question; headroom: "
        "its default hybrid search; mem0 and Chroma: vector search):",
        "",
        "| engine | turn any@5 | turn any@10 | session any@5 | session all@5 |",
        "|---|---|---|---|---|",
    ]
    metrics = ("turn_any_at_5", "turn_any_at_10", "session_any_at_5", "session_all_at_5")
    for name in ENGINES:
        recall = results.get(name, {}).get("recall")
        if recall:
            lines.append(
                f"| {name} | " + " | ".join(str(recall.get(m, "-")) for m in metrics) + " |"
            )
    failures = [r for r in report["engines"] if "error" in r]
    if failures:
        lines += ["", "## Not measured", ""]
        for r in failures:
            lines += [f"**{r['engine']}**:", "", "```", r["error"], "```", ""]
    lines += [
        "",
        "Add and search times include embedding the text with the same ONNX MiniLM (one "
        "lane). Each store is filled to the size with precomputed vectors in batches of 1,000 "
        "(headroom `add_many`, Chroma `collection.add`); mem0 has no batch add and saves its "
        "whole index on every add, so it is filled through its vector store's batch `insert` "
        "with the payloads its `add` writes, and its add one is timed through `add`.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--adds", type=int, default=100)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--questions", type=int, default=12)
    parser.add_argument("--timeout", type=int, default=3600)
    parser.add_argument("--engines", nargs="*", default=list(ENGINES))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    machine = describe()
    _ensure_venv()
    engines: list[dict[str, Any]] = []
    for name in args.engines:
        why = _install(name)
        if why is not None:
            log(f"  {name}: not installed")
            engines.append({"engine": name, "error": why})
            continue
        result = _run_worker(name, args)
        if "error" in result:
            log(f"  {name}: failed: {_tail(result['error'], 3)}")
        engines.append(result)
    machine["load_average_at_end"] = load_average()
    report = {
        "machine": machine,
        "parameters": {
            "sizes": sorted(args.sizes),
            "adds": args.adds,
            "queries": args.queries,
            "questions": args.questions,
        },
        "engines": engines,
        "duration_s": round(time.perf_counter() - started, 1),
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "peers.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS_DIR / "peers.md").write_text(render(report))
    log(f"report: {RESULTS_DIR / 'peers.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
