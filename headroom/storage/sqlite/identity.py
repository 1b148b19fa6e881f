"""Whose a database file is: its id and generation, and where it lives.

A vector index file beside a database is only a cache, and only of that database file: its
stamp (see :mod:`.graph_file`) records the database's ``database_id`` and ``generation`` (see
:mod:`.migrations`) and the file's *home*, its real path and inode. A copy of the database
carries the same id but lives elsewhere, a moved one too, and a re-embedded one has another
generation: none of them uses an index made for the original. Nothing is written to check it.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from headroom.storage.sqlite.operations import get_meta, set_meta

__all__ = ["Identity", "home_of", "next_generation", "read_identity"]

_ID, _GENERATION = "database_id", "generation"


@dataclass(frozen=True, slots=True)
class Identity:
    """The id and generation of a database, and the file it was opened from."""

    database_id: str
    generation: int
    home: str

    @property
    def owner(self) -> str:
        """What an index file's stamp must say to be used by this database."""
        return f"{self.database_id}/{self.generation}@{self.home}"


def home_of(path: Path) -> str:
    """Where ``path`` lives: its real path and inode (a copy or a move changes either)."""
    real = os.path.realpath(path)
    return f"{real}#{os.stat(real).st_ino}"


def read_identity(conn: sqlite3.Connection, home: str) -> Identity | None:
    """The database's identity; None for a database older than the change log."""
    database_id, generation = get_meta(conn, _ID), get_meta(conn, _GENERATION)
    if database_id is None or generation is None:
        return None
    return Identity(database_id, int(generation), home)


def next_generation(conn: sqlite3.Connection) -> None:
    """Inside a write transaction: count the generation up (the embeddings were replaced)."""
    generation = get_meta(conn, _GENERATION)
    set_meta(conn, {_GENERATION: str(int(generation or 0) + 1)})
