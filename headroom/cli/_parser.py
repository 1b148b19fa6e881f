"""The command line: every command, option and default, with help a person can act on."""

from __future__ import annotations

import argparse
import json
import os
from datetime import datetime, timezone
from typing import Any

from headroom.memory import EmbedderBackend, MemoryCategory, ScopeLevel

__all__ = ["build_parser"]

_CATEGORIES = [c.value for c in MemoryCategory]
_LEVELS = [level.value for level in ScopeLevel]
_BACKENDS = [b.value for b in EmbedderBackend]

_DESCRIPTION = """\
Inspect and fix what an assistant remembers: a headroom memory database, from a terminal.

Every command takes --db, --user and --json, before or after the command name."""

_EPILOG = """\
environment:
  HEADROOM_DB              default for --db (else ~/.headroom/memory.db)
  HEADROOM_DB_URL          a PostgreSQL URL to use instead of the file (a --db wins)
  HEADROOM_USER            default for --user
  HEADROOM_EMBEDDER        default for --embedder (local, openai or ollama; default local)
  HEADROOM_EMBEDDER_MODEL  default for --embedder-model
  OPENAI_BASE_URL, OPENAI_API_KEY   the openai embedder's server, and `headroom chat`'s

exit codes:
  0 ok   1 failed   2 bad command line   3 not found (memory id or database)
  4 conflict (no longer current; ids already stored)   5 database in use by another process
  130 interrupted

Run `headroom COMMAND --help` for a command's options."""


def _time(text: str) -> datetime:
    """An ISO 8601 date or time (naive means UTC), or ``now``."""
    if text.strip().lower() == "now":
        return datetime.now(timezone.utc)
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {text!r} (use ISO 8601, e.g. 2025-01-31 or 2025-01-31T09:15:00Z)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _text(text: str) -> str:
    """A memory's text: anything but empty or only whitespace."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty or only whitespace")
    return text


def _id(text: str) -> str:
    """A user, session, agent, turn or memory id: anything but empty or only whitespace.

    An empty --user would otherwise read as "no user" and lift the guard of the commands
    that take a memory id; it is refused, like an empty HEADROOM_USER (see ``main``).
    """
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must not be empty or only whitespace, got {text!r}")
    return text


def _similarity(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not -1.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between -1 and 1 (a cosine), got {text}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _positive(text: str) -> int:
    value = _count(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _metadata(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON ({exc.msg}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f'must be a JSON object like {{"k": "v"}}: {text!r}')
    return value


def _common(*, top: bool) -> argparse.ArgumentParser:
    """--db, --user, --json and the embedder, accepted before and after the command name.

    On the subcommands the defaults are SUPPRESS, so a value given before the command name is
    not overwritten by the subcommand's default (argparse would otherwise reset it).
    """
    parser = argparse.ArgumentParser(add_help=False)

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    group = parser.add_argument_group("common options")
    group.add_argument(
        "--db",
        metavar="PATH|URL",
        # None rather than $HEADROOM_DB: MemoryConfig reads the variable itself, and `demo` must
        # tell an explicit --db (keep it) from the environment's (never write demo data there).
        default=default(None),
        help="the database file, or a postgresql:// URL "
        "(default: $HEADROOM_DB_URL, else $HEADROOM_DB, else ~/.headroom/memory.db)",
    )
    group.add_argument(
        "--user",
        "-u",
        metavar="ID",
        type=_id,
        # None, not $HEADROOM_USER: main() reads the variable, so that an empty one is
        # reported as the variable's fault rather than as a bad --user.
        default=default(None),
        help="whose memories (default: $HEADROOM_USER)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print machine-readable JSON instead of tables",
    )
    group.add_argument(
        "--embedder",
        choices=_BACKENDS,
        default=default(os.environ.get("HEADROOM_EMBEDDER") or "local"),
        help="the embedder the database was built with (default: $HEADROOM_EMBEDDER, else local)",
    )
    group.add_argument(
        "--embedder-model",
        metavar="NAME",
        default=default(os.environ.get("HEADROOM_EMBEDDER_MODEL") or None),
        help="its model (default: $HEADROOM_EMBEDDER_MODEL, else the backend's usual model)",
    )
    return parser


def _scope_ids(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--session", "-s", metavar="ID", type=_id, help=f"session id {what}")
    parser.add_argument("--agent", "-a", metavar="ID", type=_id, help=f"agent id {what}")
    parser.add_argument("--turn", "-t", metavar="ID", type=_id, help=f"turn id {what}")


def _content_options(parser: argparse.ArgumentParser, *, inherit: bool) -> None:
    suffix = " (default: the old version's)" if inherit else ""
    parser.add_argument(
        "--category",
        "-c",
        choices=_CATEGORIES,
        metavar="NAME",
        default=None if inherit else "fact",
        help=f"{', '.join(_CATEGORIES)}{suffix or ' (default: fact)'}",
    )
    parser.add_argument(
        "--importance",
        "-i",
        type=_fraction,
        metavar="F",
        default=None if inherit else 0.5,
        help=f"0 to 1{suffix or ' (default: 0.5)'}",
    )
    parser.add_argument(
        "--metadata",
        "-m",
        type=_metadata,
        metavar="JSON",
        help=f'a JSON object, e.g. \'{{"source": "ticket-42"}}\'{suffix}',
    )


def build_parser() -> argparse.ArgumentParser:
    from headroom import __version__

    parser = argparse.ArgumentParser(
        prog="headroom",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common(top=True)],
    )
    parser.add_argument("--version", action="version", version=f"headroom {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    common = _common(top=False)

    def command(name: str, summary: str, description: str = "") -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=summary,
            description=description or summary,
            parents=[common],
        )

    p = command(
        "add",
        "store a memory",
        "Store a memory for --user. Its scope is the deepest id given: with --session it is "
        "seen only in that session; with none, in every context of the user.",
    )
    p.add_argument("content", type=_text, help="the memory's text")
    _scope_ids(p, "(narrows who sees it)")
    _content_options(p, inherit=False)

    p = command(
        "search",
        "hybrid search, as an assistant in that context would",
        "The memories --user sees in the given context that best match QUERY, best first "
        "(vector and keyword search fused). SCORE ranks within one search; SIMILARITY is the "
        "cosine similarity, comparable across searches.",
    )
    p.add_argument("query", help="what to look for")
    _scope_ids(p, "of the asking context")
    p.add_argument(
        "--top-k", "-k", type=_positive, default=5, metavar="N", help="how many (default: 5)"
    )
    p.add_argument(
        "--category",
        "-c",
        action="append",
        choices=_CATEGORIES,
        metavar="NAME",
        help=f"only this category (repeatable): {', '.join(_CATEGORIES)}",
    )
    p.add_argument(
        "--include-superseded", action="store_true", help="also search old versions of facts"
    )
    p.add_argument(
        "--min-similarity",
        type=_similarity,
        metavar="F",
        help="drop hits whose cosine similarity is lower (-1 to 1)",
    )

    p = command(
        "list",
        "list memories, with filters",
        "Memories matching every filter given, oldest first. Ids match literally: --user "
        "alone lists all of that user's memories across sessions; no --user lists everyone's.",
    )
    _scope_ids(p, "to match")
    p.add_argument(
        "--level",
        action="append",
        choices=_LEVELS,
        metavar="LEVEL",
        help=f"only this scope level (repeatable): {', '.join(_LEVELS)}",
    )
    p.add_argument(
        "--category",
        "-c",
        action="append",
        choices=_CATEGORIES,
        metavar="NAME",
        help=f"only this category (repeatable): {', '.join(_CATEGORIES)}",
    )
    p.add_argument("--all", action="store_true", help="include superseded versions")
    p.add_argument(
        "--as-of",
        type=_time,
        metavar="TIME",
        help="what was current at TIME (ISO 8601, naive = UTC; overrides --all)",
    )
    p.add_argument("--after", type=_time, metavar="TIME", help="created after TIME")
    p.add_argument("--before", type=_time, metavar="TIME", help="created before TIME")
    p.add_argument("--min-importance", type=_fraction, metavar="F", help="importance at least F")
    p.add_argument(
        "--limit",
        "-n",
        type=_count,
        default=50,
        metavar="N",
        help="at most this many, 0 for all (default: 50)",
    )
    p.add_argument("--offset", type=_count, default=0, metavar="N", help="skip this many first")

    p = command("show", "every field of one memory")
    p.add_argument("id", type=_id, help="the memory's id")

    p = command("history", "every version of a fact, oldest first")
    p.add_argument("id", type=_id, help="any version's id")

    p = command(
        "supersede",
        "replace a fact with a new version (the old one stays in its history)",
    )
    p.add_argument("id", type=_id, help="the current version's id")
    p.add_argument("content", type=_text, help="the new text")
    _content_options(p, inherit=True)

    p = command(
        "rollback",
        "make an older version current again (as a new version; history is kept)",
    )
    p.add_argument("id", type=_id, help="the old version's id")

    p = command("delete", "forget a memory: every version of its chain")
    p.add_argument("id", type=_id, help="any version's id")

    p = command(
        "clear",
        "delete all of a user's memories, or those of one session, agent or turn",
        "Delete --user's memories; with --session (--agent, --turn) only those carrying that "
        "id. Never touches another user. Asks first unless --yes.",
    )
    _scope_ids(p, "to match")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    p = command("stats", "counts by category and scope, and what the database holds")
    _scope_ids(p, "to match")

    p = command(
        "export",
        "write memories as JSON Lines (every version; a backup or a move)",
        "One JSON object per line with every field; `headroom import` restores it exactly "
        "(ids, chains, timestamps, metadata). With --user, only that user's memories. With "
        "--json, one JSON array instead (import reads both).",
    )
    p.add_argument(
        "--output", "-o", metavar="FILE", default="-", help="where to write (default: stdout)"
    )

    p = command(
        "import",
        "read memories from JSON Lines or a JSON array (as written by export)",
        "Store the memories exactly as in FILE: ids, chains, timestamps and metadata are kept "
        "and the text is embedded again. Everything is checked first (every supersession link "
        "must join two versions of one user's fact): a bad record stores nothing. All or "
        "nothing unless --skip-existing.",
    )
    p.add_argument("file", help="the JSON Lines (or JSON array) file, or - for stdin")
    p.add_argument(
        "--skip-existing", action="store_true", help="skip ids already stored instead of failing"
    )

    command(
        "reindex",
        "rebuild the vector index from the stored embeddings",
        "Rebuild the vector index file beside the database from the embeddings in SQLite "
        "(no re-embedding). For a damaged or deleted index file.",
    )

    p = command(
        "reembed",
        "re-embed every memory with another embedder and switch to it",
        "Compute new vectors for every memory with another embedder, then switch the database "
        "to it in one step. Afterwards open it with the new --embedder/--embedder-model.",
    )
    p.add_argument("--to", dest="to_backend", choices=_BACKENDS, required=True, help="backend")
    p.add_argument("--to-model", metavar="NAME", help="model (default: the backend's usual)")

    p = command(
        "demo",
        "run the offline demonstration of the engine",
        "Two users, sessions, hybrid search, a supersession chain with history and an as-of "
        "query, with timings, on a temporary database (--db to keep one). With an "
        "OpenAI-compatible endpoint (OPENAI_BASE_URL/OPENAI_API_KEY, or Ollama on localhost) "
        "it also chats through with_memory.",
    )
    p.add_argument("--no-chat", action="store_true", help="skip the chat part even if possible")

    p = command(
        "chat",
        "chat with memory against an OpenAI-compatible endpoint (e.g. a local Ollama)",
        "An interactive chat through with_memory: the model sees what --user's memories say "
        "and stores what it learns. Type /exit (or Ctrl-D) to leave, /memories to list them.",
    )
    p.add_argument(
        "--session", "-s", metavar="ID", type=_id, help="session id for this conversation"
    )
    p.add_argument(
        "--model",
        metavar="NAME",
        default=os.environ.get("HEADROOM_CHAT_MODEL") or None,
        help="chat model (default: $HEADROOM_CHAT_MODEL, else gpt-4o-mini, or for Ollama "
        "the first model it has)",
    )
    p.add_argument(
        "--base-url",
        metavar="URL",
        help="endpoint (default: $OPENAI_BASE_URL, else Ollama on localhost:11434 if it "
        "answers, else OpenAI)",
    )
    p.add_argument("--api-key", metavar="KEY", help="API key (default: $OPENAI_API_KEY)")

    from headroom.cli import _mcp

    _mcp.add_parser(commands, common)
    return parser
