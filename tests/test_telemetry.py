"""OpenTelemetry spans and metrics, read back with the SDK's in-memory exporter and reader.

The wrapper runs for real (the ``openai`` SDK against the scripted chat server), the engine
on a real SQLite file. Without OpenTelemetry the decorators must be the identity: checked in
a subprocess from which the package is hidden.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from benchmarks.telemetry_cost import HIDE_OPENTELEMETRY
from headroom.integrations import otel
from tests.chat_server import ChatServer
from tests.fakes import HashingEmbedder
from tests.wrapper_support import block, sync_client


class Telemetry:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.name == name]

    def metrics(self) -> dict[str, list[Any]]:
        data = self.reader.get_metrics_data()
        out: dict[str, list[Any]] = {}
        assert data is not None
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    out.setdefault(metric.name, []).extend(metric.data.data_points)
        return out


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    t = Telemetry()
    otel.configure(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider)
    yield t
    otel.configure()
    t.tracer_provider.shutdown()
    t.meter_provider.shutdown()


def _attribute_values(spans: list[ReadableSpan]) -> list[object]:
    return [value for span in spans for value in (span.attributes or {}).values()]


def test_the_wrapper_reports_inject_and_store(telemetry: Telemetry, tmp_path: Path) -> None:
    with ChatServer() as server, sync_client(server, tmp_path / "m.db", HashingEmbedder()) as c:
        server.reply(
            f"Noted. {block('Alice prefers green tea')}",
            "Green tea, then.",
            "Hello. <memory>{not json</memory>",
        )
        for text in ("I like green tea", "what tea do I like?", "hi"):
            c.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])

    injects = telemetry.spans("headroom.inject")
    stores = telemetry.spans("headroom.store")
    assert len(injects) == 3 and len(stores) == 3
    assert [s.attributes["headroom.memories_injected"] for s in injects] == [0, 1, 1]  # type: ignore[index]
    stored = [s.attributes.get("headroom.stored") for s in stores]  # type: ignore[union-attr]
    assert stored == [1, None, 0]  # no block in the second answer; a bad one in the third
    assert stores[2].attributes["headroom.dropped"] == 1  # type: ignore[index]
    values = _attribute_values(injects + stores)
    assert not any("tea" in str(v) for v in values), values  # never the content
    assert not any("alice" in str(v) for v in values)  # nor the user

    metrics = telemetry.metrics()
    injected = metrics["headroom.wrapper.memories_injected"][0]
    assert injected.count == 3 and injected.sum == 2
    assert sum(p.value for p in metrics["headroom.wrapper.memories_stored"]) == 1
    assert sum(p.value for p in metrics["headroom.wrapper.blocks_dropped"]) == 1
    durations = {
        p.attributes["headroom.operation"]: p.count for p in metrics["headroom.operation.duration"]
    }
    assert durations["headroom.inject"] == 3 and durations["headroom.store"] == 3


def test_a_failing_operation_is_an_error_span(telemetry: Telemetry) -> None:
    import anyio

    from headroom import _telemetry

    @_telemetry.traced("headroom.test")
    async def fails() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        anyio.run(fails)
    (span,) = telemetry.spans("headroom.test")
    assert span.status.status_code.name == "ERROR"
    assert span.events[0].name == "exception"


def test_configure_lists_the_spans() -> None:
    assert "headroom.inject" in otel.SPANS and "headroom.search" in otel.SPANS


_WITHOUT_OTEL = """
from headroom import _telemetry
from headroom.wrapper._core import MemoryCore
assert _telemetry.AVAILABLE is False
assert not hasattr(MemoryCore.prepare, "__wrapped__"), "decorated without OpenTelemetry"
_telemetry.note(hits=1); _telemetry.add("headroom.wrapper.blocks_dropped", 1)
_telemetry.record("headroom.search.hits", 1.0)
assert not [m for m in sys.modules if m.startswith("opentelemetry")]
try:
    from headroom.integrations import otel
    otel.configure()
except ImportError as exc:
    print("hint:", exc)
"""


def test_without_opentelemetry_nothing_is_wrapped() -> None:
    result = subprocess.run(
        [sys.executable, "-c", HIDE_OPENTELEMETRY + _WITHOUT_OTEL],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'headroom[otel]'" in result.stdout


_GLOBAL_PROVIDERS = """
import asyncio, sys, tempfile
from pathlib import Path
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from headroom.memory import HierarchicalMemory, MemoryConfig
from tests.fakes import HashingEmbedder

async def main():
    path = Path(tempfile.mkdtemp()) / "m.db"
    memory = await HierarchicalMemory.create(MemoryConfig(db_path=path), embedder=HashingEmbedder())
    await memory.add("User likes tea", user_id="u")
    await memory.search("tea", user_id="u")  # nothing set up yet: no span, no sample
    exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracing = TracerProvider()
    tracing.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(tracing)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    await memory.search("tea", user_id="u")
    await memory.aclose()
    names = sorted(s.name for s in exporter.get_finished_spans())
    points = [
        p.attributes["headroom.operation"]
        for r in reader.get_metrics_data().resource_metrics
        for scope in r.scope_metrics
        for m in scope.metrics
        if m.name == "headroom.operation.duration"
        for p in m.data.data_points
    ]
    print(names, sorted(points))

asyncio.run(main())
"""


def test_providers_set_globally_later_receive_what_follows() -> None:
    # Installed but not set up (another library's dependency), nothing is created; an
    # application that sets the global providers afterwards gets the spans from then on.
    result = subprocess.run(
        [sys.executable, "-c", _GLOBAL_PROVIDERS],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "['headroom.search', 'headroom.search.keyword', 'headroom.search.vector'] "
        "['headroom.search', 'headroom.search.keyword', 'headroom.search.vector']"
    ), result.stdout


def test_import_headroom_does_not_import_opentelemetry() -> None:
    code = "import sys, headroom; print([m for m in sys.modules if 'opentelemetry' in m])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


@pytest.mark.anyio
async def test_the_engine_reports_its_operations(telemetry: Telemetry, tmp_path: Path) -> None:
    from headroom.memory import HierarchicalMemory, MemoryConfig

    config = MemoryConfig(db_path=tmp_path / "e.db")
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:
        first = await memory.add("Alice drinks green tea", user_id="alice", session_id="s1")
        await memory.add("Alice runs on Sundays", user_id="alice")
        hits = await memory.search("tea", user_id="alice", session_id="s1", top_k=3)
        new = await memory.supersede(first.id, "Alice drinks black tea")
        assert await memory.delete(new.id) == 2

    (search,) = telemetry.spans("headroom.search")
    assert search.attributes == {
        "headroom.top_k": 3,
        "headroom.scope_level": "session",
        "headroom.hits": len(hits),
    }
    halves = telemetry.spans("headroom.search.vector") + telemetry.spans("headroom.search.keyword")
    assert len(halves) == 2
    for half in halves:
        assert half.parent is not None and half.parent.span_id == search.context.span_id
        assert half.attributes is not None
        assert int(half.attributes["headroom.candidates"]) >= 1  # type: ignore[arg-type]
    assert [s.attributes for s in telemetry.spans("headroom.add")] == [
        {"headroom.memories": 1},
        {"headroom.memories": 1},
    ]
    (supersede,) = telemetry.spans("headroom.supersede")
    assert supersede.attributes == {"headroom.scope_level": "session", "headroom.category": "fact"}
    (delete,) = telemetry.spans("headroom.delete")
    assert delete.attributes == {"headroom.versions": 2}
    assert set(otel.SPANS) >= {s.name for s in telemetry.exporter.get_finished_spans()}

    metrics = telemetry.metrics()
    operations = {
        p.attributes["headroom.operation"] for p in metrics["headroom.operation.duration"]
    }
    assert operations >= {
        "headroom.search",
        "headroom.add",
        "headroom.supersede",
        "headroom.delete",
    }
    assert metrics["headroom.search.hits"][0].sum == len(hits)


@pytest.mark.anyio
async def test_ids_are_recorded_only_when_asked(telemetry: Telemetry, tmp_path: Path) -> None:
    from headroom.memory import HierarchicalMemory, MemoryConfig

    otel.configure(
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        record_ids=True,
    )
    config = MemoryConfig(db_path=tmp_path / "e.db")
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:
        await memory.search("tea", user_id="alice", agent_id="coder")
    (search,) = telemetry.spans("headroom.search")
    assert search.attributes is not None
    assert search.attributes["headroom.user_id"] == "alice"
    assert search.attributes["headroom.agent_id"] == "coder"
    assert "headroom.session_id" not in search.attributes


def test_the_cost_benchmark_runs_every_mode() -> None:
    # Tiny, so it cannot rot; no timing is asserted.
    from benchmarks.telemetry_cost import MODES, render, run_telemetry_cost

    results = run_telemetry_cost(reps=3, memories=20)
    assert [results["modes"][m]["telemetry_available"] for m in MODES] == [False, True, True]
    assert len(render(results)) == 4 + len(MODES)
