"""Delivery records: each digest slot and live update of a subscription, claimed before
it is posted and completed after, so it goes out once across restarts, crashes and
replicas.

``(subscription_id, slot_key)`` is unique. A claim inserts the row, or takes over a row
left ``claimed`` by an earlier attempt (its own after a failure, or any owner's when the
caller now leads and the earlier owner is gone); taking over is a compare-and-swap on the
owner and the attempt count, so two claimants never both win. A taken-over claim has
``attempts > 1``: the earlier attempt may have posted, so the caller looks the slot up on
the platform before posting again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.domain import Delivery, DeliveryKind, DeliveryState, PostedMessage
from bot.store.channels import record_post
from bot.store.database import Database
from bot.store.models import DeliveryRow


class DeliveryRepository:
    """Claim, prepare, complete and look up deliveries."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def claim(
        self,
        subscription_id: int,
        kind: DeliveryKind,
        slot_key: str,
        slot_at: datetime,
        owner: str,
        *,
        late: bool = False,
        story_id: str | None = None,
        take_over: bool = False,
    ) -> Delivery | None:
        """The delivery claimed for ``owner``, or ``None`` when it is done (completed,
        skipped, failed) or claimed by another owner that ``take_over`` does not allow
        taking it from."""

        def work(session: Session) -> Delivery | None:
            now = self._db.clock()
            inserted = session.execute(
                self._db.insert(DeliveryRow)
                .values(
                    subscription_id=subscription_id,
                    kind=str(kind),
                    slot_key=slot_key,
                    slot_at=slot_at,
                    state=str(DeliveryState.CLAIMED),
                    owner=owner,
                    attempts=1,
                    late=late,
                    claimed_at=now,
                    story_id=story_id,
                    briefing_ids=[],
                    story_ids=[],
                )
                .on_conflict_do_nothing(index_elements=["subscription_id", "slot_key"])
                .returning(DeliveryRow.id)
            ).scalar()
            row = session.scalar(
                select(DeliveryRow).where(
                    DeliveryRow.subscription_id == subscription_id,
                    DeliveryRow.slot_key == slot_key,
                )
            )
            if row is None:  # the subscription was removed meanwhile
                return None
            if inserted is not None:
                return _delivery(row)
            if row.state != DeliveryState.CLAIMED or (row.owner != owner and not take_over):
                return None
            taken = session.execute(
                update(DeliveryRow)
                .where(
                    DeliveryRow.id == row.id,
                    DeliveryRow.owner == row.owner,
                    DeliveryRow.attempts == row.attempts,
                    DeliveryRow.state == str(DeliveryState.CLAIMED),
                )
                .values(owner=owner, attempts=row.attempts + 1, claimed_at=now)
            )
            if getattr(taken, "rowcount", 0) != 1:
                return None
            session.refresh(row)
            return _delivery(row)

        return self._db.write(
            f"claim the delivery {slot_key} of subscription {subscription_id}", work
        )

    def prepare(
        self, delivery_id: int, owner: str, briefing_ids: Sequence[int], story_ids: Sequence[str]
    ) -> bool:
        """Store what the delivery carries, before posting it; False if it is not ours."""
        return self._set(
            delivery_id,
            owner,
            "prepare",
            briefing_ids=list(briefing_ids),
            story_ids=list(story_ids),
        )

    def complete(
        self,
        delivery_id: int,
        owner: str,
        message_id: str,
        thread_id: str | None,
        *,
        posted: PostedMessage | None = None,
    ) -> bool:
        """Mark the delivery posted as ``message_id``; False if another owner took it.
        ``posted``, the message as posted, is recorded in the same transaction either way
        (``ChannelRepository.record_post``: a question in its thread is answered from it)."""
        return self._set(
            delivery_id,
            owner,
            "complete",
            posted=posted,
            state=str(DeliveryState.COMPLETED),
            message_id=message_id,
            thread_id=thread_id,
            completed_at=self._db.clock(),
            error=None,
        )

    def finish(self, delivery_id: int, owner: str, state: DeliveryState, error: str | None) -> bool:
        """Mark the delivery skipped (nothing to post) or failed (with ``error``)."""
        return self._set(
            delivery_id,
            owner,
            str(state),
            state=str(state),
            completed_at=self._db.clock(),
            error=error,
        )

    def _set(
        self,
        delivery_id: int,
        owner: str,
        what: str,
        *,
        posted: PostedMessage | None = None,
        **values: object,
    ) -> bool:
        def work(session: Session) -> bool:
            if posted is not None:
                record_post(session, posted)
            result = session.execute(
                update(DeliveryRow)
                .where(
                    DeliveryRow.id == delivery_id,
                    DeliveryRow.owner == owner,
                    DeliveryRow.state == str(DeliveryState.CLAIMED),
                )
                .values(**values)
            )
            return bool(getattr(result, "rowcount", 0))

        return self._db.write(f"{what} the delivery {delivery_id}", work)

    def pending(self) -> list[Delivery]:
        """Every delivery still claimed: in flight, or left by a crash."""
        return self._db.read(
            "read the deliveries in flight",
            lambda session: [
                _delivery(row)
                for row in session.scalars(
                    select(DeliveryRow)
                    .where(DeliveryRow.state == str(DeliveryState.CLAIMED))
                    .order_by(DeliveryRow.slot_at, DeliveryRow.id)
                )
            ],
        )

    def latest_slots(self, kind: DeliveryKind) -> dict[int, datetime]:
        """The latest slot of each subscription that has a delivery of ``kind``."""

        def work(session: Session) -> dict[int, datetime]:
            rows = session.execute(
                select(DeliveryRow.subscription_id, func.max(DeliveryRow.slot_at))
                .where(DeliveryRow.kind == str(kind))
                .group_by(DeliveryRow.subscription_id)
            ).all()
            # max() has the column's type, so the slots come back as aware UTC datetimes.
            return {int(subscription_id): latest for subscription_id, latest in rows}

        return self._db.read("read the latest delivery slots", work)

    def last_update(self, subscription_id: int, story_id: str) -> datetime | None:
        """When the subscription last got a live update of ``story_id`` (claimed or done)."""

        def work(session: Session) -> datetime | None:
            row = session.scalar(
                select(DeliveryRow)
                .where(
                    DeliveryRow.subscription_id == subscription_id,
                    DeliveryRow.kind == str(DeliveryKind.UPDATE),
                    DeliveryRow.story_id == story_id,
                    DeliveryRow.state.in_(
                        [str(DeliveryState.CLAIMED), str(DeliveryState.COMPLETED)]
                    ),
                )
                .order_by(DeliveryRow.slot_at.desc())
                .limit(1)
            )
            return row.slot_at if row is not None else None

        return self._db.read("read the last live update", work)

    def problems(self, since: datetime) -> tuple[list[Delivery], list[Delivery]]:
        """Deliveries that failed since ``since``, newest first, and those claimed before
        it and still not done (a crash no leader has recovered), oldest first."""

        def work(session: Session) -> tuple[list[Delivery], list[Delivery]]:
            failed = session.scalars(
                select(DeliveryRow)
                .where(
                    DeliveryRow.state == str(DeliveryState.FAILED),
                    DeliveryRow.completed_at >= since,
                )
                .order_by(DeliveryRow.completed_at.desc())
                .limit(50)
            )
            stuck = session.scalars(
                select(DeliveryRow)
                .where(
                    DeliveryRow.state == str(DeliveryState.CLAIMED),
                    DeliveryRow.claimed_at < since,
                )
                .order_by(DeliveryRow.claimed_at)
                .limit(50)
            )
            return [_delivery(row) for row in failed], [_delivery(row) for row in stuck]

        return self._db.read("read the deliveries that went wrong", work)

    def of_subscription(self, subscription_id: int) -> list[Delivery]:
        """The subscription's deliveries, by slot."""
        return self._db.read(
            f"read the deliveries of subscription {subscription_id}",
            lambda session: [
                _delivery(row)
                for row in session.scalars(
                    select(DeliveryRow)
                    .where(DeliveryRow.subscription_id == subscription_id)
                    .order_by(DeliveryRow.slot_at, DeliveryRow.id)
                )
            ],
        )


def _delivery(row: DeliveryRow) -> Delivery:
    return Delivery(
        subscription_id=row.subscription_id,
        kind=DeliveryKind(row.kind),
        slot_key=row.slot_key,
        slot_at=row.slot_at,
        state=DeliveryState(row.state),
        owner=row.owner,
        claimed_at=row.claimed_at,
        attempts=row.attempts,
        late=row.late,
        completed_at=row.completed_at,
        message_id=row.message_id,
        thread_id=row.thread_id,
        story_id=row.story_id,
        error=row.error,
        briefing_ids=[int(i) for i in row.briefing_ids or []],
        story_ids=[str(s) for s in row.story_ids or []],
        id=row.id,
    )
