"""Subscriptions: which channel gets which topic's digest, when, in which time zone."""

from __future__ import annotations

import hashlib

from sqlalchemy import delete, func, select
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
                    nothing_new=subscription.nothing_new,
                    updates=subscription.updates,
                )
                session.add(row)
            else:
                row.schedule = subscription.schedule
                row.timezone = subscription.timezone
                row.nothing_new = subscription.nothing_new
                row.updates = subscription.updates
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

    def get(self, subscription_id: int) -> Subscription | None:
        """The subscription with this id; ``None`` once it was removed."""

        def work(session: Session) -> Subscription | None:
            row = session.get(SubscriptionRow, subscription_id)
            return _subscription(row) if row is not None else None

        return self._db.read(f"read subscription {subscription_id}", work)

    def version(self) -> tuple[int, int, str]:
        """A cheap fingerprint of the whole table (count, highest id, newest change), so a
        scheduler in another process notices a subscription made or changed elsewhere."""

        def work(session: Session) -> tuple[int, int, str]:
            count, top = session.execute(
                select(func.count(SubscriptionRow.id), func.max(SubscriptionRow.id))
            ).one()
            rows = session.execute(
                select(
                    SubscriptionRow.id,
                    SubscriptionRow.schedule,
                    SubscriptionRow.timezone,
                    SubscriptionRow.nothing_new,
                    SubscriptionRow.updates,
                ).order_by(SubscriptionRow.id)
            ).all()
            digest = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
            return int(count or 0), int(top or 0), digest

        return self._db.read("read the subscriptions' version", work)

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
        nothing_new=row.nothing_new,
        updates=row.updates,
    )
