"""Digests that say what changed for each channel: a real service on temporary SQLite,
real ingests (dedupe, clustering) and the extractive briefer, across two days.

Day 1 every story is new. Day 2 a new independent report with a new fact makes its story
an update (that point first), a wire copy of an old report changes nothing, a new story is
new, and a channel that never had a digest gets every story as new."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from bot.adapters.discord.embeds import render_briefing as discord_render
from bot.adapters.slack.blocks import render_briefing as slack_render
from bot.app import build_service
from bot.config import load_settings
from bot.domain import (
    Article,
    Briefing,
    BriefingMode,
    Channel,
    Coverage,
    DigestInfo,
    KeyPoint,
    Platform,
    SourceRef,
    StoryBriefing,
    StoryStatus,
    Subscription,
)
from bot.render.json import briefing_schema, to_json_dict
from bot.render.markdown import to_markdown
from bot.render.text import to_text
from bot.service import BriefingService
from bot.summarize.align import sentence_similarity
from bot.summarize.changes import SAME_POINT_SIMILARITY, compare, order_by_status
from bot.summarize.changes import live_update as as_live_update
from tests.fakes.llm_briefer import faithful_writer
from tests.fakes.openai_server import FakeOpenAI

DAY1 = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # Tue 1 Dec, 08:00 in Berlin
DAY2 = DAY1 + timedelta(days=1)
NEWSROOM = Channel(Platform.SLACK, "C1", "newsroom", "T1")
OPS = Channel(Platform.DISCORD, "42", "ops", "G1")

STRIKE = (
    "Dock workers at the Port of Calder extended their strike into a third day on Wednesday, "
    "leaving more than forty container ships anchored offshore. The Calder Dockers' Union "
    "rejected a revised offer of a 6 percent raise over two years."
)
STRIKE_REWORDED = (
    "Calder port dockers prolonged their walkout to a third day on Wednesday, with over forty "
    "container vessels waiting offshore. The union turned down a revised 6 percent pay offer "
    "spread over two years."
)
MEDIATION = (
    "The union and the port authority agreed to resume mediation on Friday under an "
    "independent arbitrator."
)
FLOOD = (
    "Emergency services evacuated more than 300 homes along the River Calder on Tuesday night "
    "after two days of heavy rain. The environment agency issued six severe flood warnings "
    "for villages downstream of Kettleby."
)
BRIDGE = (
    "The Calder council approved a new footbridge over the harbour entrance on Thursday. "
    "Construction of the 40 million euro bridge is due to start in March."
)


def article(slug: str, outlet: str, title: str, text: str, when: datetime) -> Article:
    host = outlet.lower().replace(" ", "")
    return Article(
        url=f"https://{host}.example/{slug}",
        title=title,
        text=text,
        outlet=outlet,
        published_at=when,
    )


DAY1_ARTICLES = [
    article(
        "strike",
        "Harbor Ledger",
        "Calder dock strike enters third day",
        STRIKE,
        DAY1 - timedelta(hours=3),
    ),
    article(
        "strike-2",
        "Coastal Times",
        "Calder dockers keep striking as ships wait",
        STRIKE_REWORDED,
        DAY1 - timedelta(hours=3),
    ),
    article(
        "flood",
        "Valley Post",
        "River Calder floods homes in Kettleby",
        FLOOD,
        DAY1 - timedelta(hours=2),
    ),
]
DAY2_ARTICLES = [
    article(
        "strike-talks",
        "Northern Wire",
        "Calder strike: mediation to resume",
        "Dock workers at the Port of Calder remained on strike on Thursday. " + MEDIATION,
        DAY2 - timedelta(hours=3),
    ),
    # A syndicated copy of the flood report: a new article, nothing new to say.
    article(
        "flood-copy",
        "Daily Echo",
        "River Calder floods homes in Kettleby",
        FLOOD,
        DAY2 - timedelta(hours=3),
    ),
    article(
        "bridge",
        "Valley Post",
        "Calder council approves new footbridge",
        BRIDGE,
        DAY2 - timedelta(hours=2),
    ),
]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(DAY1)


@pytest.fixture
async def service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> AsyncIterator[BriefingService]:
    monkeypatch.setenv("BRIEFBOT_TOPICS_FILE", str(tmp_path / "topics.toml"))
    settings = load_settings(BRIEFBOT_FETCH_FULL_TEXT=False, BRIEFBOT_DISCOVERY="none")
    built = build_service(
        settings,
        database_url=f"sqlite:///{tmp_path / 'digest.sqlite3'}",
        clock=clock,
        force_llm=False,
    )
    async with built:
        yield built


def subscription(channel: Channel, *, nothing_new: str = "line") -> Subscription:
    return Subscription(
        channel, "calder", "daily 08:00", "Europe/Berlin", "U1", DAY1, nothing_new=nothing_new
    )


def by_title(briefing: Briefing) -> dict[str, StoryBriefing]:
    return {story.title: story for story in briefing.stories}


async def posted_digest(
    service: BriefingService, sub: Subscription, *, slot_at: datetime, late: bool = False
) -> Briefing:
    """A digest built and posted, as the scheduler's deliverer records it."""
    built = await service.digest(sub, slot_at=slot_at, late=late)
    await service.record_posted(
        sub.channel,
        f"{sub.channel.external_id}-{slot_at.isoformat()}",
        thread_id=None,
        briefing_ids=built.saved_ids,
        story_ids=[story.story_id for story in built.stories],
    )
    return built


async def two_days(service: BriefingService, clock: Clock) -> tuple[Briefing, Briefing]:
    await service.ingest_articles(DAY1_ARTICLES)
    first = await posted_digest(service, subscription(NEWSROOM), slot_at=DAY1)
    clock.now = DAY2
    await service.ingest_articles(DAY2_ARTICLES)
    second = await posted_digest(service, subscription(NEWSROOM), slot_at=DAY2, late=True)
    return first, second


async def test_a_first_digest_has_every_story_new(service: BriefingService, clock: Clock) -> None:
    first, _ = await two_days(service, clock)
    assert {story.status for story in first.stories} == {StoryStatus.NEW}
    assert len(first.stories) == 2
    assert first.digest is not None
    assert first.digest.kind == "digest"
    assert first.digest.slot_at == DAY1
    assert (first.digest.schedule, first.digest.timezone) == ("daily 08:00", "Europe/Berlin")
    assert first.digest.since is None  # the channel was never briefed on the topic
    assert not first.nothing_new
    assert len(first.saved_ids) == len(first.stories)


async def test_the_next_day_marks_updates_new_stories_and_leaves_copies_seen(
    service: BriefingService, clock: Clock
) -> None:
    _, second = await two_days(service, clock)
    stories = by_title(second)
    strike = stories["Calder dock strike enters third day"]
    assert strike.status is StoryStatus.UPDATED
    assert [point.text for point in strike.whats_new] == [MEDIATION]
    assert strike.key_points[0].text == MEDIATION  # the new point first
    assert len(strike.key_points) > 1  # then what the channel saw before
    # The flood story gained a wire copy only: nothing to tell the channel.
    flood = stories["River Calder floods homes in Kettleby"]
    assert flood.status is StoryStatus.SEEN
    assert flood.coverage.articles == 2
    assert stories["Calder council approves new footbridge"].status is StoryStatus.NEW
    assert [story.status for story in second.stories] == [
        StoryStatus.NEW,
        StoryStatus.UPDATED,
        StoryStatus.SEEN,
    ]
    assert second.digest is not None
    assert second.digest.since == DAY1
    assert second.digest.late is True
    assert not second.nothing_new


async def test_another_channels_first_digest_has_every_story_new(
    service: BriefingService, clock: Clock
) -> None:
    await two_days(service, clock)
    other = await service.digest(subscription(OPS), slot_at=DAY2)
    assert len(other.stories) == 3
    assert {story.status for story in other.stories} == {StoryStatus.NEW}
    assert all(not story.whats_new for story in other.stories)
    assert other.digest is not None
    assert other.digest.since is None


async def test_a_digest_right_after_the_last_has_nothing_new(
    service: BriefingService, clock: Clock
) -> None:
    await two_days(service, clock)
    clock.now = DAY2 + timedelta(hours=1)
    again = await service.digest(subscription(NEWSROOM, nothing_new="silent"), slot_at=clock.now)
    assert again.stories
    assert {story.status for story in again.stories} == {StoryStatus.SEEN}
    assert again.nothing_new
    assert again.digest is not None
    assert again.digest.since == DAY2


async def test_a_digest_compares_with_the_channels_previous_digest_not_the_first(
    service: BriefingService, clock: Clock
) -> None:
    _, second = await two_days(service, clock)
    assert by_title(second)["Calder dock strike enters third day"].status is StoryStatus.UPDATED
    clock.now = DAY2 + timedelta(hours=1)
    third = await service.digest(subscription(NEWSROOM), slot_at=clock.now)
    # The update was delivered (and saved) with the second digest: not new any more.
    assert by_title(third)["Calder dock strike enters third day"].status is StoryStatus.SEEN


async def test_a_digest_built_but_never_posted_does_not_count_as_seen(
    service: BriefingService, clock: Clock
) -> None:
    await service.ingest_articles(DAY1_ARTICLES)
    await service.digest(subscription(NEWSROOM), slot_at=DAY1)  # a crash before the post
    clock.now = DAY1 + timedelta(hours=1)
    retried = await service.digest(subscription(NEWSROOM), slot_at=clock.now)
    assert {story.status for story in retried.stories} == {StoryStatus.NEW}
    assert retried.digest is not None
    assert retried.digest.since is None


# ---------------------------------------------------------------------- the pure comparison


def story(*points: str) -> StoryBriefing:
    return StoryBriefing(
        story_id="s-000000000001",
        title="Calder dock strike",
        updated_at=DAY1,
        key_points=[KeyPoint(text, [1]) for text in points],
        sources=[],
        coverage=Coverage(1, 1, 1),
    )


def test_a_rewording_is_the_same_point_and_a_changed_fact_is_not() -> None:
    first, reworded = STRIKE.split(". ")[0], STRIKE_REWORDED.split(". ")[0]
    changed = first.replace("third day on Wednesday", "fourth day on Thursday")
    assert sentence_similarity(first, reworded) >= SAME_POINT_SIMILARITY
    assert sentence_similarity(first, changed) < SAME_POINT_SIMILARITY
    assert sentence_similarity(first, MEDIATION) < SAME_POINT_SIMILARITY
    assert compare(story(reworded), story(first)).status is StoryStatus.SEEN
    updated = compare(story(reworded, changed), story(first))
    assert updated.status is StoryStatus.UPDATED
    assert [p.text for p in updated.key_points] == [changed, reworded]


def test_compare_leaves_the_fresh_briefing_as_it_was() -> None:
    fresh = story(MEDIATION, FLOOD)
    marked = compare(fresh, story(FLOOD))
    assert marked.status is StoryStatus.UPDATED
    assert fresh.status is None
    assert [p.text for p in fresh.key_points] == [MEDIATION, FLOOD]
    assert compare(fresh, None).status is StoryStatus.NEW


def test_stories_are_ordered_new_then_updated_then_seen() -> None:
    seen, new, updated = (
        compare(story(FLOOD), story(FLOOD)),
        compare(story(BRIDGE), None),
        compare(story(MEDIATION), story(FLOOD)),
    )
    ordered = order_by_status([seen, updated, new])
    assert [s.status for s in ordered] == [StoryStatus.NEW, StoryStatus.UPDATED, StoryStatus.SEEN]


# ---------------------------------------------------------------------- rendering


def source(number: int, outlet: str, *, copy_of: int | None = None) -> SourceRef:
    return SourceRef(
        id=number,
        outlet=outlet,
        title=f"Report {number}",
        url=f"https://{outlet.lower().replace(' ', '')}.example/{number}",
        published_at=DAY2 - timedelta(hours=number),
        full_text=True,
        copy_of=copy_of,
    )


def rendered_digest(*, since: datetime | None = DAY1, late: bool = True) -> Briefing:
    sources = [source(1, "Harbor Ledger"), source(2, "Coastal Times"), source(3, "Northern Wire")]
    new = StoryBriefing(
        "s-00000000000a",
        "Calder council approves new footbridge",
        DAY2,
        [KeyPoint(BRIDGE, [1])],
        sources[:1],
        Coverage(1, 1, 1),
        status=StoryStatus.NEW,
    )
    earlier = [KeyPoint(f"Earlier point {n} about the strike.", [1, 2]) for n in range(1, 6)]
    update = StoryBriefing(
        "s-00000000000b",
        "Calder dock strike enters third day",
        DAY2,
        [KeyPoint(MEDIATION, [3]), *earlier],
        sources,
        Coverage(3, 3, 3),
        status=StoryStatus.UPDATED,
        whats_new=[KeyPoint(MEDIATION, [3])],
    )
    seen = StoryBriefing(
        "s-00000000000c",
        "River Calder floods homes in Kettleby",
        DAY2,
        [KeyPoint(FLOOD, [1, 2])],
        [source(1, "Valley Post"), source(2, "Daily Echo", copy_of=1)],
        Coverage(2, 2, 1),
        status=StoryStatus.SEEN,
    )
    return Briefing(
        topic="calder",
        generated_at=DAY2,
        mode=BriefingMode.EXTRACTIVE,
        stories=[new, update, seen],
        digest=DigestInfo("digest", DAY2, "daily 08:00", "Europe/Berlin", late=late, since=since),
    )


def nothing_new_digest() -> Briefing:
    briefing = rendered_digest()
    for story in briefing.stories:
        story.status = StoryStatus.SEEN
        story.whats_new = []
    return briefing


def live_update() -> Briefing:
    briefing = rendered_digest()
    strike = as_live_update(briefing.stories[1])
    return replace(
        briefing,
        stories=[strike],
        digest=DigestInfo("update", DAY2, "daily 08:00", "Europe/Berlin"),
    )


def test_text_digest_names_the_slot_what_changed_and_marks_each_story() -> None:
    text = to_text(rendered_digest())
    lines = text.splitlines()
    assert lines[0] == "calder — Daily digest · Wed 2 Dec 08:00 Europe/Berlin (late)"
    assert lines[1] == (
        "What changed since your last briefing on Tue 1 Dec 08:00: "
        "1 new story · 1 update · 1 unchanged"
    )
    assert "1. Calder council approves new footbridge" in lines
    assert "2. Update: Calder dock strike enters third day" in lines
    new_at = text.index(f"• New: {MEDIATION} [3]")
    assert new_at < text.index("• Earlier point 1 about the strike. [1][2]")
    assert "Earlier point 4" not in text  # at most UPDATE_EARLIER of the points seen before
    assert "(+2 earlier points)" in text
    assert lines[-1] == (
        "No new reports: River Calder floods homes in Kettleby (2 outlets, 1 independent report)"
    )
    assert FLOOD not in text


def test_a_first_digest_says_so_and_on_time_is_not_late() -> None:
    text = to_text(rendered_digest(since=None, late=False))
    assert text.splitlines()[0] == "calder — Daily digest · Wed 2 Dec 08:00 Europe/Berlin"
    assert text.splitlines()[1].startswith("Your first briefing on this topic here")


def test_a_digest_with_nothing_new_is_one_line_everywhere() -> None:
    briefing = nothing_new_digest()
    assert briefing.nothing_new
    line = "Nothing new on calder since your last briefing on Tue 1 Dec 08:00."
    assert to_text(briefing) == line + "\n"
    assert to_markdown(briefing) == line + "\n"
    slack = slack_render(briefing)
    assert len(slack) == 1
    assert [b["text"]["text"] for b in slack[0].blocks] == [line]
    discord = discord_render(briefing)
    assert [(m.content, m.embeds) for m in discord] == [(line, [])]


def test_slack_digest_uses_the_briefing_renderer_with_digest_marks() -> None:
    messages = slack_render(rendered_digest())
    assert len(messages) == 1
    blocks = messages[0].blocks
    headers = [b["text"]["text"] for b in blocks if b["type"] == "header"]
    assert headers == [
        "Digest: calder",
        "1. Calder council approves new footbridge",
        "2. Update: Calder dock strike enters third day",
    ]
    context = [e["text"] for b in blocks if b["type"] == "context" for e in b["elements"]]
    assert "Daily digest · Wed 2 Dec 08:00 Europe/Berlin (late)" in context
    sections = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert f"• *New:* {MEDIATION} <https://northernwire.example/3|[3]>" in sections
    assert "No new reports: River Calder floods homes in Kettleby (2 outlets" in sections
    assert "New since this channel's last briefing" not in sections  # marked inline instead
    assert FLOOD not in sections
    assert messages[0].text.startswith(
        "Daily digest · Wed 2 Dec 08:00 Europe/Berlin (late): calder"
    )


def test_discord_digest_uses_the_briefing_renderer_with_digest_marks() -> None:
    messages = discord_render(rendered_digest())
    assert len(messages) == 1
    content = messages[0].content
    assert content.startswith("**Digest: calder** · Daily digest · Wed 2 Dec 08:00")
    assert "What changed since your last briefing on Tue 1 Dec 08:00" in content
    titles = [embed["title"] for embed in messages[0].embeds]
    assert titles == [
        "1. Calder council approves new footbridge",
        "2. Update: Calder dock strike enters third day",
        "Unchanged since your last briefing",
    ]
    update = messages[0].embeds[1]["description"]
    assert f"• **New:** {MEDIATION} [[3]](https://northernwire.example/3)" in update
    assert messages[0].embeds[2]["description"] == (
        "No new reports: River Calder floods homes in Kettleby (2 outlets, 1 independent report)"
    )


def test_a_live_update_is_one_short_message_with_its_sources() -> None:
    briefing = live_update()
    assert to_text(briefing).splitlines()[0] == f"Update: {MEDIATION} — Northern Wire [3]"
    slack = slack_render(briefing)
    assert len(slack) == 1
    assert slack[0].blocks[0]["text"]["text"] == (
        f"*Update:* {MEDIATION} — <https://northernwire.example/3|Northern Wire [3]>"
    )
    discord = discord_render(briefing)
    assert len(discord) == 1
    assert len(discord[0].embeds) == 1
    assert discord[0].embeds[0]["title"] == "Update: Calder dock strike enters third day"
    assert discord[0].embeds[0]["description"] == (
        f"**Update:** {MEDIATION} — [Northern Wire \\[3\\]](https://northernwire.example/3)"
    )


def test_json_carries_the_digest_and_each_storys_status() -> None:
    data = to_json_dict(rendered_digest())
    jsonschema.validate(data, briefing_schema())
    assert [story["status"] for story in data["stories"]] == ["new", "updated", "seen"]
    assert data["digest"] == {
        "kind": "digest",
        "slot_at": "2026-12-02T07:00:00Z",
        "schedule": "daily 08:00",
        "timezone": "Europe/Berlin",
        "late": True,
        "since": "2026-12-01T07:00:00Z",
        "nothing_new": False,
    }
    assert to_json_dict(nothing_new_digest())["digest"]["nothing_new"] is True
    plain = to_json_dict(replace(rendered_digest(), digest=None))
    assert "digest" not in plain


def test_markdown_digest_marks_updates_and_reduces_seen_stories() -> None:
    text = to_markdown(rendered_digest())
    assert text.startswith("## calder — Daily digest · Wed 2 Dec 08:00 Europe/Berlin (late)")
    assert "### 2. Update: Calder dock strike enters third day" in text
    assert f"- **New:** {MEDIATION} [3]" in text
    assert "- No new reports: River Calder floods homes in Kettleby (2 outlets" in text


# ---------------------------------------------------------------------- shared model briefings


@pytest.mark.usefixtures("quiet_llm")
async def test_channels_following_one_story_version_cost_one_model_call_per_story(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Clock, model: FakeOpenAI
) -> None:
    monkeypatch.setenv("BRIEFBOT_TOPICS_FILE", str(tmp_path / "topics.toml"))
    model.script(*[faithful_writer] * 10)
    settings = load_settings(BRIEFBOT_FETCH_FULL_TEXT=False, BRIEFBOT_DISCOVERY="none")
    built = build_service(
        settings, database_url=f"sqlite:///{tmp_path / 'llm.sqlite3'}", clock=clock, force_llm=True
    )
    async with built as service:
        await service.ingest_articles(DAY1_ARTICLES)
        newsroom = await service.digest(subscription(NEWSROOM), slot_at=DAY1)
        assert len(newsroom.stories) == 2
        assert {story.mode for story in newsroom.stories} == {BriefingMode.LLM}
        assert len(model.requests) == 2  # one per story
        ops = await service.digest(subscription(OPS), slot_at=DAY1)
        assert len(model.requests) == 2  # the second channel reuses both
        assert [s.key_points for s in ops.stories] == [s.key_points for s in newsroom.stories]
        assert {story.status for story in ops.stories} == {StoryStatus.NEW}
        # Built once for the slot and saved once: both channels' posts carry the same rows.
        assert sorted(ops.saved_ids) == sorted(newsroom.saved_ids)

        clock.now = DAY2
        await service.ingest_articles(DAY2_ARTICLES)
        again = await service.digest(subscription(NEWSROOM), slot_at=DAY2)
        # The new versions of the stories (the strike's update, the new bridge) cost a call
        # each, once: the other channel's digest of the same versions reuses them.
        written = [story for story in again.stories if story.mode is BriefingMode.LLM]
        assert len(written) >= 2
        assert len(model.requests) == 2 + len(written)
        other = await service.digest(subscription(OPS), slot_at=DAY2)
        assert len(model.requests) == 2 + len(written)
        same = {s.story_id: {p.text for p in s.key_points} for s in written}
        assert {
            s.story_id: {p.text for p in s.key_points}
            for s in other.stories
            if s.mode is BriefingMode.LLM
        } == same
