"""headroom inside other tools. Each integration is an optional extra, imported on first use.

* ``headroom.integrations.mcp``: the ``headroom mcp`` server (``pip install 'headroom[mcp]'``).
* ``headroom.integrations.langgraph``: a LangGraph ``BaseStore`` (``'headroom[langgraph]'``).
* ``headroom.integrations.otel``: OpenTelemetry spans and metrics (``'headroom[otel]'``).

They sit above the engine and the wrapper, which never import them.
"""
