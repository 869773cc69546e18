"""Channels and the messages posted to them: one aggregate, one repository."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from bot.domain import Channel, Platform, PostedMessage, topic_key
from bot.store.database import Database
from bot.store.models import BriefingRow, ChannelRow, PostedMessageRow


class ChannelRepository:
    """Where briefings go: Slack and Discord channels and the terminal."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get_or_create(self, channel: Channel) -> Channel:
        """The stored channel with this platform and external id, created if new.

        A non-empty ``name`` or ``workspace`` that differs from the stored one replaces it.
        """
        return self._db.write(
            f"store the {channel.platform} channel {channel.external_id}",
            lambda session: to_channel(channel_row(session, channel)),
        )

    def record_post(self, message: PostedMessage) -> PostedMessage:
        """Remember a posted briefing (once per channel and message id; a repeat is a no-op
        that returns the stored record)."""

        return self._db.write(
            f"record the message {message.message_id}",
            lambda session: _posted(record_post(session, message)),
        )

    def posts_in_thread(self, channel: Channel, thread_id: str) -> list[PostedMessage]:
        """The briefings posted in (or starting) ``thread_id`` of ``channel``, oldest first."""

        def work(session: Session) -> list[PostedMessage]:
            channel_id = find_channel_id(session, channel)
            if channel_id is None:
                return []
            rows = session.scalars(
                select(PostedMessageRow)
                .where(
                    PostedMessageRow.channel_id == channel_id,
                    (PostedMessageRow.thread_id == thread_id)
                    | (PostedMessageRow.message_id == thread_id),
                )
                .order_by(PostedMessageRow.posted_at, PostedMessageRow.id)
            )
            return [_posted(row) for row in rows]

        return self._db.read(f"read the briefings of thread {thread_id}", work)

    def latest_posts_of_stories(
        self, channel: Channel, story_ids: Sequence[str]
    ) -> dict[str, PostedMessage]:
        """The newest message of ``channel`` carrying each of ``story_ids`` (stories it was
        never briefed on are missing): where a live update of the story goes."""
        wanted = set(story_ids)

        def work(session: Session) -> dict[str, PostedMessage]:
            channel_id = find_channel_id(session, channel)
            if channel_id is None or not wanted:
                return {}
            rows = session.scalars(
                select(PostedMessageRow)
                .where(PostedMessageRow.channel_id == channel_id)
                .order_by(PostedMessageRow.posted_at.desc(), PostedMessageRow.id.desc())
                .limit(500)
            )
            found: dict[str, PostedMessage] = {}
            for row in rows:
                for story_id in row.story_ids:
                    if story_id in wanted and story_id not in found:
                        found[story_id] = _posted(row)
                if len(found) == len(wanted):
                    break
            return found

        return self._db.read("read the channel's posts of stories", work)

    def latest_post_of_topic(
        self, channel: Channel, topic: str, *, scan: int = 200
    ) -> PostedMessage | None:
        """The newest of the channel's last ``scan`` posts that carried a briefing of
        ``topic`` (any spelling): what ``ask TOPIC`` answers from."""
        key = topic_key(topic)

        def work(session: Session) -> PostedMessage | None:
            channel_id = find_channel_id(session, channel)
            if channel_id is None:
                return None
            rows = list(
                session.scalars(
                    select(PostedMessageRow)
                    .where(PostedMessageRow.channel_id == channel_id)
                    .order_by(PostedMessageRow.posted_at.desc(), PostedMessageRow.id.desc())
                    .limit(scan)
                )
            )
            ids = {int(i) for row in rows for i in row.briefing_ids}
            topics: dict[int, str] = {}
            if ids:
                found = session.execute(
                    select(BriefingRow.id, BriefingRow.topic).where(BriefingRow.id.in_(ids))
                )
                topics = {int(briefing_id): str(name) for briefing_id, name in found}
            for row in rows:
                if any(topic_key(topics.get(int(i), "")) == key for i in row.briefing_ids):
                    return _posted(row)
            return None

        return self._db.read(f"read the channel's latest briefing of {key}", work)


# ---------------------------------------------------------------------- shared with others


def _where(channel: Channel) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return (
        ChannelRow.platform == str(channel.platform),
        ChannelRow.external_id == channel.external_id,
    )


def find_channel_id(session: Session, channel: Channel) -> int | None:
    """The stored id of ``channel``; ``None`` when it was never stored."""
    return session.scalar(select(ChannelRow.id).where(*_where(channel)))


def channel_row(session: Session, channel: Channel) -> ChannelRow:
    """The row of ``channel``, created if new; a changed name or workspace is updated."""
    row = session.scalar(select(ChannelRow).where(*_where(channel)))
    if row is None:
        row = ChannelRow(
            platform=str(channel.platform),
            external_id=channel.external_id,
            name=channel.name,
            workspace=channel.workspace,
        )
        session.add(row)
        session.flush()
        return row
    if channel.name and channel.name != row.name:
        row.name = channel.name
    if channel.workspace and channel.workspace != row.workspace:
        row.workspace = channel.workspace
    return row


def record_post(session: Session, message: PostedMessage) -> PostedMessageRow:
    """The row of a posted briefing, stored if new (once per channel and message id)."""
    channel = channel_row(session, message.channel)
    row = session.scalar(
        select(PostedMessageRow).where(
            PostedMessageRow.channel_id == channel.id,
            PostedMessageRow.message_id == message.message_id,
        )
    )
    if row is None:
        row = PostedMessageRow(
            channel=channel,
            message_id=message.message_id,
            thread_id=message.thread_id,
            briefing_ids=list(message.briefing_ids),
            story_ids=list(message.story_ids),
            posted_at=message.posted_at,
            topic=message.topic,
        )
        session.add(row)
        session.flush()
    return row


def to_channel(row: ChannelRow) -> Channel:
    return Channel(
        platform=Platform(row.platform),
        external_id=row.external_id,
        name=row.name,
        workspace=row.workspace,
        id=row.id,
    )


def _posted(row: PostedMessageRow) -> PostedMessage:
    return PostedMessage(
        channel=to_channel(row.channel),
        message_id=row.message_id,
        thread_id=row.thread_id,
        briefing_ids=[int(i) for i in row.briefing_ids],
        story_ids=[str(s) for s in row.story_ids],
        posted_at=row.posted_at,
        id=row.id,
        topic=row.topic,
    )


__all__: Sequence[str] = [
    "ChannelRepository",
    "channel_row",
    "find_channel_id",
    "record_post",
    "to_channel",
]
