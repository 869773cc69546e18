"""Discord embed rendering: every message within Discord's limits, links whole, nobody pinged."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest

from bot.adapters.discord.embeds import (
    AUTHOR_NAME,
    CONTENT,
    DESCRIPTION,
    EMBED_TITLE,
    FIELD_NAME,
    FIELD_VALUE,
    FIELDS,
    FOOTER,
    MESSAGE_EMBEDS,
    MESSAGE_TEXT,
    NOTHING_FOUND,
    DiscordMessage,
    embed_size,
    escape,
    render_answer,
    render_briefing,
    render_reply,
    render_text,
    split_markdown,
    text_size,
)
from bot.adapters.slack import blocks as slack
from bot.chat.commands import ChatReply, ReplyKind
from bot.domain import (
    Briefing,
    Coverage,
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
from tests.test_slack_blocks import GENERATED, _briefing, _digest, _live_update, _story

# A masked link as Discord parses it: a label (escapes, or a citation's "[n]", allowed
# inside) and a target with no space or parenthesis in it.
MASKED = re.compile(r"\[((?:\\.|\[\d+\]|[^\[\]\\\n])*)\]\(([^()\s]*)\)")
CITATION = re.compile(r"\[\[(\d+)\]\]\(([^()\s]+)\)")
ESCAPED = re.compile(r"\\.")
# Anything Discord would turn into a notification.
PING = re.compile(r"@(?:everyone|here)\b|<@[!&]?\d|<#\d", re.IGNORECASE)
SOURCE_LINE = re.compile(r"\*\*\\\[(\d+)\\\]\*\* ")
EMBED_KEYS = {"title", "url", "description", "fields", "footer", "author", "color"}


@pytest.fixture(scope="module")
def big() -> tuple[Briefing, list[DiscordMessage]]:
    briefing = _briefing(
        *(_story(n) for n in range(1, 41)),
        errors=[SourceError(f"https://feeds{n}.example/rss", "HTTP 503") for n in range(30)],
    )
    return briefing, render_briefing(briefing)


# ------------------------------------------------------------------------- checking


def _size(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _assert_within_limits(message: DiscordMessage) -> None:
    """Every limit Discord enforces, counted here independently of the renderer."""
    assert message.content.strip() or message.embeds
    assert _size(message.content) <= CONTENT == 2000
    assert len(message.embeds) <= MESSAGE_EMBEDS == 10
    total = 0
    for embed in message.embeds:
        assert set(embed) <= EMBED_KEYS, embed.keys()
        assert embed.get("title") or embed.get("description")
        title = embed.get("title", "")
        description = embed.get("description", "")
        assert _size(title) <= EMBED_TITLE == 256
        assert _size(description) <= DESCRIPTION == 4096
        fields = embed.get("fields", [])
        assert len(fields) <= FIELDS == 25
        total += _size(title) + _size(description)
        for field in fields:
            assert 0 < _size(field["name"]) <= FIELD_NAME == 256
            assert 0 < _size(field["value"]) <= FIELD_VALUE == 1024
            total += _size(field["name"]) + _size(field["value"])
        footer = embed.get("footer", {}).get("text", "")
        author = embed.get("author", {}).get("name", "")
        assert _size(footer) <= FOOTER == 2048
        assert _size(author) <= AUTHOR_NAME == 256
        total += _size(footer) + _size(author)
        if "url" in embed:
            assert re.fullmatch(r"https?://[^\s()<>]+", embed["url"])
        assert embed_size(embed) == _size(title) + _size(description) + _size(footer)
    assert total <= MESSAGE_TEXT == 6000


def _texts(messages: list[DiscordMessage]) -> list[str]:
    texts = []
    for message in messages:
        texts.append(message.content)
        for embed in message.embeds:
            texts.extend(t for t in (embed.get("title"), embed.get("description")) if t)
    return texts


def _lines(messages: list[DiscordMessage]) -> list[str]:
    return [line for text in _texts(messages) for line in text.split("\n")]


def _assert_links_whole(text: str) -> None:
    """Outside masked links (and escapes) no bracket is left over: nothing half a link."""
    assert not text.endswith("\\") or text.endswith("\\\\")
    rest = MASKED.sub("", ESCAPED.sub("", text))
    assert "[" not in rest, text
    assert "]" not in rest, text
    for _, target in MASKED.findall(ESCAPED.sub("", text)):
        assert re.fullmatch(r"https?://[^\s()]+", target), target


def _citations_by_story(messages: list[DiscordMessage]) -> list[tuple[int, str, int]]:
    """(story number, linked URL, cited number) for every citation link, in order."""
    found = []
    for message in messages:
        for embed in message.embeds:
            match = re.match(r"(\d+)\. ", embed.get("title", ""))
            if not match:
                continue
            for number, url in CITATION.findall(embed.get("description", "")):
                found.append((int(match.group(1)), url, int(number)))
    return found


def _source_lines(messages: list[DiscordMessage]) -> dict[int, str]:
    return {int(m.group(1)): line for line in _lines(messages) if (m := SOURCE_LINE.match(line))}


# ------------------------------------------------------------------------- briefings


def test_forty_stories_and_two_hundred_sources_stay_within_every_limit(
    big: tuple[Briefing, list[DiscordMessage]],
) -> None:
    briefing, messages = big

    assert len(messages) > 1
    for message in messages:
        _assert_within_limits(message)
    titles = [e["title"] for m in messages for e in m.embeds]
    numbered = [t.split(".")[0] for t in titles if not t.endswith("(continued)")]
    assert numbered[:40] == [str(n) for n in range(1, 41)]
    assert titles[-1] == "30 sources could not be read"
    source_lines = [line for line in _lines(messages) if SOURCE_LINE.match(line)]
    assert len(source_lines) == sum(len(story.sources) for story in briefing.stories) == 200
    assert len([line for line in _lines(messages) if "HTTP 503" in line]) == 30


def test_a_digest_of_forty_stories_of_mixed_statuses_stays_within_every_limit() -> None:
    briefing = _digest()
    messages = render_briefing(briefing)
    assert len(messages) > 1
    for message in messages:
        _assert_within_limits(message)
    for text in _texts(messages):
        _assert_links_whole(text)
    assert messages[0].content.startswith("**Digest: port strike** · Weekday digest · ")
    assert "(late)" in messages[0].content
    titles = [embed["title"] for m in messages for embed in m.embeds]
    updated = sum(s.status is StoryStatus.UPDATED for s in briefing.stories)
    assert sum(". Update: " in title for title in titles) == updated
    seen = [line for line in _lines(messages) if line.startswith("No new reports: ")]
    assert len(seen) == sum(s.status is StoryStatus.SEEN for s in briefing.stories)
    assert messages[1].content.startswith("Digest: port strike (continued, 2/")


def test_a_live_update_is_one_message_within_limits_however_long_its_point() -> None:
    [message] = render_briefing(_live_update())
    _assert_within_limits(message)
    for text in _texts([message]):
        _assert_links_whole(text)
    [embed] = message.embeds
    assert embed["description"].startswith("**Update:** Point 1: ")
    assert embed["description"].split("\n")[0].count("[Outlet ") == 5  # not all forty


def test_first_message_opens_the_briefing_and_the_rest_continue_it(
    big: tuple[Briefing, list[DiscordMessage]],
) -> None:
    _, messages = big

    assert (
        messages[0].content == "**Briefing: port strike**\n40 stories · llm · 2025-03-03 12:30 UTC"
    )
    assert messages[0].embeds[0]["title"].startswith("1. Story 1: Dockworkers")
    assert messages[1].content == f"Briefing: port strike (continued, 2/{len(messages)})"
    assert messages[-1].content.endswith(f", {len(messages)}/{len(messages)})")


def test_stories_start_new_messages_rather_than_split_when_they_fit(
    big: tuple[Briefing, list[DiscordMessage]],
) -> None:
    _, messages = big

    for message in messages:
        first = message.embeds[0]["title"]
        assert re.match(r"\d+\. Story \d+:", first) or first.endswith("could not be read")
        assert not first.endswith("(continued)")


def test_a_story_that_fits_one_message_is_not_split_across_two() -> None:
    small = _story(1, sources=1, points=1)
    two_embeds = _story(2, sources=20, points=1)
    (alone,) = render_briefing(_briefing(two_embeds))
    assert len(alone.embeds) == 2  # the precondition: story 2 needs two embeds, one message

    messages = render_briefing(_briefing(small, two_embeds))

    assert [[e["title"][:9] for e in m.embeds] for m in messages] == [
        ["1. Story "],
        ["2. Story ", "2. Story "],
    ]


def test_many_short_stories_take_at_most_ten_embeds_a_message() -> None:
    stories = []
    for n in range(1, 26):
        ref = SourceRef(1, "Wire", "Cranes idle", f"https://w.example/{n}", None, True)
        stories.append(
            StoryBriefing(
                f"s-{n:012x}",
                f"Story {n}",
                GENERATED,
                [KeyPoint("Cranes idle.", [1])],
                [ref],
                Coverage(1, 1, 1),
            )
        )
    messages = render_briefing(_briefing(*stories))

    for message in messages:
        _assert_within_limits(message)
    assert [len(m.embeds) for m in messages] == [10, 10, 5]


def test_every_citation_link_is_whole_and_points_to_its_source(
    big: tuple[Briefing, list[DiscordMessage]],
) -> None:
    briefing, messages = big

    for text in _texts(messages):
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
        assert url == web_url(source.url)
        assert f"news{story_number}.example/a/{number}?" in url
        for encoded in ("%7C", "%3E", "%20", "%C3%A9"):  # the '|', '>', ' ' and 'é'
            assert encoded in url


def test_a_story_embed_links_its_title_to_the_lead_original_source() -> None:
    story = _story(3, sources=3)
    story.sources[0].url = "ftp://files.example/1"  # not a web URL: never a link
    story.sources[1].copy_of = 3
    (message,) = render_briefing(_briefing(story))

    assert message.embeds[0]["url"] == web_url(story.sources[2].url)


def test_urls_with_parentheses_and_spaces_still_make_one_masked_link() -> None:
    story = _story(1, sources=1, points=1)
    story.sources[0].url = "https://en.example/wiki/Strike_(1984) final report"
    story.sources[0].title = "The (1984) strike [archive]"
    (message,) = render_briefing(_briefing(story))

    description = message.embeds[0]["description"]
    target = "https://en.example/wiki/Strike_%281984%29%20final%20report"
    assert f"[[1]]({target})" in description
    assert f"[The (1984) strike \\[archive\\]]({target})" in description
    _assert_links_whole(description)
    labels = [label for label, url in MASKED.findall(description) if url == target]
    assert set(labels) == {"[1]", "The (1984) strike \\[archive\\]"}
    assert labels[-1] == "The (1984) strike \\[archive\\]"  # the source list, last


def test_mentions_from_sources_users_and_the_model_notify_no_one() -> None:
    story = StoryBriefing(
        story_id="s-000000000001",
        title="@everyone Breaking <@123>",
        updated_at=GENERATED,
        key_points=[KeyPoint("<@!123> told @here and <@&1> in <#99>: @Everyone", [1])],
        sources=[SourceRef(1, "@here Times", "<@&42> update", "https://a.example/1", None, True)],
        coverage=Coverage(1, 1, 1),
        summary="Ask @everyone",
        notes=["<@42> was paged"],
        whats_new=[KeyPoint("@here: more", [1])],
    )
    briefing = _briefing(story, errors=[SourceError("<@7>", "@everyone broke it")])
    briefing.topic = "@everyone <@&1>"
    messages = render_briefing(briefing)

    texts = _texts(messages)
    for text in texts:
        assert not PING.search(text), text
    joined = "\n".join(texts)
    assert "@\u200beveryone" in joined
    assert "\\<@\u200b123\\>" in joined
    assert "\\<@&\u200b1\\>" in joined
    assert "\\<\\#\u200b99\\>" in joined
    for message in messages:
        assert message.payload()["allowed_mentions"] == {"parse": []}


def test_escape_makes_discord_markdown_literal() -> None:
    assert escape("*bold* _it_ __u__ ~~s~~ `code` ||spoiler||") == (
        "\\*bold\\* \\_it\\_ \\_\\_u\\_\\_ \\~\\~s\\~\\~ \\`code\\` \\|\\|spoiler\\|\\|"
    )
    assert escape("> quote\n# head\n- item\n12. item\nC:\\path") == (
        "\\> quote\n\\# head\n\\- item\n12\\. item\nC:\\\\path"
    )
    assert escape("[click](https://evil.example)") == "\\[click\\](https://evil.example)"
    assert escape("a - b in 2025. Then") == "a - b in 2025. Then"
    assert escape("mail me@hereford.example") == "mail me@hereford.example"


def test_markup_in_source_text_stays_literal() -> None:
    story = _story(1, sources=2, points=0)
    story.key_points = [KeyPoint("Read [this](https://evil.example) ||now|| **", [1])]
    (message,) = render_briefing(_briefing(story))

    description = message.embeds[0]["description"]
    assert "• Read \\[this\\](https://evil.example) \\|\\|now\\|\\| \\*\\* [[1]](" in description
    assert "evil.example" not in [url for _, url in MASKED.findall(description)]
    _assert_links_whole(description)


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
    pieces = [line for line in _lines(messages) if "word" in line]
    assert len(pieces) >= 3
    for piece in pieces:
        _assert_links_whole(piece)
    rejoined = " ".join(pieces)
    assert rejoined.startswith("• word0 word1 ")
    assert f"{words[-1]} [[1]](" in pieces[-1]  # the markers stay with the point's last words
    assert [int(n) for n, _ in CITATION.findall(pieces[-1])] == list(range(1, 9))
    assert rejoined.split(" [[1]]")[0] == "• " + text  # nothing lost, no word cut


def test_split_markdown_cuts_at_spaces_outside_links_and_never_inside_one() -> None:
    link = "[a title \\[with\\] many spaces in it](https://x.example/a%20b%28c%29)"
    line = " ".join([link, "alpha", "\\*\\_", "beta" * 3, "said[[1]](https://y.example)"] * 20)

    pieces = split_markdown(line, 200)

    assert len(pieces) > 1
    for piece in pieces:
        assert text_size(piece) <= 200
        _assert_links_whole(piece)
    assert " ".join(pieces) == line


def test_split_markdown_never_cuts_between_a_backslash_and_what_it_escapes() -> None:
    for limit in (1000, 1001):
        pieces = split_markdown("\\*" * 3000, limit)

        assert len(pieces) > 1
        assert all(text_size(piece) <= limit for piece in pieces)
        assert all(re.fullmatch(r"(?:\\\*)+", piece) for piece in pieces)
        assert "".join(pieces) == "\\*" * 3000


def test_a_line_cut_never_starts_a_list_on_the_next_line() -> None:
    assert split_markdown("x" * 98 + " - yy", 100) == ["x" * 98, "\\- yy"]
    assert split_markdown("x" * 98 + " 12. yy", 100) == ["x" * 98, "12\\. yy"]
    line = " ".join(["word " * 17, "-", "+", "3.", "more"] * 40)
    for limit in (60, 97, 101):
        for piece in split_markdown(line, limit):
            assert text_size(piece) <= limit
            assert not re.match(r"(?:[-+]|\d+\.)(?:\s|$)", piece), piece


def test_a_long_source_list_is_split_between_items() -> None:
    story = _story(1, sources=120, points=1)
    messages = render_briefing(_briefing(story))

    for message in messages:
        _assert_within_limits(message)
    titles = [e["title"] for m in messages for e in m.embeds]
    assert len(titles) > 2
    assert all(t.endswith("(continued)") for t in titles[1:])
    lines = [line for line in _lines(messages) if SOURCE_LINE.match(line)]
    assert [int(SOURCE_LINE.match(line).group(1)) for line in lines] == list(range(1, 121))  # type: ignore[union-attr]
    for line in lines:
        assert len(MASKED.findall(line)) == 1


def test_title_is_cut_cleanly_at_256_characters() -> None:
    story = _story(1, sources=40)
    story.title = "Halvern *dockworkers* extend their strike " * 10
    messages = render_briefing(_briefing(story))

    title = messages[0].embeds[0]["title"]
    assert title.startswith("1. Halvern \\*dockworkers\\* extend")
    assert text_size(title) <= EMBED_TITLE
    assert title.endswith("…")
    assert title[-2] != " "
    plain = ESCAPED.sub(lambda m: m.group(0)[1], title[:-1])
    assert ("1. " + story.title)[: len(plain) + 1] == plain + " "  # cut at a word's end
    continued = [e["title"] for m in messages for e in m.embeds][1]
    assert continued.endswith("… (continued)")
    assert text_size(continued) <= EMBED_TITLE


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

    lines = [line for line in _lines(messages) if line.startswith("Citation check")]
    assert lines == [
        "Citation check: 2 unsupported citations removed · 1 supporting source added"
        " · 1 unsupported point dropped"
    ]


def test_syndicated_copy_says_copy_of_its_original() -> None:
    story = _story(1, sources=5)
    lines = _source_lines(render_briefing(_briefing(story)))

    assert lines[5].endswith(" · copy of \\[1\\]")  # renders as "copy of [1]"
    assert all("copy of" not in lines[n] for n in (1, 2, 3, 4))
    assert "teaser only" in lines[4]
    assert "via Meridian Wire" in lines[3]
    assert lines[2].startswith(
        "**\\[2\\]** Outlet 2 of story 1 — [Halvern strike, day 1: report 2 \\| live "
        "\\<updates\\>](https://news1.example/a/2?q=x%7Cy&ref=a%3Eb%20c&lang=%C3%A9) · "
    )


def test_new_points_and_disagreements_get_their_own_sections() -> None:
    (message,) = render_briefing(_briefing(_story(7)))

    description = message.embeds[0]["description"]
    assert (
        "**New since this channel's last briefing**\n"
        "• New in story 7: the union rejected the offer. [[2]](https://news7.example/a/2?"
    ) in description
    differ = description.split("**Where sources differ**\n")[1].split("\n")[0]
    assert differ.startswith("• Outlets differ on turnout in story 7. [[1]](")
    assert len(CITATION.findall(differ)) == 2
    assert "\nNote: The model did not answer in 60 s; briefed extractively.\n" in description


def test_coverage_line_matches_the_other_renderers() -> None:
    story = brief_story(port_strike_story(), port_strike_articles())
    (message,) = render_briefing(_briefing(story))

    first = message.embeds[0]["description"].split("\n")[0]
    assert first.startswith("6 articles · 6 outlets · 3 independent reports · updated ")


def test_a_source_url_that_is_not_a_web_url_is_never_linked() -> None:
    story = _story(1, sources=2)
    story.sources[0].url = "javascript:alert(1)"
    messages = render_briefing(_briefing(story))

    joined = "\n".join(_texts(messages))
    assert "javascript" not in joined
    assert "**\\[1\\]** Outlet 1 of story 1 — Halvern strike, day 1" in joined
    assert "\\[1\\][[2]](https://news1.example/a/2?" in joined  # the citation: plain marker


def test_an_empty_briefing_is_one_message_saying_nothing_was_found() -> None:
    messages = render_briefing(_briefing())

    assert len(messages) == 1
    (message,) = messages
    _assert_within_limits(message)
    assert message.embeds == []
    assert message.content == (
        "**Briefing: port strike**\nllm · 2025-03-03 12:30 UTC\n"
        "Nothing found: no stories about **port strike** in the selected window."
    )
    assert NOTHING_FOUND == slack.NOTHING_FOUND  # one wording on every platform


# --------------------------------------------------------------------------- replies


def test_a_long_reply_is_split_into_messages_within_limits() -> None:
    text = "\n".join(f"line {n}: <@{n}> said @here & *more* " + "x" * 80 for n in range(400))
    messages = render_text(text)

    assert len(messages) > 1
    lines = []
    for message in messages:
        _assert_within_limits(message)
        assert message.embeds == []
        lines.extend(message.content.split("\n"))
    assert len(lines) == 400
    assert lines[7] == "line 7: \\<@\u200b7\\> said @\u200bhere & \\*more\\* " + "x" * 80
    for content in _texts(messages):
        assert not PING.search(content)


def test_a_reply_line_longer_than_a_message_is_split_at_a_space() -> None:
    words = [f"w{n}" for n in range(1500)]
    messages = render_text(" ".join(words))

    for message in messages:
        _assert_within_limits(message)
    assert len(messages) > 1
    assert " ".join(m.content for m in messages).split(" ") == words


def test_an_empty_reply_still_renders_one_message() -> None:
    (message,) = render_text("  \n")

    _assert_within_limits(message)
    assert message.content == "(nothing to say)"


def _answer(
    *claims: Claim,
    sources: Sequence[SourceRef] = (),
    text: str = "From this story's sources:\n...",
    new: Sequence[int] = (),
) -> Answer:
    return Answer(
        question="how many walked out?",
        text=text,
        claims=list(claims),
        sources=list(sources),
        story_id="s-000000000001",
        refused=not claims,
        reason=None if claims else Refusal.NOT_IN_SOURCES,
        new_sources=list(new),
    )


def test_an_answer_links_each_claim_to_its_sources() -> None:
    refs = [
        SourceRef(1, "Meridian Wire", "t", "https://wire.example/a (1)", None, True),
        SourceRef(3, "Coastal *Ledger*", "t", "https://ledger.example/b", None, True),
    ]
    answer = _answer(Claim("1,400 members walked out <@5>.", [1, 3]), sources=refs)
    (message,) = render_answer(answer)

    _assert_within_limits(message)
    assert message.content == "From this story's sources:"
    assert message.embeds[0]["description"] == (
        "• “1,400 members walked out \\<@\u200b5\\>.”\n"
        "— [Meridian Wire \\[1\\]](https://wire.example/a%20%281%29), "
        "[Coastal \\*Ledger\\* \\[3\\]](https://ledger.example/b)"
    )


def test_an_answer_marks_the_sources_new_since_the_last_briefing_and_drops_unknown_ids() -> None:
    refs = [
        SourceRef(1, "Meridian Wire", "t", "https://wire.example/a", None, True),
        SourceRef(2, "Harbour Daily", "t", "https://harbour.example/b", None, True),
    ]
    answer = _answer(Claim("Talks resumed.", [2, 9]), sources=refs, new=[2])
    (message,) = render_answer(answer)

    lines = message.embeds[0]["description"].split("\n")
    assert lines[1] == "— [Harbour Daily \\[2\\]](https://harbour.example/b) (new)"
    assert "wire.example" not in message.embeds[0]["description"]


def test_many_long_claims_stay_within_discords_limits() -> None:
    refs = [
        SourceRef(i, f"Outlet {i}", "t", f"https://o{i}.example/a", None, True)
        for i in range(1, 40)
    ]
    claims = [Claim("word " * 300, [i]) for i in range(1, 40)]
    messages = render_answer(_answer(*claims, sources=refs))

    for message in messages:
        _assert_within_limits(message)
    assert messages[0].content == "From this story's sources:"


def test_an_answer_that_found_nothing_is_its_plain_text() -> None:
    answer = _answer(text="This story's sources don't say (you asked: “@here?”).")

    assert render_answer(answer) == render_text(answer.text)
    assert render_answer(answer)[0].content.startswith("This story's sources don't say")


def test_render_reply_lays_out_a_briefing_an_answer_or_text() -> None:
    briefing = _briefing(_story(1))
    answer = _answer(Claim("Talks stall.", [1]), sources=[_story(1).sources[0]])

    assert render_reply(ChatReply(ReplyKind.BRIEFING, "x", briefing=briefing)) == (
        render_briefing(briefing)
    )
    assert render_reply(ChatReply(ReplyKind.ANSWER, "x", answer=answer)) == render_answer(answer)
    assert render_reply(ChatReply(ReplyKind.ERROR, "No *such* topic")) == [
        DiscordMessage("No \\*such\\* topic", [])
    ]


def test_payload_is_discords_message_body() -> None:
    (message,) = render_briefing(_briefing(_story(1)))

    body: dict[str, Any] = message.payload()
    assert body == {
        "allowed_mentions": {"parse": []},
        "content": message.content,
        "embeds": message.embeds,
    }
    assert render_text("hi")[0].payload() == {"allowed_mentions": {"parse": []}, "content": "hi"}
