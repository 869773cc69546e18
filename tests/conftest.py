"""Shared fixtures: a clean environment per test and a local HTTP server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.discord import fake_discord  # noqa: F401  (fixture)
from tests.fakes.http import FakeHTTPServer
from tests.fakes.openai_server import openai_server  # noqa: F401  (fixture)
from tests.fakes.slack import fake_slack  # noqa: F401  (fixture)

FIXTURES = Path(__file__).parent / "fixtures"

# ``quiet_llm``, ``news_site`` and ``model``: for the tests that brief the news site with a model.
pytest_plugins = ["tests.fakes.llm_briefer", "tests.fakes.chat"]


@pytest.fixture(autouse=True)
def clean_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no briefbot/OpenAI/Slack/Discord settings (but a host delay of
    0) and its own data dir."""
    for key in list(os.environ):
        if key.startswith(("BRIEFBOT_", "OPENAI_", "SLACK_", "DISCORD_")) or key == "DATABASE_URL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("BRIEFBOT_DATA_DIR", str(tmp_path / "data"))
    # Every fake server is on 127.0.0.1: no per-host politeness unless a test asks for it.
    monkeypatch.setenv("BRIEFBOT_HOST_DELAY", "0")
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout


@pytest.fixture
def http_server() -> Iterator[FakeHTTPServer]:
    with FakeHTTPServer() as server:
        yield server


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
