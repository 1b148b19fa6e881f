"""A FastAPI service that remembers, with one HierarchicalMemory for the whole process.

Run it (FastAPI and an ASGI server are not headroom dependencies)::

    pip install fastapi uvicorn
    HEADROOM_DB=service.db uvicorn examples.fastapi_service:app

    curl -X POST localhost:8000/users/bob/memories -H 'content-type: application/json' \\
         -d '{"content": "Bob prefers Go for backend services", "category": "preference"}'
    curl 'localhost:8000/users/bob/memories/search?q=which+language&session_id=afternoon'

docs/async-service.md explains the choices made here. Every handler acts through the
engine's view of the user it serves (``memory.scoped(user_id=...)``): an id of another
user's memory is answered 404, exactly like an unknown one. The user comes from the path
here; a real service takes it from the authenticated principal, never from the request body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

# FastAPI is optional: without it mypy sees Any here, with it the real types.
from fastapi import FastAPI, HTTPException, Request  # type: ignore[import-not-found, unused-ignore]

from headroom.errors import NotFoundError, ValidationError
from headroom.memory import HierarchicalMemory, Memory, MemoryConfig, ScopedMemory


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # One engine per process, opened before the first request and closed after the last:
    # the database admits one process at a time, opening costs a model load, and the engine
    # is safe to share between all the requests (tasks) of this event loop.
    async with await HierarchicalMemory.create(MemoryConfig()) as memory:
        app.state.memory = memory
        yield
    # Closing saved the vector index and released the database for the next process.


app = FastAPI(title="memory service", lifespan=lifespan)


def _memory(request: Request, user_id: str, session_id: str | None = None) -> ScopedMemory:
    """The memory bounded to the user (and session) this request is for."""
    memory: HierarchicalMemory = request.app.state.memory
    try:
        return memory.scoped(user_id=user_id, session_id=session_id)
    except ValidationError as exc:  # a blank id
        raise HTTPException(status_code=422, detail=str(exc)) from exc


def _as_json(memory: Memory) -> dict[str, Any]:
    return {
        "id": memory.id,
        "content": memory.content,
        "category": memory.category.value,
        "scope": memory.scope.value,
        "session_id": memory.session_id,
        "valid_from": memory.valid_from.isoformat(),
        "valid_to": None if memory.valid_to is None else memory.valid_to.isoformat(),
    }


@dataclass
class NewMemoryBody:
    content: str
    category: str = "fact"
    importance: float = 0.5
    session_id: str | None = None


@dataclass
class CorrectionBody:
    content: str


async def remember(user_id: str, body: NewMemoryBody, request: Request) -> dict[str, Any]:
    try:
        memory = await _memory(request, user_id, body.session_id).add(
            body.content, category=body.category, importance=body.importance
        )
    except ValidationError as exc:  # bad input: nothing was stored
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return _as_json(memory)


async def recall(
    user_id: str, q: str, request: Request, session_id: str | None = None, top_k: int = 5
) -> list[dict[str, Any]]:
    try:
        hits = await _memory(request, user_id, session_id).search(q, top_k=top_k)
    except ValidationError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return [dict(_as_json(hit.memory), similarity=hit.similarity) for hit in hits]


async def correct(
    user_id: str, memory_id: str, body: CorrectionBody, request: Request
) -> dict[str, Any]:
    try:
        new = await _memory(request, user_id).supersede(memory_id, body.content)
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except ValidationError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return _as_json(new)


async def history(user_id: str, memory_id: str, request: Request) -> list[dict[str, Any]]:
    try:
        chain = await _memory(request, user_id).get_history(memory_id)
    except (NotFoundError, ValidationError) as exc:  # another user's id: as if unknown
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    return [_as_json(version) for version in chain]


# add_api_route rather than decorators: the same routes, and type-checked with or without
# FastAPI installed (an untyped decorator would hide the handlers' types from mypy).
app.add_api_route("/users/{user_id}/memories", remember, methods=["POST"])
app.add_api_route("/users/{user_id}/memories/search", recall, methods=["GET"])
app.add_api_route("/users/{user_id}/memories/{memory_id}", correct, methods=["PUT"])
app.add_api_route("/users/{user_id}/memories/{memory_id}/history", history, methods=["GET"])
