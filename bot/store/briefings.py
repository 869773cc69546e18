"""Briefings: each story briefing as saved, with its points, citations and sources.

A briefing is saved for the channel it went to (the terminal is a channel too). A saved
model briefing of unchanged articles (same ``content_key``) can be reused in any channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain import (
    Briefing,
    BriefingMode,
    Channel,
    Coverage,
    KeyPoint,
    SourceRef,
    StoredBriefing,
    StoryBriefing,
    TokenUsage,
    Verification,
    content_key,
)
from bot.store.channels import channel_row, find_channel_id
from bot.store.database import Database, chunks
from bot.store.models import ArticleRow, BriefingRow, BriefingSourceRow, CitationRow, KeyPointRow

# ``KeyPointRow.kind`` of each list of points in a ``StoryBriefing``.
_KEY, _DISAGREEMENT, _NEW = "key", "disagreement", "new"


class BriefingRepository:
    """Saved story briefings: the channels' memory and the model briefings' cache."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def save(self, briefing: Briefing, channel: Channel | None) -> list[int]:
        """Store every story briefing of ``briefing`` (all or none) for ``channel`` (created
        if new; ``None``: shared by every channel a digest of it is posted to); returns their
        row ids, in story order.

        Each row keeps the key points with their citations, the numbered sources (with the
        store ids of their articles) and a ``content_key`` of the covered articles.
        """
        return self._db.write(
            f"save the briefing on {briefing.topic!r}",
            lambda session: _save_briefing(session, briefing, channel),
        )

    def last(self, story_id: str, channel: Channel) -> StoredBriefing | None:
        """The newest saved briefing of a story in ``channel`` (none in a channel never seen)."""

        def work(session: Session) -> StoredBriefing | None:
            channel_id = find_channel_id(session, channel)
            if channel_id is None:
                return None
            row = session.scalar(
                select(BriefingRow)
                .where(BriefingRow.story_id == story_id, BriefingRow.channel_id == channel_id)
                .order_by(BriefingRow.generated_at.desc(), BriefingRow.id.desc())
                .limit(1)
            )
            return _stored_briefing(row) if row is not None else None

        return self._db.read(f"read the last briefing of story {story_id}", work)

    def with_content(
        self, story_id: str, key: str, *, mode: BriefingMode = BriefingMode.LLM
    ) -> StoredBriefing | None:
        """The newest saved ``mode`` briefing of a story whose ``content_key`` is ``key``,
        from any channel (a briefing of unchanged articles can be reused anywhere)."""

        def work(session: Session) -> StoredBriefing | None:
            row = session.scalar(
                select(BriefingRow)
                .where(
                    BriefingRow.story_id == story_id,
                    BriefingRow.content_key == key,
                    BriefingRow.mode == str(mode),
                )
                .order_by(BriefingRow.generated_at.desc(), BriefingRow.id.desc())
                .limit(1)
            )
            return _stored_briefing(row) if row is not None else None

        return self._db.read(f"find a briefing of story {story_id} by content", work)

    def last_in_mode(
        self, story_id: str, *, mode: BriefingMode = BriefingMode.LLM
    ) -> StoredBriefing | None:
        """The newest saved ``mode`` briefing of a story, from any channel."""

        def work(session: Session) -> StoredBriefing | None:
            row = session.scalar(
                select(BriefingRow)
                .where(BriefingRow.story_id == story_id, BriefingRow.mode == str(mode))
                .order_by(BriefingRow.generated_at.desc(), BriefingRow.id.desc())
                .limit(1)
            )
            return _stored_briefing(row) if row is not None else None

        return self._db.read(f"read the last briefing of story {story_id}", work)

    def by_ids(self, briefing_ids: Sequence[int]) -> dict[int, StoredBriefing]:
        """The saved story briefings with these ids (those that exist), in one read."""

        def work(session: Session) -> dict[int, StoredBriefing]:
            found: dict[int, StoredBriefing] = {}
            for chunk in chunks(list(dict.fromkeys(briefing_ids))):
                for row in session.scalars(select(BriefingRow).where(BriefingRow.id.in_(chunk))):
                    found[row.id] = _stored_briefing(row)
            return found

        return self._db.read("read saved briefings", work)

    def point_texts(self, story_id: str) -> list[str]:
        """Every key point any saved briefing of the story made (in any channel), once each:
        what "a key point no earlier briefing had" is checked against."""

        def work(session: Session) -> list[str]:
            rows = session.scalars(
                select(KeyPointRow.text)
                .join(BriefingRow, KeyPointRow.briefing_id == BriefingRow.id)
                .where(BriefingRow.story_id == story_id, KeyPointRow.kind == "key")
                .order_by(KeyPointRow.id)
            )
            return list(dict.fromkeys(rows))

        return self._db.read(f"read the key points made on story {story_id}", work)


# ---------------------------------------------------------------------- rows <-> domain


def _content_key_of(session: Session, sources: Sequence[SourceRef]) -> str | None:
    """``content_key`` of the stored articles behind ``sources`` (``None`` if there are none)."""
    ids = sorted({source.article_id for source in sources if source.article_id is not None})
    if not ids:
        return None
    pairs: list[tuple[int, str]] = []
    for chunk in chunks(ids):
        pairs.extend(
            (article_id, content_hash)
            for article_id, content_hash in session.execute(
                select(ArticleRow.id, ArticleRow.content_hash).where(ArticleRow.id.in_(chunk))
            )
        )
    return content_key(pairs)


def _points(kind: str, points: Sequence[KeyPoint]) -> list[KeyPointRow]:
    return [
        KeyPointRow(
            kind=kind,
            position=position,
            text=point.text,
            citations=[
                CitationRow(source=source, position=order)
                for order, source in enumerate(dict.fromkeys(point.sources))
            ],
        )
        for position, point in enumerate(points)
    ]


def _briefing_row(briefing: Briefing, story: StoryBriefing, channel_id: int | None) -> BriefingRow:
    usage = story.usage
    payload: dict[str, Any] = {"notes": list(story.notes)}
    if story.verification is not None:
        verification = story.verification
        payload["verification"] = {
            "checked": verification.checked,
            "removed": [list(pair) for pair in verification.removed],
            "added": [list(pair) for pair in verification.added],
            "dropped": list(verification.dropped),
        }
    if usage is not None:
        payload["usage_cached"] = usage.cached
    return BriefingRow(
        story_id=story.story_id,
        topic=briefing.topic,
        channel_id=channel_id,
        mode=str(story.mode),
        generated_at=briefing.generated_at,
        updated_at=story.updated_at,
        title=story.title,
        summary=story.summary,
        coverage_articles=story.coverage.articles,
        coverage_outlets=story.coverage.outlets,
        coverage_independent_reports=story.coverage.independent_reports,
        prompt_tokens=usage.prompt_tokens if usage is not None else None,
        completion_tokens=usage.completion_tokens if usage is not None else None,
        cost_usd=usage.cost_usd if usage is not None else None,
        model=usage.model if usage is not None else None,
        payload=payload,
        sources=[
            BriefingSourceRow(
                number=source.id,
                article_id=source.article_id,
                outlet=source.outlet,
                title=source.title,
                url=source.url,
                published_at=source.published_at,
                full_text=source.full_text,
                origins=list(source.origins),
                copy_of=source.copy_of,
            )
            for source in story.sources
        ],
        key_points=[
            *_points(_KEY, story.key_points),
            *_points(_DISAGREEMENT, story.disagreements),
            *_points(_NEW, story.whats_new),
        ],
    )


def _save_briefing(session: Session, briefing: Briefing, channel: Channel | None) -> list[int]:
    channel_id = channel_row(session, channel).id if channel is not None else None
    rows: list[BriefingRow] = []
    for story_briefing in briefing.stories:
        row = _briefing_row(briefing, story_briefing, channel_id)
        row.content_key = _content_key_of(session, story_briefing.sources)
        session.add(row)
        rows.append(row)
    session.flush()
    return [row.id for row in rows]


def _stored_briefing(row: BriefingRow) -> StoredBriefing:
    points: dict[str, list[KeyPoint]] = {_KEY: [], _DISAGREEMENT: [], _NEW: []}
    for point in row.key_points:  # ordered by (kind, position)
        points.setdefault(point.kind, []).append(
            KeyPoint(point.text, [citation.source for citation in point.citations])
        )
    payload = row.payload
    verification = None
    if isinstance(payload.get("verification"), dict):
        raw = payload["verification"]
        verification = Verification(
            checked=int(raw.get("checked", 0)),
            removed=[(str(text), int(source)) for text, source in raw.get("removed", [])],
            added=[(str(text), int(source)) for text, source in raw.get("added", [])],
            dropped=[str(text) for text in raw.get("dropped", [])],
        )
    usage = None
    if row.prompt_tokens is not None and row.completion_tokens is not None:
        cost = row.cost_usd
        if cost is None and not (row.prompt_tokens or row.completion_tokens):
            cost = 0.0  # no tokens, no cost
        usage = TokenUsage(
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
            cost_usd=cost,
            cached=bool(payload.get("usage_cached", False)),
            model=row.model,
        )
    mode = BriefingMode(row.mode)
    story = StoryBriefing(
        story_id=row.story_id,
        title=row.title,
        updated_at=row.updated_at,
        key_points=points[_KEY],
        sources=[
            SourceRef(
                id=source.number,
                outlet=source.outlet,
                title=source.title,
                url=source.url,
                published_at=source.published_at,
                full_text=source.full_text,
                origins=tuple(source.origins),
                copy_of=source.copy_of,
                article_id=source.article_id,
            )
            for source in row.sources
        ],
        coverage=Coverage(
            articles=row.coverage_articles,
            outlets=row.coverage_outlets,
            independent_reports=row.coverage_independent_reports,
        ),
        summary=row.summary,
        notes=[str(note) for note in payload.get("notes", [])],
        mode=mode,
        disagreements=points[_DISAGREEMENT],
        whats_new=points[_NEW],
        verification=verification,
        usage=usage,
    )
    return StoredBriefing(
        id=row.id,
        briefing=story,
        topic=row.topic,
        generated_at=row.generated_at,
        mode=mode,
        article_ids=[s.article_id for s in row.sources if s.article_id is not None],
        content_key=row.content_key,
        channel_id=row.channel_id,
    )
