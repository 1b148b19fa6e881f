"""Commands that read: search, list, show, history, stats."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from headroom.cli._context import Invocation, open_memory
from headroom.cli._errors import CliError, ExitCode
from headroom.cli._format import (
    format_details,
    format_history,
    format_hits,
    format_memories,
    format_stats,
)
from headroom.cli._records import hit_to_json, memory_to_json
from headroom.errors import NotFoundError
from headroom.memory import HierarchicalMemory, MemoryFilter, ScopedMemory

__all__ = ["by_id", "not_theirs", "run_history", "run_list", "run_search", "run_show", "run_stats"]


def by_id(memory: HierarchicalMemory, invocation: Invocation) -> HierarchicalMemory | ScopedMemory:
    """What the id commands act through: --user's scoped view, which reaches only that user's
    memories; without --user, every user's (the administrative path)."""
    user: str | None = invocation.args.user
    return memory.scoped(user_id=user) if user else memory


@contextmanager
def not_theirs(invocation: Invocation, memory_id: str) -> Iterator[None]:
    """An id --user's view does not reach, said so (another user's or none: the same)."""
    try:
        yield
    except NotFoundError as exc:
        user = invocation.args.user
        if not user or exc.memory_id != memory_id:
            raise
        raise CliError(
            f"memory {memory_id!r} is not a memory of user {user!r} (or does not exist)",
            ExitCode.NOT_FOUND,
            "check the id, or drop --user (and unset HEADROOM_USER) to act on any user's memory",
        ) from None


async def run_search(invocation: Invocation) -> int:
    args = invocation.args
    user = invocation.user()
    async with open_memory(invocation, read_only=True) as memory:
        hits = await memory.search(
            args.query,
            user_id=user,
            session_id=args.session,
            agent_id=args.agent,
            turn_id=args.turn,
            top_k=args.top_k,
            categories=args.category,
            include_superseded=args.include_superseded,
            min_similarity=args.min_similarity,
        )
    invocation.emit([hit_to_json(h) for h in hits], format_hits(hits, invocation.width))
    return ExitCode.OK


async def run_list(invocation: Invocation) -> int:
    args = invocation.args
    where = MemoryFilter(
        user_id=args.user,
        session_id=args.session,
        agent_id=args.agent,
        turn_id=args.turn,
        scope_levels=None if args.level is None else frozenset(args.level),
        categories=None if args.category is None else frozenset(args.category),
        include_superseded=args.all,
        valid_at=args.as_of,
        created_after=args.after,
        created_before=args.before,
        min_importance=args.min_importance,
        limit=args.limit or None,
        offset=args.offset,
    )
    async with open_memory(invocation, read_only=True) as memory:
        found = await memory.query(where)
    table = format_memories(
        found, invocation.width, with_user=args.user is None, as_of=args.as_of is not None
    )
    invocation.emit([memory_to_json(m) for m in found], table)
    if args.limit and len(found) == args.limit:
        invocation.note(
            f"(showing {args.limit}; more may follow: --offset {args.offset + args.limit}, "
            "or --limit 0 for all)"
        )
    return ExitCode.OK


async def run_show(invocation: Invocation) -> int:
    memory_id = invocation.args.id
    async with open_memory(invocation, read_only=True) as memory:
        with not_theirs(invocation, memory_id):
            found = await by_id(memory, invocation).get(memory_id)
    invocation.emit(memory_to_json(found), format_details(found, invocation.width))
    return ExitCode.OK


async def run_history(invocation: Invocation) -> int:
    memory_id = invocation.args.id
    async with open_memory(invocation, read_only=True) as memory:
        with not_theirs(invocation, memory_id):
            chain = await by_id(memory, invocation).get_history(memory_id)
    invocation.emit([memory_to_json(m) for m in chain], format_history(chain, invocation.width))
    return ExitCode.OK


def _disk_usage(db: Path) -> int:
    """Bytes of the database and everything beside it that belongs to it (WAL, index, lock)."""
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())


async def run_stats(invocation: Invocation) -> int:
    args = invocation.args
    async with open_memory(invocation, read_only=True) as memory:
        stats = await memory.stats(
            args.user, session_id=args.session, agent_id=args.agent, turn_id=args.turn
        )
        config = memory.config
        model, dimension = memory.embedder.model_name, memory.embedder.dimension
    size = None if config.db_url is not None else _disk_usage(config.path)
    data: dict[str, Any] = {
        "database": config.location,
        "bytes_on_disk": size,
        "embedder": {"model": model, "dimension": dimension},
        "total": stats.total,
        "current": stats.current,
        "superseded": stats.superseded,
        "categories": stats.categories,
        "scopes": stats.scopes,
    }
    about = [
        (
            "database",
            config.location if size is None else f"{config.location} ({size / 1e6:.1f} MB on disk)",
        ),
        ("embedder", f"{model} ({dimension} dimensions)"),
    ]
    if args.user:
        about.append(("user", args.user))
    invocation.emit(data, format_stats(stats, about))
    return ExitCode.OK
