"""OpenTelemetry spans and metrics for the engine and the wrapper, or nothing at all.

Without ``opentelemetry-api`` installed, :func:`traced` returns the function it decorates,
unchanged, and every other call here returns at its first line: no cost a benchmark can
see. With it, each traced operation is a span (``headroom.search``, ``headroom.add``, ...)
and a sample of the ``headroom.operation.duration`` histogram, sent wherever the application
configured OpenTelemetry (the global providers, or those given to
``headroom.integrations.otel.configure``). Nothing is imported until the first span.

Attributes describe an operation, never its data: counts, sizes, scope levels, categories.
Memory content is never recorded; user, session and agent ids only after
``configure(record_ids=True)``.

Imports nothing of headroom but its version: any layer may use it.
"""

from __future__ import annotations

import functools
import importlib.util
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

__all__ = ["AVAILABLE", "add", "configure", "note", "note_ids", "record", "traced"]


def _installed() -> bool:
    try:
        return importlib.util.find_spec("opentelemetry.trace") is not None
    except (ImportError, ValueError):  # a parent missing, or hidden from this interpreter
        return False


AVAILABLE = _installed()
"""Whether ``opentelemetry-api`` is installed (decided once, at import)."""

_F = TypeVar("_F", bound=Callable[..., Awaitable[Any]])

#: Histogram and counter descriptions, by name.
_INSTRUMENTS = {
    "headroom.operation.duration": ("histogram", "s", "How long a headroom operation took"),
    "headroom.search.hits": ("histogram", "{memory}", "Memories a search returned"),
    "headroom.wrapper.memories_injected": (
        "histogram",
        "{memory}",
        "Memories the wrapper put in front of the model, per call",
    ),
    "headroom.wrapper.memories_stored": (
        "counter",
        "{memory}",
        "Memories the wrapper stored from answers",
    ),
    "headroom.wrapper.blocks_dropped": (
        "counter",
        "{block}",
        "Memory blocks (or items in them) the wrapper could not store",
    ),
}


class _State:
    tracer: Any = None
    meter: Any = None
    instruments: ClassVar[dict[str, Any]] = {}
    record_ids = False
    tracer_provider: Any = None
    meter_provider: Any = None


def configure(
    *, tracer_provider: Any = None, meter_provider: Any = None, record_ids: bool = False
) -> None:
    """Send to these providers (None: OpenTelemetry's global ones); record ids or not."""
    _State.tracer_provider = tracer_provider
    _State.meter_provider = meter_provider
    _State.record_ids = bool(record_ids)
    _State.tracer = _State.meter = None
    _State.instruments = {}


def _tracer() -> Any:
    if _State.tracer is None:
        from opentelemetry import trace

        from headroom import __version__

        _State.tracer = trace.get_tracer("headroom", __version__, _State.tracer_provider)
    return _State.tracer


def _instrument(name: str) -> Any:
    instrument = _State.instruments.get(name)
    if instrument is None:
        if _State.meter is None:
            from opentelemetry import metrics

            from headroom import __version__

            _State.meter = metrics.get_meter("headroom", __version__, _State.meter_provider)
        kind, unit, description = _INSTRUMENTS[name]
        create = (
            _State.meter.create_histogram if kind == "histogram" else _State.meter.create_counter
        )
        instrument = _State.instruments[name] = create(name, unit=unit, description=description)
    return instrument


def traced(name: str) -> Callable[[_F], _F]:
    """Make each call of an async function a span named ``name``, timed in the duration
    histogram (``headroom.operation`` = ``name``). The identity without OpenTelemetry."""

    def decorate(function: _F) -> _F:
        if not AVAILABLE:
            return function

        @functools.wraps(function)
        async def call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            with _tracer().start_as_current_span(name):
                try:
                    return await function(*args, **kwargs)
                finally:
                    elapsed = time.perf_counter() - started
                    _instrument("headroom.operation.duration").record(
                        elapsed, {"headroom.operation": name}
                    )

        return call  # type: ignore[return-value]

    return decorate


def note(**attributes: str | int | float | bool | None) -> None:
    """Set ``headroom.<name>`` attributes on the current span (None values are skipped)."""
    if not AVAILABLE:
        return
    from opentelemetry import trace

    span = trace.get_current_span()
    if span.is_recording():
        for key, value in attributes.items():
            if value is not None:
                span.set_attribute(f"headroom.{key}", value)


def note_ids(**ids: str | None) -> None:
    """Like :func:`note`, for user, session and agent ids: only with ``record_ids``."""
    if AVAILABLE and _State.record_ids:
        note(**ids)


def record(name: str, value: float, **attributes: str | int | bool) -> None:
    """One sample of a histogram."""
    if AVAILABLE:
        _instrument(name).record(value, {f"headroom.{k}": v for k, v in attributes.items()})


def add(name: str, amount: int, **attributes: str | int | bool) -> None:
    """Add to a counter."""
    if AVAILABLE and amount:
        _instrument(name).add(amount, {f"headroom.{k}": v for k, v in attributes.items()})
