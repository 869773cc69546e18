"""Initial schema: outlets, articles, stories, briefings, channels, feed state.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "outlets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("domain", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outlets")),
        sa.UniqueConstraint("name", name=op.f("uq_outlets_name")),
    )
    op.create_table(
        "channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels")),
        sa.UniqueConstraint(
            "platform", "external_id", name=op.f("uq_channels_platform_external_id")
        ),
    )
    op.create_table(
        "feed_state",
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("checked_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("url", name=op.f("pk_feed_state")),
    )
    op.create_table(
        "stories",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stories")),
    )
    op.create_index(op.f("ix_stories_updated_at"), "stories", ["updated_at"])

    op.create_table(
        "articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("original_url", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("full_text", sa.Boolean(), nullable=False),
        sa.Column("outlet_id", sa.Integer(), nullable=False),
        sa.Column("published_at", UTC_DATETIME, nullable=True),
        sa.Column("fetched_at", UTC_DATETIME, nullable=False),
        sa.Column("content_hash", sa.String(length=128), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("origins", sa.JSON(), nullable=False),
        sa.Column("copy_of_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["copy_of_id"],
            ["articles.id"],
            name=op.f("fk_articles_copy_of_id_articles"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["outlet_id"], ["outlets.id"], name=op.f("fk_articles_outlet_id_outlets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_articles")),
        sa.UniqueConstraint("url", name=op.f("uq_articles_url")),
    )
    op.create_index(op.f("ix_articles_content_hash"), "articles", ["content_hash"])
    op.create_index(op.f("ix_articles_copy_of_id"), "articles", ["copy_of_id"])
    op.create_index(op.f("ix_articles_fetched_at"), "articles", ["fetched_at"])
    op.create_index(op.f("ix_articles_outlet_id"), "articles", ["outlet_id"])
    op.create_index(op.f("ix_articles_published_at"), "articles", ["published_at"])

    op.create_table(
        "story_articles",
        sa.Column("story_id", sa.String(length=32), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("added_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_story_articles_article_id_articles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["stories.id"],
            name=op.f("fk_story_articles_story_id_stories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("story_id", "article_id", name=op.f("pk_story_articles")),
        sa.UniqueConstraint("article_id", name=op.f("uq_story_articles_article_id")),
    )

    op.create_table(
        "briefings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("story_id", sa.String(length=32), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=True),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("generated_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("coverage_articles", sa.Integer(), nullable=False),
        sa.Column("coverage_outlets", sa.Integer(), nullable=False),
        sa.Column("coverage_independent_reports", sa.Integer(), nullable=False),
        sa.Column("content_key", sa.String(length=64), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_briefings_channel_id_channels"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["stories.id"],
            name=op.f("fk_briefings_story_id_stories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_briefings")),
    )
    op.create_index(op.f("ix_briefings_channel_id"), "briefings", ["channel_id"])
    op.create_index(op.f("ix_briefings_content_key"), "briefings", ["content_key"])
    op.create_index(op.f("ix_briefings_generated_at"), "briefings", ["generated_at"])
    op.create_index(op.f("ix_briefings_story_id"), "briefings", ["story_id"])

    op.create_table(
        "briefing_sources",
        sa.Column("briefing_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=True),
        sa.Column("outlet", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("published_at", UTC_DATETIME, nullable=True),
        sa.Column("full_text", sa.Boolean(), nullable=False),
        sa.Column("origins", sa.JSON(), nullable=False),
        sa.Column("copy_of", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_briefing_sources_article_id_articles"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["briefing_id"],
            ["briefings.id"],
            name=op.f("fk_briefing_sources_briefing_id_briefings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("briefing_id", "number", name=op.f("pk_briefing_sources")),
    )
    op.create_index(op.f("ix_briefing_sources_article_id"), "briefing_sources", ["article_id"])

    op.create_table(
        "key_points",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("briefing_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["briefing_id"],
            ["briefings.id"],
            name=op.f("fk_key_points_briefing_id_briefings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_points")),
        sa.UniqueConstraint(
            "briefing_id", "kind", "position", name=op.f("uq_key_points_briefing_id_kind_position")
        ),
    )
    op.create_index(op.f("ix_key_points_briefing_id"), "key_points", ["briefing_id"])

    op.create_table(
        "citations",
        sa.Column("key_point_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_point_id"],
            ["key_points.id"],
            name=op.f("fk_citations_key_point_id_key_points"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key_point_id", "source", name=op.f("pk_citations")),
    )


def downgrade() -> None:
    op.drop_table("citations")
    op.drop_index(op.f("ix_key_points_briefing_id"), table_name="key_points")
    op.drop_table("key_points")
    op.drop_index(op.f("ix_briefing_sources_article_id"), table_name="briefing_sources")
    op.drop_table("briefing_sources")
    for column in ("story_id", "generated_at", "content_key", "channel_id"):
        op.drop_index(op.f(f"ix_briefings_{column}"), table_name="briefings")
    op.drop_table("briefings")
    op.drop_table("story_articles")
    for column in ("published_at", "outlet_id", "fetched_at", "copy_of_id", "content_hash"):
        op.drop_index(op.f(f"ix_articles_{column}"), table_name="articles")
    op.drop_table("articles")
    op.drop_index(op.f("ix_stories_updated_at"), table_name="stories")
    op.drop_table("stories")
    op.drop_table("feed_state")
    op.drop_table("channels")
    op.drop_table("outlets")
