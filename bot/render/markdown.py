"""CommonMark rendering of a briefing (README-style; chat adapters have their own renderers).

Titles, outlet names, sentences and error messages come from the web and are untrusted:
characters that would start emphasis, code, links, HTML or tables are backslash-escaped, and
only ``http``/``https`` URLs become links, so a feed cannot inject markup or a
``javascript:`` link into the briefing.
"""

from __future__ import annotations

import re

from bot.domain import Briefing, DigestInfo, KeyPoint, SourceRef, StoryBriefing, StoryStatus
from bot.render.text import (
    NEW_MARK,
    citations,
    clean,
    coverage_line,
    digest_counts,
    digest_since,
    digest_slot,
    earlier_left_out,
    format_time,
    is_digest,
    is_update,
    nothing_new_line,
    plural,
    seen_line,
    source_notes,
    update_points,
    update_sources,
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


def _point(point: KeyPoint, mark: str = "") -> str:
    marker = citations(point.sources)  # literal: no link definitions are ever emitted
    return f"- {mark}{escape(point.text)}" + (f" {marker}" if marker else "")


def _story(number: int, story: StoryBriefing) -> str:
    updated = story.status is StoryStatus.UPDATED
    lines = [f"### {number}. " + ("Update: " if updated else "") + escape(story.title), ""]
    lines.append(f"*{coverage_line(story.coverage)} · updated {format_time(story.updated_at)}*")
    lines.append("")
    if story.summary and clean(story.summary):
        lines.extend([escape(story.summary), ""])
    if updated:
        new, earlier, left_out = update_points(story)
        lines.extend(_point(point, f"**{NEW_MARK}** ") for point in new)
        lines.extend(_point(point) for point in earlier)
        if left_out:
            lines.append(f"- {earlier_left_out(left_out)}")
    else:
        lines.extend(_point(point) for point in story.key_points)
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


def _errors(briefing: Briefing) -> list[str]:
    if not briefing.errors:
        return []
    lines = [f"### Errors ({len(briefing.errors)})", ""]
    lines.extend(f"- {_code(clean(e.source))}: {escape(e.error)}" for e in briefing.errors)
    return ["\n".join(lines) + "\n"]


def _digest(briefing: Briefing, digest: DigestInfo) -> str:
    if briefing.nothing_new:
        return nothing_new_line(briefing, escape(briefing.topic)) + "\n"
    since = digest_since(digest)
    counts = digest_counts(briefing)
    blocks = [
        f"## {escape(briefing.topic)} — {escape(digest_slot(digest))}\n\n"
        f"*{since[0].upper()}{since[1:]}" + (f": {counts}" if counts else "") + "*\n"
    ]
    shown = [story for story in briefing.stories if story.status is not StoryStatus.SEEN]
    blocks.extend(_story(n, story) for n, story in enumerate(shown, start=1))
    seen = [
        f"- {seen_line(story, escape(story.title))}"
        for story in briefing.stories
        if story.status is StoryStatus.SEEN
    ]
    if seen:
        blocks.append("\n".join(seen) + "\n")
    return "\n".join([*blocks, *_errors(briefing)])


def _update(briefing: Briefing) -> str:
    lines = []
    for story in briefing.stories:
        for point in story.key_points:
            named = ", ".join(
                link(f"{clean(s.outlet) or 'unknown outlet'} [{s.id}]", s.url)
                for s in update_sources(point, story)
            )
            lines.append(f"**Update:** {escape(point.text)}" + (f" — {named}" if named else ""))
    return "\n\n".join(lines) + "\n"


def to_markdown(briefing: Briefing) -> str:
    """The whole briefing as CommonMark, stories first and per-source errors last (a digest
    or a live update as ``bot.render.text`` describes)."""
    if is_update(briefing):
        return _update(briefing)
    if briefing.digest is not None and is_digest(briefing):
        return _digest(briefing, briefing.digest)
    count = len(briefing.stories)
    blocks = [
        f"## Briefing: {escape(briefing.topic)}\n\n"
        f"*{plural(count, 'story', 'stories')} · {briefing.mode.value} · "
        f"generated {format_time(briefing.generated_at)}*\n"
    ]
    if not briefing.stories:
        blocks.append("No stories about this topic in the selected window.\n")
    blocks.extend(_story(n, story) for n, story in enumerate(briefing.stories, start=1))
    blocks.extend(_errors(briefing))
    return "\n".join(blocks)
