"""Plain-text rendering of a briefing, for the terminal and for logs.

No styling and no escape codes: the CLI may add colour itself. Untrusted strings (titles,
outlet names, sentences, error messages) have control characters and terminal escape
sequences removed, so a hostile headline cannot repaint the terminal.

The helpers here (``clean``, ``strip_controls``, ``coverage_line``, ``format_time``,
``citations``, ``source_notes``, ``web_url``, ``verification_line``) are shared by the other
renderers and the chat adapters' renderers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from urllib.parse import quote

from bot.domain import Briefing, Coverage, KeyPoint, SourceRef, StoryBriefing, Verification

_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor movement
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window titles, hyperlinks
    r"|\x1b[@-Z\\-_]"  # other two-byte escapes
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
# C0/C1 controls and the bidirectional overrides used to disguise text.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_WHITESPACE = re.compile(r"\s+")
_WEB_URL = re.compile(r"^https?://[^\s/]", re.IGNORECASE)
# Characters a URL keeps as they are; everything else (spaces, ``|``, ``<``, ``>``, quotes,
# backslashes, non-ASCII) is percent-encoded, so the URL is one token in any markup.
_URL_SAFE = ":/?#@!$&'*+,;=%-._~"

INDENT = "   "


def strip_controls(text: str) -> str:
    """Untrusted text with escape sequences and controls removed; tabs and newlines kept."""
    return _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", text))


def clean(text: str) -> str:
    """One line of untrusted text: escape sequences and controls removed, whitespace collapsed."""
    return _WHITESPACE.sub(" ", strip_controls(text)).strip()


def web_url(url: str) -> str | None:
    """``url`` made safe to link: cleaned and percent-encoded when it is an ``http(s)`` URL,
    ``None`` otherwise (``javascript:``, ``file:``, a bare path: never a link)."""
    url = clean(url)
    if not _WEB_URL.match(url):
        return None
    return quote(url, safe=_URL_SAFE)


def plural(count: int, singular: str, many: str | None = None) -> str:
    """ "1 article", "2 articles", "3 stories"."""
    return f"{count} {singular if count == 1 else (many or singular + 's')}"


def coverage_line(coverage: Coverage) -> str:
    """ "6 articles · 5 outlets · 2 independent reports"."""
    return " · ".join(
        (
            plural(coverage.articles, "article"),
            plural(coverage.outlets, "outlet"),
            plural(coverage.independent_reports, "independent report"),
        )
    )


def format_time(moment: datetime | None) -> str:
    """ "2025-03-03 06:10 UTC" (empty for an unknown time)."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def citations(source_ids: Iterable[int]) -> str:
    """ "[1][3]" for the sources a key point cites."""
    return "".join(f"[{n}]" for n in sorted(set(source_ids)))


def source_notes(source: SourceRef, escape: Callable[[str], str] = clean) -> list[str]:
    """Remarks on a source: "copy of [2]", "via Meridian Wire", "teaser only".

    ``escape`` is applied to the (untrusted) wire names; Markdown passes its own.
    """
    notes: list[str] = []
    if source.copy_of is not None:
        notes.append(f"copy of [{source.copy_of}]")
    origins = [clean(o) for o in source.origins if clean(o)]
    wires = [o for o in origins if o.casefold() != clean(source.outlet).casefold()]
    if wires:
        notes.append("via " + ", ".join(escape(w) for w in wires))
    if not source.full_text:
        notes.append("teaser only")
    return notes


def verification_line(verification: Verification | None) -> str:
    """What citation checking changed, in words ("citation check: 2 unsupported citations
    removed · 1 supporting source added"); empty when it changed nothing."""
    if verification is None:
        return ""
    parts = []
    if verification.removed:
        parts.append(plural(len(verification.removed), "unsupported citation") + " removed")
    if verification.added:
        parts.append(plural(len(verification.added), "supporting source") + " added")
    if verification.dropped:
        parts.append(plural(len(verification.dropped), "unsupported point") + " dropped")
    return "citation check: " + " · ".join(parts) if parts else ""


def _story_lines(number: int, story: StoryBriefing) -> list[str]:
    lines = [f"{number}. {clean(story.title)}"]
    lines.append(
        f"{INDENT}{coverage_line(story.coverage)} · updated {format_time(story.updated_at)}"
    )
    if story.summary and clean(story.summary):
        lines.append(f"{INDENT}{clean(story.summary)}")
    for point in story.key_points:
        marker = citations(point.sources)
        lines.append(f"{INDENT}• {clean(point.text)}" + (f" {marker}" if marker else ""))
    if story.sources:
        lines.append(f"{INDENT}Sources:")
    for source in story.sources:
        details = [f"{clean(source.outlet) or 'unknown outlet'} — {clean(source.title)}"]
        when = format_time(source.published_at)
        if when:
            details.append(when)
        details.extend(source_notes(source))
        lines.append(f"{INDENT}[{source.id}] " + " · ".join(details))
        lines.append(f"{INDENT}    {clean(source.url)}")
    lines.extend(f"{INDENT}Note: {clean(note)}" for note in story.notes if clean(note))
    return lines


def to_text(briefing: Briefing) -> str:
    """The whole briefing as plain text, stories first and per-source errors last."""
    count = len(briefing.stories)
    header = (
        f"{clean(briefing.topic)} — {plural(count, 'story', 'stories')}"
        f" · {briefing.mode.value} · {format_time(briefing.generated_at)}"
    )
    blocks = [header]
    if not briefing.stories:
        blocks.append("No stories about this topic in the selected window.")
    for number, story in enumerate(briefing.stories, start=1):
        blocks.append("\n".join(_story_lines(number, story)))
    if briefing.errors:
        lines = [f"Errors ({len(briefing.errors)}):"]
        lines.extend(f"{INDENT}• {clean(e.source)}: {clean(e.error)}" for e in briefing.errors)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def utf16_size(text: str) -> int:
    """Length in UTF-16 code units: never less than what Slack's or Discord's limits count."""
    return len(text.encode("utf-16-le")) // 2


def pack_tokens(tokens: list[str], limit: int) -> list[str]:
    """Join ``tokens`` (each at most ``limit`` UTF-16 units: words, whitespace runs, whole
    links) into pieces of at most ``limit``, cutting at the last whitespace that fits and
    never inside a token; pieces come stripped, empty ones dropped. The chat renderers split
    their marked-up text with it, each with its own tokens."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for token in tokens:
        tsize = utf16_size(token)
        if size + tsize <= limit:
            current.append(token)
            size += tsize
            continue
        if not token.isspace():
            spaces = [i for i, t in enumerate(current) if t.isspace()]
            if spaces and spaces[-1] > 0:
                head, current = current[: spaces[-1]], current[spaces[-1] + 1 :]
                pieces.append("".join(head))
                size = sum(utf16_size(t) for t in current)
                if size + tsize <= limit:
                    current.append(token)
                    size += tsize
                    continue
            if current:
                pieces.append("".join(current))
            current, size = [token], tsize
        else:
            pieces.append("".join(current))
            current, size = [], 0
    if current:
        pieces.append("".join(current))
    return [piece.strip() for piece in pieces if piece.strip()]


def point_lines(
    points: Sequence[KeyPoint],
    *,
    escape: Callable[[str], str],
    cite: Callable[[Sequence[int]], str],
) -> list[str]:
    """Key points as bulleted lines for a chat renderer: each point's text cleaned and
    made literal by ``escape``, then its citation markers from ``cite``; empty points go."""
    lines = []
    for point in points:
        text = escape(clean(point.text))
        if not text:
            continue
        marker = cite(point.sources)
        lines.append(f"• {text}" + (f" {marker}" if marker else ""))
    return lines
