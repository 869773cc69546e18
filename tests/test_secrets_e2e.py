"""No credential reaches stdout, stderr, the log, the JSON or the database, whatever fails.

Sentinel secrets are set where an operator puts real ones (the OpenAI key, a password in
``OPENAI_BASE_URL``, Slack and Discord tokens, a feed URL's userinfo, a password in
``DATABASE_URL``); then every error path the CLI can meet runs against real local servers:
a model that times out, is refused a connection, answers 401 echoing the request's
``Authorization`` header, fails with 500 echoing it too, or writes invalid output; a feed
behind userinfo that 404s; a PostgreSQL URL with a password and no server. Everything a
person, a log or the store could see is searched for the sentinel.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.adapters.cli import app
from tests.fakes.http import FakeHTTPServer
from tests.fakes.openai_server import Completion, Failure, FakeOpenAI, server_error

pytestmark = pytest.mark.usefixtures("quiet_llm")

SENTINEL = "SENTINEL"
OPENAI_KEY = "sk-proj-SENTINELkey0123456789abcdef"
PASSWORD = "SENTINELPASS"
SLACK_TOKEN = "xoxb-1234567890-0987654321-SENTINELslack"
DISCORD_TOKEN = "MTA5ODc2NTQzMjEwOTg3NjU0Mw.GSENTL.SENTINELdiscord0123456789abcdefgh"
EVER = "36500d"


def with_userinfo(url: str) -> str:
    """``http://127.0.0.1:port/...`` with a user and the sentinel password in it."""
    return url.replace("http://", f"http://briefbot:{PASSWORD}@", 1)


def echoing(status: int) -> Failure:
    """An error whose body echoes the request's credentials, as some proxies do."""
    return Failure(
        status,
        f"Incorrect API key provided: {OPENAI_KEY}. Request headers: "
        f"{{'Authorization': 'Bearer {OPENAI_KEY}', 'Host': 'briefbot:{PASSWORD}@model'}}",
        type="server_error" if status >= 500 else "invalid_request_error",
    )


def squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


def text_columns(database: Path) -> list[str]:
    """Every text (and blob) value in every table of the SQLite file."""
    values: list[str] = []
    with sqlite3.connect(database) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 (our own names)
                values.extend(str(v) for v in row if isinstance(v, str | bytes))
    return values


def test_no_sentinel_secret_reaches_any_output(
    news_site: FakeHTTPServer,
    openai_server: FakeOpenAI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    database = tmp_path / "briefbot.sqlite3"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("BRIEFBOT_LOG_LEVEL", "DEBUG")  # every log line the run can write
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("SLACK_BOT_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("DISCORD_BOT_TOKEN", DISCORD_TOKEN)
    live_model = with_userinfo(openai_server.base_url)
    dead = FakeOpenAI().start()
    dead_model = with_userinfo(dead.base_url)
    dead.stop()
    feeds = ["--source", news_site.url("/feed.xml")]
    feeds += ["--source", with_userinfo(news_site.url("/private/gone.xml"))]

    seen: list[str] = []
    notes: list[str] = []

    def run(*args: str, base_url: str = live_model) -> int:
        monkeypatch.setenv("OPENAI_BASE_URL", base_url)
        result = CliRunner().invoke(app, list(args), catch_exceptions=False)
        seen.extend([result.stdout, result.stderr])
        if "json" in args and result.exit_code == 0:
            data: dict[str, Any] = json.loads(result.stdout)
            notes.extend(n for story in data["stories"] for n in story["notes"])
            seen.append(json.dumps(data))
        return result.exit_code

    failures: list[Any] = [
        Completion("{}", delay=2.5),  # read timeout (BRIEFBOT_LLM_TIMEOUT=1)
        echoing(401),
        echoing(500),
        server_error(500),
        f"not json, but {SLACK_TOKEN} and {OPENAI_KEY}",
    ]
    for failure in failures:
        openai_server.clear()
        openai_server.script(*[failure] * 12)
        assert run("brief", "Brannock", *feeds, "--since", EVER, "-f", "json", "--llm") == 0
    assert run("brief", "Brannock", *feeds, "--since", EVER, "-f", "json", base_url=dead_model) == 0
    assert run("brief", "Brannock", *feeds, "--since", EVER, "-f", "text", base_url=dead_model) == 0
    assert run("ingest", *feeds) == 0
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://briefbot:{PASSWORD}@127.0.0.1:1/b")
    assert run("stories") in (1, 2)

    # Every path ran: each model failure became a note, the dead feed an error entry.
    causes = ("did not answer", "HTTP 401", "HTTP 500", "not a valid briefing", "reached")
    for cause in causes:
        assert any(cause in note for note in notes), (cause, notes)
    # The terminal wraps long log lines: search the text with all white space taken out.
    everything = squeezed("\n".join(seen))
    assert (
        squeezed("http://briefbot:***@127.0.0.1") in everything
    )  # the feed, named without userinfo
    assert squeezed("/private/gone.xml: HTTP 404") in everything
    assert squeezed("Could not talk to the model server") in everything  # the detail, logged
    assert "127.0.0.1" not in "\n".join(notes)  # readers see causes, not addresses

    stored = text_columns(database)
    assert any("Written without the model" in value for value in stored)
    for where, text in [("output", everything), ("database", squeezed("\n".join(stored)))]:
        assert SENTINEL not in text, f"a secret reached the {where}"
