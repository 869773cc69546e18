"""Spend and usage: tokens model calls spent (for the daily budgets) and what each saved
briefing took (for ``briefbot usage``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.domain import BriefingMode, Channel, Platform
from bot.store.channels import channel_row, find_channel_id
from bot.store.database import Database
from bot.store.models import BriefingRow, ChannelRow, TokenSpendRow
from bot.usage import UsageRecord


class SpendRepository:
    """The spend ledger of the token budgets, and the usage records of saved briefings."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record_spend(self, tokens: int, channel: Channel, at: datetime) -> None:
        """Record tokens a model call spent at ``at`` in ``channel``, the moment they are
        spent: the daily budgets of every process count them."""

        def work(session: Session) -> None:
            channel_id = channel_row(session, channel).id
            session.add(TokenSpendRow(at=at, tokens=tokens, channel_id=channel_id))

        self._db.write("record the tokens spent", work)

    def tokens_spent_since(self, since: datetime, channel: Channel | None = None) -> int:
        """Tokens model calls spent at or after ``since``: in ``channel``, or in every
        channel when it is ``None``."""

        def work(session: Session) -> int:
            query = select(func.coalesce(func.sum(TokenSpendRow.tokens), 0)).where(
                TokenSpendRow.at >= since
            )
            if channel is not None:
                channel_id = find_channel_id(session, channel)
                if channel_id is None:
                    return 0
                query = query.where(TokenSpendRow.channel_id == channel_id)
            return int(session.scalar(query) or 0)

        return self._db.read("add up the tokens spent", work)

    def usage_records(self, since: datetime | None = None) -> list[UsageRecord]:
        """Every saved story briefing generated at or after ``since`` (all of them with
        ``None``), oldest first, with the tokens and estimated cost it took."""

        def work(session: Session) -> list[UsageRecord]:
            query = (
                select(
                    BriefingRow.generated_at,
                    BriefingRow.topic,
                    ChannelRow.platform,
                    ChannelRow.external_id,
                    ChannelRow.name,
                    BriefingRow.mode,
                    BriefingRow.payload,
                    BriefingRow.prompt_tokens,
                    BriefingRow.completion_tokens,
                    BriefingRow.cost_usd,
                    BriefingRow.model,
                )
                .outerjoin(ChannelRow, ChannelRow.id == BriefingRow.channel_id)
                .order_by(BriefingRow.generated_at, BriefingRow.id)
            )
            if since is not None:
                query = query.where(BriefingRow.generated_at >= since)
            records: list[UsageRecord] = []
            for row in session.execute(query):
                (when, topic, platform, external_id, name, mode, payload) = row[:7]
                prompt, completion, cost, model = row[7:]
                label = (
                    Channel(Platform(platform), external_id, name).label
                    if platform is not None
                    else "unknown"  # its channel was deleted
                )
                prompt, completion = prompt or 0, completion or 0
                if cost is None and not (prompt or completion):
                    cost = 0.0  # no tokens, no cost
                records.append(
                    UsageRecord(
                        generated_at=when,
                        topic=topic,
                        channel=label,
                        mode=BriefingMode(mode),
                        cached=bool(payload.get("usage_cached", False)),
                        prompt_tokens=prompt,
                        completion_tokens=completion,
                        cost_usd=cost,
                        model=model,
                    )
                )
            return records

        return self._db.read("read token usage", work)
