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

import contextlib
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


def _active_tracer() -> Any | None:
    """The tracer, or None while no span would go anywhere: no provider given to
    :func:`configure` and none set globally (the API installed as another library's
    dependency, no SDK set up). Asked on every call: an application may set one up later.
    Skipping the no-op spans took a search's telemetry from 156 to 69 µs."""
    if _State.tracer_provider is None:
        from opentelemetry import trace

        if isinstance(
            trace.get_tracer_provider(), (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
        ):
            return None
    return _tracer()


def _metering() -> bool:
    """Whether a sample would go anywhere (as :func:`_active_tracer`, for metrics)."""
    if _State.meter_provider is not None:
        return True
    from opentelemetry import metrics

    provider = metrics.get_meter_provider()
    # The global default is a private proxy class; by name, so a renamed one only costs time.
    return not (
        isinstance(provider, metrics.NoOpMeterProvider)
        or type(provider).__name__ == "_ProxyMeterProvider"
    )


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
            tracer, metering = _active_tracer(), _metering()
            if tracer is None and not metering:
                return await function(*args, **kwargs)
            started = time.perf_counter()
            span = (
                contextlib.nullcontext() if tracer is None else tracer.start_as_current_span(name)
            )
            with span:
                try:
                    return await function(*args, **kwargs)
                finally:
                    if metering:
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
    if AVAILABLE and _metering():
        _instrument(name).record(value, {f"headroom.{k}": v for k, v in attributes.items()})


def add(name: str, amount: int, **attributes: str | int | bool) -> None:
    """Add to a counter."""
    if AVAILABLE and amount and _metering():
        _instrument(name).add(amount, {f"headroom.{k}": v for k, v in attributes.items()})
