"""Subscriptions: which channel gets which topic's digest, when, in which time zone."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.domain import Channel, Subscription, topic_key
from bot.store.channels import channel_row, find_channel_id, to_channel
from bot.store.database import Database
from bot.store.models import SubscriptionRow


class SubscriptionRepository:
    """One subscription per channel and topic; subscribing again replaces its schedule."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def upsert(self, subscription: Subscription) -> Subscription:
        """Store the subscription; an existing one of the channel and topic is updated."""
        topic = topic_key(subscription.topic)

        def work(session: Session) -> Subscription:
            channel = channel_row(session, subscription.channel)
            row = session.scalar(
                select(SubscriptionRow).where(
                    SubscriptionRow.channel_id == channel.id, SubscriptionRow.topic == topic
                )
            )
            if row is None:
                row = SubscriptionRow(
                    channel=channel,
                    topic=topic,
                    schedule=subscription.schedule,
                    timezone=subscription.timezone,
                    created_by=subscription.created_by,
                    created_at=subscription.created_at,
                )
                session.add(row)
            else:
                row.schedule = subscription.schedule
                row.timezone = subscription.timezone
            session.flush()
            return _subscription(row)

        return self._db.write(f"subscribe to {topic!r}", work)

    def remove(self, channel: Channel, topic: str) -> bool:
        """Drop the channel's subscription to ``topic``; False when there was none."""
        key = topic_key(topic)

        def work(session: Session) -> bool:
            channel_id = find_channel_id(session, channel)
            if channel_id is None:
                return False
            result = session.execute(
                delete(SubscriptionRow).where(
                    SubscriptionRow.channel_id == channel_id, SubscriptionRow.topic == key
                )
            )
            return bool(getattr(result, "rowcount", 0))

        return self._db.write(f"unsubscribe from {key!r}", work)

    def of_channel(self, channel: Channel) -> list[Subscription]:
        """The channel's subscriptions by topic."""

        def work(session: Session) -> list[Subscription]:
            channel_id = find_channel_id(session, channel)
            if channel_id is None:
                return []
            rows = session.scalars(
                select(SubscriptionRow)
                .where(SubscriptionRow.channel_id == channel_id)
                .order_by(SubscriptionRow.topic)
            )
            return [_subscription(row) for row in rows]

        return self._db.read("read the channel's subscriptions", work)

    def all(self) -> list[Subscription]:
        """Every subscription (the scheduler's input), by id."""
        return self._db.read(
            "read subscriptions",
            lambda session: [
                _subscription(row)
                for row in session.scalars(select(SubscriptionRow).order_by(SubscriptionRow.id))
            ],
        )


def _subscription(row: SubscriptionRow) -> Subscription:
    return Subscription(
        channel=to_channel(row.channel),
        topic=row.topic,
        schedule=row.schedule,
        timezone=row.timezone,
        created_by=row.created_by,
        created_at=row.created_at,
        id=row.id,
    )
