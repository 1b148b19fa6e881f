"""What OpenTelemetry costs: one search, and one empty traced operation, in three modes.

* ``none``: ``opentelemetry`` hidden from the interpreter (as if not installed): the
  decorators are the identity, so this is the engine as it is without telemetry;
* ``api``: ``opentelemetry-api`` present, no SDK configured (spans are non-recording);
* ``sdk``: the SDK recording every span (in-memory exporter) and metric (in-memory reader).

Each mode runs in its own process on a database of the same 1,000 memories (the local model;
the ten queries cycle, so after the warm-up each is an embedding-cache hit and the numbers are
the engine's and telemetry's). The modes run one after the other: compare them within a run.

    python -m benchmarks.telemetry_cost            # all three, a table on stdout
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["HIDE_OPENTELEMETRY", "MODES", "render", "run_telemetry_cost"]

MODES = ("none", "api", "sdk")

HIDE_OPENTELEMETRY = """
# Makes opentelemetry look uninstalled to this interpreter (a finder that refuses it).
import importlib.abc, sys
class _Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "opentelemetry":
            raise ModuleNotFoundError(name)
        return None
sys.meta_path.insert(0, _Hide())
"""


def run_telemetry_cost(*, reps: int = 2000, memories: int = 1000) -> dict[str, Any]:
    """Every mode's summaries (milliseconds), each measured in a fresh process."""
    results: dict[str, Any] = {"reps": reps, "memories": memories, "modes": {}}
    with tempfile.TemporaryDirectory(prefix="bench-otel-") as folder:
        for mode in MODES:
            command = [
                sys.executable,
                "-c",
                _child(mode, Path(folder) / f"{mode}.db", reps, memories),
            ]
            done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
            results["modes"][mode] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def _child(mode: str, db: Path, reps: int, memories: int) -> str:
    prelude = HIDE_OPENTELEMETRY if mode == "none" else ""
    return (
        prelude
        + f"import sys; sys.argv = ['x', {mode!r}, {str(db)!r}, '{reps}', '{memories}']\n"
        + ("from benchmarks.telemetry_cost import _measure; _measure()\n")
    )


def _measure() -> None:
    import anyio

    mode, db, reps, memories = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    if mode == "sdk":
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        from headroom.integrations import otel

        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
        meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
        otel.configure(tracer_provider=tracer_provider, meter_provider=meter_provider)
    out = anyio.run(_run, db, reps, memories, backend="asyncio")
    out["telemetry_available"] = _available()
    print(json.dumps(out))


def _available() -> bool:
    from headroom import _telemetry

    return _telemetry.AVAILABLE


async def _run(db: Path, reps: int, memories: int) -> dict[str, Any]:
    from benchmarks.stats import time_async
    from headroom import _telemetry
    from headroom.memory import HierarchicalMemory, MemoryConfig, NewMemory

    @_telemetry.traced("headroom.bench")
    async def empty(_: int) -> None:
        return None

    words = "tea coffee river mountain book garden music travel code lunch".split()
    async with await HierarchicalMemory.create(MemoryConfig(db_path=db)) as memory:
        await memory.add_many(
            [
                NewMemory(f"note {i} about {words[i % 10]} and {words[(i * 7) % 10]}", "alice")
                for i in range(memories)
            ]
        )

        async def search(i: int) -> None:
            await memory.search(words[i % 10], user_id="alice", top_k=5)

        started = time.perf_counter()
        op = await time_async(empty, reps=reps * 10, warmup=100)
        found = await time_async(search, reps=reps, warmup=50)
    return {
        "empty_op_ms": op.as_dict(),
        "search_ms": found.as_dict(),
        "seconds": round(time.perf_counter() - started, 1),
    }


def render(results: dict[str, Any]) -> list[str]:
    """Markdown lines: one row per mode, in microseconds, with the difference to ``none``."""
    modes = results["modes"]
    base = modes["none"]["search_ms"]["p50"]
    lines = [
        f"One search among {results['memories']:,} memories ({results['reps']:,} runs) and one "
        "empty traced call; microseconds.",
        "",
        "| telemetry | empty call p50 | search p50 | search p95 | search p50 vs none |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    names = {"none": "not installed", "api": "API only (no SDK)", "sdk": "SDK recording"}
    for mode in MODES:
        row = modes[mode]
        search = row["search_ms"]
        lines.append(
            f"| {names[mode]} | {row['empty_op_ms']['p50'] * 1000:.2f} | "
            f"{search['p50'] * 1000:.0f} | {search['p95'] * 1000:.0f} | "
            f"{(search['p50'] - base) * 1000:+.0f} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.telemetry_cost")
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--memories", type=int, default=1000)
    args = parser.parse_args()
    results = run_telemetry_cost(reps=args.reps, memories=args.memories)
    print("\n".join(render(results)))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
