"""``headroom chat``: an interactive chat with memory, through ``with_memory``.

Any OpenAI-compatible endpoint: ``OPENAI_BASE_URL``/``OPENAI_API_KEY`` (or ``--base-url``,
``--api-key``), else a local Ollama. Lines are read from stdin, so a script can drive it too.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

import anyio.to_thread

from headroom._imports import require
from headroom.cli._context import Invocation, open_memory
from headroom.cli._endpoint import HOW_TO_ENABLE, Endpoint, find_endpoint
from headroom.cli._errors import CliError, ExitCode
from headroom.memory import Memory

__all__ = ["endpoint_error", "run_chat"]

_SYSTEM = "You are a helpful assistant. Answer briefly."
_HELP = "commands: /memories lists what is remembered, /exit (or Ctrl-D) leaves"


def endpoint_error(exc: Exception, endpoint: Endpoint) -> CliError:
    """An OpenAI SDK error as a message a person can act on."""
    status = getattr(exc, "status_code", None)
    where = f"{endpoint.base_url} (model {endpoint.model!r})"
    if status in (401, 403):
        hint = "check the API key: --api-key or OPENAI_API_KEY"
    elif status == 404:
        hint = "check the model: --model or HEADROOM_CHAT_MODEL (for Ollama: `ollama pull NAME`)"
    elif status is None:
        hint = "is the server running? check --base-url or OPENAI_BASE_URL"
    else:
        hint = None
    cause = f" ({exc.__cause__})" if status is None and exc.__cause__ else ""
    return CliError(f"the chat endpoint {where} failed: {exc}{cause}", ExitCode.ERROR, hint)


async def _answer(client: Any, model: str, messages: list[dict[str, str]], out: Any) -> str:
    """Stream one answer to ``out`` as it arrives; the full text (the block already removed)."""
    stream = await client.chat.completions.create(model=model, messages=messages, stream=True)
    parts: list[str] = []
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text = chunk.choices[0].delta.content
            parts.append(text)
            out.write(text)
            out.flush()
    out.write("\n")
    return "".join(parts)


def _new(before: list[Memory], after: list[Memory]) -> list[Memory]:
    known = {m.id for m in before}
    return [m for m in after if m.id not in known]


async def run_chat(invocation: Invocation) -> int:
    args = invocation.args
    user = invocation.user()
    openai = require("openai", package="openai")  # DependencyError says what to install
    endpoint, why = await find_endpoint(
        base_url=args.base_url, api_key=args.api_key, model=args.model
    )
    if endpoint is None:
        given = args.base_url or os.environ.get("OPENAI_BASE_URL")
        hint = "start that server, or check --base-url or OPENAI_BASE_URL" if given else None
        raise CliError(why, ExitCode.ERROR, hint or HOW_TO_ENABLE)
    session = args.session or datetime.now(timezone.utc).strftime("chat-%Y%m%d-%H%M%S")
    out, tty = invocation.stdout, invocation.stdin.isatty()
    from headroom.wrapper import with_memory

    async with (
        open_memory(invocation, create=True) as memory,
        openai.AsyncOpenAI(
            base_url=endpoint.base_url, api_key=endpoint.api_key, max_retries=1, timeout=120
        ) as llm,
    ):
        client = with_memory(llm, user_id=user, session_id=session, memory=memory)
        known = await client.memory.get_all()
        invocation.note(
            f"chatting with {endpoint.model} at {endpoint.base_url} ({endpoint.source}) as "
            f"{user!r}, session {session!r}; {len(known)} memories. {_HELP}"
        )
        messages = [{"role": "system", "content": _SYSTEM}]
        while True:
            if tty:
                out.write("you> ")
                out.flush()
            line = await anyio.to_thread.run_sync(invocation.stdin.readline)
            if not line:  # end of input (Ctrl-D, or the end of a script)
                break
            text = line.strip()
            if text in ("/exit", "/quit"):
                break
            if text == "/memories":
                for m in known:
                    out.write(f"  - {m.content} [{m.category.value}, {m.scope.value}]\n")
                continue
            if not text:
                continue
            messages.append({"role": "user", "content": text})
            out.write("assistant> ")
            try:
                answer = await _answer(client, endpoint.model, messages, out)
            except openai.APIError as exc:
                out.write("\n")  # end the "assistant> " line before the error
                out.flush()
                raise endpoint_error(exc, endpoint) from None
            messages.append({"role": "assistant", "content": answer})
            latest = await client.memory.get_all()
            for m in _new(known, latest):
                out.write(f"  + remembered: {m.content} [{m.category.value}, {m.scope.value}]\n")
            known = latest
    return ExitCode.OK
