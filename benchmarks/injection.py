"""The injection decision, measured on the case set of :mod:`benchmarks.injection_cases`.

For each user: a fresh memory holding the user's memories and the shared distractors (added as
the wrapper adds them); for each case, the request goes through the wrapper's own
``MemoryCore.prepare`` (query building, search, decision) and what it injected is scored:

* a question with an answer: is the memory it needs among the injected ones;
* an unrelated question: was nothing injected.

The alternatives are replayed from the same searches with the same pure functions
(``headroom.wrapper.query``, ``headroom.wrapper.relevance``); the first row is checked
against what ``prepare`` injected, case by case. Query embeddings come from the on-disk
cache, so a rerun embeds nothing.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.fixtures import open_memory
from benchmarks.injection_cases import DISTRACTORS, PERSONAS, Case, Persona, cases
from benchmarks.stats import summarize
from headroom.embedders.base import Embedder
from headroom.memory import HierarchicalMemory, NewMemory, SearchHit
from headroom.wrapper._core import MemoryCore, MemoryOptions
from headroom.wrapper.client import DEFAULT_MIN_SIMILARITY
from headroom.wrapper.query import SearchQuery, search_query, search_text
from headroom.wrapper.relevance import IMPERSONAL_MARGIN, select

__all__ = ["Variant", "run_injection", "variants"]

USER = "case-user"
TOP_K = 5
LEGACY_FLOOR = 0.2


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    note: str
    query: Callable[[Case], SearchQuery]
    decide: Callable[[str, SearchQuery, list[SearchHit]], list[SearchHit]]
    pool: int = TOP_K
    """How many fused hits are searched for; at most ``TOP_K`` are injected."""
    legacy_floor: float | None = None
    """Search with the engine's own ``min_similarity`` (the former wrapper's behaviour)."""


def _messages(case: Case) -> list[dict[str, str]]:
    return [{"role": r, "content": t} for r, t in case.history] + [
        {"role": "user", "content": case.question}
    ]


def _third(case: Case) -> SearchQuery:
    """The wrapper's query: the window, in the third person."""
    messages = _messages(case)
    return search_query(messages, len(messages) - 1)


def _raw(case: Case) -> SearchQuery:
    """The window as written."""
    messages = _messages(case)
    third = search_query(messages, len(messages) - 1)
    return SearchQuery(search_text(messages, len(messages) - 1), third.personal)


def _third_last(case: Case) -> SearchQuery:
    """The last message alone, in the third person."""
    return search_query([{"role": "user", "content": case.question}], 0)


def _last(case: Case) -> SearchQuery:
    return SearchQuery(case.question, True)


Decide = Callable[[str, SearchQuery, list[SearchHit]], list[SearchHit]]


def _floor(value: float) -> Decide:
    return lambda _question, _query, hits: [h for h in hits if h.similarity >= value]


def _decision(value: float, *, personal: bool = True) -> Decide:
    """The wrapper's decision; ``personal`` False leaves out the impersonal margin."""

    def decide(question: str, query: SearchQuery, hits: list[SearchHit]) -> list[SearchHit]:
        return select(question, hits, floor=value, personal=query.personal or not personal)

    return decide


def _margin(value: float, margin: float) -> Decide:
    def decide(question: str, query: SearchQuery, hits: list[SearchHit]) -> list[SearchHit]:
        floor = value if query.personal else value + margin
        return select(question, hits, floor=floor)

    return decide


def variants() -> list[Variant]:
    default = DEFAULT_MIN_SIMILARITY
    pool = 2 * TOP_K
    out = [
        Variant(
            "wrapper defaults",
            f"third person, window; similarity >= {default:g} (+{IMPERSONAL_MARGIN:g} when "
            "the conversation does not mention the user) or >= 60% of the question's words "
            f"(similarity >= 0.1); the best {TOP_K} of the fused top {pool}",
            _third,
            _decision(default),
            pool=pool,
        ),
        Variant(
            "former wrapper",
            "engine min_similarity=0.2 over the fused list, the last user message as written",
            _last,
            lambda _q, _query, hits: hits,
            legacy_floor=LEGACY_FLOOR,
        ),
    ]
    for value in (0.2, 0.25, 0.3, 0.35):
        out.append(
            Variant(
                f"as written, cosine floor {value:g}",
                f"window as written; similarity alone, fused top {TOP_K}",
                _raw,
                _floor(value),
            )
        )
    out.append(
        Variant(
            "as written, floor 0.3 or words",
            f"window as written; the default decision without the margin, fused top {TOP_K}",
            _raw,
            _decision(0.3, personal=False),
        )
    )
    for value in (0.25, 0.3, 0.35):
        out.append(
            Variant(
                f"third person, cosine floor {value:g}",
                f"similarity alone, fused top {TOP_K}",
                _third,
                _floor(value),
            )
        )
    out.append(
        Variant(
            "third person, floor 0.3 or words",
            f"no margin, fused top {TOP_K}",
            _third,
            _decision(0.3, personal=False),
        )
    )
    out.append(
        Variant(
            "third person, floor 0.3 or words, top 10",
            f"no margin, the best {TOP_K} of the fused top {pool}",
            _third,
            _decision(0.3, personal=False),
            pool=pool,
        )
    )
    for value, margin in ((0.3, 0.15), (0.28, 0.1), (0.32, 0.1), (0.35, 0.1)):
        out.append(
            Variant(
                f"defaults with floor {value:g}, margin {margin:g}",
                "the default decision with other numbers",
                _third,
                _margin(value, margin),
                pool=pool,
            )
        )
    out.append(
        Variant(
            "defaults without the window",
            "the last user message only (third person)",
            _third_last,
            _decision(default),
            pool=pool,
        )
    )
    return out


def _score(case: Case, injected: Sequence[str]) -> bool:
    if case.expected is None:
        return not injected
    return case.expected in injected


async def _persona_memory(path: Path, embedder: Embedder, persona: Persona) -> HierarchicalMemory:
    memory = await open_memory(path, embedder)
    items = [
        NewMemory(content=m.content, user_id=USER, category=m.category) for m in persona.memories
    ] + [NewMemory(content=text, user_id=USER, category=c) for c, text in DISTRACTORS]
    await memory.add_many(items)
    return memory


async def _prepared(memory: HierarchicalMemory, case: Case) -> list[str]:
    """What the wrapper itself injects for this case (its own ``prepare``)."""
    options = MemoryOptions(
        user_id=USER,
        session_id=None,
        agent_id=None,
        top_k=TOP_K,
        max_context_tokens=1000,
        min_similarity=DEFAULT_MIN_SIMILARITY,
        strict=True,
    )
    core = MemoryCore(options, memory=memory, config=memory.config, embedder=None)
    turn = await core.prepare({"model": "m", "messages": _messages(case)})
    return [m.content for m in turn.shown]


def _aggregate(rows: list[tuple[Case, bool, int]]) -> dict[str, Any]:
    def share(selected: list[tuple[Case, bool, int]]) -> float | None:
        return round(sum(ok for _, ok, _ in selected) / len(selected), 3) if selected else None

    answered = [r for r in rows if r[0].expected is not None]
    unrelated = [r for r in rows if r[0].expected is None]
    out: dict[str, Any] = {
        "relevant_injected": share(answered),
        "unrelated_nothing": share(unrelated),
        "mean_injected_answered": round(sum(n for _, _, n in answered) / len(answered), 2),
        "cases": len(rows),
    }
    for kind in ("direct", "paraphrase", "follow-up"):
        out[kind] = share([r for r in answered if r[0].kind == kind])
    for batch in ("a", "b"):
        out[f"relevant_{batch}"] = share([r for r in answered if r[0].batch == batch])
        out[f"unrelated_{batch}"] = share([r for r in unrelated if r[0].batch == batch])
    return out


async def run_injection(
    embedder: Embedder, personas: Sequence[Persona] = PERSONAS
) -> dict[str, Any]:
    """Every variant on every case; the defaults checked against the wrapper's own path."""
    started = time.perf_counter()
    chosen = variants()
    rows: dict[str, list[tuple[Case, bool, int]]] = {v.name: [] for v in chosen}
    agree = 0
    total = 0
    decide_us: list[float] = []
    query_us: list[float] = []
    with tempfile.TemporaryDirectory(prefix="headroom-injection-") as tmp:
        for persona in personas:
            memory = await _persona_memory(Path(tmp) / f"{persona.name}.db", embedder, persona)
            try:
                for case in cases((persona,)):
                    total += 1
                    real = await _prepared(memory, case)
                    for variant in chosen:
                        t0 = time.perf_counter()
                        query = variant.query(case)
                        t1 = time.perf_counter()
                        hits = await memory.search(
                            query.text,
                            user_id=USER,
                            top_k=variant.pool,
                            min_similarity=variant.legacy_floor,
                        )
                        t2 = time.perf_counter()
                        decided = variant.decide(case.question, query, hits)[:TOP_K]
                        injected = [h.content for h in decided]
                        t3 = time.perf_counter()
                        if variant is chosen[0]:
                            agree += injected == real
                            query_us.append((t1 - t0) * 1e6)
                            decide_us.append((t3 - t2) * 1e6)
                        ok = _score(case, injected)
                        rows[variant.name].append((case, ok, len(injected)))
            finally:
                await memory.aclose()
    query_cost = summarize(query_us)
    decide_cost = summarize(decide_us)
    return {
        "cases": total,
        "answered": sum(1 for c in cases(tuple(personas)) if c.expected is not None),
        "unrelated": sum(1 for c in cases(tuple(personas)) if c.expected is None),
        "memories_per_user": len(personas[0].memories) + len(DISTRACTORS),
        "defaults_match_the_wrapper": f"{agree}/{total}",
        "stage_cost_us": {
            "query_p50": round(query_cost.p50, 1),
            "query_p95": round(query_cost.p95, 1),
            "decision_p50": round(decide_cost.p50, 1),
            "decision_p95": round(decide_cost.p95, 1),
        },
        "variants": [{"name": v.name, "note": v.note, **_aggregate(rows[v.name])} for v in chosen],
        "seconds": round(time.perf_counter() - started, 1),
    }
