from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import (
    MAX_DURATION,
    Topic,
    load_settings,
    load_topics,
    parse_duration,
    save_topics,
)
from bot.errors import ConfigError


def test_defaults_use_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.data_dir == tmp_path / "data"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'data' / 'briefbot.sqlite3'}"


def test_bad_value_names_the_key_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIEFBOT_HTTP_TIMEOUT", "soon")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "BRIEFBOT_HTTP_TIMEOUT" in str(err.value)
    assert "number of seconds" in str(err.value)


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("BRIEFBOT_MAX_STORIES=9\nBRIEFBOT_DISCOVERY=gdelt\n")
    settings = load_settings()
    assert settings.max_stories == 9
    assert settings.discovery == ["gdelt"]


def test_unknown_discovery_backend_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIEFBOT_DISCOVERY", "gdelt,bing")
    with pytest.raises(ConfigError, match="BRIEFBOT_DISCOVERY"):
        load_settings()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90m", timedelta(minutes=90)), ("48h", timedelta(hours=48)), ("7d", timedelta(days=7))],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_parse_duration_accepts_up_to_the_longest_duration() -> None:
    assert parse_duration("36500d") == MAX_DURATION == timedelta(days=36500)
    assert parse_duration("5214w") < MAX_DURATION


@pytest.mark.parametrize("text", ["36501d", "36500.5d", "5215w", "876001h", "1" * 400 + "d"])
def test_parse_duration_rejects_what_is_longer_than_the_longest(text: str) -> None:
    with pytest.raises(ValueError, match="longest allowed is 36500d"):
        parse_duration(text)


def test_bad_since_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIEFBOT_SINCE", "two days")
    with pytest.raises(ConfigError, match="BRIEFBOT_SINCE"):
        load_settings()


def test_topics_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "topics.toml"
    save_topics(path, {"ukraine": Topic("ukraine", "ukraine OR kyiv", ["a.rss"], True)})
    topics = load_topics(path)
    assert topics["ukraine"].query == "ukraine OR kyiv"
    assert topics["ukraine"].sources == ["a.rss"]
    assert topics["ukraine"].discovery is True


def test_topics_file_with_unknown_key_names_it(tmp_path: Path) -> None:
    path = tmp_path / "topics.toml"
    path.write_text('[topics.ukraine]\nquerry = "kyiv"\n')
    with pytest.raises(ConfigError, match="querry"):
        load_topics(path)


def test_missing_topics_file_means_no_topics(tmp_path: Path) -> None:
    assert load_topics(tmp_path / "nope.toml") == {}


def test_prices_are_unset_by_default_so_the_price_table_applies() -> None:
    settings = load_settings()
    assert settings.price_prompt_per_mtok is None
    assert settings.price_completion_per_mtok is None


def test_existing_price_settings_still_set_the_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIEFBOT_PRICE_PROMPT_PER_MTOK", "0.40")
    monkeypatch.setenv("BRIEFBOT_PRICE_COMPLETION_PER_MTOK", "0")
    settings = load_settings()
    assert (settings.price_prompt_per_mtok, settings.price_completion_per_mtok) == (0.40, 0.0)


def test_a_negative_price_names_the_key_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIEFBOT_PRICE_COMPLETION_PER_MTOK", "-1")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "BRIEFBOT_PRICE_COMPLETION_PER_MTOK" in str(err.value)
    assert "US dollars per million completion tokens" in str(err.value)
