"""LoCoMo retrieval through the public API: extracted facts and raw turns, with alternatives.

For each conversation and setting, one fresh memory for one user holds every fact (or turn);
every question is searched once with the engine's defaults, deep enough for the variants
(``DEPTH``), and the variants re-rank those same hits:

* **engine defaults**: the fused order, as ``search`` returns it;
* **diversity (MMR)**: maximal marginal relevance over the fused list, a memory's score being
  ``(1 - lambda) * fused-rank-score - lambda * its highest similarity to those already chosen``,
  so that a second relevant memory about another part of a multi-hop question can rise;
* **the turn before as its source**: a turn memory stored with the turn before it as its
  ``source`` (embedded and keyword-indexed after the turn, not part of its content);
* **the turn before in its content**: the two turns as one memory's content;
* **with the photo caption**: a turn that shares a photo carries its caption, as LoCoMo's own
  retrieval baselines do;
* **facts with the turns they came from as their source**: each observation stored with the
  text of the turns it cites, as the wrapper could store a block item with its exchange.

Embeddings come from the on-disk cache (the bundled model), so reruns embed nothing.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import numpy as np

from benchmarks.fixtures import open_memory
from benchmarks.locomo_data import (
    CATEGORY_NAMES,
    DATA_FILE,
    Conversation,
    Fact,
    LocomoQuestion,
    fact_scores,
    load_conversations,
    turn_recall,
)
from headroom.domain.words import terms
from headroom.embedders.base import Embedder
from headroom.memory import MemoryConfig, NewMemory, SearchHit
from headroom.memory.fusion import reciprocal_rank_fusion
from headroom.memory.search import CANDIDATES_PER_RESULT, MIN_CANDIDATES

__all__ = ["TurnText", "fact_source", "mmr", "previous_turn", "run_locomo"]

USER = "locomo-user"
DEPTH = 30
"""Hits searched per question: the re-ranking variants pick their first 10 from these."""

TurnText = Callable[[Conversation, int], tuple[str, str | None]]
"""A turn's memory: its content and its source."""


def _plain(conversation: Conversation, index: int) -> tuple[str, str | None]:
    return conversation.turns[index].content, None


def previous_turn(conversation: Conversation, index: int) -> str | None:
    """The turn before ``index`` in its session, as a memory's text; None for a first turn."""
    turn = conversation.turns[index]
    if index == 0 or conversation.turns[index - 1].session != turn.session:
        return None
    return conversation.turns[index - 1].content


def _previous_as_source(conversation: Conversation, index: int) -> tuple[str, str | None]:
    return conversation.turns[index].content, previous_turn(conversation, index)


def _previous_in_content(conversation: Conversation, index: int) -> tuple[str, str | None]:
    turn = conversation.turns[index]
    before = previous_turn(conversation, index)
    return (turn.content if before is None else f"{before}\n{turn.content}"), None


def _with_caption(conversation: Conversation, index: int) -> tuple[str, str | None]:
    turn = conversation.turns[index]
    if turn.caption is None:
        return turn.content, None
    return f"{turn.content} [shares {turn.caption}]", None


def fact_source(conversation: Conversation, fact: Fact) -> str | None:
    """The text of the turns a fact cites, in dialogue order: the exchange it was drawn from."""
    said = [t.content for t in conversation.turns if t.dia_id in fact.evidence]
    return "\n".join(said) or None


@dataclass(frozen=True, slots=True)
class _Searched:
    question: LocomoQuestion
    top: list[str]
    """What ``search`` returns at the setting's own ``top_k`` (5 facts, 10 turns)."""
    keys: list[str]
    """The hits of the deep search (``DEPTH``): identities (fact index or dia_id)."""
    vectors: np.ndarray[Any, np.dtype[np.float32]]
    scores: list[float]


def mmr(
    scores: Sequence[float],
    vectors: np.ndarray[Any, np.dtype[np.float32]],
    k: int,
    *,
    weight: float,
) -> list[int]:
    """Maximal marginal relevance: indexes of ``k`` items, relevance from the fused ``scores``
    (scaled to [0, 1]), redundancy as the highest cosine to an item already chosen."""
    if not len(scores):
        return []
    relevance = np.asarray(scores, dtype=np.float64)
    span = relevance.max() - relevance.min()
    relevance = (relevance - relevance.min()) / span if span > 0 else np.ones_like(relevance)
    similar = vectors @ vectors.T
    chosen: list[int] = []
    left = list(range(len(scores)))
    while left and len(chosen) < k:
        best = max(
            left,
            key=lambda i: (
                (1 - weight) * relevance[i]
                - weight * (max(similar[i, j] for j in chosen) if chosen else 0.0)
            ),
        )
        chosen.append(best)
        left.remove(best)
    return chosen


async def _search_all(
    conversation: Conversation,
    embedder: Embedder,
    workdir: Path,
    contents: list[str],
    keys: list[str],
    top_k: int,
    sources: Sequence[str | None] | None = None,
) -> list[_Searched]:
    memory = await open_memory(workdir / f"{conversation.id}.db", embedder)
    try:
        await memory.add_many(
            [
                NewMemory(content=text, user_id=USER, metadata={"key": key}, source=source)
                for text, key, source in zip(
                    contents, keys, sources or [None] * len(contents), strict=True
                )
            ]
        )
        out = []
        for question in conversation.questions:
            top = await memory.search(question.question, user_id=USER, top_k=top_k)
            hits: list[SearchHit] = await memory.search(
                question.question, user_id=USER, top_k=DEPTH
            )
            vectors = await embedder.embed([h.memory.indexed_text for h in hits]) if hits else None
            matrix = (
                np.zeros((0, embedder.dimension), dtype=np.float32)
                if vectors is None
                else vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
            )
            out.append(
                _Searched(
                    question,
                    [str(h.memory.metadata["key"]) for h in top],
                    [str(h.memory.metadata["key"]) for h in hits],
                    matrix.astype(np.float32),
                    [h.score for h in hits],
                )
            )
        return out
    finally:
        await memory.aclose()
        await anyio.to_thread.run_sync(_remove_files, workdir, conversation.id)


def _remove_files(workdir: Path, stem: str) -> None:
    for leftover in workdir.glob(f"{stem}.db*"):
        leftover.unlink()


Rerank = Callable[[_Searched], list[str]]


def _fused(searched: _Searched) -> list[str]:
    return searched.top


def _mmr(weight: float) -> Rerank:
    def rerank(searched: _Searched) -> list[str]:
        order = mmr(searched.scores, searched.vectors, 10, weight=weight)
        return [searched.keys[i] for i in order]

    return rerank


_RERANKS: tuple[tuple[str, Rerank], ...] = (
    ("engine defaults", _fused),
    ("diversity (MMR 0.1)", _mmr(0.1)),
    ("diversity (MMR 0.2)", _mmr(0.2)),
    ("diversity (MMR 0.3)", _mmr(0.3)),
)


def _by_category(rows: list[tuple[int, dict[str, float]]], metrics: Sequence[str]) -> Any:
    groups: dict[str, list[dict[str, float]]] = {"overall": [r for _, r in rows]}
    for category, row in rows:
        groups.setdefault(CATEGORY_NAMES[category], []).append(row)
    return {
        name: {
            "questions": len(members),
            **{m: round(sum(r[m] for r in members) / len(members), 3) for m in metrics},
        }
        for name, members in groups.items()
    }


async def _facts(
    conversations: Sequence[Conversation], embedder: Embedder, workdir: Path
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for suffix, note, with_source in _FACT_SOURCES:
        rows: dict[str, list[tuple[int, dict[str, float]]]] = {name: [] for name, _ in _RERANKS}
        for conversation in conversations:
            contents = [f.text for f in conversation.facts]
            keys = [str(f.index) for f in conversation.facts]
            sources = [
                fact_source(conversation, f) if with_source else None for f in conversation.facts
            ]
            searches = await _search_all(
                conversation, embedder, workdir, contents, keys, 5, sources
            )
            for searched in searches:
                relevant = conversation.relevant_facts(searched.question)
                if not relevant:
                    continue
                for name, rerank in _RERANKS:
                    ranked = [int(k) for k in rerank(searched)]
                    any5, r5 = fact_scores(relevant, ranked, 5)
                    rows[name].append((searched.question.category, {"any@5": any5, "R@5": r5}))
        reranks = _RERANKS if not with_source else _RERANKS[:1]
        out += [
            {
                "name": name + suffix,
                "note": note,
                "by_category": _by_category(rows[name], ("any@5", "R@5")),
            }
            for name, _ in reranks
        ]
    return out


_FACT_SOURCES: tuple[tuple[str, str, bool], ...] = (
    ("", "a fact as written", False),
    (
        ", the turns it came from as its source",
        "each fact stored with the text of the turns it cites as its source",
        True,
    ),
)


_TURN_TEXTS: tuple[tuple[str, str, TurnText], ...] = (
    ("", "a turn as spoken", _plain),
    (
        ", the turn before as its source",
        "each turn stored with the turn before it (same session) as its source",
        _previous_as_source,
    ),
    (
        ", the turn before in its content",
        "the turn before and the turn as one memory's content",
        _previous_in_content,
    ),
    (", with the photo caption", "a turn sharing a photo carries its caption", _with_caption),
)


async def _turns(
    conversations: Sequence[Conversation], embedder: Embedder, workdir: Path
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for suffix, note, text in _TURN_TEXTS:
        rows: dict[str, list[tuple[int, dict[str, float]]]] = {name: [] for name, _ in _RERANKS}
        for conversation in conversations:
            texts = [text(conversation, i) for i in range(len(conversation.turns))]
            keys = [t.dia_id for t in conversation.turns]
            searches = await _search_all(
                conversation,
                embedder,
                workdir,
                [content for content, _ in texts],
                keys,
                10,
                [source for _, source in texts],
            )
            for searched in searches:
                evidence = conversation.evidence_turns(searched.question)
                if not evidence:
                    continue
                for name, rerank in _RERANKS:
                    ranked = rerank(searched)
                    rows[name].append(
                        (
                            searched.question.category,
                            {
                                "R@5": turn_recall(evidence, ranked, 5),
                                "R@10": turn_recall(evidence, ranked, 10),
                            },
                        )
                    )
        for name, _ in _RERANKS:
            out.append(
                {
                    "name": name + suffix,
                    "note": note,
                    "by_category": _by_category(rows[name], ("R@5", "R@10")),
                }
            )
    return out


_SHARES = (None, 0.5, 0.3)
"""The keyword half without the question's words found in more than this share of the rows
(None: all of them, the engine's own fusion replayed)."""


async def _without_common_words(
    conversations: Sequence[Conversation],
    embedder: Embedder,
    workdir: Path,
    setting: str,
) -> list[dict[str, Any]]:
    """The hybrid search, replayed with the engine's fusion, its keyword half searching only the
    question's words that match at most a share of the user's rows. A word in more than half
    of them has no BM25 weight (its inverse document frequency is at most zero), yet brings its
    rows into the keyword list."""
    top_k = 5 if setting == "facts" else 10
    depth = max(top_k * CANDIDATES_PER_RESULT, MIN_CANDIDATES)
    defaults = MemoryConfig()
    rows: dict[float | None, list[tuple[int, dict[str, float]]]] = {s: [] for s in _SHARES}
    for conversation in conversations:
        if setting == "facts":
            contents = [f.text for f in conversation.facts]
            keys = [str(f.index) for f in conversation.facts]
        else:
            contents = [t.content for t in conversation.turns]
            keys = [t.dia_id for t in conversation.turns]
        path = workdir / f"{conversation.id}-words.db"
        memory = await open_memory(path, embedder)
        await memory.add_many(
            [
                NewMemory(content=c, user_id=USER, metadata={"key": k})
                for c, k in zip(contents, keys, strict=True)
            ]
        )
        await memory.aclose()
        vectors = await open_memory(path, embedder, text_weight=0.0)
        by_vector = {
            q.question: [
                str(h.memory.metadata["key"])
                for h in await vectors.search(q.question, user_id=USER, top_k=depth)
            ]
            for q in conversation.questions
        }
        await vectors.aclose()
        keyword = await open_memory(path, embedder, vector_weight=0.0)
        share_of: dict[str, float] = {}
        for question in conversation.questions:
            words = terms(question.question)
            for word in words:
                if word not in share_of:
                    found = await keyword.search(word, user_id=USER, top_k=len(contents))
                    share_of[word] = len(found) / len(contents)
            for share in _SHARES:
                kept = [w for w in words if share is None or share_of[w] <= share] or words
                hits = await keyword.search(" ".join(kept), user_id=USER, top_k=depth)
                by_text = [str(h.memory.metadata["key"]) for h in hits]
                ids = {
                    k: i
                    for i, k in enumerate(dict.fromkeys(by_vector[question.question] + by_text))
                }
                back = {i: k for k, i in ids.items()}
                fused = reciprocal_rank_fusion(
                    [[ids[k] for k in by_vector[question.question]], [ids[k] for k in by_text]],
                    [defaults.vector_weight, defaults.text_weight],
                )
                ranked = [back[i] for i, _ in fused]
                if setting == "facts":
                    relevant = conversation.relevant_facts(question)
                    if relevant:
                        any5, r5 = fact_scores(relevant, [int(k) for k in ranked], 5)
                        rows[share].append((question.category, {"any@5": any5, "R@5": r5}))
                else:
                    evidence = conversation.evidence_turns(question)
                    if evidence:
                        recall = {
                            "R@5": turn_recall(evidence, ranked, 5),
                            "R@10": turn_recall(evidence, ranked, 10),
                        }
                        rows[share].append((question.category, recall))
        await keyword.aclose()
        await anyio.to_thread.run_sync(_remove_files, workdir, f"{conversation.id}-words")
    metrics = ("any@5", "R@5") if setting == "facts" else ("R@5", "R@10")
    return [
        {
            "name": "engine defaults (replayed)"
            if share is None
            else f"keyword half without words in > {share:.0%} of rows",
            "note": "the engine's fusion over its own two lists"
            if share is None
            else "emulated: vector list as is, keyword list searched without those words",
            "by_category": _by_category(rows[share], metrics),
        }
        for share in _SHARES
    ]


async def run_locomo(embedder: Embedder, path: Path = DATA_FILE) -> dict[str, Any]:
    """Both settings on the conversations of ``path``, every variant."""
    started = time.perf_counter()
    conversations = load_conversations(path)
    with tempfile.TemporaryDirectory(prefix="headroom-locomo-") as tmp:
        facts = await _facts(conversations, embedder, Path(tmp))
        facts += await _without_common_words(conversations, embedder, Path(tmp), "facts")
        turns = await _turns(conversations, embedder, Path(tmp))
        turns += await _without_common_words(conversations, embedder, Path(tmp), "turns")
    return {
        "conversations": [c.id for c in conversations],
        "facts": facts,
        "turns": turns,
        "seconds": round(time.perf_counter() - started, 1),
    }
