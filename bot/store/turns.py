"""Conversation memory of thread Q&A: the questions asked in each thread and their answers."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain import Channel
from bot.qa import Turn
from bot.store.channels import channel_row, find_channel_id
from bot.store.database import Database
from bot.store.models import QATurnRow


class TurnRepository:
    """The turns (question, answer) of each channel's threads, oldest first."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(
        self, channel: Channel, thread_id: str, turn: Turn, *, refused: bool = False
    ) -> None:
        """Remember one turn of ``thread_id`` in ``channel`` (the channel is stored if new)."""

        def work(session: Session) -> None:
            row = QATurnRow(
                channel_id=channel_row(session, channel).id,
                thread_id=thread_id,
                question=turn.question,
                answer=turn.answer,
                story_id=turn.story_id,
                refused=refused,
                asked_at=turn.asked_at,
            )
            session.add(row)
            session.flush()

        self._db.write(f"record a question of thread {thread_id}", work)

    def of_thread(self, channel: Channel, thread_id: str, limit: int = 10) -> list[Turn]:
        """The newest ``limit`` turns of the thread, oldest first."""

        def work(session: Session) -> list[Turn]:
            channel_id = find_channel_id(session, channel)
            if channel_id is None or limit <= 0:
                return []
            rows = session.scalars(
                select(QATurnRow)
                .where(QATurnRow.channel_id == channel_id, QATurnRow.thread_id == thread_id)
                .order_by(QATurnRow.asked_at.desc(), QATurnRow.id.desc())
                .limit(limit)
            )
            return [
                Turn(row.question, row.answer, row.asked_at, row.story_id)
                for row in reversed(list(rows))
            ]

        return self._db.read(f"read the questions of thread {thread_id}", work)


__all__: Sequence[str] = ["TurnRepository"]
