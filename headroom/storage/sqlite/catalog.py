"""ScopeCatalog: which keys a search context may see, answered from memory in microseconds.

The vector index needs the set of keys a context is allowed to see *before* it searches (so a
user with one memory among millions still finds it). Asking SQLite for that set costs tens of
milliseconds for a large user; this catalog keeps the few columns the visibility rule reads as
numpy arrays indexed by key, and applies :func:`headroom.scoping.rules.sees` vectorised.
Pure: no I/O; the SQLite vector index feeds it from the store.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from headroom.scoping.rules import Scope

__all__ = ["ScopeCatalog"]

_ABSENT = 0  # code of "no id at this level"; also marks free slots in the user column


class ScopeCatalog:
    """Per-key scope ids, current flag and category, for fast visibility masks."""

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}
        self._size = 0
        capacity = 1024
        self._user = np.zeros(capacity, dtype=np.int32)
        self._session = np.zeros(capacity, dtype=np.int32)
        self._agent = np.zeros(capacity, dtype=np.int32)
        self._turn = np.zeros(capacity, dtype=np.int32)
        self._category = np.zeros(capacity, dtype=np.int32)
        self._current = np.zeros(capacity, dtype=bool)
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def _code(self, value: str | None) -> int:
        if value is None:
            return _ABSENT
        code = self._codes.get(value)
        if code is None:
            code = self._codes[value] = len(self._codes) + 1
        return code

    def _lookup(self, value: str | None) -> int:
        """The code of ``value``; -1 (matches nothing) when never seen."""
        if value is None:
            return _ABSENT
        return self._codes.get(value, -1)

    def _grow(self, key: int) -> None:
        capacity = len(self._user)
        if key < capacity:
            return
        new = max(capacity * 2, key + 1)
        for name in ("_user", "_session", "_agent", "_turn", "_category", "_current"):
            old = getattr(self, name)
            grown = np.zeros(new, dtype=old.dtype)
            grown[:capacity] = old
            setattr(self, name, grown)

    def add(
        self,
        key: int,
        user_id: str,
        session_id: str | None,
        agent_id: str | None,
        turn_id: str | None,
        category: str,
        is_current: bool,
    ) -> None:
        if key < 0:
            raise ValueError("keys are non-negative")
        self._grow(key)
        if self._user[key] == _ABSENT:
            self._count += 1
        self._user[key] = self._code(user_id)
        self._session[key] = self._code(session_id)
        self._agent[key] = self._code(agent_id)
        self._turn[key] = self._code(turn_id)
        self._category[key] = self._code(category)
        self._current[key] = is_current
        self._size = max(self._size, key + 1)

    def extend(
        self,
        rows: Iterable[tuple[int, str, str | None, str | None, str | None, str, bool]],
    ) -> None:
        for row in rows:
            self.add(*row)

    def set_current(self, key: int, is_current: bool) -> None:
        if 0 <= key < self._size and self._user[key] != _ABSENT:
            self._current[key] = is_current

    def remove(self, keys: Iterable[int]) -> None:
        for key in keys:
            if 0 <= key < self._size and self._user[key] != _ABSENT:
                self._user[key] = _ABSENT
                self._current[key] = False
                self._count -= 1

    def allowed(
        self,
        scope: Scope,
        *,
        categories: Iterable[str] | None = None,
        include_superseded: bool = False,
    ) -> npt.NDArray[np.int64]:
        """The sorted keys ``scope`` sees: every id a memory carries equals the scope's."""
        n = self._size
        user = self._lookup(scope.user_id)
        if user <= 0:
            return np.empty(0, dtype=np.int64)
        mask = self._user[:n] == user
        for column, value in (
            (self._session, scope.session_id),
            (self._agent, scope.agent_id),
            (self._turn, scope.turn_id),
        ):
            wanted = self._lookup(value)
            view = column[:n]
            mask &= (view == _ABSENT) | (view == wanted)
        if not include_superseded:
            mask &= self._current[:n]
        if categories is not None:
            codes = [self._lookup(c) for c in categories]
            mask &= np.isin(self._category[:n], np.asarray(codes, dtype=np.int32))
        return np.flatnonzero(mask).astype(np.int64)
