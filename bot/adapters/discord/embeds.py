"""A briefing, a thread answer or a chat reply as Discord messages, within Discord's limits.

``render_briefing(briefing)`` returns one or more ``DiscordMessage`` s: the first is the
reply, the rest follow it in order. ``render_answer(answer)`` lays out an answer to a
question (``bot.qa.Answer``) with its claims' sources linked, ``render_text(text)`` any other
plain chat reply (help, an error, a confirmation), and ``render_reply(reply)`` picks one for
a ``ChatReply``. All are pure: plain dicts in the shape of Discord's JSON embed objects, no
``discord`` import. The sections and their wording are the Slack renderer's.

Discord refuses (it does not cut) a message that breaks a limit, so every limit is met
here: 2,000 characters of ``content``, 10 embeds per message, and per embed a title of 256,
a description of 4,096, 25 fields of 256 (name) and 1,024 (value), a footer of 2,048 and an
author name of 256, with at most 6,000 across all of a message's embeds. Lengths are counted
in UTF-16 code units, which is never less than what Discord counts.

A digest (``Briefing.digest``) is rendered as the Slack renderer and ``bot.render.text``
word it: the content names the topic, the slot and what changed since the channel's last
briefing; NEW stories are embeds as in a briefing, UPDATED ones titled "Update:" with their
new points first (marked **New:**), SEEN ones one line each in a last embed; a digest with
nothing new is one line of content, and a live update one message of one embed
("**Update:** <point> — <linked sources>").

A long briefing is split between stories where it can (a story that fits a message starts
a new one rather than straddle two), else between a story's embeds, whose descriptions are
split between lines; a line longer than a description is split at a space outside any
masked link ``[text](url)``, so a link or a citation marker ``[[1]](url)`` is never cut.

Everything from a source, a user or a model is untrusted: ``escape`` makes it literal
Discord markdown (``\\ * _ ~ ` | > # [ ] <`` backslash-escaped, list markers at a line's
start too) and neutralises every way of notifying people: a zero-width space goes after the
``@`` of ``@everyone`` and ``@here``, and into ``<@123>``, ``<@!123>``, ``<@&123>`` and
``<#123>``, whose ``<`` is escaped as well. Only ``http(s)`` URLs become links, and they are
percent-encoded (spaces, parentheses, brackets), so a masked link stays one valid link. The
adapter also sends every message with ``allowed_mentions`` parsing nothing
(``ALLOWED_MENTIONS``, in ``DiscordMessage.payload()``), so even a miss here pings no one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.chat.commands import ChatReply, ReplyKind
from bot.domain import Briefing, DigestInfo, KeyPoint, SourceRef, StoryBriefing, StoryStatus
from bot.qa import Answer
from bot.render.text import (
    NEW_MARK,
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
    pack_tokens,
    plural,
    point_lines,
    seen_line,
    source_notes,
    strip_controls,
    update_points,
    update_sources,
    utf16_size,
    verification_line,
    web_url,
)

__all__ = [
    "ALLOWED_MENTIONS",
    "AUTHOR_NAME",
    "CONTENT",
    "DESCRIPTION",
    "EMBED_TITLE",
    "FIELDS",
    "FIELD_NAME",
    "FIELD_VALUE",
    "FOOTER",
    "MESSAGE_EMBEDS",
    "MESSAGE_TEXT",
    "NOTHING_FOUND",
    "DiscordMessage",
    "embed_size",
    "escape",
    "link",
    "render_answer",
    "render_briefing",
    "render_reply",
    "render_text",
    "split_markdown",
    "text_size",
]

Embed = dict[str, Any]

CONTENT = 2000
MESSAGE_EMBEDS = 10
MESSAGE_TEXT = 6000  # all of one message's embeds: titles, descriptions, fields, footers, authors
EMBED_TITLE = 256
DESCRIPTION = 4096
FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
FOOTER = 2048
AUTHOR_NAME = 256
MAX_URL = 1000  # a longer URL is not linked (a citation is then its plain marker)
TITLE_TEXT = 300  # a source's title or outlet as shown in the source list
QUOTE_TEXT = 400  # a claim of an answer, as the plain answer shortens a quote
TOPIC_TEXT = 200  # the topic as named in a message's content
ELLIPSIS = "…"
CONTINUED = " (continued)"
UPDATE_POINTS = 5  # points of a live update shown (it is one short message)
UPDATE_POINT_TEXT = 1000  # a live update's point, cut to this
UPDATE_SOURCES = 5  # sources named after a live update's point (originals first)
ALLOWED_MENTIONS: dict[str, list[str]] = {"parse": []}  # sent with every message: no pings

NOTHING_FOUND = "Nothing found: no stories about {topic} in the selected window."

_ZWSP = "\u200b"  # invisible; "@\u200beveryone" and "<@\u200b123>" notify no one
_MENTION_WORD = re.compile(r"@(?=(?:everyone|here)\b)", re.IGNORECASE)
_MENTION_TAG = re.compile(r"<(@[!&]?|#)(?=\d)")  # <@123>, <@!123>, <@&123>, <#123>
_MARKUP = re.compile(r"([\\*_~`|>#\[\]<])")
_LIST_MARK = re.compile(r"^(\s*)([-+])(?=\s|$)", re.MULTILINE)  # "- item", "+ item"
_NUMBERED = re.compile(r"^(\s*\d+)\.(?=\s|$)", re.MULTILINE)  # "1. item"
# The pieces a markdown line is cut between: our masked links whole (their labels escaped,
# but for a citation's "[n]"; their URLs percent-encoded), whitespace runs (where a cut is
# made), and runs of other characters with their backslash escapes (cut inside only when
# nothing else fits, never between a backslash and what it escapes).
_LINK = r"\[(?:\\.|\[[^\[\]\\\n]*\]|[^\[\]\\\n])*\]\([^\s()\\]*\)"
_TOKEN = re.compile(rf"{_LINK}|\s+|(?:\\.|[^\s\\\[\]])+|[\\\[\]]")


@dataclass(frozen=True, slots=True)
class DiscordMessage:
    """One message: ``content`` (at most ``CONTENT``; may be empty when there are embeds)
    and up to ``MESSAGE_EMBEDS`` embed objects."""

    content: str
    embeds: list[Embed]

    def payload(self) -> dict[str, Any]:
        """The JSON body for ``POST /channels/{id}/messages``, pinging no one."""
        body: dict[str, Any] = {"allowed_mentions": {"parse": []}}
        if self.content:
            body["content"] = self.content
        if self.embeds:
            body["embeds"] = self.embeds
        return body


# --------------------------------------------------------------------------- text


def text_size(text: str) -> int:
    """Length as Discord's limits count it, at most: UTF-16 code units."""
    return utf16_size(text)


def escape(text: str) -> str:
    """Untrusted text made literal Discord markdown that notifies no one (see the module
    docstring). Controls are removed; newlines stay."""
    text = strip_controls(text)
    text = _MENTION_WORD.sub("@" + _ZWSP, text)
    text = _MENTION_TAG.sub(lambda m: "<" + m.group(1) + _ZWSP, text)
    text = _MARKUP.sub(r"\\\1", text)
    text = _LIST_MARK.sub(r"\1\\\2", text)
    return _NUMBERED.sub(r"\1\\.", text)


def _target(url: str) -> str | None:
    target = web_url(url)
    if target is None or text_size(target) > MAX_URL:
        return None
    return target


def link(url: str, label: str) -> str:
    """``[label](url)`` with the label escaped and the URL percent-encoded (spaces, ``(``,
    ``)``, ``[``, ``]`` ...); just the escaped label for a URL that is not ``http(s)`` or is
    over ``MAX_URL``."""
    target = _target(url)
    text = escape(clean(label))
    return f"[{text}]({target})" if target else text


def _cut_plain(text: str, limit: int) -> str:
    """Plain text cut to ``limit`` with "…", at a space when one is near the end."""
    if text_size(text) <= limit:
        return text
    head = text
    while text_size(head) > limit - 1:
        head = head[: len(head) - max(1, (text_size(head) - limit + 1) // 2)]
    space = head.rfind(" ")
    if space >= len(head) * 2 // 3:
        head = head[:space]
    return head.rstrip(" ,;:.-–—") + ELLIPSIS


def _escaped_within(text: str, limit: int) -> str:
    """Untrusted one-line ``text`` escaped and cut (before escaping, so no escape is cut)
    to at most ``limit`` once escaped."""
    text = clean(text)
    budget = limit
    while True:
        escaped = escape(_cut_plain(text, budget))
        over = text_size(escaped) - limit
        if over <= 0 or budget <= 1:
            return escaped
        budget = max(1, budget - over)


def _hard_cut(token: str, limit: int) -> list[str]:
    """A token over ``limit`` cut between characters, never after an escaping backslash."""
    pieces = []
    while text_size(token) > limit:
        cut = limit
        while text_size(token[:cut]) > limit:
            cut -= 1
        head = token[:cut]
        if (len(head) - len(head.rstrip("\\"))) % 2 and cut > 1:
            cut -= 1
        pieces.append(token[:cut])
        token = token[cut:]
    pieces.append(token)
    return pieces


def _guard_line_start(piece: str) -> str:
    """A piece that now starts a line must not start a list: "- x", "+ x", "1. x"."""
    return _NUMBERED.sub(r"\1\\.", _LIST_MARK.sub(r"\1\\\2", piece, count=1), count=1)


def split_markdown(text: str, limit: int) -> list[str]:
    """Discord markdown ``text`` in pieces of at most ``limit``: cut at the last space that
    fits, never inside a masked link or between a backslash and the character it escapes; a
    run with no space in it is cut between characters only when it alone is over ``limit``.
    A piece after a cut that would start a list is escaped."""
    if text_size(text) <= limit:
        return [text]
    room = limit - 1  # for the backslash a continuation may need
    tokens: list[str] = []
    for token in _TOKEN.findall(text):
        tokens.extend(_hard_cut(token, room))
    stripped = pack_tokens(tokens, room)
    return stripped[:1] + [_guard_line_start(piece) for piece in stripped[1:]]


def _cut_markdown(text: str, limit: int) -> str:
    """Markdown cut to ``limit`` with "…" (never inside a link or an escape)."""
    if text_size(text) <= limit:
        return text
    return split_markdown(text, limit - 1)[0] + ELLIPSIS


def _pack_lines(lines: Iterable[str], limit: int) -> list[str]:
    """Lines joined into as few texts of at most ``limit`` as fit; an over-long line split
    on its own."""
    texts: list[str] = []
    current: str | None = None
    for line in lines:
        for piece in split_markdown(line, limit) or [""]:
            if current is None:
                current = piece
            elif text_size(current) + 1 + text_size(piece) <= limit:
                current = f"{current}\n{piece}"
            else:
                texts.append(current)
                current = piece
    if current is not None:
        texts.append(current)
    return [text.strip("\n") for text in texts if text.strip()]


# -------------------------------------------------------------------------- embeds


def embed_size(embed: Embed) -> int:
    """An embed's characters as Discord counts them against ``MESSAGE_TEXT``."""
    size = text_size(embed.get("title", "")) + text_size(embed.get("description", ""))
    for field in embed.get("fields", ()):
        size += text_size(field["name"]) + text_size(field["value"])
    size += text_size(embed.get("footer", {}).get("text", ""))
    size += text_size(embed.get("author", {}).get("name", ""))
    return size


def _title(prefix: str, text: str, suffix: str = "") -> str:
    """``prefix`` (ours, as it is) + untrusted ``text`` escaped and cut + ``suffix``."""
    room = EMBED_TITLE - text_size(prefix) - text_size(suffix)
    return prefix + _escaped_within(text, room) + suffix


def _embeds(prefix: str, title: str, lines: Sequence[str], url: str | None = None) -> list[Embed]:
    """``lines`` as embeds titled ``prefix`` + the untrusted ``title``: the first linked to
    ``url``, the rest "(continued)"."""
    embeds: list[Embed] = []
    for index, description in enumerate(_pack_lines(lines, DESCRIPTION) or [""]):
        embed: Embed = {"title": _title(prefix, title, CONTINUED if index else "")}
        if url and not index:
            embed["url"] = url
        if description:
            embed["description"] = description
        embeds.append(embed)
    return embeds


# ------------------------------------------------------------------------- stories


def _citations(source_ids: Iterable[int], sources: dict[int, SourceRef]) -> str:
    markers = []
    for number in sorted(set(source_ids)):
        source = sources.get(number)
        target = _target(source.url) if source else None
        markers.append(f"[[{number}]]({target})" if target else f"\\[{number}\\]")
    return "".join(markers)


def _point_lines(
    points: Sequence[KeyPoint], sources: dict[int, SourceRef], mark: str = ""
) -> list[str]:
    return point_lines(points, escape=escape, cite=lambda ids: _citations(ids, sources), mark=mark)


def _source_line(source: SourceRef) -> str:
    outlet = _escaped_within(source.outlet, 2 * TITLE_TEXT) or "unknown outlet"
    title = _cut_plain(clean(source.title) or "untitled", TITLE_TEXT)
    parts = [f"**\\[{source.id}\\]** {outlet} — {link(source.url, title)}"]
    when = format_time(source.published_at)
    if when:
        parts.append(when)
    parts.extend(escape(note) for note in source_notes(source))
    return " · ".join(parts)


def _titled(title: str, lines: list[str]) -> list[str]:
    """A section: its bold title kept on the line of its first item."""
    return [f"**{title}**\n{lines[0]}", *lines[1:]] if lines else []


def _lead_url(story: StoryBriefing) -> str | None:
    """The story's first original (not a copy) linkable source, else its first linkable."""
    ordered = sorted(story.sources, key=lambda source: source.copy_of is not None)
    return next((t for t in (_target(s.url) for s in ordered) if t), None)


def _story_embeds(number: int, story: StoryBriefing) -> list[Embed]:
    sources = {source.id: source for source in story.sources}
    lines = [f"{coverage_line(story.coverage)} · updated {format_time(story.updated_at)}"]
    if story.summary and clean(story.summary):
        lines.append(escape(clean(story.summary)))
    updated = story.status is StoryStatus.UPDATED
    if updated:  # a digest's update: the new points first, then some the channel saw
        fresh, earlier, left_out = update_points(story)
        lines.extend(_point_lines(fresh, sources, f"**{NEW_MARK}** "))
        lines.extend(_point_lines(earlier, sources))
        if left_out:
            lines.append(escape(earlier_left_out(left_out)))
    else:
        lines.extend(_point_lines(story.key_points, sources))
    if story.status is None:  # in a digest, the new points are marked where they stand
        new = _point_lines(story.whats_new, sources)
        lines.extend(_titled("New since this channel's last briefing", new))
    lines.extend(_titled("Where sources differ", _point_lines(story.disagreements, sources)))
    checked = verification_line(story.verification)
    if checked:
        lines.append(escape(checked[0].upper() + checked[1:]))
    lines.extend(f"Note: {escape(clean(n))}" for n in story.notes if clean(n))
    lines.extend(_titled("Sources", [_source_line(source) for source in story.sources]))
    prefix = f"{number}. Update: " if updated else f"{number}. "
    return _embeds(prefix, clean(story.title) or "untitled", lines, _lead_url(story))


def _errors_embeds(briefing: Briefing) -> list[Embed]:
    if not briefing.errors:
        return []
    lines = [
        f"• {escape(clean(error.source))}: {escape(clean(error.error))}"
        for error in briefing.errors
    ]
    return _embeds(f"{plural(len(briefing.errors), 'source')} could not be read", "", lines)


# ------------------------------------------------------------------------ messages


def _pack(groups: Iterable[list[Embed]]) -> list[list[Embed]]:
    """Groups of embeds into messages within ``MESSAGE_EMBEDS`` and ``MESSAGE_TEXT``: a group
    starts a new message when it does not fit in this one but would in a new one; a group
    too big for any message is split between its embeds."""
    messages: list[list[Embed]] = []
    current: list[Embed] = []

    def fits(extra: list[Embed], into: list[Embed]) -> bool:
        total = sum(embed_size(embed) for embed in into + extra)
        return len(into) + len(extra) <= MESSAGE_EMBEDS and total <= MESSAGE_TEXT

    for group in groups:
        if current and not fits(group, current) and fits(group, []):
            messages.append(current)
            current = []
        for embed in group:
            if current and not fits([embed], current):
                messages.append(current)
                current = []
            current.append(embed)
    if current:
        messages.append(current)
    return messages


def _one_line(text: str) -> list[DiscordMessage]:
    return [DiscordMessage(_cut_markdown(text, CONTENT), [])]


def _digest(briefing: Briefing, digest: DigestInfo) -> list[DiscordMessage]:
    named = _escaped_within(clean(briefing.topic) or "briefing", TOPIC_TEXT)
    if briefing.nothing_new:
        return _one_line(nothing_new_line(briefing, named))
    since = digest_since(digest)
    counts = digest_counts(briefing)
    opening = f"**Digest: {named}** · {escape(digest_slot(digest))}\n" + escape(
        since[0].upper() + since[1:] + (f": {counts}" if counts else "")
    )
    shown = [story for story in briefing.stories if story.status is not StoryStatus.SEEN]
    groups = [_story_embeds(n, story) for n, story in enumerate(shown, start=1)]
    seen = [
        seen_line(story, _escaped_within(story.title, TITLE_TEXT))
        for story in briefing.stories
        if story.status is StoryStatus.SEEN
    ]
    if seen:
        groups.append(_embeds("Unchanged since your last briefing", "", seen))
    groups.append(_errors_embeds(briefing))
    packed = _pack(groups) or [[]]
    return [
        DiscordMessage(
            opening if index == 0 else f"Digest: {named} (continued, {index + 1}/{len(packed)})",
            embeds,
        )
        for index, embeds in enumerate(packed)
    ]


def _update(briefing: Briefing) -> list[DiscordMessage]:
    lines: list[str] = []
    title = ""
    url = None
    for story in briefing.stories:
        title = title or clean(story.title)
        url = url or _lead_url(story)
        for point in story.key_points[:UPDATE_POINTS]:
            text = _escaped_within(point.text, UPDATE_POINT_TEXT)
            named = ", ".join(
                link(
                    s.url, f"{_cut_plain(clean(s.outlet), TITLE_TEXT) or 'unknown outlet'} [{s.id}]"
                )
                for s in update_sources(point, story)[:UPDATE_SOURCES]
            )
            line = f"**Update:** {text}" + (f" — {named}" if named else "")
            if lines and text_size("\n".join([*lines, line])) > DESCRIPTION:
                break  # one short message: the first points only
            lines.append(line)
    if not lines:
        return _one_line(f"Update on {_escaped_within(briefing.topic, TOPIC_TEXT)}")
    embeds = _embeds("Update: ", title or "untitled", lines, url)[:1]
    return [DiscordMessage("", embeds)]


def render_briefing(briefing: Briefing) -> list[DiscordMessage]:
    """The briefing as Discord messages: the first is the reply, the rest follow in order.

    The first message's content names the briefing; each story is an embed (more when it is
    long) titled with the story and linked to its lead source: the coverage line, the
    summary, key points with linked citation markers, what is new since the channel's last
    briefing, where sources differ, what citation checking changed (only when it changed
    anything), notes, and the sources. Sources that could not be read come last. A digest
    or a live update is laid out as the module docstring says.
    """
    if is_update(briefing):
        return _update(briefing)
    if briefing.digest is not None and is_digest(briefing):
        return _digest(briefing, briefing.digest)
    topic = clean(briefing.topic) or "briefing"
    named = _escaped_within(topic, TOPIC_TEXT)
    count = len(briefing.stories)
    about = f"{briefing.mode.value} · {format_time(briefing.generated_at)}"
    if count:
        about = f"{plural(count, 'story', 'stories')} · {about}"
    opening = f"**Briefing: {named}**\n{about}"
    if not briefing.stories:
        opening += "\n" + NOTHING_FOUND.format(topic=f"**{named}**")
    groups = [_story_embeds(n, story) for n, story in enumerate(briefing.stories, start=1)]
    groups.append(_errors_embeds(briefing))
    packed = _pack(groups) or [[]]
    messages = []
    for index, embeds in enumerate(packed):
        content = (
            opening if index == 0 else (f"Briefing: {named} (continued, {index + 1}/{len(packed)})")
        )
        messages.append(DiscordMessage(content, embeds))
    return messages


def render_text(text: str) -> list[DiscordMessage]:
    """A plain chat reply (help, an error, a confirmation) as message contents, all of it
    literal: nothing in it is read as markup or notifies anyone. Long replies are split
    between lines, an over-long line at a space."""
    lines = [escape(line) for line in strip_controls(text).splitlines()]
    contents = _pack_lines(lines, CONTENT) or ["(nothing to say)"]
    return [DiscordMessage(content, []) for content in contents]


def _cited(source: SourceRef) -> str:
    outlet = _cut_plain(clean(source.outlet), TITLE_TEXT) or "unknown outlet"
    return link(source.url, f"{outlet} [{source.id}]")


def render_answer(answer: Answer) -> list[DiscordMessage]:
    """An answer to a question: the plain answer's opening line as the content, then an
    embed with each claim and its sources linked (only to the sources' URLs; a source new
    since the thread's last briefing is marked "new"). A refusal, or an answer without
    claims, is its plain text, as ``render_text`` renders it."""
    if answer.refused or not answer.claims:
        return render_text(answer.text)
    opening = answer.text.split("\n", 1)[0]
    sources = {source.id: source for source in answer.sources}
    new = set(answer.new_sources)
    lines = []
    for claim in answer.claims:
        cited = [sources[i] for i in claim.sources if i in sources]
        lines.append(f"• “{_escaped_within(claim.text, QUOTE_TEXT)}”")
        if cited:
            lines.append(
                "— " + ", ".join(_cited(ref) + (" (new)" if ref.id in new else "") for ref in cited)
            )
    embeds = [{"description": text} for text in _pack_lines(lines, DESCRIPTION)]
    packed = _pack([embed] for embed in embeds)
    content = _cut_markdown(escape(opening), CONTENT)
    return [
        DiscordMessage(content if index == 0 else "", part) for index, part in enumerate(packed)
    ]


def render_reply(reply: ChatReply) -> list[DiscordMessage]:
    """Whichever of the above fits a chat reply: its briefing, its thread answer, or its text."""
    if reply.kind is ReplyKind.BRIEFING and reply.briefing is not None:
        return render_briefing(reply.briefing)
    if reply.kind is ReplyKind.ANSWER and reply.answer is not None:
        return render_answer(reply.answer)
    return render_text(reply.text)
