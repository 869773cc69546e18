"""The topic a posted message answered: ``posted_messages.topic``. An ``ask TOPIC`` answer
carries no briefing, so without it "what's the latest?" asked in that answer's thread could
not tell which topic to gather first.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("posted_messages", sa.Column("topic", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("posted_messages") as batch:
        batch.drop_column("topic")
