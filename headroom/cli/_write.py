"""Commands that change memories: add, supersede, rollback, delete, clear."""

from __future__ import annotations

from headroom.cli._context import Invocation, open_memory
from headroom.cli._errors import CliError, ExitCode
from headroom.cli._format import format_details
from headroom.cli._read import by_id, not_theirs
from headroom.cli._records import memory_to_json

__all__ = ["run_add", "run_clear", "run_delete", "run_rollback", "run_supersede"]


async def run_add(invocation: Invocation) -> int:
    args = invocation.args
    user = invocation.user()
    async with open_memory(invocation, create=True) as memory:
        added = await memory.add(
            args.content,
            user_id=user,
            category=args.category,
            importance=args.importance,
            session_id=args.session,
            agent_id=args.agent,
            turn_id=args.turn,
            metadata=args.metadata,
        )
    details = format_details(added, invocation.width)
    invocation.emit(memory_to_json(added), f"added {added.id}\n{details}")
    return ExitCode.OK


async def run_supersede(invocation: Invocation) -> int:
    args = invocation.args
    async with open_memory(invocation) as memory:
        with not_theirs(invocation, args.id):
            new = await by_id(memory, invocation).supersede(
                args.id,
                args.content,
                category=args.category,
                importance=args.importance,
                metadata=args.metadata,
            )
    details = format_details(new, invocation.width)
    invocation.emit(memory_to_json(new), f"{args.id} superseded by {new.id}\n{details}")
    return ExitCode.OK


async def run_rollback(invocation: Invocation) -> int:
    args = invocation.args
    async with open_memory(invocation) as memory:
        with not_theirs(invocation, args.id):
            acting = by_id(memory, invocation)
            target = await acting.get(args.id)
            if target.is_current:
                # The engine says so too, as a ValidationError (exit 2); it is a conflict with
                # the stored state, not a mistyped command line.
                raise CliError(
                    f"memory {args.id!r} is already the current version; nothing to roll back",
                    ExitCode.CONFLICT,
                    "pass the id of an older version (`headroom history ID` lists them)",
                )
            new = await acting.rollback(args.id)
    details = format_details(new, invocation.width)
    invocation.emit(memory_to_json(new), f"rolled back to {args.id}: now {new.id}\n{details}")
    return ExitCode.OK


async def run_delete(invocation: Invocation) -> int:
    args = invocation.args
    async with open_memory(invocation) as memory:
        with not_theirs(invocation, args.id):
            count = await by_id(memory, invocation).delete(args.id)
    plural = "version" if count == 1 else "versions"
    invocation.emit(
        {"deleted": count, "id": args.id}, f"deleted {args.id} ({count} {plural} of its chain)"
    )
    return ExitCode.OK


def _confirm(invocation: Invocation, question: str) -> bool:
    if not invocation.stdin.isatty():
        raise CliError(
            "refusing to delete without confirmation: stdin is not a terminal",
            ExitCode.USAGE,
            "pass --yes to confirm",
        )
    invocation.stderr.write(f"{question} [y/N] ")
    invocation.stderr.flush()
    return invocation.stdin.readline().strip().lower() in ("y", "yes")


async def run_clear(invocation: Invocation) -> int:
    args = invocation.args
    user = invocation.user()
    scope = {"session_id": args.session, "agent_id": args.agent, "turn_id": args.turn}
    what = ", ".join(f"{k.removesuffix('_id')} {v!r}" for k, v in scope.items() if v)
    target = f"user {user!r}" + (f" with {what}" if what else "")
    async with open_memory(invocation) as memory:
        if not args.yes:
            total = (await memory.stats(user, **scope)).total
            if total == 0:
                invocation.emit({"deleted": 0}, f"nothing to delete for {target}")
                return ExitCode.OK
            if not _confirm(invocation, f"delete {total} memories of {target}?"):
                invocation.note("nothing deleted")
                return ExitCode.ERROR
        count = await memory.clear(user_id=user, **scope)
    invocation.emit({"deleted": count}, f"deleted {count} memories of {target}")
    return ExitCode.OK
