"""Latency samples and their summary. Pure."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TypeVar

__all__ = ["Summary", "percentile", "summarize", "time_async", "time_interleaved"]

_T = TypeVar("_T")


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of sorted values, linearly interpolated."""
    if not sorted_values:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError("q must be in [0, 100]")
    position = (len(sorted_values) - 1) * q / 100
    low = math.floor(position)
    high = math.ceil(position)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


@dataclass(frozen=True, slots=True)
class Summary:
    """Milliseconds: p50/p95/p99, mean, min, max over ``count`` measured repetitions."""

    count: int
    p50: float
    p95: float
    p99: float
    mean: float
    min: float
    max: float

    def as_dict(self) -> dict[str, float | int]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def summarize(samples_ms: Sequence[float]) -> Summary:
    values = sorted(samples_ms)
    if not values:
        raise ValueError("no samples")
    return Summary(
        count=len(values),
        p50=percentile(values, 50),
        p95=percentile(values, 95),
        p99=percentile(values, 99),
        mean=sum(values) / len(values),
        min=values[0],
        max=values[-1],
    )


async def time_async(
    call: Callable[[int], Awaitable[object]], *, reps: int, warmup: int
) -> Summary:
    """Await ``call(i)`` ``warmup + reps`` times; the summary of the last ``reps`` (in ms)."""
    samples: list[float] = []
    for i in range(warmup + reps):
        started = time.perf_counter_ns()
        await call(i)
        elapsed = (time.perf_counter_ns() - started) / 1e6
        if i >= warmup:
            samples.append(elapsed)
    return summarize(samples)


async def time_interleaved(
    calls: Sequence[Callable[[int], Awaitable[object]]], *, reps: int, warmup: int
) -> list[list[float]]:
    """Each of ``calls`` awaited in turn, ``warmup + reps`` rounds: the last ``reps`` samples
    of each (in ms), round by round, so that variants share the machine's load."""
    samples: list[list[float]] = [[] for _ in calls]
    for i in range(warmup + reps):
        for call, out in zip(calls, samples, strict=True):
            started = time.perf_counter_ns()
            await call(i)
            if i >= warmup:
                out.append((time.perf_counter_ns() - started) / 1e6)
    return samples
