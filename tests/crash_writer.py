"""A writer for the crash-safety tests, run in a child process and killed with SIGKILL.

Usage: ``python tests/crash_writer.py DB_PATH SEED [DIMENSION]``

It opens the memory at DB_PATH with the hashing embedder and writes forever: adds, add_many,
supersedes and deletes, chosen at random. Before each operation it prints ``BEGIN`` and what
it is about to do; after the operation returned, ``DONE``. Each line is flushed at once, so
the parent knows exactly which operations returned before the kill and which one (at most)
was in flight. Every memory's content starts with a token unique to it (``t<seed>x<n>``),
which is how the parent recognises it:

    READY
    BEGIN ADD <token>
    BEGIN MANY <token>,<token>,...
    BEGIN SUP <old head token> <new token>
    BEGIN DEL <head token>
    DONE
"""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from headroom.memory import (
    HierarchicalMemory,
    MemoryConfig,
    MemoryFilter,
    NewMemory,
)
from tests.fakes import HashingEmbedder

USERS = ("ada", "bo", "cy")
WORDS = (
    "apple river stone cloud garden piano coffee winter mountain letter "
    "copper violet harbor meadow lantern falcon pepper orbit canyon willow"
).split()


def content_of(token: str, rng: random.Random) -> str:
    return f"{token} " + " ".join(rng.sample(WORDS, 4))


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def run(db_path: Path, seed: int, dimension: int) -> None:
    rng = random.Random(seed)
    config = MemoryConfig(db_path=db_path, cache_enabled=False)
    memory = await HierarchicalMemory.create(config, embedder=HashingEmbedder(dimension))
    heads: dict[str, str] = {  # token -> id of every current memory
        m.content.split()[0]: m.id for m in await memory.query(MemoryFilter())
    }
    counter = 0

    def token() -> str:
        nonlocal counter
        counter += 1
        return f"t{seed}x{counter}"

    say("READY")
    while True:
        roll = rng.random()
        if roll < 0.35 or len(heads) < 5:
            new = token()
            say(f"BEGIN ADD {new}")
            added = await memory.add(
                content_of(new, rng),
                user_id=rng.choice(USERS),
                session_id=rng.choice((None, "s1")),
                importance=rng.random(),
            )
            heads[new] = added.id
        elif roll < 0.6:
            size = rng.randint(30, 120) if rng.random() < 0.05 else rng.randint(1, 12)
            tokens = [token() for _ in range(size)]
            say(f"BEGIN MANY {','.join(tokens)}")
            batch = await memory.add_many(
                [NewMemory(content_of(t, rng), user_id=rng.choice(USERS)) for t in tokens]
            )
            heads.update(zip(tokens, (m.id for m in batch), strict=True))
        elif roll < 0.85:
            old = rng.choice(sorted(heads))
            new = token()
            say(f"BEGIN SUP {old} {new}")
            replaced = await memory.supersede(heads[old], content_of(new, rng))
            del heads[old]
            heads[new] = replaced.id
        else:
            old = rng.choice(sorted(heads))
            say(f"BEGIN DEL {old}")
            await memory.delete(heads.pop(old))
        say("DONE")


def main() -> None:
    db_path = Path(sys.argv[1])
    seed = int(sys.argv[2])
    dimension = int(sys.argv[3]) if len(sys.argv) > 3 else 256
    asyncio.run(run(db_path, seed, dimension))


if __name__ == "__main__":
    main()
