"""Whose memories a server's tools act on, fixed when the server starts. Pure: no I/O.

The user is never an argument of a tool: a model cannot choose another user. With
``per_call_ids`` the tools also take ``session_id`` and ``agent_id`` arguments, which narrow
the context within that user (they replace the server's own session and agent ids).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from headroom.domain.validation import check_id
from headroom.errors import ValidationError
from headroom.memory import HierarchicalMemory, Memory, Scope, ScopedMemory, ScopeLevel
from headroom.wrapper.prompt import available_scopes, scope_ids

__all__ = ["ToolContext"]


@dataclass(frozen=True, slots=True)
class ToolContext:
    """The ids every tool call runs with."""

    user_id: str
    session_id: str | None = None
    agent_id: str | None = None
    per_call_ids: bool = False

    def __post_init__(self) -> None:
        check_id("user_id", self.user_id, required=True)
        check_id("session_id", self.session_id)
        check_id("agent_id", self.agent_id)

    def for_call(self, arguments: Mapping[str, Any]) -> ToolContext:
        """This context with the call's ``session_id``/``agent_id`` when they are allowed."""
        if not self.per_call_ids:
            return self
        session = arguments.get("session_id", self.session_id)
        agent = arguments.get("agent_id", self.agent_id)
        return ToolContext(self.user_id, session, agent, per_call_ids=True)

    @property
    def scope(self) -> Scope:
        return Scope(self.user_id, self.session_id, self.agent_id)

    def view(self, memory: HierarchicalMemory) -> ScopedMemory:
        """The memory, bounded to this context: every tool acts through it."""
        return memory.scoped(
            user_id=self.user_id, session_id=self.session_id, agent_id=self.agent_id
        )

    def sees(self, memory: Memory) -> bool:
        """Whether this context may read or change ``memory`` (the engine's scope rule)."""
        return self.scope.sees(memory.user_id, memory.session_id, memory.agent_id, memory.turn_id)

    def levels(self) -> list[ScopeLevel]:
        """The levels a memory can be stored at from here: the ones this context has ids for."""
        return available_scopes(self.session_id, self.agent_id)

    def ids_for(self, level: ScopeLevel) -> tuple[str | None, str | None]:
        """The ``(session_id, agent_id)`` a memory stored at ``level`` carries (as the wrapper
        stores it: an agent-level memory carries the agent only, so that agent recalls it in
        every session)."""
        if level not in self.levels():
            choices = ", ".join(level.value for level in self.levels())
            raise ValidationError(
                f"scope {level.value!r} needs a {level.value} id, which this server does not "
                f"have; scope must be one of: {choices}"
            )
        return scope_ids(level, self.session_id, self.agent_id)
