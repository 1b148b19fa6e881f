"""A FastAPI service that remembers, with one HierarchicalMemory for the whole process.

Run it (FastAPI and an ASGI server are not headroom dependencies)::

    pip install fastapi uvicorn
    HEADROOM_DB=service.db uvicorn examples.fastapi_service:app

    curl -X POST localhost:8000/users/bob/memories -H 'content-type: application/json' \\
         -d '{"content": "Bob prefers Go for backend services", "category": "preference"}'
    curl 'localhost:8000/users/bob/memories/search?q=which+language&session_id=afternoon'

docs/async-service.md explains the choices made here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

# FastAPI is optional: without it mypy sees Any here, with it the real types.
from fastapi import FastAPI, HTTPException, Request  # type: ignore[import-not-found, unused-ignore]

from headroom.errors import NotFoundError, ValidationError
from headroom.memory import HierarchicalMemory, Memory, MemoryConfig


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


def _memory(request: Request) -> HierarchicalMemory:
    memory: HierarchicalMemory = request.app.state.memory
    return memory


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
        memory = await _memory(request).add(
            body.content,
            user_id=user_id,
            category=body.category,
            importance=body.importance,
            session_id=body.session_id,
        )
    except ValidationError as exc:  # bad input: nothing was stored
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return _as_json(memory)


async def recall(
    user_id: str, q: str, request: Request, session_id: str | None = None, top_k: int = 5
) -> list[dict[str, Any]]:
    try:
        hits = await _memory(request).search(q, user_id=user_id, session_id=session_id, top_k=top_k)
    except ValidationError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return [dict(_as_json(hit.memory), similarity=hit.similarity) for hit in hits]


async def correct(
    user_id: str, memory_id: str, body: CorrectionBody, request: Request
) -> dict[str, Any]:
    memory = _memory(request)
    try:
        if (await memory.get(memory_id)).user_id != user_id:
            raise NotFoundError(memory_id)  # another user's id: as if it did not exist
        new = await memory.supersede(memory_id, body.content)
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except ValidationError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return _as_json(new)


async def history(user_id: str, memory_id: str, request: Request) -> list[dict[str, Any]]:
    memory = _memory(request)
    try:
        chain = await memory.get_history(memory_id)
    except (NotFoundError, ValidationError) as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    if chain[0].user_id != user_id:
        raise HTTPException(status_code=404, detail=str(NotFoundError(memory_id)))
    return [_as_json(version) for version in chain]


# add_api_route rather than decorators: the same routes, and type-checked with or without
# FastAPI installed (an untyped decorator would hide the handlers' types from mypy).
app.add_api_route("/users/{user_id}/memories", remember, methods=["POST"])
app.add_api_route("/users/{user_id}/memories/search", recall, methods=["GET"])
app.add_api_route("/users/{user_id}/memories/{memory_id}", correct, methods=["PUT"])
app.add_api_route("/users/{user_id}/memories/{memory_id}/history", history, methods=["GET"])
