"""The sources' health (``briefbot sources``) as text lines or JSON-ready data.

Each row is one tracked source: the topics that list it and its ``SourceHealth`` (source
already redacted; a blank one when it was never polled). ``to_json_list`` gives one object
per source, times in ISO-8601 UTC (``null`` when it never happened)::

    [{"source": "https://news.example/world.rss?key=***",
      "topics": ["harbour", "ports"],
      "status": "failing",                  # "ok", "failing" or "never polled"
      "last_polled_at": "2026-12-01T09:15:00Z",
      "last_success_at": "2026-12-01T08:45:00Z",
      "last_articles": 12,                  # articles the last successful poll gathered
      "last_error_at": "2026-12-01T09:15:00Z",
      "last_error": "HTTP 503 Service Unavailable from https://news.example/world.rss",
      "consecutive_failures": 2,
      "next_poll_at": "2026-12-01T09:41:07Z"}]

Fields may be added; none listed here will be removed or change meaning.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.domain import SourceHealth
from bot.render.json import iso

HealthRow = tuple[Sequence[str], SourceHealth]

OK, FAILING, NEVER = "ok", "failing", "never polled"
_MARKS = {OK: "✓", FAILING: "✗", NEVER: "·"}


def status(health: SourceHealth) -> str:
    """``ok``, ``failing`` (its latest poll failed) or ``never polled``."""
    if health.last_polled_at is None:
        return NEVER
    return FAILING if health.consecutive_failures else OK


def _when(moment: datetime | None) -> str | None:
    return iso(moment) if moment is not None else None


def _at(moment: datetime) -> str:
    """A time for a person: ISO-8601 UTC to the second."""
    return iso(moment.replace(microsecond=0))


def to_json_list(rows: Sequence[HealthRow]) -> list[dict[str, Any]]:
    return [
        {
            "source": health.source,
            "topics": list(topics),
            "status": status(health),
            "last_polled_at": _when(health.last_polled_at),
            "last_success_at": _when(health.last_success_at),
            "last_articles": health.last_articles,
            "last_error_at": _when(health.last_error_at),
            "last_error": health.last_error,
            "consecutive_failures": health.consecutive_failures,
            "next_poll_at": _when(health.next_poll_at),
        }
        for topics, health in rows
    ]


def health_lines(rows: Sequence[HealthRow]) -> list[str]:
    """A block of lines per source: mark, source and topics, then its health."""
    if not rows:
        return ["no sources: add one with briefbot topics add NAME --source URL"]
    lines: list[str] = []
    for topics, health in rows:
        state = status(health)
        lines.append(f"{_MARKS[state]} {health.source}  ({', '.join(topics)})")
        if state == NEVER:
            lines.append("    never polled yet: polled at the next round of briefbot run")
            continue
        success, count = health.last_success_at, health.last_articles
        lines.append(
            f"    last success: {_at(success)} ({count} article{'' if count == 1 else 's'})"
            if success is not None
            else "    last success: never"
        )
        if health.last_error_at is not None:
            lines.append(f"    last error: {_at(health.last_error_at)}: {health.last_error}")
        else:
            lines.append("    last error: none")
        lines.append(f"    consecutive failures: {health.consecutive_failures}")
        nxt = health.next_poll_at
        lines.append(f"    next poll: {_at(nxt) if nxt is not None else 'at the next round'}")
    return lines
