"""JSON rendering of a briefing: the machine-readable contract.

``to_json_dict`` returns plain JSON-ready data matching ``briefing.schema.json`` (shipped in
this package; ``briefing_schema()`` loads it). Times are ISO-8601 in UTC with a ``Z``
suffix; key points cite sources by their number within the story. Beyond the contract each
story carries ``summary``, ``notes`` and a human-readable ``coverage_line``; a story written
by a model also carries ``verification`` (what citation checking changed: ``checked``,
``removed``, ``added``, ``dropped``) and ``usage`` (tokens, estimated cost or ``null`` when
the model's price is unknown, ``cached``), and ``disagreements`` / ``whats_new`` when it has
any. A digest or a live update also carries ``digest`` (``kind``, ``slot_at``, ``schedule``,
``timezone``, ``late``, ``since``, ``nothing_new``) and each of its stories its ``status``
(``new``, ``updated`` or ``seen`` for the channel it goes to).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from bot.domain import Briefing, KeyPoint, SourceRef, StoryBriefing
from bot.render.text import coverage_line

SCHEMA_FILE = "briefing.schema.json"


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC: ``2025-03-03T06:10:00Z``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def source_json(source: SourceRef) -> dict[str, Any]:
    """One source as the briefing contract lists it (``$defs/source`` of the schema)."""
    return {
        "id": source.id,
        "outlet": source.outlet,
        "title": source.title,
        "url": source.url,
        "published_at": iso(source.published_at) if source.published_at else None,
        "full_text": source.full_text,
        "origins": list(source.origins),
        "copy_of": source.copy_of,
    }


def _story(story: StoryBriefing) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": story.story_id,
        "title": story.title,
        "updated_at": iso(story.updated_at),
        "summary": story.summary,
        "key_points": [
            {"text": point.text, "sources": sorted(set(point.sources))}
            for point in story.key_points
        ],
        "sources": [source_json(source) for source in story.sources],
        "coverage": {
            "articles": story.coverage.articles,
            "outlets": story.coverage.outlets,
            "independent_reports": story.coverage.independent_reports,
        },
        "coverage_line": coverage_line(story.coverage),
        "notes": list(story.notes),
    }
    if story.status is not None:
        data["status"] = story.status.value
    if story.disagreements:
        data["disagreements"] = [_point(point) for point in story.disagreements]
    if story.whats_new:
        data["whats_new"] = [_point(point) for point in story.whats_new]
    if story.verification is not None:
        check = story.verification
        data["verification"] = {
            "checked": check.checked,
            "removed": [{"text": text, "source": source} for text, source in check.removed],
            "added": [{"text": text, "source": source} for text, source in check.added],
            "dropped": list(check.dropped),
        }
    usage = story.usage
    if usage is not None:
        data["usage"] = {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cost_usd": None if usage.cost_usd is None else round(usage.cost_usd, 8),
            "cached": usage.cached,
        }
    return data


def _point(point: KeyPoint) -> dict[str, Any]:
    return {"text": point.text, "sources": sorted(set(point.sources))}


def to_json_dict(briefing: Briefing) -> dict[str, Any]:
    """The briefing as JSON-ready data (``json.dumps`` it as is)."""
    data: dict[str, Any] = {
        "topic": briefing.topic,
        "generated_at": iso(briefing.generated_at),
        "mode": briefing.mode.value,
        "stories": [_story(story) for story in briefing.stories],
        "errors": [{"source": e.source, "error": e.error} for e in briefing.errors],
    }
    digest = briefing.digest
    if digest is not None:
        data["digest"] = {
            "kind": digest.kind,
            "slot_at": iso(digest.slot_at),
            "schedule": digest.schedule,
            "timezone": digest.timezone,
            "late": digest.late,
            "since": iso(digest.since) if digest.since is not None else None,
            "nothing_new": briefing.nothing_new,
        }
    return data


@cache
def _bundled_text(name: str) -> str:
    return resources.files("bot.render").joinpath(name).read_text(encoding="utf-8")


def bundled_schema(name: str) -> dict[str, Any]:
    """A JSON Schema file shipped in ``bot/render`` (a fresh copy on every call)."""
    schema: dict[str, Any] = json.loads(_bundled_text(name))
    return schema


def briefing_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that ``to_json_dict`` output conforms to."""
    return bundled_schema(SCHEMA_FILE)
