"""Commands that move or rebuild data: export, import, reindex, reembed."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from headroom.cli._context import Invocation, open_memory
from headroom.cli._errors import CliError, ExitCode, describe
from headroom.cli._progress import ProgressBar, spinner
from headroom.cli._records import RecordError, memory_from_record, memory_to_record
from headroom.errors import HeadroomError
from headroom.memory import (
    HierarchicalMemory,
    Memory,
    MemoryConfig,
    MemoryFilter,
    Progress,
    ReembedProgress,
)

__all__ = ["run_export", "run_import", "run_reembed", "run_reindex"]

_PAGE = 1000  # memories read per query while exporting: bounded memory for any size


@contextmanager
def _output(invocation: Invocation, target: str) -> Iterator[TextIO]:
    """stdout for ``-``; else a file that appears complete or not at all (temp + rename)."""
    if target == "-":
        yield invocation.stdout
        return
    path = Path(target).expanduser()
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as stream:
            yield stream
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


async def _every_version(memory: HierarchicalMemory, user_id: str | None) -> AsyncIterator[Memory]:
    """Oldest first, a page at a time (the process lock keeps the order stable meanwhile)."""
    offset = 0
    while True:
        page = await memory.query(
            MemoryFilter(user_id=user_id, include_superseded=True, limit=_PAGE, offset=offset)
        )
        for found in page:
            yield found
        if len(page) < _PAGE:
            return
        offset += _PAGE


async def run_export(invocation: Invocation) -> int:
    args = invocation.args
    target: str = args.output
    # To stdout with --json: one JSON array (stdout carries one document), still one record a
    # line. Otherwise, and always in a file, JSON Lines: the backup format.
    array = invocation.json and target == "-"
    count = 0
    async with open_memory(invocation, read_only=True) as memory:
        try:
            with _output(invocation, target) as stream:
                if array:
                    stream.write("[")
                # Every version, oldest first: chains arrive in order and import keeps them.
                async for found in _every_version(memory, args.user):
                    line = json.dumps(
                        memory_to_record(found), ensure_ascii=False, separators=(",", ":")
                    )
                    if array:
                        line = ("\n" if count == 0 else ",\n") + line
                    else:
                        line += "\n"
                    stream.write(line)
                    count += 1
                if array:
                    stream.write("\n]\n" if count else "]\n")
        except BrokenPipeError:
            raise  # the reader left (`| head`): main() ends quietly
        except OSError as exc:
            raise CliError(f"cannot write {target}: {exc.strerror or exc}") from None
    if target != "-":
        invocation.emit({"exported": count, "output": target}, f"exported {count} to {target}")
    return ExitCode.OK


def _read_records(invocation: Invocation, source: str) -> list[Memory]:
    """Every memory in the file, or an error naming the line; nothing is stored before.

    JSON Lines (as ``export`` writes), or one JSON array of records (as ``export --json``
    writes to stdout).
    """
    try:
        if source == "-":
            text = invocation.stdin.read()
        else:
            text = Path(source).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CliError(f"cannot read {source}: {message}") from None
    if text.lstrip().startswith("["):
        return _records_of_array(source, text)
    memories: list[Memory] = []
    seen: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            found = memory_from_record(json.loads(line))
        except json.JSONDecodeError as exc:
            raise CliError(
                f"{source}, line {number}: not JSON ({exc.msg})",
                hint="the file must hold one JSON object per line, as `headroom export` writes",
            ) from None
        except RecordError as exc:
            raise CliError(f"{source}, line {number}: {exc}") from None
        _check_unique(source, f"line {number}", found, seen)
        memories.append(found)
    return memories


def _records_of_array(source: str, text: str) -> list[Memory]:
    try:
        records = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(
            f"{source}, line {exc.lineno}: not JSON ({exc.msg})",
            hint="the file must hold one JSON array of records, or one record per line",
        ) from None
    memories: list[Memory] = []
    seen: dict[str, str] = {}
    for number, record in enumerate(records, start=1):
        try:
            found = memory_from_record(record)
        except RecordError as exc:
            raise CliError(f"{source}, record {number}: {exc}") from None
        _check_unique(source, f"record {number}", found, seen)
        memories.append(found)
    return memories


def _check_unique(source: str, where: str, found: Memory, seen: dict[str, str]) -> None:
    if found.id in seen:
        raise CliError(f"{source}, {where}: id {found.id!r} repeats {seen[found.id]}")
    seen[found.id] = where


async def _already_stored(memory: HierarchicalMemory, ids: set[str]) -> list[str]:
    return [m.id async for m in _every_version(memory, None) if m.id in ids]


async def run_import(invocation: Invocation) -> int:
    args = invocation.args
    memories = _read_records(invocation, args.file)
    if args.user:
        memories = [m for m in memories if m.user_id == args.user]
    imported = 0
    async with open_memory(invocation, create=True) as memory:
        if not args.skip_existing:
            # Checked here to say so with its own exit code (the engine refuses it too).
            clash = await _already_stored(memory, {m.id for m in memories})
            if clash:
                raise CliError(
                    f"{len(clash)} of these ids are already stored, e.g. {clash[0]!r}; "
                    "nothing was imported",
                    ExitCode.CONFLICT,
                    "pass --skip-existing to import only the others, or import into a new --db",
                )
        bar = ProgressBar("importing", len(memories), invocation.stderr)

        def report(progress: Progress) -> None:
            nonlocal imported
            imported = progress.done
            bar.update(progress.done, progress.total)

        try:
            # Checked whole (values and chains) before anything is stored, then committed in
            # steps of whole chains.
            imported = await memory.import_memories(
                memories, skip_existing=args.skip_existing, progress=report
            )
        except HeadroomError as exc:
            if not imported:
                raise
            code, message, _ = describe(exc)
            raise CliError(
                f"{message} (after {imported} memories were imported)",
                code,
                "fix the cause, then run the same import again with --skip-existing",
            ) from exc
        finally:
            bar.close()
    skipped = len(memories) - imported
    invocation.emit(
        {"imported": imported, "skipped": skipped},
        f"imported {imported} memories"
        + (f", skipped {skipped} already stored" if skipped else ""),
    )
    return ExitCode.OK


async def run_reindex(invocation: Invocation) -> int:
    async with (
        open_memory(invocation) as memory,
        spinner("rebuilding the vector index", invocation.stderr),
    ):
        count = await memory.reindex()
    invocation.emit({"vectors": count}, f"rebuilt the vector index: {count} vectors")
    return ExitCode.OK


async def run_reembed(invocation: Invocation) -> int:
    args = invocation.args
    current = invocation.config()
    target = MemoryConfig(
        db_path=current.path, embedder_backend=args.to_backend, embedder_model=args.to_model
    )
    async with open_memory(invocation) as memory:
        bar = ProgressBar("re-embedding", 0, invocation.stderr)

        def report(progress: ReembedProgress) -> None:
            bar.update(progress.done, progress.total)

        try:
            await memory.reembed(target, progress=report)
        finally:
            bar.close()
        model, dimension = memory.embedder.model_name, memory.embedder.dimension
    invocation.emit(
        {"embedder": {"backend": target.backend.value, "model": model, "dimension": dimension}},
        f"re-embedded with {model} ({dimension} dimensions)",
    )
    invocation.note(
        f"from now on open this database with --embedder {target.backend.value} "
        f"--embedder-model {target.model}"
    )
    return ExitCode.OK
