"""``briefbot sources``: each tracked source's health through the real command line, after
a poll of real feed servers into the store the command reads."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.adapters.cli import app
from bot.app import build_service
from bot.config import load_settings, save_topics
from bot.domain import Topic
from bot.scheduler.polling import Poller
from tests.fakes.chat import NOW
from tests.fakes.http import FakeHTTPServer, Reply
from tests.fakes.news import STRIKE_PARAGRAPHS, Item, html_paragraphs, rss, serve_feed

SECRET = "s3cr3t-token"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def topics_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "topics.toml"
    monkeypatch.setenv("BRIEFBOT_TOPICS_FILE", str(path))
    monkeypatch.setenv("BRIEFBOT_DISCOVERY", "none")
    monkeypatch.setenv("BRIEFBOT_FETCH_FULL_TEXT", "false")
    return path


def track(path: Path, topics: dict[str, list[str]]) -> None:
    save_topics(path, {name: Topic(name, sources=specs) for name, specs in topics.items()})


def poll_once() -> None:
    """One poll round at ``NOW`` into the database the command line uses."""

    async def go() -> None:
        settings = load_settings()
        async with build_service(settings, clock=lambda: NOW, force_llm=False) as service:
            await Poller(service, settings).poll_due()

    asyncio.run(go())


@pytest.fixture
def feeds(http_server: FakeHTTPServer) -> dict[str, str]:
    """A good feed behind a token, a broken one, and one added after the poll."""
    story = Item(
        "Calder strike", "https://l.example/strike", content=html_paragraphs(STRIKE_PARAGRAPHS)
    )
    good = serve_feed(http_server, "/world.rss", rss([story]))
    http_server.route("GET", "/broken.rss", Reply(503, "down", {"Content-Type": "text/plain"}))
    return {
        "good": f"{good}?token={SECRET}",
        "broken": http_server.url("/broken.rss"),
        "later": http_server.url("/later.rss"),
    }


def polled(topics_file: Path, feeds: dict[str, str]) -> None:
    track(topics_file, {"harbour": [feeds["good"], feeds["broken"]], "ports": [feeds["broken"]]})
    poll_once()
    track(
        topics_file,
        {"harbour": [feeds["good"], feeds["broken"]], "ports": [feeds["broken"], feeds["later"]]},
    )


def by_source(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["source"]: row for row in rows}


def test_sources_text_shows_each_sources_health_with_its_topics(
    topics_file: Path, feeds: dict[str, str]
) -> None:
    polled(topics_file, feeds)
    code, out, _ = run("sources")
    assert code == 0
    assert SECRET not in out
    good = feeds["good"].replace(SECRET, "***")
    blocks = {block.splitlines()[0]: block.splitlines()[1:] for block in _blocks(out)}
    assert blocks[f"✓ {good}  (harbour)"] == [
        "    last success: 2024-06-03T06:00:00Z (1 article)",
        "    last error: none",
        "    consecutive failures: 0",
        "    next poll: 2024-06-03T06:15:00Z",
    ]
    broken = blocks[f"✗ {feeds['broken']}  (harbour, ports)"]
    assert broken[0] == "    last success: never"
    assert broken[1] == (
        f"    last error: 2024-06-03T06:00:00Z: HTTP 503 Service Unavailable from {feeds['broken']}"
    )
    assert broken[2] == "    consecutive failures: 1"
    assert broken[3].startswith("    next poll: 2024-06-03T06:")
    assert blocks[f"· {feeds['later']}  (ports)"] == [
        "    never polled yet: polled at the next round of briefbot run"
    ]


def _blocks(out: str) -> list[str]:
    """The output split into one block per source (a line that is not indented starts one)."""
    blocks: list[str] = []
    for line in out.splitlines():
        if line.startswith(" ") and blocks:
            blocks[-1] += "\n" + line
        else:
            blocks.append(line)
    return blocks


def test_sources_json_is_one_object_per_source_with_iso_times(
    topics_file: Path, feeds: dict[str, str]
) -> None:
    polled(topics_file, feeds)
    code, out, _ = run("sources", "--format", "json")
    assert code == 0
    assert SECRET not in out
    rows = by_source(json.loads(out))
    good = rows[feeds["good"].replace(SECRET, "***")]
    assert good == {
        "source": feeds["good"].replace(SECRET, "***"),
        "topics": ["harbour"],
        "status": "ok",
        "last_polled_at": "2024-06-03T06:00:00Z",
        "last_success_at": "2024-06-03T06:00:00Z",
        "last_articles": 1,
        "last_error_at": None,
        "last_error": None,
        "consecutive_failures": 0,
        "next_poll_at": "2024-06-03T06:15:00Z",
    }
    broken = rows[feeds["broken"]]
    assert broken["topics"] == ["harbour", "ports"]
    assert broken["status"] == "failing"
    assert broken["last_success_at"] is None
    assert broken["last_error_at"] == "2024-06-03T06:00:00Z"
    assert broken["last_error"] == f"HTTP 503 Service Unavailable from {feeds['broken']}"
    assert broken["consecutive_failures"] == 1
    assert broken["next_poll_at"] > "2024-06-03T06:00:00Z"
    later = rows[feeds["later"]]
    assert later["status"] == "never polled"
    assert [later[k] for k in ("last_polled_at", "next_poll_at", "last_error")] == [None] * 3


def test_sources_with_no_topic_say_how_to_add_one(topics_file: Path) -> None:
    track(topics_file, {})
    assert run("sources") == (
        0,
        "no sources: add one with briefbot topics add NAME --source URL\n",
        "",
    )
    code, out, _ = run("sources", "-f", "json")
    assert (code, json.loads(out)) == (0, [])


def test_sources_refuses_an_unknown_format(topics_file: Path) -> None:
    code, _, err = run("sources", "--format", "markdown")
    assert code == 2
    assert "--format must be one of text, json" in err
