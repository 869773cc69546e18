"""The model that wrote each briefing: ``briefings.model``.

Briefings saved before this revision keep ``NULL`` (the model was not recorded). A nullable
column without index or constraint: a plain ``ADD COLUMN`` / ``DROP COLUMN`` on SQLite and
PostgreSQL alike, in place, without copying the table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("briefings", sa.Column("model", sa.Text(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+) rather than a batch copy of the table: with foreign
    # keys on, dropping the old copy would delete every key point and source by cascade.
    op.drop_column("briefings", "model")
