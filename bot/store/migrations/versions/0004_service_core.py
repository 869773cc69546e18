"""Chat-facing tables and the terminal as a channel: ``subscriptions``, ``posted_messages``,
``channels.workspace``.

Briefings and token spends saved without a channel were the terminal's; they now belong to
the ``console``/``terminal`` channel row this revision creates, so "the terminal" is a channel
like any other for budgets, "what changed since this channel's last briefing" and usage.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("workspace", sa.Text(), server_default="", nullable=False))
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("schedule", sa.Text(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_subscriptions_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("channel_id", "topic", name=op.f("uq_subscriptions_channel_id_topic")),
    )
    op.create_table(
        "posted_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("thread_id", sa.Text(), nullable=True),
        sa.Column("briefing_ids", sa.JSON(), nullable=False),
        sa.Column("story_ids", sa.JSON(), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_posted_messages_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_posted_messages")),
        sa.UniqueConstraint(
            "channel_id", "message_id", name=op.f("uq_posted_messages_channel_id_message_id")
        ),
    )
    op.create_index(op.f("ix_posted_messages_thread_id"), "posted_messages", ["thread_id"])
    op.create_index(op.f("ix_posted_messages_posted_at"), "posted_messages", ["posted_at"])
    bind = op.get_bind()
    had_terminal = bind.execute(
        sa.text(
            "SELECT 1 FROM briefings WHERE channel_id IS NULL "
            "UNION SELECT 1 FROM token_spends WHERE channel_id IS NULL"
        )
    ).first()
    if had_terminal is None:
        return
    bind.execute(
        sa.text(
            "INSERT INTO channels (platform, external_id, name, workspace) "
            "SELECT 'console', 'terminal', 'terminal', '' WHERE NOT EXISTS "
            "(SELECT 1 FROM channels WHERE platform = 'console' AND external_id = 'terminal')"
        )
    )
    terminal = (
        "(SELECT id FROM channels WHERE platform = 'console' AND external_id = 'terminal')"
    )
    bind.execute(sa.text(f"UPDATE briefings SET channel_id = {terminal} WHERE channel_id IS NULL"))  # noqa: S608
    bind.execute(
        sa.text(f"UPDATE token_spends SET channel_id = {terminal} WHERE channel_id IS NULL")  # noqa: S608
    )


def downgrade() -> None:
    terminal = "SELECT id FROM channels WHERE platform = 'console' AND external_id = 'terminal'"
    for table in ("briefings", "token_spends"):
        op.execute(f"UPDATE {table} SET channel_id = NULL WHERE channel_id IN ({terminal})")  # noqa: S608
    op.execute("DELETE FROM channels WHERE platform = 'console' AND external_id = 'terminal'")
    op.drop_index(op.f("ix_posted_messages_posted_at"), table_name="posted_messages")
    op.drop_index(op.f("ix_posted_messages_thread_id"), table_name="posted_messages")
    op.drop_table("posted_messages")
    op.drop_table("subscriptions")
    # Not batch mode: on SQLite that rebuilds ``channels``, and dropping the old table would
    # set every briefing's and spend's channel to NULL (ON DELETE SET NULL).
    op.drop_column("channels", "workspace")
