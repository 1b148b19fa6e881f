"""Finding an OpenAI-compatible chat endpoint: configured by the environment, or a local Ollama.

Used by ``headroom chat`` and by the demo's chat part. Only what answers is used: nothing is
ever simulated, and when nothing answers the caller says how to get one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import httpx

__all__ = ["HOW_TO_ENABLE", "Endpoint", "find_endpoint"]

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
# Seconds. Looking for a local Ollama: it answers in milliseconds, and the demo must not
# stall where there is none. A server named by --base-url may be remote: give it time.
_OLLAMA_PROBE_TIMEOUT = 0.5
_PROBE_TIMEOUT = httpx.Timeout(5.0, connect=3.0)

HOW_TO_ENABLE = (
    "set OPENAI_API_KEY (and OPENAI_BASE_URL for another OpenAI-compatible server; "
    "HEADROOM_CHAT_MODEL picks the model), or start Ollama with a chat model "
    "(`ollama serve`, `ollama pull llama3.2`), then run this again"
)


@dataclass(frozen=True, slots=True)
class Endpoint:
    base_url: str
    api_key: str
    model: str
    source: str
    """How it was found, for the person: "OPENAI_BASE_URL", "Ollama at ...", ..."""


def _ollama_host() -> str:
    """Ollama's own convention: ``$OLLAMA_HOST`` (``host:port`` or a URL), else localhost."""
    host = os.environ.get("OLLAMA_HOST", "").strip() or "http://localhost:11434"
    if "://" not in host:
        host = "http://" + host
    # A server bound to every interface is reached on loopback.
    return host.replace("://0.0.0.0", "://localhost").rstrip("/")


class _Unreachable(Exception):
    """Nothing answered at the URL; the message says what happened, for the person."""


async def _model_names(client: httpx.AsyncClient, url: str, key: str) -> list[str] | None:
    """The model names a server lists at ``url`` (OpenAI ``/models`` or Ollama ``/api/tags``).

    None when it answers something else (some servers have no model list); raises
    :class:`_Unreachable` when it does not answer at all.
    """
    try:
        response = await client.get(url, headers={"Authorization": f"Bearer {key}"})
        response.raise_for_status()
        body = response.json()
    except httpx.ConnectTimeout:
        raise _Unreachable("the connection timed out") from None
    except httpx.TimeoutException:
        raise _Unreachable("it accepted the connection but did not answer") from None
    except httpx.TransportError as exc:  # refused, unknown host, reset, ...
        reason = str(exc) or type(exc).__name__
        raise _Unreachable(reason.removeprefix("[Errno 111] ").lower()) from None
    except (httpx.HTTPError, ValueError):
        return None
    if not isinstance(body, dict):
        return None
    rows = body.get("data") or body.get("models") or []
    if not isinstance(rows, list):
        return None
    names = [row.get("id") or row.get("name") for row in rows if isinstance(row, dict)]
    return [name for name in names if isinstance(name, str)]


def _chat_models(names: list[str]) -> list[str]:
    # Embedding models answer /models too but cannot chat.
    return [name for name in names if "embed" not in name.lower()]


async def find_endpoint(
    *, base_url: str | None = None, api_key: str | None = None, model: str | None = None
) -> tuple[Endpoint | None, str]:
    """The endpoint to chat with, or None and why there is none."""
    model = model or os.environ.get("HEADROOM_CHAT_MODEL") or None
    base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
    api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
    if base_url or api_key:
        url = (base_url or "https://api.openai.com/v1").rstrip("/")
        key = api_key or "not-needed"  # local servers ignore it; the client wants one
        source = "OPENAI_BASE_URL" if base_url else "OPENAI_API_KEY"
        if base_url:
            # Asked first, so that a server that is not there is reported before the person
            # types anything; a local OpenAI-compatible server also names its own models.
            async with httpx.AsyncClient(timeout=_PROBE_TIMEOUT) as client:
                try:
                    listed = await _model_names(client, f"{url}/models", key)
                except _Unreachable as exc:
                    return None, f"nothing answers at {url}: {exc}"
            served = _chat_models(listed or [])
            if model is None and served:
                model = served[0]
        return Endpoint(url, key, model or DEFAULT_OPENAI_MODEL, source), ""
    host = _ollama_host()
    async with httpx.AsyncClient(timeout=_OLLAMA_PROBE_TIMEOUT) as client:
        try:
            pulled = await _model_names(client, f"{host}/api/tags", "ollama")
        except _Unreachable:
            pulled = None
    if pulled is None:
        return None, f"no OpenAI-compatible endpoint is configured and no Ollama answers at {host}"
    chat = _chat_models(pulled)
    if model is None and not chat:
        return None, f"Ollama at {host} has no chat model yet: `ollama pull llama3.2`"
    return Endpoint(f"{host}/v1", "ollama", model or chat[0], f"Ollama at {host}"), ""
