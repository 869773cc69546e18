"""A briefing as Slack Block Kit messages, within every limit Slack enforces.

``render_briefing(briefing)`` returns one or more ``SlackMessage`` s: the first goes into the
channel, the rest into its thread. ``render_text(text)`` does the same for a plain chat reply
(help, an error, a confirmation), and ``render_answer(answer)`` an answer to a question
(``bot.qa.Answer``): its opening line, each claim quoted with its cited sources linked
(only to the sources' URLs; those new since the thread's last briefing marked "new"), and a
refusal as its plain text. All are pure: plain dicts, no ``slack_sdk``.

Slack refuses (it does not cut) a message that breaks a limit, so every limit is met here:
50 blocks per message, 3,000 characters per section text, 150 per header, 10 elements per
context block, 2,000 per context element, and the fallback ``text`` is kept to 3,000. Slack
also refuses blocks whose texts add up to about 12,000 characters (``msg_blocks_too_long``,
undocumented: slackapi/bolt-js#2509), so a message carries at most ``MESSAGE_TEXT``. Lengths are
counted in UTF-16 code units, which is never less than what Slack counts.

A digest (``Briefing.digest``) is rendered here too, as ``bot.render.text`` words it: a
header naming the topic, the slot and what changed since the channel's last briefing; NEW
stories as in a briefing, UPDATED ones headed "Update:" with their new points first (marked
*New:*), SEEN ones one line each; a digest with nothing new is one line, and a live update
one short message ("*Update:* <point> — <linked sources>").

A long briefing is split between stories where it can, else between blocks; a long list
between its lines; a line longer than a section at a space outside any ``<...>`` link, so a
link or a citation marker is never cut.

Everything from a source or a model is untrusted: ``escape`` makes it literal mrkdwn and
neutralises every way of notifying people (``<!channel>``, ``<!here>``, ``<@U123>``,
``<!subteam^S1>``, and the bare ``@channel`` / ``@here`` / ``@everyone``), and only ``http(s)``
URLs become links. Text objects are also sent with ``verbatim`` so Slack parses nothing itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

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
    "CONTEXT_ELEMENTS",
    "CONTEXT_TEXT",
    "FALLBACK_TEXT",
    "HEADER_TEXT",
    "MESSAGE_BLOCKS",
    "MESSAGE_TEXT",
    "SECTION_TEXT",
    "SlackMessage",
    "block_text_size",
    "escape",
    "link",
    "plain",
    "render_answer",
    "render_briefing",
    "render_text",
    "split_mrkdwn",
    "text_size",
]

Block = dict[str, Any]

MESSAGE_BLOCKS = 50
SECTION_TEXT = 3000
HEADER_TEXT = 150
CONTEXT_ELEMENTS = 10
CONTEXT_TEXT = 2000
FALLBACK_TEXT = 3000  # Slack allows 40,000; a notification needs far less
MESSAGE_TEXT = 10_000  # all of one message's block texts, under Slack's ~12,000
MAX_URL = 1000  # a longer URL is not linked (a citation is then its plain marker)
TITLE_TEXT = 300  # a source's title or outlet as shown in the source list
ELLIPSIS = "…"
UPDATE_POINTS = 5  # points of a live update shown (it is one short message)
UPDATE_POINT_TEXT = 1000  # a live update's point, cut to this
UPDATE_SOURCES = 5  # sources named after a live update's point (originals first)
CLAIM_TEXT = 1000  # a claim of an answer, cut to this

NOTHING_FOUND = "Nothing found: no stories about {topic} in the selected window."

_MENTION_WORD = re.compile(r"@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)
_SPECIAL = re.compile(r"<(?=[!@#])")  # Slack's "<!channel>", "<@U123>", "<#C1>"
_WORD_JOINER = "\u2060"  # invisible; "@\u2060here" notifies no one
# The pieces a mrkdwn line is cut between: our links and entities whole, whitespace runs
# (where a cut is made), and runs of other characters (cut inside only when nothing else fits).
_TOKEN = re.compile(r"<[^<>]*>|&[a-z]+;|\s+|[^\s<&]+|[<&]")


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """One ``chat.postMessage``: ``text`` is the plain notification / fallback text (never
    empty, at most ``FALLBACK_TEXT``), ``blocks`` the Block Kit layout."""

    text: str
    blocks: list[Block]


# --------------------------------------------------------------------------- text


def text_size(text: str) -> int:
    """Length as Slack's limits count it, at most: UTF-16 code units."""
    return utf16_size(text)


def _neutralise(text: str) -> str:
    return _MENTION_WORD.sub("@" + _WORD_JOINER, text)


def plain(text: str) -> str:
    """Untrusted text for a ``plain_text`` object (shown as it is, never parsed as mrkdwn):
    flattened to one clean line, with mention syntax broken by an invisible word joiner all
    the same (``<\u2060!channel>``, ``@\u2060here``)."""
    return _neutralise(_SPECIAL.sub("<" + _WORD_JOINER, clean(text)))


def escape(text: str) -> str:
    """Untrusted text made literal mrkdwn: ``&``, ``<`` and ``>`` escaped as Slack documents
    (so ``<!channel>``, ``<@U123>`` and any link syntax are inert) and the bare ``@channel``,
    ``@here`` and ``@everyone`` broken with an invisible word joiner. Controls are removed;
    newlines stay."""
    text = strip_controls(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _neutralise(text)


def link(url: str, label: str) -> str:
    """``<url|label>`` with the label escaped and the URL percent-encoded (``|``, ``>``,
    spaces ...) and its ``&`` escaped; just the escaped label for a URL that is not
    ``http(s)`` or is over ``MAX_URL``."""
    target = web_url(url)
    if target is None or text_size(target) > MAX_URL:
        return escape(clean(label))
    return f"<{target.replace('&', '&amp;')}|{escape(clean(label))}>"


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


def split_mrkdwn(text: str, limit: int) -> list[str]:
    """mrkdwn ``text`` in pieces of at most ``limit``: cut at the last space that fits, never
    inside a ``<...>`` link or an ``&...;`` entity; a run with no space in it is cut between
    characters only when it alone is over ``limit``."""
    if text_size(text) <= limit:
        return [text]
    tokens: list[str] = []
    for token in _TOKEN.findall(text):
        while text_size(token) > limit:  # a word (or, degenerately, a link) over the limit
            cut = limit
            while text_size(token[:cut]) > limit:
                cut -= 1
            tokens.append(token[:cut])
            token = token[cut:]
        tokens.append(token)
    return pack_tokens(tokens, limit)


def _cut_mrkdwn(text: str, limit: int) -> str:
    """mrkdwn cut to ``limit`` with "…" (never inside a link or an entity)."""
    if text_size(text) <= limit:
        return text
    return split_mrkdwn(text, limit - 1)[0] + ELLIPSIS


# -------------------------------------------------------------------------- blocks


def _mrkdwn(text: str) -> Block:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _header(text: str) -> Block:
    text = _cut_plain(plain(text) or "Briefing", HEADER_TEXT)
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": False}}


def _section(text: str) -> Block:
    return {"type": "section", "text": _mrkdwn(text)}


def _divider() -> Block:
    return {"type": "divider"}


def _context(texts: Iterable[str]) -> list[Block]:
    """Context blocks of at most ``CONTEXT_ELEMENTS`` elements, each cut to ``CONTEXT_TEXT``."""
    elements = [_mrkdwn(_cut_mrkdwn(text, CONTEXT_TEXT)) for text in texts if text]
    return [
        {"type": "context", "elements": elements[start : start + CONTEXT_ELEMENTS]}
        for start in range(0, len(elements), CONTEXT_ELEMENTS)
    ]


def _sections(lines: Iterable[str]) -> list[Block]:
    """Lines packed into as few section blocks as fit; an over-long line split on its own."""
    texts: list[str] = []
    current = ""
    for line in lines:
        for piece in split_mrkdwn(line, SECTION_TEXT) or [""]:
            joined = f"{current}\n{piece}" if current else piece
            if text_size(joined) <= SECTION_TEXT:
                current = joined
            else:
                texts.append(current)
                current = piece
    if current.strip():
        texts.append(current)
    return [_section(text) for text in texts if text.strip()]


def block_text_size(block: Block) -> int:
    """The characters of a block's texts, as counted against ``MESSAGE_TEXT``."""
    size = 0
    if isinstance(block.get("text"), dict):
        size += text_size(block["text"]["text"])
    for element in block.get("elements", ()):
        if isinstance(element, dict) and isinstance(element.get("text"), str):
            size += text_size(element["text"])
    return size


# ------------------------------------------------------------------------- stories


def _citations(source_ids: Iterable[int], sources: dict[int, SourceRef]) -> str:
    markers = []
    for number in sorted(set(source_ids)):
        source = sources.get(number)
        label = f"[{number}]"
        markers.append(link(source.url, label) if source else label)
    return "".join(markers)


def _point_lines(
    points: Sequence[KeyPoint], sources: dict[int, SourceRef], mark: str = ""
) -> list[str]:
    return point_lines(points, escape=escape, cite=lambda ids: _citations(ids, sources), mark=mark)


def _source_line(source: SourceRef) -> str:
    outlet = escape(_cut_plain(clean(source.outlet), TITLE_TEXT)) or "unknown outlet"
    title = _cut_plain(clean(source.title) or clean(source.url) or "untitled", TITLE_TEXT)
    parts = [f"*[{source.id}]* {outlet} — {link(source.url, title)}"]
    when = format_time(source.published_at)
    if when:
        parts.append(when)
    parts.extend(source_notes(source, lambda text: escape(clean(text))))
    return " · ".join(parts)


def _titled(title: str, lines: list[str]) -> list[str]:
    return [f"*{title}*", *lines] if lines else []


def _story_blocks(number: int, story: StoryBriefing) -> list[Block]:
    sources = {source.id: source for source in story.sources}
    updated = story.status is StoryStatus.UPDATED
    blocks = [_header(f"{number}. " + ("Update: " if updated else "") + story.title)]
    about = f"{coverage_line(story.coverage)} · updated {format_time(story.updated_at)}"
    blocks.extend(_context([about]))
    if story.summary and clean(story.summary):
        blocks.extend(_sections([escape(clean(story.summary))]))
    if updated:  # a digest's update: the new points first, then some the channel saw
        fresh, earlier, left_out = update_points(story)
        lines = _point_lines(fresh, sources, f"*{NEW_MARK}* ")
        lines += _point_lines(earlier, sources)
        blocks.extend(_sections([*lines, earlier_left_out(left_out)] if left_out else lines))
    else:
        blocks.extend(_sections(_point_lines(story.key_points, sources)))
    if story.status is None:  # in a digest, the new points are marked where they stand
        new = _point_lines(story.whats_new, sources)
        blocks.extend(_sections(_titled("New since this channel's last briefing", new)))
    differ = _point_lines(story.disagreements, sources)
    blocks.extend(_sections(_titled("Where sources differ", differ)))
    checked = verification_line(story.verification)
    if checked:
        blocks.extend(_context([escape(checked[0].upper() + checked[1:])]))
    blocks.extend(_context(f"Note: {escape(clean(n))}" for n in story.notes if clean(n)))
    lines = [_source_line(source) for source in story.sources]
    blocks.extend(_sections(_titled("Sources", lines)))
    return blocks


def _errors_blocks(briefing: Briefing) -> list[Block]:
    if not briefing.errors:
        return []
    lines = [f"*{plural(len(briefing.errors), 'source')} could not be read*"]
    lines.extend(
        f"• {escape(clean(error.source))}: {escape(clean(error.error))}"
        for error in briefing.errors
    )
    return _sections(lines)


# ------------------------------------------------------------------------ messages


@dataclass(slots=True)
class _Group:
    blocks: list[Block]
    label: str  # how the fallback text names it ("" for none)
    divided: bool = False  # a divider goes before it when it follows other blocks


def _pack(groups: list[_Group]) -> list[tuple[list[Block], list[str]]]:
    """Groups into messages within ``MESSAGE_BLOCKS`` and ``MESSAGE_TEXT``: a group starts a
    new message when it does not fit in this one but would in a new one; a group too big
    for any message is split between its blocks."""
    messages: list[tuple[list[Block], list[str]]] = []
    blocks: list[Block] = []
    labels: list[str] = []
    size = 0

    def flush() -> None:
        nonlocal blocks, labels, size
        while blocks and blocks[-1]["type"] == "divider":
            blocks.pop()
        if blocks:
            messages.append((blocks, labels))
        blocks, labels, size = [], [], 0

    def fits(extra: list[Block], into_blocks: int, into_size: int) -> bool:
        total = into_size + sum(block_text_size(block) for block in extra)
        return into_blocks + len(extra) <= MESSAGE_BLOCKS and total <= MESSAGE_TEXT

    for group in groups:
        lead = [_divider()] if group.divided and blocks else []
        if not fits(lead + group.blocks, len(blocks), size) and fits(group.blocks, 0, 0):
            flush()
            lead = []
        if group.label:
            labels.append(group.label)
        for block in lead + group.blocks:
            if not fits([block], len(blocks), size):
                flush()
                if group.label:
                    labels.append(group.label)
                if block["type"] == "divider":
                    continue
            blocks.append(block)
            size += block_text_size(block)
    flush()
    return messages


def _fallback(lead: str, labels: list[str]) -> str:
    text = lead + (": " + "; ".join(dict.fromkeys(labels)) if labels else "")
    return _cut_mrkdwn(escape(text), FALLBACK_TEXT)


def _messages(lead: str, continued: str, groups: list[_Group]) -> list[SlackMessage]:
    packed = _pack(groups)
    messages = []
    for index, (blocks, labels) in enumerate(packed):
        head = lead if index == 0 else f"{continued} (continued, {index + 1}/{len(packed)})"
        messages.append(SlackMessage(_fallback(head, labels), blocks))
    return messages


def _one_line(text: str) -> list[SlackMessage]:
    line = _cut_mrkdwn(escape(text), SECTION_TEXT)
    return [SlackMessage(_cut_mrkdwn(line, FALLBACK_TEXT), [_section(line)])]


def _digest(briefing: Briefing, digest: DigestInfo) -> list[SlackMessage]:
    topic = clean(briefing.topic) or "briefing"
    if briefing.nothing_new:
        return _one_line(nothing_new_line(briefing, _cut_plain(topic, HEADER_TEXT)))
    slot = digest_slot(digest)
    since = digest_since(digest)
    counts = digest_counts(briefing)
    opening = [
        _header(f"Digest: {topic}"),
        *_context(
            [escape(slot), escape(since[0].upper() + since[1:] + (f": {counts}" if counts else ""))]
        ),
    ]
    groups = [_Group(opening, "")]
    shown = [story for story in briefing.stories if story.status is not StoryStatus.SEEN]
    groups.extend(
        _Group(_story_blocks(n, story), clean(story.title) or "untitled", divided=True)
        for n, story in enumerate(shown, start=1)
    )
    seen = [
        seen_line(story, escape(_cut_plain(clean(story.title), TITLE_TEXT)))
        for story in briefing.stories
        if story.status is StoryStatus.SEEN
    ]
    if seen:
        groups.append(_Group(_sections(seen), "", divided=True))
    errors = _errors_blocks(briefing)
    if errors:
        groups.append(_Group(errors, "", divided=True))
    lead = f"{slot}: {topic}" + (f" — {counts}" if counts else "")
    return _messages(lead, f"Digest: {topic}", groups)


def _update(briefing: Briefing) -> list[SlackMessage]:
    lines: list[str] = []
    plain_lines = []
    for story in briefing.stories:
        for point in story.key_points[:UPDATE_POINTS]:
            text = _cut_plain(clean(point.text), UPDATE_POINT_TEXT)
            cited = update_sources(point, story)[:UPDATE_SOURCES]
            named = ", ".join(
                link(
                    s.url, f"{_cut_plain(clean(s.outlet), TITLE_TEXT) or 'unknown outlet'} [{s.id}]"
                )
                for s in cited
            )
            line = f"*Update:* {escape(text)}" + (f" — {named}" if named else "")
            if lines and text_size("\n".join([*lines, line])) > MESSAGE_TEXT // 2:
                break  # one short message: the first points only
            lines.append(line)
            plain_lines.append(f"Update: {text}")
    if not lines:
        return _one_line(f"Update on {clean(briefing.topic)}")
    blocks = _sections(lines)[:MESSAGE_BLOCKS]
    fallback = _cut_mrkdwn(escape(" · ".join(plain_lines)), FALLBACK_TEXT)
    return [SlackMessage(fallback, blocks)]


def render_briefing(briefing: Briefing) -> list[SlackMessage]:
    """The briefing as Slack messages: the first for the channel, the rest for its thread.

    Per story: a header, the coverage line, the summary, key points with linked citation
    markers, what is new since the channel's last briefing, where sources differ, what
    citation checking changed (only when it changed anything), notes, and the sources.
    A digest or a live update is laid out as the module docstring says.
    """
    if is_update(briefing):
        return _update(briefing)
    if briefing.digest is not None and is_digest(briefing):
        return _digest(briefing, briefing.digest)
    topic = clean(briefing.topic) or "briefing"
    count = len(briefing.stories)
    about = f"{briefing.mode.value} · {format_time(briefing.generated_at)}"
    if count:
        about = f"{plural(count, 'story', 'stories')} · {about}"
    opening = [_header(f"Briefing: {topic}"), *_context([escape(about)])]
    if not briefing.stories:
        opening.extend(_sections([NOTHING_FOUND.format(topic=f"*{escape(topic)}*")]))
    groups = [_Group(opening, "")]
    groups.extend(
        _Group(_story_blocks(n, story), clean(story.title) or "untitled", divided=True)
        for n, story in enumerate(briefing.stories, start=1)
    )
    errors = _errors_blocks(briefing)
    if errors:
        groups.append(_Group(errors, "", divided=True))
    packed = _pack(groups)
    messages = []
    for index, (blocks, labels) in enumerate(packed):
        if index == 0:
            lead = f"Briefing: {topic} — " + (
                plural(count, "story", "stories") if count else "nothing found"
            )
        else:
            lead = f"Briefing: {topic} (continued, {index + 1}/{len(packed)})"
        messages.append(SlackMessage(_fallback(lead, labels), blocks))
    return messages


def _answer_source(source: SourceRef, new: bool) -> str:
    outlet = _cut_plain(clean(source.outlet), TITLE_TEXT) or "unknown outlet"
    return link(source.url, f"{outlet} [{source.id}]") + (" (new)" if new else "")


def render_answer(answer: Answer) -> list[SlackMessage]:
    """An answer to a question (see the module docstring); a refusal, or an answer with no
    claims, is ``render_text`` of its text."""
    if answer.refused or not answer.claims:
        return render_text(answer.text)
    opening = answer.text.split("\n", 1)[0]
    sources = {source.id: source for source in answer.sources}
    new = set(answer.new_sources)
    lines = []
    for claim in answer.claims:
        cited = [sources[i] for i in dict.fromkeys(claim.sources) if i in sources]
        line = f"• “{escape(_cut_plain(clean(claim.text), CLAIM_TEXT))}”"
        if cited:
            line += " — " + ", ".join(_answer_source(ref, ref.id in new) for ref in cited)
        lines.append(line)
    group = _Group([_section(_cut_mrkdwn(escape(opening), SECTION_TEXT)), *_sections(lines)], "")
    packed = _pack([group])
    return [
        SlackMessage(
            _cut_mrkdwn(escape(strip_controls(answer.text)), FALLBACK_TEXT)
            if index == 0
            else _fallback(f"Answer (continued, {index + 1}/{len(packed)})", []),
            blocks,
        )
        for index, (blocks, _) in enumerate(packed)
    ]


def render_text(text: str) -> list[SlackMessage]:
    """A plain chat reply (help, an error, a confirmation) as section blocks, all of it
    literal: nothing in it is read as markup or notifies anyone."""
    lines = [escape(line) for line in strip_controls(text).splitlines()]
    blocks = _sections(line if line.strip() else " " for line in lines)
    if not blocks:
        blocks = [_section("(nothing to say)")]
    messages = []
    for part, _ in _pack([_Group(blocks, "")]):
        body = "\n".join(block["text"]["text"] for block in part)
        messages.append(SlackMessage(_cut_mrkdwn(body, FALLBACK_TEXT), part))
    return messages
