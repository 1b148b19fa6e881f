"""The memory tools a model calls: their schemas, descriptions and what each does.

Independent of the MCP SDK: a tool takes the open engine, the server's fixed context and the
call's arguments, and returns a JSON-able dict or raises a :class:`HeadroomError`, whose
message the server sends back as the tool error. A memory the context cannot see (another
user's, another session's) is reported as not found, exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from headroom.errors import NotFoundError, ValidationError
from headroom.integrations.mcp._arguments import Arguments
from headroom.integrations.mcp._context import ToolContext
from headroom.memory import (
    HierarchicalMemory,
    Memory,
    MemoryCategory,
    MemoryFilter,
    NewMemory,
    ScopedMemory,
    ScopeLevel,
    SearchHit,
)
from headroom.wrapper.prompt import default_scope

__all__ = ["TOOLS", "Tool", "memory_to_tool_json"]

Handler = Callable[[HierarchicalMemory, ToolContext, Arguments], Awaitable[dict[str, Any]]]

_CATEGORIES = [c.value for c in MemoryCategory]
_ID = {"type": "string", "description": "A memory's id, as returned by another tool."}
_PER_CALL_IDS: dict[str, dict[str, Any]] = {
    "session_id": {
        "type": "string",
        "description": "The conversation this call belongs to (default: the server's).",
    },
    "agent_id": {
        "type": "string",
        "description": "The agent making this call (default: the server's).",
    },
}


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    properties: Mapping[str, Mapping[str, Any]]
    required: tuple[str, ...]
    handler: Handler
    read_only: bool

    def input_schema(self, per_call_ids: bool) -> dict[str, Any]:
        properties = dict(self.properties)
        if per_call_ids:
            properties.update(_PER_CALL_IDS)
        return {
            "type": "object",
            "properties": properties,
            "required": list(self.required),
            "additionalProperties": False,
        }

    def accepted(self, per_call_ids: bool) -> list[str]:
        return [*self.properties, *(_PER_CALL_IDS if per_call_ids else ())]


def memory_to_tool_json(memory: Memory) -> dict[str, Any]:
    """A memory as a tool returns it: what a model needs, nothing empty."""
    out: dict[str, Any] = {
        "id": memory.id,
        "content": memory.content,
        "category": memory.category.value,
        "importance": memory.importance,
        "scope": memory.scope.value,
        "created_at": memory.created_at.isoformat(timespec="seconds"),
        "is_current": memory.is_current,
    }
    if memory.supersedes is not None:
        out["supersedes"] = memory.supersedes
    if memory.superseded_by is not None:
        out["superseded_by"] = memory.superseded_by
        assert memory.valid_to is not None
        out["valid_until"] = memory.valid_to.isoformat(timespec="seconds")
    if memory.metadata:
        out["metadata"] = memory.metadata
    return out


def _hit_json(hit: SearchHit) -> dict[str, Any]:
    return {
        **memory_to_tool_json(hit.memory),
        "score": round(hit.score, 6),
        "similarity": round(hit.similarity, 4),
    }


async def _visible(view: ScopedMemory, context: ToolContext, memory_id: str) -> Memory:
    """The memory, if this context sees it; not found otherwise (nothing else is revealed).

    The view refuses what the context does not reach (another user's memory above all);
    a tool acts only on what it also sees."""
    found = await view.get(memory_id)
    if not context.sees(found):
        raise NotFoundError(memory_id)
    return found


async def _remember(
    memory: HierarchicalMemory, context: ToolContext, args: Arguments
) -> dict[str, Any]:
    category = MemoryCategory.parse(args.text("category") or MemoryCategory.FACT)
    scope = args.text("scope")
    level = (
        default_scope(category, context.session_id, context.agent_id)
        if scope is None
        else _level(scope)
    )
    session_id, agent_id = context.ids_for(level)
    importance = args.number("importance")
    item = NewMemory(
        args.required_text("content"),
        context.user_id,
        category=category,
        importance=0.5 if importance is None else importance,
        session_id=session_id,
        agent_id=agent_id,
        metadata=args.mapping("metadata"),
    )
    (added,) = await context.view(memory).add_many([item])
    return {"memory": memory_to_tool_json(added)}


def _level(name: str) -> ScopeLevel:
    try:
        return ScopeLevel(name.strip().lower())
    except ValueError:
        choices = ", ".join(level.value for level in ScopeLevel if level is not ScopeLevel.TURN)
        raise ValidationError(f"unknown scope {name!r}; expected one of: {choices}") from None


async def _recall(
    memory: HierarchicalMemory, context: ToolContext, args: Arguments
) -> dict[str, Any]:
    hits = await context.view(memory).search(
        args.required_text("query"),
        top_k=args.count("top_k", 5),
        categories=args.texts("categories"),
        include_superseded=args.flag("include_superseded"),
    )
    return {"memories": [_hit_json(hit) for hit in hits]}


async def _list(
    memory: HierarchicalMemory, context: ToolContext, args: Arguments
) -> dict[str, Any]:
    limit, offset = args.count("limit", 50), args.count("offset", 0)
    if limit < 0 or offset < 0:
        raise ValidationError("limit and offset must not be negative")
    where = MemoryFilter(
        scope_levels=frozenset(context.levels()),
        categories=None if (names := args.texts("categories")) is None else _categories(names),
        valid_at=args.time("as_of"),
    )
    # The filter matches ids literally; the scope rule narrows it to what this context sees
    # (an agent-level memory of another session, say). The engine lists oldest first, so the
    # newest page is cut after the whole list is read.
    seen = [m for m in await context.view(memory).query(where) if context.sees(m)]
    seen.reverse()
    page = seen[offset:] if limit == 0 else seen[offset : offset + limit]
    return {"memories": [memory_to_tool_json(m) for m in page]}


def _categories(names: list[str]) -> frozenset[MemoryCategory]:
    return frozenset(MemoryCategory.parse(name) for name in names)


async def _history(
    memory: HierarchicalMemory, context: ToolContext, args: Arguments
) -> dict[str, Any]:
    memory_id = args.required_text("memory_id")
    view = context.view(memory)
    await _visible(view, context, memory_id)
    chain = await view.get_history(memory_id)
    return {"versions": [memory_to_tool_json(m) for m in chain]}


async def _update(
    memory: HierarchicalMemory, context: ToolContext, args: Arguments
) -> dict[str, Any]:
    memory_id = args.required_text("memory_id")
    view = context.view(memory)
    await _visible(view, context, memory_id)
    new = await view.supersede(
        memory_id,
        args.required_text("content"),
        category=args.text("category"),
        importance=args.number("importance"),
    )
    return {"memory": memory_to_tool_json(new)}


async def _forget(
    memory: HierarchicalMemory, context: ToolContext, args: Arguments
) -> dict[str, Any]:
    memory_id = args.required_text("memory_id")
    view = context.view(memory)
    await _visible(view, context, memory_id)
    count = await view.delete(memory_id)
    return {"forgotten": memory_id, "versions_deleted": count}


_CATEGORY = {
    "type": "string",
    "enum": _CATEGORIES,
    "description": "preference (likes, wants), fact (about the user or the world), context "
    "(the current task or conversation), entity (a person, project or thing), decision (what "
    "was decided), insight (a lesson learned).",
}
_IMPORTANCE = {
    "type": "number",
    "minimum": 0,
    "maximum": 1,
    "description": "How much it matters, 0 to 1 (default 0.5).",
}
_CATEGORIES_FILTER = {
    "type": "array",
    "items": {"type": "string", "enum": _CATEGORIES},
    "description": "Only these categories.",
}

TOOLS: tuple[Tool, ...] = (
    Tool(
        "remember",
        "Store one thing worth remembering about the user or the work: a single, "
        'self-contained statement ("Alice prefers Go for backend services"). To change '
        "something already remembered, use update instead, so its history is kept.",
        {
            "content": {"type": "string", "description": "The memory, as one statement."},
            "category": {**_CATEGORY, "default": "fact"},
            "importance": {**_IMPORTANCE, "default": 0.5},
            "scope": {
                "type": "string",
                "enum": ["user", "session", "agent"],
                "description": "Who sees it: user (every conversation), session (this "
                "conversation only), agent (this agent only). Default by category: "
                "preferences, facts and entities for the user; context for the session; "
                "decisions and insights for the agent. Only levels this server has ids for "
                "are accepted.",
            },
            "metadata": {"type": "object", "description": "Optional JSON data kept with it."},
        },
        ("content",),
        _remember,
        read_only=False,
    ),
    Tool(
        "recall",
        "Search the memories for what is relevant to a question or topic, best first "
        "(meaning and keywords combined). Use before answering anything that may depend on "
        "what you were told before.",
        {
            "query": {"type": "string", "description": "What to look for, in plain words."},
            "top_k": {
                "type": "integer",
                "minimum": 1,
                "maximum": 100,
                "default": 5,
                "description": "How many memories at most.",
            },
            "categories": _CATEGORIES_FILTER,
            "include_superseded": {
                "type": "boolean",
                "default": False,
                "description": "Also search old versions of updated memories.",
            },
        },
        ("query",),
        _recall,
        read_only=True,
    ),
    Tool(
        "list",
        "List the current memories, newest first.",
        {
            "categories": _CATEGORIES_FILTER,
            "limit": {
                "type": "integer",
                "minimum": 0,
                "default": 50,
                "description": "How many at most (0: all).",
            },
            "offset": {"type": "integer", "minimum": 0, "default": 0},
            "as_of": {
                "type": "string",
                "description": "List what was current at this time instead (ISO 8601, e.g. "
                "2025-01-31 or 2025-01-31T09:15:00Z).",
            },
        },
        (),
        _list,
        read_only=True,
    ),
    Tool(
        "history",
        "Every version of a memory that was updated, oldest first; the last is current.",
        {"memory_id": _ID},
        ("memory_id",),
        _history,
        read_only=True,
    ),
    Tool(
        "update",
        "Replace a memory with a new version (when something changed or was wrong). The old "
        "version stays in its history. memory_id must be the current version.",
        {
            "memory_id": _ID,
            "content": {"type": "string", "description": "The new statement."},
            "category": {**_CATEGORY, "description": "Default: unchanged."},
            "importance": {**_IMPORTANCE, "description": "0 to 1; default: unchanged."},
        },
        ("memory_id", "content"),
        _update,
        read_only=False,
    ),
    Tool(
        "forget",
        "Delete a memory and every version of it, for good. Use when asked to forget.",
        {"memory_id": _ID},
        ("memory_id",),
        _forget,
        read_only=False,
    ),
)
