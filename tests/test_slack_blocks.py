"""Slack Block Kit rendering: every message within Slack's limits, links whole, nobody pinged."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.adapters.slack.blocks import (
    CONTEXT_ELEMENTS,
    CONTEXT_TEXT,
    FALLBACK_TEXT,
    HEADER_TEXT,
    MESSAGE_BLOCKS,
    MESSAGE_TEXT,
    SECTION_TEXT,
    SlackMessage,
    escape,
    render_answer,
    render_briefing,
    render_text,
    split_mrkdwn,
    text_size,
)
from bot.domain import (
    Briefing,
    BriefingMode,
    Coverage,
    DigestInfo,
    KeyPoint,
    SourceError,
    SourceRef,
    StoryBriefing,
    StoryStatus,
    Verification,
)
from bot.qa import Answer, Claim, Refusal
from bot.render.text import web_url
from bot.summarize.extractive import brief_story
from tests.fakes.summarize import port_strike_articles, port_strike_story

GENERATED = datetime(2025, 3, 3, 12, 30, tzinfo=UTC)
LINK = re.compile(r"<[^<>]*>")
CITATION = re.compile(r"<([^<>|]+)\|\[(\d+)\]>")
PING = re.compile(r"<[!@#]|@(?:channel|here|everyone)\b", re.IGNORECASE)
SLACK_HARD_TOTAL = 12_000  # Slack refuses blocks adding up to about this (msg_blocks_too_long)

LOREM = (
    "Dockworkers at the Port of Halvern extended their strike into a third day on Wednesday "
    "as talks with the port authority over pay and automation stalled again."
)


# ------------------------------------------------------------------------- builders


def _source(story: int, number: int, *, copy_of: int | None = None) -> SourceRef:
    # Real-world awkward URLs: a pipe, a '>', a space, an ampersand, non-ASCII.
    return SourceRef(
        id=number,
        outlet=f"Outlet {number} of story {story}",
        title=f"Halvern strike, day {story}: report {number} | live <updates>",
        url=f"https://news{story}.example/a/{number}?q=x|y&ref=a>b c&lang=é",
        published_at=GENERATED - timedelta(minutes=number),
        full_text=number % 4 != 0,
        origins=("Meridian Wire",) if number % 3 == 0 else (),
        copy_of=1 if number % 5 == 0 else None,
    )


def _story(number: int, sources: int = 5, points: int = 6) -> StoryBriefing:
    refs = [_source(number, n) for n in range(1, sources + 1)]
    return StoryBriefing(
        story_id=f"s-{number:012x}",
        title=f"Story {number}: {LOREM}",
        updated_at=GENERATED,
        key_points=[
            KeyPoint(
                f"Point {p} of story {number}. {LOREM}", [1 + (p + k) % sources for k in (0, 1, 2)]
            )
            for p in range(points)
        ],
        sources=refs,
        coverage=Coverage(articles=sources, outlets=sources, independent_reports=2),
        summary=f"Summary of story {number}. {LOREM}",
        notes=["The model did not answer in 60 s; briefed extractively."],
        mode=BriefingMode.LLM,
        whats_new=[KeyPoint(f"New in story {number}: the union rejected the offer.", [2])],
        disagreements=[KeyPoint(f"Outlets differ on turnout in story {number}.", [1, 3])],
        verification=Verification(checked=12, removed=[("x", 2)]),
    )


def _briefing(*stories: StoryBriefing, errors: list[SourceError] | None = None) -> Briefing:
    return Briefing(
        topic="port strike",
        generated_at=GENERATED,
        mode=BriefingMode.LLM,
        stories=list(stories),
        errors=errors or [],
    )


def _digest(count: int = 40) -> Briefing:
    """A digest of ``count`` big stories, NEW, UPDATED and SEEN in turn (SEEN last)."""
    statuses = [StoryStatus.NEW, StoryStatus.UPDATED, StoryStatus.SEEN]
    stories = []
    for n in range(1, count + 1):
        story = _story(n)
        story.status = statuses[n % 3]
        if story.status is not StoryStatus.UPDATED:
            story.whats_new = []
        stories.append(story)
    order = {status: rank for rank, status in enumerate(statuses)}
    stories.sort(key=lambda story: order[story.status] if story.status else 0)
    briefing = _briefing(
        *stories,
        errors=[SourceError(f"https://feeds{n}.example/rss", "HTTP 503") for n in range(5)],
    )
    briefing.digest = DigestInfo(
        "digest", GENERATED, "weekdays 07:30", "Europe/Riga", late=True, since=GENERATED
    )
    return briefing


@pytest.fixture(scope="module")
def big() -> tuple[Briefing, list[SlackMessage]]:
    briefing = _briefing(
        *(_story(n) for n in range(1, 41)),
        errors=[SourceError(f"https://feeds{n}.example/rss", "HTTP 503") for n in range(30)],
    )
    return briefing, render_briefing(briefing)


# ------------------------------------------------------------------------- checking


def _texts(block: dict[str, Any]) -> list[str]:
    if block["type"] in ("header", "section"):
        return [block["text"]["text"]]
    if block["type"] == "context":
        return [element["text"] for element in block["elements"]]
    return []


def _all_texts(messages: list[SlackMessage]) -> list[str]:
    texts = []
    for message in messages:
        texts.append(message.text)
        for block in message.blocks:
            texts.extend(_texts(block))
    return texts


def _assert_within_limits(message: SlackMessage) -> None:
    assert message.text.strip()
    assert text_size(message.text) <= FALLBACK_TEXT
    assert 0 < len(message.blocks) <= MESSAGE_BLOCKS
    total = 0
    for block in message.blocks:
        kind = block["type"]
        if kind == "header":
            assert block["text"]["type"] == "plain_text"
            assert 0 < text_size(block["text"]["text"]) <= HEADER_TEXT
        elif kind == "section":
            assert block["text"]["type"] == "mrkdwn"
            assert block["text"]["text"].strip()
            assert text_size(block["text"]["text"]) <= SECTION_TEXT
        elif kind == "context":
            assert 0 < len(block["elements"]) <= CONTEXT_ELEMENTS
            for element in block["elements"]:
                assert element["type"] == "mrkdwn"
                assert 0 < text_size(element["text"]) <= CONTEXT_TEXT
        else:
            assert kind == "divider", f"unexpected block type {kind}"
        total += sum(text_size(text) for text in _texts(block))
    assert total <= MESSAGE_TEXT < SLACK_HARD_TOTAL
    assert message.blocks[-1]["type"] != "divider"


def _assert_links_whole(text: str) -> None:
    rest = LINK.sub("", text)
    assert "<" not in rest
    assert ">" not in rest


def _citations_by_story(messages: list[SlackMessage]) -> list[tuple[int, str, int]]:
    """(story number, linked URL, cited number) for every citation link, in order."""
    found = []
    story = 0
    for message in messages:
        for block in message.blocks:
            if block["type"] == "header":
                match = re.match(r"(\d+)\. ", block["text"]["text"])
                story = int(match.group(1)) if match else story
            if block["type"] == "section":
                for url, number in CITATION.findall(block["text"]["text"]):
                    found.append((story, url, int(number)))
    return found


def _slack_url(url: str) -> str:
    target = web_url(url)
    assert target is not None
    return target.replace("&", "&amp;")


# ------------------------------------------------------------------------- briefings


def test_forty_stories_and_two_hundred_sources_stay_within_every_limit(
    big: tuple[Briefing, list[SlackMessage]],
) -> None:
    briefing, messages = big

    assert len(messages) > 1
    for message in messages:
        _assert_within_limits(message)
    texts = _all_texts(messages)
    headers = [b["text"]["text"] for m in messages for b in m.blocks if b["type"] == "header"]
    assert headers[0] == "Briefing: port strike"
    assert [h.split(".")[0] for h in headers[1:]] == [str(n) for n in range(1, 41)]
    source_lines = [
        line for text in texts for line in text.split("\n") if re.match(r"\*\[\d+\]\* ", line)
    ]
    assert len(source_lines) == sum(len(story.sources) for story in briefing.stories) == 200
    error_lines = [line for text in texts for line in text.split("\n") if "HTTP 503" in line]
    assert len(error_lines) == 30


def test_a_digest_of_forty_stories_of_mixed_statuses_stays_within_every_limit() -> None:
    briefing = _digest()
    messages = render_briefing(briefing)
    assert len(messages) > 1
    for message in messages:
        _assert_within_limits(message)
        for text in _texts_of(message):
            _assert_links_whole(text)
    headers = [b["text"]["text"] for m in messages for b in m.blocks if b["type"] == "header"]
    assert headers[0] == "Digest: port strike"
    shown = [s for s in briefing.stories if s.status is not StoryStatus.SEEN]
    assert len(headers) == 1 + len(shown)
    updates = [h for h in headers if ". Update: " in h]
    assert len(updates) == sum(s.status is StoryStatus.UPDATED for s in briefing.stories)
    texts = _all_texts(messages)
    seen = [line for text in texts for line in text.split("\n") if line.startswith("No new")]
    assert len(seen) == sum(s.status is StoryStatus.SEEN for s in briefing.stories)
    assert messages[1].text.startswith("Digest: port strike (continued, 2/")


def _live_update() -> Briefing:
    """A live update with long points, each citing many sources with awkward URLs."""
    story = _story(7, sources=40)
    story.key_points = [KeyPoint(f"Point {n}: " + LOREM * 40, list(range(1, 41))) for n in (1, 2)]
    story.whats_new = list(story.key_points)
    story.status = StoryStatus.UPDATED
    briefing = _briefing(story)
    briefing.digest = DigestInfo("update", GENERATED, "daily 08:00", "UTC")
    return briefing


def test_a_live_update_is_one_message_within_limits_however_long_its_point() -> None:
    [message] = render_briefing(_live_update())
    _assert_within_limits(message)
    for text in _texts_of(message):
        _assert_links_whole(text)
    assert message.blocks[0]["text"]["text"].startswith("*Update:* Point 1: ")
    first = message.blocks[0]["text"]["text"].split("\n")[0]
    assert first.count("|Outlet ") == 5  # the first few sources, not all forty


def _texts_of(message: SlackMessage) -> list[str]:
    return [text for block in message.blocks for text in _texts(block)]


def test_first_message_opens_the_briefing_and_the_rest_continue_it(
    big: tuple[Briefing, list[SlackMessage]],
) -> None:
    _, messages = big

    assert messages[0].text.startswith("Briefing: port strike — 40 stories: Story 1: ")
    assert messages[0].blocks[0]["text"]["text"] == "Briefing: port strike"
    assert messages[1].text.startswith(f"Briefing: port strike (continued, 2/{len(messages)})")
    for message in messages[1:]:
        assert message.blocks[0]["type"] != "divider"


def test_stories_start_new_messages_rather_than_split_when_they_fit(
    big: tuple[Briefing, list[SlackMessage]],
) -> None:
    _, messages = big

    for message in messages[1:]:
        first = message.blocks[0]
        assert first["type"] == "header"
        assert re.match(r"\d+\. Story \d+:", first["text"]["text"])


def test_every_citation_link_is_whole_and_points_to_its_source(
    big: tuple[Briefing, list[SlackMessage]],
) -> None:
    briefing, messages = big

    for text in _all_texts(messages):
        _assert_links_whole(text)
    citations = _citations_by_story(messages)
    expected = sum(
        len(set(point.sources))
        for story in briefing.stories
        for point in story.key_points + story.whats_new + story.disagreements
    )
    assert len(citations) == expected
    for story_number, url, number in citations:
        source = briefing.stories[story_number - 1].sources[number - 1]
        assert source.id == number
        assert url == _slack_url(source.url)
        assert f"news{story_number}.example/a/{number}?" in url
        for encoded in ("%7C", "%3E", "%20", "&amp;ref"):  # the '|', '>', ' ' and '&'
            assert encoded in url
        assert not re.search(r"[ |>]", url)


def test_mentions_from_sources_and_the_model_notify_no_one() -> None:
    story = StoryBriefing(
        story_id="s-000000000001",
        title="<!channel> Breaking @here",
        updated_at=GENERATED,
        key_points=[KeyPoint("<@U123> told @everyone: <!subteam^S1|@team> see <#C99>", [1])],
        sources=[
            SourceRef(1, "@channel Times", "<!everyone> update", "https://a.example/1", None, True)
        ],
        coverage=Coverage(1, 1, 1),
        summary="Ask <!here> and @Here",
        notes=["<@W42> was paged"],
        whats_new=[KeyPoint("<https://evil.example|click> now", [1])],
    )
    messages = render_briefing(_briefing(story))

    texts = _all_texts(messages)
    for text in texts:
        assert not PING.search(text), text
        _assert_links_whole(text)
    joined = "\n".join(texts)
    assert "&lt;!channel&gt;" in joined
    assert "&lt;@U123&gt;" in joined
    assert "@\u2060everyone" in joined
    assert "&lt;https://evil.example|click&gt;" in joined
    assert "<https://evil.example" not in joined


def test_escape_follows_slacks_rules_and_breaks_bare_mentions() -> None:
    assert escape("Q&A <b> 1 > 0") == "Q&amp;A &lt;b&gt; 1 &gt; 0"
    assert escape("<!channel> <!here> <@U123> <!subteam^S1>") == (
        "&lt;!channel&gt; &lt;!here&gt; &lt;@U123&gt; &lt;!subteam^S1&gt;"
    )
    assert escape("hi @channel, @HERE and @everyone") == (
        "hi @\u2060channel, @\u2060HERE and @\u2060everyone"
    )
    assert escape("mail me@hereford.example") == "mail me@hereford.example"


def test_a_ten_thousand_char_key_point_is_split_without_cutting_a_link() -> None:
    words = []
    while sum(len(w) + 1 for w in words) < 10_000:
        words.append(f"word{len(words)}")
    text = " ".join(words)
    story = _story(1, sources=8, points=0)
    story.key_points = [KeyPoint(text, list(range(1, 9)))]
    story.summary = None
    messages = render_briefing(_briefing(story))

    for message in messages:
        _assert_within_limits(message)
    sections = [
        b["text"]["text"]
        for m in messages
        for b in m.blocks
        if b["type"] == "section" and "word" in b["text"]["text"]
    ]
    assert len(sections) >= 4
    for section in sections:
        _assert_links_whole(section)
    rejoined = " ".join(sections)
    assert rejoined.startswith("• word0 word1 ")
    assert f"{words[-1]} <" in sections[-1]  # the markers stay with the point's last words
    linked = CITATION.findall(sections[-1])
    assert [int(n) for _, n in linked] == list(range(1, 9))
    assert rejoined.split(" <")[0] == "• " + text  # nothing lost, no word cut


def test_split_mrkdwn_cuts_at_spaces_outside_links_and_never_inside_one() -> None:
    link = "<https://x.example/a%20b|a title with many spaces in it>"
    line = " ".join([link, "alpha", link, "&amp;", "beta" * 3, link] * 20)

    pieces = split_mrkdwn(line, 200)

    assert len(pieces) > 1
    for piece in pieces:
        assert text_size(piece) <= 200
        _assert_links_whole(piece)
        assert not re.search(r"&[a-z]*$", piece)  # no entity cut
    assert " ".join(pieces) == line


def test_split_mrkdwn_never_cuts_a_word_at_an_entity_or_a_glued_link() -> None:
    words = ["AT&amp;T", "Q&amp;A", "said<https://x.example|[1]><https://y.example|[2]>"] * 60

    for limit in (50, 77, 120):
        pieces = split_mrkdwn(" ".join(words), limit)
        assert [w for piece in pieces for w in piece.split(" ")] == words


def test_split_mrkdwn_cuts_a_run_without_spaces_only_between_characters() -> None:
    pieces = split_mrkdwn("x" * 7000, SECTION_TEXT)

    assert [len(p) for p in pieces] == [3000, 3000, 1000]


def test_a_long_source_list_is_split_between_items() -> None:
    story = _story(1, sources=120, points=1)
    messages = render_briefing(_briefing(story))

    for message in messages:
        _assert_within_limits(message)
    lines = [
        line
        for text in _all_texts(messages)
        for line in text.split("\n")
        if re.match(r"\*\[\d+\]\* ", line)
    ]
    assert [int(re.match(r"\*\[(\d+)\]", line).group(1)) for line in lines] == list(  # type: ignore[union-attr]
        range(1, 121)
    )
    for line in lines:
        assert line.count("<") == line.count(">") == 1


def test_header_is_cut_cleanly_at_150_characters() -> None:
    story = _story(1)
    story.title = "Halvern " + "dockworkers extend their strike " * 10
    messages = render_briefing(_briefing(story))

    header = messages[0].blocks[3]["text"]["text"]
    assert header.startswith("1. Halvern dockworkers extend")
    assert text_size(header) <= HEADER_TEXT
    assert header.endswith("…")
    assert header[:-1].rstrip() in "1. " + story.title
    assert header[-2] != " "
    assert ("1. " + story.title)[len(header) - 1] == " "  # cut at a word's end


def test_verification_line_only_when_something_changed() -> None:
    unchanged = _story(1)
    unchanged.verification = Verification(checked=9)
    changed = _story(2)
    changed.verification = Verification(
        checked=9, removed=[("a", 2), ("b", 3)], added=[("c", 1)], dropped=["d"]
    )
    none = _story(3)
    none.verification = None
    messages = render_briefing(_briefing(unchanged, changed, none))

    lines = [t for t in _all_texts(messages) if t.startswith("Citation check")]
    assert lines == [
        "Citation check: 2 unsupported citations removed · 1 supporting source added"
        " · 1 unsupported point dropped"
    ]


def test_syndicated_copy_says_copy_of_its_original() -> None:
    story = _story(1, sources=5)
    messages = render_briefing(_briefing(story))

    lines = {
        int(m.group(1)): line
        for text in _all_texts(messages)
        for line in text.split("\n")
        if (m := re.match(r"\*\[(\d+)\]\* ", line))
    }
    assert "copy of [1]" in lines[5]
    assert all("copy of" not in lines[n] for n in (1, 2, 3, 4))
    assert "teaser only" in lines[4]
    assert "via Meridian Wire" in lines[3]
    assert lines[2].startswith("*[2]* Outlet 2 of story 1 — <https://news1.example/a/2?")
    assert "|Halvern strike, day 1: report 2 | live &lt;updates&gt;>" in lines[2]


def test_new_points_and_disagreements_get_their_own_sections() -> None:
    messages = render_briefing(_briefing(_story(7)))

    sections = [b["text"]["text"] for b in messages[0].blocks if b["type"] == "section"]
    new = next(s for s in sections if s.startswith("*New since this channel's last briefing*"))
    assert "• New in story 7: the union rejected the offer. <https://news7.example/a/2?" in new
    differ = next(s for s in sections if s.startswith("*Where sources differ*"))
    assert "Outlets differ on turnout in story 7." in differ
    assert len(CITATION.findall(differ)) == 2


def test_notes_go_into_context_blocks_of_at_most_ten_elements() -> None:
    story = _story(1)
    story.notes = [f"note {n}" for n in range(12)] + ["long " * 1000]
    messages = render_briefing(_briefing(story))

    contexts = [
        [e["text"] for e in b["elements"]]
        for b in messages[0].blocks
        if b["type"] == "context" and b["elements"][0]["text"].startswith("Note:")
    ]
    assert [len(c) for c in contexts] == [10, 3]
    assert contexts[0][0] == "Note: note 0"
    assert text_size(contexts[1][-1]) <= CONTEXT_TEXT
    assert contexts[1][-1].endswith("long…")


def test_coverage_line_matches_the_other_renderers() -> None:
    story = brief_story(port_strike_story(), port_strike_articles())
    messages = render_briefing(_briefing(story))

    context = messages[0].blocks[4]["elements"][0]["text"]
    assert context.startswith("6 articles · 6 outlets · 3 independent reports · updated ")


def test_a_source_url_that_is_not_a_web_url_is_never_linked() -> None:
    story = _story(1, sources=2)
    story.sources[0].url = "javascript:alert(1)"
    messages = render_briefing(_briefing(story))

    joined = "\n".join(_all_texts(messages))
    assert "javascript" not in joined
    assert "*[1]* Outlet 1 of story 1 — Halvern strike, day 1" in joined


def test_an_empty_briefing_is_one_message_saying_nothing_was_found() -> None:
    messages = render_briefing(_briefing())

    assert len(messages) == 1
    (message,) = messages
    _assert_within_limits(message)
    assert message.text == "Briefing: port strike — nothing found"
    assert message.blocks[-1]["text"]["text"] == (
        "Nothing found: no stories about *port strike* in the selected window."
    )


# --------------------------------------------------------------------------- replies


def test_a_long_reply_is_split_into_sections_and_messages_within_limits() -> None:
    text = "\n".join(f"line {n}: <@U{n}> said @here & more " + "x" * 80 for n in range(400))
    messages = render_text(text)

    assert len(messages) > 1
    lines = []
    for message in messages:
        _assert_within_limits(message)
        for block in message.blocks:
            assert block["type"] == "section"
            lines.extend(block["text"]["text"].split("\n"))
    assert len(lines) == 400
    assert lines[7].startswith("line 7: &lt;@U7&gt; said @\u2060here &amp; more x")
    for text_ in _all_texts(messages):
        assert not PING.search(text_)


def test_an_empty_reply_still_renders_one_message() -> None:
    (message,) = render_text("  \n")

    _assert_within_limits(message)


# ---------------------------------------------------------------------- answers
def _answer(claims: list[Claim], sources: list[SourceRef], **extra: Any) -> Answer:
    return Answer(
        question="how many walked out?",
        text="From this story's sources:\n• …",
        claims=claims,
        sources=sources,
        story_id="s-1",
        refused=not claims,
        reason=None if claims else Refusal.NOT_IN_SOURCES,
        **extra,
    )


def test_an_answer_quotes_each_claim_linking_only_its_sources_urls() -> None:
    sources = [
        SourceRef(1, "Meridian <!channel> Wire", "t", "https://wire.example/a", None, True),
        SourceRef(2, "Ledger", "t", "javascript:alert(1)", None, True),
    ]
    claims = [Claim("1,400 walked out <@U123> @here & more", [1, 2, 7])]
    [message] = render_answer(_answer(claims, sources, new_sources=[1]))

    _assert_within_limits(message)
    shown = "\n".join(block["text"]["text"] for block in message.blocks)
    assert "<https://wire.example/a|Meridian &lt;!channel&gt; Wire [1]> (new)" in shown
    assert "javascript" not in shown  # not a web URL: the label only
    assert "Ledger [2]" in shown
    assert "[7]" not in shown  # an id the answer has no source for
    assert "&lt;@U123&gt;" in shown
    assert "@\u2060here" in shown
    assert "&amp; more" in shown
    _assert_links_whole(shown)


def test_a_long_answer_is_split_within_slacks_limits() -> None:
    sources = [
        SourceRef(i, f"Outlet {i}", "t", f"https://o{i}.example/{'x' * 900}", None, True)
        for i in range(1, 80)
    ]
    claims = [Claim("word " * 400, [i, i % 79 + 1]) for i in range(1, 80)]
    messages = render_answer(_answer(claims, sources))

    assert len(messages) > 1
    for message in messages:
        _assert_within_limits(message)
        _assert_links_whole("\n".join(block["text"]["text"] for block in message.blocks))


def test_a_refused_answer_is_its_plain_text() -> None:
    answer = _answer([], [])
    assert render_answer(answer) == render_text(answer.text)
