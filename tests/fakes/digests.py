"""Digest briefings as the scheduler hands them to an outbox, for the outboxes' tests:
``digest(stories)`` with three sources per story, ``repeat`` times each point's text (long
points make a digest spill into more messages)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain import (
    Briefing,
    BriefingMode,
    Coverage,
    DigestInfo,
    KeyPoint,
    SourceRef,
    StoryBriefing,
    StoryStatus,
)

SLOT = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
KEY = f"digest:1:{SLOT.isoformat()}"


def story(number: int, *, points: int = 3, repeat: int = 1) -> StoryBriefing:
    sources = [
        SourceRef(
            id=n,
            outlet=f"Outlet {n}",
            title=f"Halvern port strike, report {n}",
            url=f"https://news{n}.example/strike/{number}",
            published_at=SLOT - timedelta(hours=n),
            full_text=True,
        )
        for n in (1, 2, 3)
    ]
    text = f"Point {{p}} of story {number}: talks over pay stalled again."
    return StoryBriefing(
        story_id=f"s-{number:06d}",
        title=f"Story {number}: dockworkers extend the Halvern strike",
        updated_at=SLOT,
        key_points=[KeyPoint(" ".join([text.format(p=p)] * repeat), [1, 2]) for p in range(points)],
        sources=sources,
        coverage=Coverage(articles=3, outlets=3, independent_reports=2),
        status=StoryStatus.NEW,
    )


def digest(stories: int = 1, *, kind: str = "digest", repeat: int = 1) -> Briefing:
    return Briefing(
        topic="port strike",
        generated_at=SLOT,
        mode=BriefingMode.EXTRACTIVE,
        stories=[
            story(n, points=8 if stories > 1 else 3, repeat=repeat) for n in range(1, stories + 1)
        ],
        digest=DigestInfo(
            kind=kind, slot_at=SLOT, schedule="daily 08:00", timezone="Europe/Berlin"
        ),
    )
