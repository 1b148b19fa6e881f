"""ScopeCatalog: which keys a search context may see, answered from memory in microseconds.

The vector index needs the set of keys a context is allowed to see *before* it searches (so a
user with one memory among millions still finds it). Asking SQLite for that set costs tens of
milliseconds for a large user; this catalog keeps the few columns the visibility rule reads as
numpy arrays indexed by key, and applies :func:`headroom.scoping.rules.sees` vectorised.
Pure: no I/O; the SQLite vector index feeds it from the store.

Both halves of a search ask for the same allowed set, and a user searching again between
writes asks for it again: :meth:`ScopeCatalog.allowed` keeps its last answers until the next
change (at 1M keys one answer costs a few milliseconds of numpy; a kept one, a dict lookup).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from headroom.scoping.rules import Scope

__all__ = ["ScopeCatalog"]

_ABSENT = 0  # code of "no id at this level"; also marks free slots in the user column
_KEPT_ANSWERS = 8  # allowed() answers kept between changes (a few contexts searching in turn)

_Question = tuple[Scope, tuple[str, ...] | None, bool]


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
        self._per_user: dict[int, int] = {}  # user code -> keys held
        self._answers: dict[_Question, npt.NDArray[np.int64]] = {}

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
        self._answers.clear()
        previous = int(self._user[key])
        if previous == _ABSENT:
            self._count += 1
        else:
            self._per_user[previous] -= 1
        code = self._code(user_id)
        self._per_user[code] = self._per_user.get(code, 0) + 1
        self._user[key] = code
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
            self._answers.clear()
            self._current[key] = is_current

    def remove(self, keys: Iterable[int]) -> None:
        self._answers.clear()
        for key in keys:
            if 0 <= key < self._size and self._user[key] != _ABSENT:
                self._per_user[int(self._user[key])] -= 1
                self._user[key] = _ABSENT
                self._current[key] = False
                self._count -= 1

    def user_keys(self, user_id: str) -> int:
        """How many keys ``user_id`` holds, whatever their scope, category or version."""
        code = self._lookup(user_id)
        return self._per_user.get(code, 0) if code > 0 else 0

    def allowed(
        self,
        scope: Scope,
        *,
        categories: Iterable[str] | None = None,
        include_superseded: bool = False,
    ) -> npt.NDArray[np.int64]:
        """The sorted keys ``scope`` sees: every id a memory carries equals the scope's.

        The array is shared between callers until the next change: read it, never write it.
        """
        question: _Question = (
            scope,
            None if categories is None else tuple(sorted(categories)),
            include_superseded,
        )
        answer = self._answers.get(question)
        if answer is None:
            answer = self._allowed(scope, question[1], include_superseded)
            answer.flags.writeable = False
            if len(self._answers) >= _KEPT_ANSWERS:
                del self._answers[next(iter(self._answers))]
            self._answers[question] = answer
        return answer

    def _allowed(
        self, scope: Scope, categories: tuple[str, ...] | None, include_superseded: bool
    ) -> npt.NDArray[np.int64]:
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
            view = column[:n]
            if value is None:
                mask &= view == _ABSENT
            else:
                mask &= (view == _ABSENT) | (view == self._lookup(value))
        if not include_superseded:
            mask &= self._current[:n]
        if categories is not None:
            codes = [self._lookup(c) for c in categories]
            mask &= np.isin(self._category[:n], np.asarray(codes, dtype=np.int32))
        return np.flatnonzero(mask).astype(np.int64)
