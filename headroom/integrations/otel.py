"""OpenTelemetry for headroom (``pip install 'headroom[otel]'``).

headroom reports spans and metrics through ``opentelemetry-api`` whenever it is installed:
to the global providers by default, so an application that configured OpenTelemetry needs
nothing more. :func:`configure` sends them to other providers, or records user, session and
agent ids on the spans (off by default; memory content is never recorded). See
``docs/integrations-otel.md`` for every span, attribute and metric.
"""

from __future__ import annotations

from typing import Any

from headroom import _telemetry
from headroom._imports import require

__all__ = ["SPANS", "configure"]

SPANS = (
    "headroom.search",
    "headroom.search.vector",
    "headroom.search.keyword",
    "headroom.add",
    "headroom.supersede",
    "headroom.delete",
    "headroom.inject",
    "headroom.store",
)
"""The spans headroom makes."""


def configure(
    *,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    record_ids: bool = False,
) -> None:
    """Where headroom's spans and metrics go, and whether spans carry ids.

    ``tracer_provider`` / ``meter_provider``: OpenTelemetry providers (None: the global ones).
    ``record_ids``: add ``headroom.user_id``, ``headroom.session_id`` and ``headroom.agent_id``
    to the engine's spans. Raises :class:`~headroom.errors.DependencyError` without
    ``opentelemetry-api``.
    """
    require("opentelemetry.trace", package="opentelemetry-api", extra="otel")
    _telemetry.configure(
        tracer_provider=tracer_provider, meter_provider=meter_provider, record_ids=record_ids
    )
