"""Plain-text rendering of a briefing, for the terminal and for logs.

No styling and no escape codes: the CLI may add colour itself. Untrusted strings (titles,
outlet names, sentences, error messages) have control characters and terminal escape
sequences removed, so a hostile headline cannot repaint the terminal.

The helpers here (``clean``, ``strip_controls``, ``coverage_line``, ``format_time``,
``citations``, ``source_notes``, ``web_url``, ``verification_line``) are shared by the other
renderers and the chat adapters' renderers, and so is the wording of digests and live
updates (``digest_slot``, ``digest_since``, ``nothing_new_line``, ``seen_line``,
``update_points``): every platform renders a digest with the renderer of ``/brief``.

A digest (``Briefing.digest`` of kind "digest") opens with its topic, slot and "what changed
since your last briefing on ..."; NEW stories are rendered as usual, UPDATED ones marked
"Update" with the new points first (marked "New:") and at most ``UPDATE_EARLIER`` of the
points the channel saw before, SEEN ones as one line each ("No new reports: ..."). A digest
with nothing new is one line. A live update (kind "update": one UPDATED story whose key
points are the new points) is "Update: <point> — <sources>" per point.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.domain import (
    Briefing,
    Coverage,
    DigestInfo,
    KeyPoint,
    SourceRef,
    StoryBriefing,
    StoryStatus,
    Verification,
)

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
# Points the channel saw before that an UPDATED story of a digest still shows after its new ones.
UPDATE_EARLIER = 3
NEW_MARK = "New:"


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


# --------------------------------------------------------------------------- digests


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(moment: datetime, zone: str, *, with_zone: bool = False) -> str:
    """ "Tue 1 Dec 08:00" in the time zone ``zone`` (UTC when unknown), + the zone's name."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(_zone(zone))
    text = f"{local:%a} {local.day} {local:%b %H:%M}"
    return f"{text} {zone}" if with_zone else text


def digest_slot(digest: DigestInfo) -> str:
    """ "Daily digest · Tue 1 Dec 08:00 Europe/Berlin (late)": the kind of schedule, the
    slot in the subscription's time zone, and whether it comes late."""
    first = digest.schedule.split()[0].casefold() if digest.schedule.split() else ""
    kind = {"daily": "Daily digest", "weekly": "Weekly digest"}.get(first, "Digest")
    if first in ("weekdays", "mon-fri"):
        kind = "Weekday digest"
    elif first == "weekends":
        kind = "Weekend digest"
    if digest.kind == "update":
        kind = "Live update"
    slot = f"{kind} · {local_time(digest.slot_at, digest.timezone, with_zone=True)}"
    return slot + (" (late)" if digest.late else "")


def digest_since(digest: DigestInfo) -> str:
    """ "what changed since your last briefing on Mon 30 Nov 08:00" (in the subscription's
    time zone), or "your first briefing on this topic here"."""
    if digest.since is None:
        return "your first briefing on this topic here"
    return f"what changed since your last briefing on {local_time(digest.since, digest.timezone)}"


def digest_counts(briefing: Briefing) -> str:
    """ "1 new story · 1 update · 2 unchanged"."""
    counted = dict.fromkeys(StoryStatus, 0)
    for story in briefing.stories:
        counted[story.status or StoryStatus.NEW] += 1
    parts = []
    if counted[StoryStatus.NEW]:
        parts.append(plural(counted[StoryStatus.NEW], "new story", "new stories"))
    if counted[StoryStatus.UPDATED]:
        parts.append(plural(counted[StoryStatus.UPDATED], "update"))
    if counted[StoryStatus.SEEN]:
        parts.append(f"{counted[StoryStatus.SEEN]} unchanged")
    return " · ".join(parts)


def is_digest(briefing: Briefing) -> bool:
    return briefing.digest is not None and briefing.digest.kind == "digest"


def is_update(briefing: Briefing) -> bool:
    return briefing.digest is not None and briefing.digest.kind == "update"


def nothing_new_line(briefing: Briefing, topic: str | None = None) -> str:
    """ "Nothing new on ukraine since your last briefing on Mon 30 Nov 08:00." (``topic``:
    the topic as the renderer escapes it; cleaned by default)."""
    named = clean(briefing.topic) if topic is None else topic
    digest = briefing.digest
    if not briefing.stories:
        return f"Nothing new on {named}: no stories in the selected window."
    if digest is None or digest.since is None:
        return f"Nothing new on {named}."
    return (
        f"Nothing new on {named} since your last briefing on "
        + local_time(digest.since, digest.timezone)
        + "."
    )


def seen_line(story: StoryBriefing, title: str | None = None) -> str:
    """ "No new reports: <title> (3 outlets, 2 independent reports)" (``title``: as the
    renderer escapes it; cleaned by default)."""
    named = clean(story.title) if title is None else title
    counts = (
        f"{plural(story.coverage.outlets, 'outlet')}, "
        f"{plural(story.coverage.independent_reports, 'independent report')}"
    )
    return f"No new reports: {named} ({counts})"


def update_points(story: StoryBriefing) -> tuple[list[KeyPoint], list[KeyPoint], int]:
    """An UPDATED story's (new points, earlier points shown, earlier points left out): at
    most ``UPDATE_EARLIER`` of the points the channel saw before follow the new ones."""
    new_ids = {id(point) for point in story.whats_new}
    texts = {point.text for point in story.whats_new}
    earlier = [p for p in story.key_points if id(p) not in new_ids and p.text not in texts]
    shown = earlier[:UPDATE_EARLIER]
    return list(story.whats_new), shown, len(earlier) - len(shown)


def update_sources(point: KeyPoint, story: StoryBriefing) -> list[SourceRef]:
    """The sources a live update's point cites, originals before copies."""
    by_id = {source.id: source for source in story.sources}
    cited = [by_id[n] for n in sorted(set(point.sources)) if n in by_id]
    return sorted(cited, key=lambda source: source.copy_of is not None)


def earlier_left_out(count: int) -> str:
    return f"(+{plural(count, 'earlier point')})" if count else ""


def _point_line(point: KeyPoint, mark: str = "") -> str:
    marker = citations(point.sources)
    return f"{INDENT}• {mark}{clean(point.text)}" + (f" {marker}" if marker else "")


def _story_lines(number: int, story: StoryBriefing) -> list[str]:
    updated = story.status is StoryStatus.UPDATED
    lines = [f"{number}. " + ("Update: " if updated else "") + clean(story.title)]
    lines.append(
        f"{INDENT}{coverage_line(story.coverage)} · updated {format_time(story.updated_at)}"
    )
    if story.summary and clean(story.summary):
        lines.append(f"{INDENT}{clean(story.summary)}")
    if updated:
        new, earlier, left_out = update_points(story)
        lines.extend(_point_line(point, NEW_MARK + " ") for point in new)
        lines.extend(_point_line(point) for point in earlier)
        if left_out:
            lines.append(f"{INDENT}{earlier_left_out(left_out)}")
    else:
        lines.extend(_point_line(point) for point in story.key_points)
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


def _update_text(briefing: Briefing) -> str:
    lines = []
    for story in briefing.stories:
        for point in story.key_points:
            cited = update_sources(point, story)
            named = ", ".join(f"{clean(s.outlet) or 'unknown outlet'} [{s.id}]" for s in cited)
            lines.append(f"Update: {clean(point.text)}" + (f" — {named}" if named else ""))
        lines.extend(f"{INDENT}[{s.id}] {clean(s.url)}" for s in story.sources)
    return "\n".join(lines) + "\n"


def _digest_text(briefing: Briefing, digest: DigestInfo) -> str:
    if briefing.nothing_new:
        return nothing_new_line(briefing) + "\n"
    counts = digest_counts(briefing)
    blocks = [
        f"{clean(briefing.topic)} — {digest_slot(digest)}\n"
        f"{digest_since(digest)[0].upper()}{digest_since(digest)[1:]}"
        + (f": {counts}" if counts else "")
    ]
    shown = [story for story in briefing.stories if story.status is not StoryStatus.SEEN]
    for number, story in enumerate(shown, start=1):
        blocks.append("\n".join(_story_lines(number, story)))
    seen = [seen_line(s) for s in briefing.stories if s.status is StoryStatus.SEEN]
    if seen:
        blocks.append("\n".join(seen))
    if briefing.errors:
        lines = [f"Errors ({len(briefing.errors)}):"]
        lines.extend(f"{INDENT}• {clean(e.source)}: {clean(e.error)}" for e in briefing.errors)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def to_text(briefing: Briefing) -> str:
    """The whole briefing as plain text, stories first and per-source errors last (a digest
    or a live update laid out as the module docstring says)."""
    if is_update(briefing):
        return _update_text(briefing)
    if briefing.digest is not None and is_digest(briefing):
        return _digest_text(briefing, briefing.digest)
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
    mark: str = "",
) -> list[str]:
    """Key points as bulleted lines for a chat renderer: each point's text cleaned and
    made literal by ``escape`` (after ``mark``, the renderer's own markup such as a bold
    "New:"), then its citation markers from ``cite``; empty points go."""
    lines = []
    for point in points:
        text = escape(clean(point.text))
        if not text:
            continue
        marker = cite(point.sources)
        lines.append(f"• {mark}{text}" + (f" {marker}" if marker else ""))
    return lines
