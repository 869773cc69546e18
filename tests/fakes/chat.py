"""A chat service for the chat core's tests: the demo topics in a temporary topics file, a
real ``BriefingService`` on temporary SQLite, with a fixed clock."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import build_service
from bot.config import load_settings
from bot.demo import DEMO_DIR
from bot.service import BriefingService

NOW = datetime(2024, 6, 3, 6, 0, tzinfo=UTC)  # a Monday, 07:00 in London


@pytest.fixture
def topics_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo's topics file, copied where the test may change it."""
    path = tmp_path / "topics.toml"
    shutil.copy(DEMO_DIR / "topics.toml", path)
    monkeypatch.setenv("BRIEFBOT_TOPICS_FILE", str(path))
    return path


@contextlib.asynccontextmanager
async def chat_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, *, now: datetime = NOW
) -> AsyncIterator[BriefingService]:
    """A service over ``tmp_path/name.sqlite3`` that never reaches for discovery or pages."""
    monkeypatch.setenv("BRIEFBOT_DISCOVERY", "none")
    monkeypatch.setenv("BRIEFBOT_FETCH_FULL_TEXT", "false")
    built = build_service(
        load_settings(),
        database_url=f"sqlite:///{tmp_path / f'{name}.sqlite3'}",
        clock=lambda: now,
        force_llm=False,
    )
    async with built:
        yield built
