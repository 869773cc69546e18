"""Token spends as they happen: ``token_spends``.

The daily token budgets used to add up the tokens of saved briefings plus what the running
process remembered spending; another process's unsaved spend was invisible. Each model
call's tokens now go into this table at once. Briefings saved before this revision seed it
with their tokens at their ``generated_at`` so today's spend carries over.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "token_spends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_token_spends_channel_id_channels"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_token_spends")),
    )
    op.create_index(op.f("ix_token_spends_at"), "token_spends", ["at"])
    op.create_index(op.f("ix_token_spends_channel_id"), "token_spends", ["channel_id"])
    op.execute(
        "INSERT INTO token_spends (at, tokens, channel_id) "
        "SELECT generated_at, COALESCE(prompt_tokens, 0) + COALESCE(completion_tokens, 0), "
        "channel_id FROM briefings "
        "WHERE COALESCE(prompt_tokens, 0) + COALESCE(completion_tokens, 0) > 0"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_token_spends_channel_id"), table_name="token_spends")
    op.drop_index(op.f("ix_token_spends_at"), table_name="token_spends")
    op.drop_table("token_spends")
