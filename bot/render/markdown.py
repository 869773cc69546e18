"""CommonMark rendering of a briefing (README-style; chat adapters have their own renderers).

Titles, outlet names, sentences and error messages come from the web and are untrusted:
characters that would start emphasis, code, links, HTML or tables are backslash-escaped, and
only ``http``/``https`` URLs become links, so a feed cannot inject markup or a
``javascript:`` link into the briefing.
"""

from __future__ import annotations

import re

from bot.domain import Briefing, SourceRef, StoryBriefing
from bot.render.text import (
    citations,
    clean,
    coverage_line,
    format_time,
    plural,
    source_notes,
    web_url,
)

_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")
_ENTITY = re.compile(r"&(?=#?\w+;)")


def escape(text: str) -> str:
    """Untrusted text made literal in Markdown (also flattened to one clean line)."""
    text = _SPECIAL.sub(r"\\\1", clean(text))
    return _ENTITY.sub(r"\\&", text)


def link(label: str, url: str) -> str:
    """``[label](url)`` for web URLs; the escaped label and the URL as code otherwise."""
    target = web_url(url)
    if target is None:
        url = clean(url)
        return f"{escape(label)} ({_code(url)})" if url else escape(label)
    return f"[{escape(label)}]({target})"


def _code(text: str) -> str:
    text = text.replace("`", "'")
    return f"`{text}`"


def _source_line(source: SourceRef) -> str:
    parts = [f"**[{source.id}]** {escape(source.outlet) or 'unknown outlet'} — "]
    parts[0] += link(source.title or source.url, source.url)
    when = format_time(source.published_at)
    if when:
        parts.append(when)
    parts.extend(source_notes(source, escape))
    return "- " + " · ".join(parts)


def _story(number: int, story: StoryBriefing) -> str:
    lines = [f"### {number}. {escape(story.title)}", ""]
    lines.append(f"*{coverage_line(story.coverage)} · updated {format_time(story.updated_at)}*")
    lines.append("")
    if story.summary and clean(story.summary):
        lines.extend([escape(story.summary), ""])
    for point in story.key_points:
        marker = citations(point.sources)  # literal: no link definitions are ever emitted
        lines.append(f"- {escape(point.text)}" + (f" {marker}" if marker else ""))
    if story.key_points:
        lines.append("")
    if story.sources:
        lines.extend(["**Sources**", ""])
        lines.extend(_source_line(source) for source in story.sources)
        lines.append("")
    for note in story.notes:
        if clean(note):
            lines.extend([f"> **Note:** {escape(note)}", ""])
    return "\n".join(lines).rstrip() + "\n"


def to_markdown(briefing: Briefing) -> str:
    """The whole briefing as CommonMark, stories first and per-source errors last."""
    count = len(briefing.stories)
    blocks = [
        f"## Briefing: {escape(briefing.topic)}\n\n"
        f"*{plural(count, 'story', 'stories')} · {briefing.mode.value} · "
        f"generated {format_time(briefing.generated_at)}*\n"
    ]
    if not briefing.stories:
        blocks.append("No stories about this topic in the selected window.\n")
    blocks.extend(_story(n, story) for n, story in enumerate(briefing.stories, start=1))
    if briefing.errors:
        lines = [f"### Errors ({len(briefing.errors)})", ""]
        lines.extend(f"- {_code(clean(e.source))}: {escape(e.error)}" for e in briefing.errors)
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)
