"""The ``headroom`` command: inspect and fix a memory database from a terminal.

One process per command: each invocation opens the database, runs one async command with
``anyio.run`` and closes it. ``main`` returns the exit code (see :class:`ExitCode`); it never
lets a :class:`~headroom.errors.HeadroomError` escape as a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from headroom.cli._errors import CliError, ExitCode, describe
from headroom.errors import HeadroomError

if sys.version_info < (3, 11):  # pragma: no cover - anyio depends on the backport there
    from exceptiongroup import BaseExceptionGroup

if TYPE_CHECKING:
    from headroom.cli._context import Invocation
    from headroom.embedders import Embedder

__all__ = ["ExitCode", "main"]

Runner = Callable[["Invocation"], Awaitable[int]]


def _runners() -> dict[str, Runner]:
    # Imported here, not at module load: `headroom --help` stays instant (no numpy, no onnx).
    from headroom.cli import _mcp, _read, _transfer, _write

    return {
        "add": _write.run_add,
        "search": _read.run_search,
        "list": _read.run_list,
        "show": _read.run_show,
        "history": _read.run_history,
        "supersede": _write.run_supersede,
        "rollback": _write.run_rollback,
        "delete": _write.run_delete,
        "clear": _write.run_clear,
        "stats": _read.run_stats,
        "export": _transfer.run_export,
        "import": _transfer.run_import,
        "reindex": _transfer.run_reindex,
        "reembed": _transfer.run_reembed,
        "demo": _run_demo,
        "chat": _run_chat,
        "mcp": _mcp.run_mcp,
    }


async def _run_demo(invocation: Invocation) -> int:
    from headroom.cli._context import check_database_path, is_database_url
    from headroom.cli._demo import run_demo

    args = invocation.args
    db = args.db if args.db is None or is_database_url(args.db) else check_database_path(args.db)
    return await run_demo(db, chat=not args.no_chat, out=invocation.stdout)


async def _run_chat(invocation: Invocation) -> int:
    from headroom.cli._chat import run_chat  # loads openai only when chatting

    return await run_chat(invocation)


def _leaf(exc: BaseException) -> BaseException:
    """The one exception inside (nested) single-member exception groups, else ``exc``."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _fail(code: ExitCode, message: str, hint: str | None) -> int:
    sys.stderr.write(f"headroom: error: {message}\n")
    if hint:
        sys.stderr.write(f"hint: {hint}\n")
    return int(code)


def main(argv: Sequence[str] | None = None, *, embedder: Embedder | None = None) -> int:
    """Run one command line (``sys.argv[1:]`` by default); return the exit code.

    ``embedder`` replaces the one --embedder describes: a program with its own embedder gets
    the whole CLI for its databases with ``sys.exit(main(embedder=MyEmbedder()))``.
    """
    from headroom.cli._parser import build_parser

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else int(ExitCode.USAGE)
    if args.command is None:
        parser.print_usage(sys.stderr)
        sys.stderr.write("headroom: error: a command is required (see `headroom --help`)\n")
        return int(ExitCode.USAGE)
    if args.user is None:
        args.user = os.environ.get("HEADROOM_USER")
        if args.user is not None and not args.user.strip():
            # Set but blank: most likely a script's unset variable. Reading it as "no user"
            # would lift the --user guard of the id commands, so it is refused.
            return _fail(
                ExitCode.USAGE,
                f"HEADROOM_USER is set but empty ({args.user!r}); a user id cannot be blank",
                "set HEADROOM_USER to a user id, or unset it (`unset HEADROOM_USER`)",
            )

    import anyio

    from headroom.cli._context import Invocation

    invocation = Invocation(args, sys.stdout, sys.stderr, sys.stdin, embedder)
    runner = _runners()[args.command]
    try:
        try:
            return int(anyio.run(runner, invocation, backend="asyncio"))
        except BaseExceptionGroup as group:
            raise _leaf(group) from None
    except CliError as exc:
        return _fail(exc.code, str(exc), exc.hint)
    except HeadroomError as exc:
        return _fail(*describe(exc))
    except KeyboardInterrupt:
        sys.stderr.write("\nheadroom: interrupted\n")
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (`headroom export | head`): not an error worth a message.
        # Point stdout at devnull so the interpreter's final flush doesn't raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return int(ExitCode.OK)
