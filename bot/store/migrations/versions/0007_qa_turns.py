"""Conversation memory of thread Q&A: ``qa_turns``, each question asked in a channel's
thread (or with ``ask TOPIC``) and the answer it got, so a follow-up ("and Germany?") is
resolved against the earlier turns after a restart too.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "qa_turns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.Text(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("story_id", sa.Text(), nullable=True),
        sa.Column("refused", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_qa_turns_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_turns")),
    )
    op.create_index(
        op.f("ix_qa_turns_channel_id_thread_id"), "qa_turns", ["channel_id", "thread_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_qa_turns_channel_id_thread_id"), table_name="qa_turns")
    op.drop_table("qa_turns")
