"""``briefbot doctor`` through the real CLI, against real local servers: it says what is
wrong and how to fix it, exits 1 when a check fails (0 otherwise), never migrates and never
prints a credential."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.adapters.cli import app
from bot.domain import Channel, DeliveryKind, DeliveryState, Platform, Subscription
from bot.store import Store
from tests.fakes.discord import FakeDiscord
from tests.fakes.http import FakeHTTPServer, Reply
from tests.fakes.news import Item, rss, serve_feed
from tests.fakes.openai_server import Failure, FakeOpenAI
from tests.fakes.slack import FakeSlack

OPENAI_KEY = "sk-proj-doctorsecretkey0123456789abcdef"


def doctor(*args: str) -> tuple[int, str]:
    """Exit code and all output (stdout, then stderr's log lines)."""
    result = CliRunner().invoke(app, ["doctor", *args], catch_exceptions=False)
    return result.exit_code, result.stdout + "\n" + result.stderr


def checks(output: str) -> dict[str, dict[str, Any]]:
    """The checks of ``--format json`` by name (the JSON is all of stdout)."""
    stdout, _, _ = output.partition("\n\n")
    return {check["name"]: check for check in json.loads(stdout)}


def topics_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **topics: list[str]) -> None:
    path = tmp_path / "topics.toml"
    lines = []
    for name, sources in topics.items():
        lines.append(f"[topics.{name}]\nsources = {json.dumps(sources)}\n")
    path.write_text("\n".join(lines), encoding="utf-8")
    monkeypatch.setenv("BRIEFBOT_TOPICS_FILE", str(path))


def good_feed(server: FakeHTTPServer) -> str:
    now = datetime.now(UTC)
    items = [
        Item(
            f"Halvern dockworkers strike, day {n}",
            f"https://harborledger.example/world/strike-{n}",
            description="<p>Dockworkers at the Port of Halvern extended their strike.</p>",
            published=now - timedelta(hours=n),
        )
        for n in (1, 2)
    ]
    return serve_feed(server, "/world.rss", rss(items))


def test_a_healthy_extractive_setup_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_server: FakeHTTPServer
) -> None:
    topics_file(tmp_path, monkeypatch, strike=[good_feed(http_server)])
    Store.open(f"sqlite:///{tmp_path / 'data' / 'briefbot.sqlite3'}").close()

    code, out = doctor()

    assert code == 0, out
    assert "✓ model: extractive mode: no model needed" in out
    assert "✓ database:" in out
    assert "✗" not in out


def test_a_revoked_slack_token_fails_naming_the_error_never_the_token(
    monkeypatch: pytest.MonkeyPatch, fake_slack: FakeSlack
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", fake_slack.bot_token)
    monkeypatch.setenv("SLACK_APP_TOKEN", fake_slack.app_token)
    monkeypatch.setenv("BRIEFBOT_SLACK_API_URL", fake_slack.api_url)
    fake_slack.fail_next("auth.test", "token_revoked")

    code, out = doctor()

    assert code == 1, out
    assert "✗ slack: auth.test failed: token_revoked" in out
    assert "SLACK_BOT_TOKEN" in out
    assert fake_slack.bot_token not in out
    assert fake_slack.app_token not in out
    assert fake_slack.calls_to("auth.test")


def test_a_working_slack_token_shows_the_team_and_bot_user(
    monkeypatch: pytest.MonkeyPatch, fake_slack: FakeSlack
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", fake_slack.bot_token)
    monkeypatch.setenv("SLACK_APP_TOKEN", fake_slack.app_token)
    monkeypatch.setenv("BRIEFBOT_SLACK_API_URL", fake_slack.api_url)

    code, out = doctor("--format", "json")

    slack = checks(out)["slack"]
    assert slack["status"] == "ok", slack
    assert fake_slack.team in slack["detail"]
    assert fake_slack.bot_name in slack["detail"]
    assert code == 0  # no database yet is a warning, not a failure


def test_a_refused_discord_token_fails_and_a_good_one_shows_the_bot(
    monkeypatch: pytest.MonkeyPatch, fake_discord: FakeDiscord
) -> None:
    monkeypatch.setenv("BRIEFBOT_DISCORD_API_URL", fake_discord.api_url)
    monkeypatch.setenv("DISCORD_BOT_TOKEN", "MTIz.wrong.token-that-is-not-the-bots")
    code, out = doctor("--format", "json")
    assert code == 1
    assert checks(out)["discord"]["status"] == "fail"
    assert "wrong.token" not in out

    monkeypatch.setenv("DISCORD_BOT_TOKEN", fake_discord.bot_token)
    code, out = doctor("--format", "json")
    assert checks(out)["discord"]["status"] == "ok", out
    assert fake_discord.bot_token not in out
    assert code == 0


def test_a_model_server_refusing_the_key_fails_naming_openai_api_key(
    monkeypatch: pytest.MonkeyPatch, openai_server: FakeOpenAI
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    openai_server.fail_models(
        Failure(
            401,
            f"Incorrect API key provided: {OPENAI_KEY}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )
    )

    code, out = doctor()

    assert code == 1, out
    assert "✗ model:" in out
    assert "401" in out
    assert "OPENAI_API_KEY" in out
    assert OPENAI_KEY not in out
    assert openai_server.bodies == []  # no tokens spent: only GET /v1/models


def test_a_model_server_that_answers_is_ok_and_one_that_is_down_names_its_url(
    monkeypatch: pytest.MonkeyPatch, openai_server: FakeOpenAI
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("BRIEFBOT_MODEL", openai_server.model)
    code, out = doctor("--format", "json")
    assert checks(out)["model"]["status"] == "ok", out
    assert code == 0

    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens on 9
    monkeypatch.setenv("BRIEFBOT_LLM_MAX_RETRIES", "0")
    code, out = doctor("--format", "json")
    model = checks(out)["model"]
    assert code == 1
    assert model["status"] == "fail"
    assert "http://127.0.0.1:9/v1" in model["detail"] + model["fix"]


def test_a_broken_feed_is_reported_with_its_url_and_the_good_one_is_ok(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_server: FakeHTTPServer
) -> None:
    good = good_feed(http_server)
    http_server.route("GET", "/gone.rss", Reply(404, "Not Found", {"Content-Type": "text/plain"}))
    broken = http_server.url("/gone.rss")
    missing = str(tmp_path / "no-such-feed.xml")
    topics_file(tmp_path, monkeypatch, strike=[good, broken, missing])

    code, out = doctor("--format", "json")

    found = checks(out)
    assert code == 1
    assert found[f"source strike: {good}"]["status"] == "ok"
    assert "2 articles" in found[f"source strike: {good}"]["detail"]
    assert found[f"source strike: {broken}"]["status"] == "fail"
    assert "404" in found[f"source strike: {broken}"]["detail"]
    assert found[f"source strike: {missing}"]["status"] == "fail"


def test_a_database_from_a_newer_briefbot_is_reported_and_left_alone(
    tmp_path: Path,
) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'data' / 'briefbot.sqlite3'}")
    with store.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999_future'")
    store.close()

    code, out = doctor()

    assert code == 1, out
    assert "✗ database:" in out
    assert "9999_future" in out
    assert "newer briefbot" in out


def test_an_old_database_needs_migrating_but_is_not_migrated(tmp_path: Path) -> None:
    from bot.store.engine import create_store_engine
    from bot.store.migrate import current_revision, upgrade

    engine = create_store_engine(f"sqlite:///{tmp_path / 'data' / 'briefbot.sqlite3'}")
    upgrade(engine, "0003")

    code, out = doctor("--format", "json")

    database = checks(out)["database"]
    assert database["status"] == "warn"
    assert "needs migrating" in database["detail"]
    assert current_revision(engine) == "0003"
    engine.dispose()
    assert code == 0


def test_a_configuration_error_is_a_failed_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIEFBOT_MODE", "nonsense")

    code, out = doctor("--format", "json")

    [settings] = checks(out).values()
    assert settings["name"] == "settings"
    assert settings["status"] == "fail"
    assert code == 1


def test_an_unknown_format_is_a_usage_error() -> None:
    code, _ = doctor("--format", "yaml")
    assert code == 2


def test_failed_and_unfinished_deliveries_are_reported_with_their_error_and_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics_file(tmp_path, monkeypatch)
    with Store.open(f"sqlite:///{tmp_path / 'data' / 'briefbot.sqlite3'}") as store:
        sub = store.subscriptions.upsert(
            Subscription(
                Channel(Platform.SLACK, "C1", "desk"),
                "strike",
                "daily 08:00",
                "UTC",
                "U1",
                datetime.now(UTC) - timedelta(days=2),
            )
        )
        assert sub.id is not None
        slot = datetime.now(UTC) - timedelta(hours=1)
        failed = store.deliveries.claim(sub.id, DeliveryKind.DIGEST, "digest:1:a", slot, "p1")
        assert failed is not None
        assert failed.id is not None
        store.deliveries.finish(
            failed.id, "p1", DeliveryState.FAILED, "I'm not in #desk: /invite @briefbot there."
        )

    code, out = doctor("--format", "json")

    assert code == 0, out  # a warning: the next slot goes out as usual
    deliveries = checks(out)["deliveries"]
    assert deliveries["status"] == "warn"
    assert "/invite @briefbot" in deliveries["detail"]

    with Store.open(f"sqlite:///{tmp_path / 'data' / 'briefbot.sqlite3'}") as store:
        old = datetime.now(UTC) - timedelta(hours=5)
        store.db.clock = lambda: old  # claimed five hours ago by a process that died
        store.deliveries.claim(sub.id, DeliveryKind.DIGEST, "digest:1:b", old, "dead")

    _, out = doctor("--format", "json")
    stuck = checks(out)["deliveries"]
    assert stuck["status"] == "warn"
    assert "left unfinished" in stuck["detail"]
    assert "BRIEFBOT_SCHEDULER" in stuck["fix"]


def test_deliveries_without_trouble_are_ok(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    topics_file(tmp_path, monkeypatch)
    Store.open(f"sqlite:///{tmp_path / 'data' / 'briefbot.sqlite3'}").close()
    _, out = doctor("--format", "json")
    assert checks(out)["deliveries"]["status"] == "ok"
