"""Measurements and the targets they are held to. Pure.

A :class:`Measurement` is one number (or latency distribution) of one operation under one
setting. A :class:`Target` names the operation, the setting it applies to, a statistic and a
bound; :func:`evaluate` finds the measurement and says whether the bound is met.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from benchmarks.stats import Summary

__all__ = ["TARGETS", "Measurement", "Target", "Verdict", "evaluate"]

Stat = Literal["p50", "p95", "p99", "value"]


@dataclass(frozen=True, slots=True)
class Measurement:
    """``op`` measured at ``n`` memories under ``layout``; a latency summary or one value."""

    op: str
    label: str
    unit: str
    n: int | None = None
    layout: str | None = None
    summary: Summary | None = None
    value: float | None = None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def stat(self, name: Stat) -> float | None:
        if name == "value":
            return self.value
        if self.summary is None:
            return None
        result: float = getattr(self.summary, name)
        return result

    def as_dict(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "label": self.label,
            "unit": self.unit,
            "n": self.n,
            "layout": self.layout,
            "summary": None if self.summary is None else self.summary.as_dict(),
            "value": None if self.value is None else round(self.value, 4),
            "notes": self.notes,
            **({"extra": self.extra} if self.extra else {}),
        }


@dataclass(frozen=True, slots=True)
class Target:
    """``stat`` of ``op`` at ``n`` memories (``layout``) must be ``<=`` or ``>=`` ``bound``."""

    op: str
    description: str
    stat: Stat
    bound: float
    unit: str
    n: int | None
    layout: str | None = "one-user"
    at_least: bool = False

    @property
    def text(self) -> str:
        sign = ">=" if self.at_least else "<="
        stat = "" if self.stat == "value" else f"{self.stat} "
        return f"{stat}{sign} {self.bound:g} {self.unit}"


@dataclass(frozen=True, slots=True)
class Verdict:
    target: Target
    measured: float | None
    measured_at: int | None
    met: bool | None
    """None: not measured in this run."""
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "operation": self.target.description,
            "op": self.target.op,
            "target": self.target.text,
            "target_n": self.target.n,
            "layout": self.target.layout,
            "measured": None if self.measured is None else round(self.measured, 4),
            "measured_at_n": self.measured_at,
            "unit": self.target.unit,
            "met": self.met,
            "note": self.note,
        }


_100K = 100_000
TARGETS: tuple[Target, ...] = (
    Target("injection", "injection: embed query + hybrid search + fetch", "p50", 5, "ms", _100K),
    Target("injection", "injection: embed query + hybrid search + fetch", "p95", 10, "ms", _100K),
    Target(
        "injection",
        "injection, 1,000 users share the db",
        "p50",
        5,
        "ms",
        _100K,
        layout="1000-users",
    ),
    Target(
        "injection",
        "injection, 1,000 users share the db",
        "p95",
        10,
        "ms",
        _100K,
        layout="1000-users",
    ),
    Target(
        "injection_wrapper", "injection through with_memory, all its stages", "p50", 10, "ms", _100K
    ),
    Target(
        "injection_wrapper",
        "injection through with_memory, all its stages",
        "p50",
        5,
        "ms",
        10_000,
    ),
    Target("store_embedded", "store one memory, embedding included", "p50", 5, "ms", _100K),
    Target("store_lookup", "store one memory, embedding excluded", "p50", 1, "ms", _100K),
    Target(
        "bulk_ingest",
        "bulk ingest with add_many, embedding included",
        "value",
        300,
        "memories/s",
        None,
        layout=None,
        at_least=True,
    ),
    Target(
        "cache_hit", "repeated query (embedding cache hit), whole search", "p50", 2, "ms", _100K
    ),
    Target("reopen", "reopen a 100k-memory database, ready to search", "value", 1, "s", _100K),
    Target("injection_1m", "search at 1M memories (one user)", "p95", 20, "ms", 1_000_000),
    Target("rss", "resident memory at 100k memories, model loaded", "value", 600, "MB", _100K),
)


def evaluate(targets: Sequence[Target], measurements: Sequence[Measurement]) -> list[Verdict]:
    """One verdict per target, from the measurement at its ``n`` (or the largest measured)."""
    verdicts = []
    for target in targets:
        candidates = [
            m
            for m in measurements
            if m.op == target.op
            and (target.layout is None or m.layout == target.layout)
            and m.stat(target.stat) is not None
        ]
        exact = [m for m in candidates if m.n == target.n]
        chosen = exact[0] if exact else max(candidates, key=lambda m: m.n or 0, default=None)
        if chosen is None:
            verdicts.append(Verdict(target, None, None, None, "not measured in this run"))
            continue
        value = chosen.stat(target.stat)
        assert value is not None
        compare = operator.ge if target.at_least else operator.le
        note = ""
        if target.n is not None and chosen.n != target.n:
            note = f"measured at {chosen.n:,} memories, not {target.n:,} (quick run)"
        verdicts.append(Verdict(target, value, chosen.n, bool(compare(value, target.bound)), note))
    return verdicts
