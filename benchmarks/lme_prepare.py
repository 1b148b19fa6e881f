"""Fill the embedding cache ahead of a run: LongMemEval's turns, or the synthetic corpus.

    python -m benchmarks.lme_prepare [--shard I --shards N] [--limit Q] [--corpus N]

Each shard embeds the distinct texts whose digest falls in it, one ONNX thread per
process. A second intra-op thread barely helps on long turns (48 instead of 54 ms each,
measured), so two single-thread processes on two cores do nearly twice the work of one. The
run itself embeds whatever is still missing.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import anyio

from benchmarks.corpus import memory_texts
from benchmarks.embedding_cache import DiskCachedEmbedder, EmbeddingStore, digest
from benchmarks.lme_data import Question, load_questions
from benchmarks.progress import Progress

__all__ = ["distinct_texts", "prepare"]

BATCH = 256


def distinct_texts(questions: Sequence[Question]) -> list[str]:
    """Every turn text and question, once each, in first-seen order."""
    texts: dict[str, None] = {}
    for q in questions:
        texts.setdefault(q.question, None)
        for turn in q.turns:
            texts.setdefault(turn.content, None)
    return list(texts)


async def prepare(
    texts: Sequence[str], *, shard: int = 0, shards: int = 1, threads: int = 1
) -> int:
    """Embed the missing texts of this shard into the cache; how many were embedded."""
    from headroom.embedders.onnx import OnnxEmbedder

    texts = [t for t in dict.fromkeys(texts) if digest(t)[0] % shards == shard]
    inner = await OnnxEmbedder.create(threads=threads)
    store = EmbeddingStore.for_model(inner.model_name, inner.dimension)
    known = store.get([digest(t) for t in texts])
    missing = [t for t in texts if digest(t) not in known]
    # Similar lengths together: less padding per batch.
    missing.sort(key=len)
    cached = DiskCachedEmbedder(inner, store)
    progress = Progress(f"embedding texts (shard {shard}/{shards})", len(missing))
    try:
        for start in range(0, len(missing), BATCH):
            batch = missing[start : start + BATCH]
            await cached.embed(batch)
            progress.advance(len(batch))
    finally:
        progress.done()
        await cached.aclose()
        await inner.aclose()
    return len(missing)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lme_prepare")
    parser.add_argument("--shard", type=int, default=0)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="questions (stratified slice)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--corpus", type=int, default=None, help="the synthetic corpus of this size instead"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.corpus:
        texts = list(memory_texts(0, args.corpus))
    else:
        texts = distinct_texts(load_questions(limit=args.limit))
    done = anyio.run(
        lambda: prepare(texts, shard=args.shard, shards=args.shards, threads=args.threads)
    )
    print(f"embedded {done} texts in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
