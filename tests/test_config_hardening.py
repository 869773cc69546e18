"""Settings and topics files that would break a bot running for weeks: numbers that overflow,
files that cannot be read or written, typos that are silently ignored, and ``.env.example``
as documented. Every case is a real environment, a real ``.env`` or a real file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest
from typer.testing import CliRunner

from bot.adapters.cli import app
from bot.config import MAX_DURATION, Settings, load_settings
from bot.errors import ConfigError

ENV_EXAMPLE = Path(__file__).resolve().parent.parent / ".env.example"
GENERIC_FIX = "see .env.example for the accepted values"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def numeric_keys() -> list[str]:
    """The environment key of every int or float setting, optional ones included."""
    keys = []
    for name, field in Settings.model_fields.items():
        kinds = get_args(field.annotation) or (field.annotation,)
        if any(kind in (int, float) for kind in kinds):
            keys.append(field.alias or name.upper())
    return keys


def upper_bound(key: str) -> float:
    field = next(f for f in Settings.model_fields.values() if f.alias == key)
    bounds = [getattr(m, "le", None) or getattr(m, "lt", None) for m in field.metadata]
    found = [b for b in bounds if b is not None]
    assert found, f"{key} has no upper bound"
    return float(found[0])


# ---------------------------------------------------------------- 6. settings that overflow


def test_the_numeric_settings_are_all_found() -> None:
    keys = numeric_keys()
    assert {
        "BRIEFBOT_STORY_WINDOW_DAYS",
        "BRIEFBOT_HTTP_TIMEOUT",
        "BRIEFBOT_MAX_BODY_BYTES",
    } <= set(keys)
    assert {"BRIEFBOT_DAILY_TOKEN_BUDGET", "BRIEFBOT_PRICE_PROMPT_PER_MTOK"} <= set(keys)
    assert "BRIEFBOT_FETCH_FULL_TEXT" not in keys  # a bool is not a number here


def test_a_story_stays_open_at_most_as_long_as_the_longest_duration() -> None:
    assert upper_bound("BRIEFBOT_STORY_WINDOW_DAYS") == MAX_DURATION.days


@pytest.mark.parametrize("value", ["1e308", str(10**30), "-1", "nan", "inf", "-inf"])
@pytest.mark.parametrize("key", numeric_keys())
def test_every_numeric_setting_refuses_an_absurd_value_naming_the_key_and_the_fix(
    key: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    message = str(err.value)
    assert key in message
    assert GENERIC_FIX not in message  # the key has its own fix, bound included


@pytest.mark.parametrize("key", numeric_keys())
def test_every_numeric_settings_bound_is_documented_in_env_example(key: str) -> None:
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(f"# {key}="))
    above = index - 1
    while re.match(r"# [A-Z_]+=", lines[above]):  # keys documented together
        above -= 1
    comment = []
    while lines[above].startswith("# ") and not re.match(r"# ([A-Z_]+=|---)", lines[above]):
        comment.append(lines[above])
        above -= 1
    bound = upper_bound(key)
    assert f"{bound:.0f}" in " ".join(comment), (key, comment)


def test_the_largest_values_allowed_do_not_overflow_the_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key in numeric_keys():
        bound = upper_bound(key)
        monkeypatch.setenv(key, f"{bound:.0f}")
    monkeypatch.setenv("BRIEFBOT_SINCE", "36500d")
    monkeypatch.setenv("BRIEFBOT_GATHER_MAX_AGE", "36500d")
    code, out, err = run("stories", "--format", "json")
    assert code == 0, err
    assert '"stories": []' in out


@pytest.mark.parametrize("key", ["BRIEFBOT_SINCE", "BRIEFBOT_GATHER_MAX_AGE"])
@pytest.mark.parametrize("value", ["1" * 400 + "d", "36501d", "99999999999w", "1e308d", "-1d"])
def test_durations_refuse_absurd_values_naming_the_key(
    key: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=key):
        load_settings()


def test_an_overflowing_story_window_is_a_configuration_error_at_the_command_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BRIEFBOT_STORY_WINDOW_DAYS", "1e308")
    code, _, err = run("stories")
    assert code == 2
    assert "BRIEFBOT_STORY_WINDOW_DAYS" in err
    assert "at most 36500" in " ".join(err.split())  # the terminal wraps long lines
