"""Settings and topics files that would break a bot running for weeks: numbers that overflow,
files that cannot be read or written, typos that are silently ignored, and ``.env.example``
as documented. Every case is a real environment, a real ``.env`` or a real file."""

from __future__ import annotations

import logging
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import pytest
from typer.testing import CliRunner

from bot.adapters.cli import app
from bot.config import (
    MAX_DURATION,
    Settings,
    Topic,
    load_settings,
    load_topics,
    save_topics,
    setting_keys,
)
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


# ---------------------------------------------------------------- 8. filesystem errors


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory nothing can be written to: chmod 555 for a normal user; for root (whom
    permissions do not stop), a read-only bind mount of it onto itself."""
    directory = tmp_path / "read-only"
    directory.mkdir()
    yield from _made_read_only(directory)


def _made_read_only(directory: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        directory.chmod(0o555)
        try:
            yield directory
        finally:
            directory.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "--bind", str(directory), str(directory)], check=False)
    if mounted.returncode != 0:
        pytest.skip("running as root, where chmod does not stop writes, and cannot bind-mount")
    try:
        remounted = subprocess.run(["mount", "-o", "remount,ro,bind", str(directory)], check=False)
        if remounted.returncode != 0:
            pytest.skip("running as root, where chmod does not stop writes; no ro remount")
        yield directory
    finally:
        subprocess.run(["umount", str(directory)], check=True)


def test_a_topics_file_that_is_a_directory_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "topics.toml"
    path.mkdir()
    with pytest.raises(ConfigError) as err:
        load_topics(path)
    assert str(path) in str(err.value)
    assert "is a directory" in str(err.value)
    assert "BRIEFBOT_TOPICS_FILE" in str(err.value)
    with pytest.raises(ConfigError, match="BRIEFBOT_TOPICS_FILE"):
        save_topics(path, {"ukraine": Topic("ukraine")})


def test_a_topics_file_that_is_a_directory_exits_with_2_at_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "topics-dir").mkdir()
    monkeypatch.setenv("BRIEFBOT_TOPICS_FILE", str(tmp_path / "topics-dir"))
    for command in (["topics", "list"], ["topics", "add", "ukraine", "--source", "a.rss"]):
        code, _, err = run(*command)
        assert code == 2, err
        assert "topics-dir" in err
        assert "Traceback" not in err


def test_a_topics_file_behind_a_symlink_loop_cannot_be_read(tmp_path: Path) -> None:
    # A real unreadable file even for root: a missing file must not be assumed.
    path = tmp_path / "topics.toml"
    path.symlink_to(path)
    with pytest.raises(ConfigError) as err:
        load_topics(path)
    assert f"Cannot read the topics file {path}" in str(err.value)


def test_a_topics_file_under_a_regular_file_is_an_error_not_an_empty_list(
    tmp_path: Path,
) -> None:
    (tmp_path / "data").write_text("not a directory")
    path = tmp_path / "data" / "topics.toml"
    with pytest.raises(ConfigError, match="Cannot read the topics file"):
        load_topics(path)
    with pytest.raises(ConfigError, match="Cannot write the topics file"):
        save_topics(path, {"ukraine": Topic("ukraine")})


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_an_unreadable_topics_file_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "topics.toml"
    path.write_text('[topics.ukraine]\nquery = "kyiv"\n')
    path.chmod(0)
    try:
        with pytest.raises(ConfigError, match=f"Cannot read the topics file {path}"):
            load_topics(path)
    finally:
        path.chmod(0o644)


def test_a_topics_file_in_broken_encoding_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "topics.toml"
    path.write_bytes(b'[topics.ukraine]\nquery = "Kyiv \xff\xfe"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_topics(path)


def test_saving_topics_in_a_read_only_directory_names_the_path_and_the_fix(
    read_only_dir: Path,
) -> None:
    path = read_only_dir / "topics.toml"
    with pytest.raises(ConfigError) as err:
        save_topics(path, {"ukraine": Topic("ukraine")})
    assert str(path) in str(err.value)
    assert "writable directory" in str(err.value)
    assert list(read_only_dir.iterdir()) == []


def test_a_settings_file_that_is_not_utf8_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"BRIEFBOT_USER_AGENT=caf\xe9\n")
    with pytest.raises(ConfigError, match=r"Cannot read the settings file .*\.env"):
        load_settings()


def test_a_settings_file_that_is_a_directory_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / ".env").mkdir()
    with pytest.raises(ConfigError, match=r"settings file .*\.env"):
        load_settings()


@pytest.fixture
def read_only_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A data directory with a database and a topics file in it, then made read-only."""
    data = tmp_path / "data"
    monkeypatch.setenv("BRIEFBOT_DISCOVERY", "none")
    feed = Path(__file__).resolve().parent.parent / "bot" / "demo" / "data" / "meridian-wire.jsonl"
    assert run("topics", "add", "harbour", "--source", str(feed))[0] == 0
    code, _, err = run("ingest")
    assert code == 0, err
    assert (data / "briefbot.sqlite3").is_file()
    yield from _made_read_only(data)


def test_reading_commands_work_on_a_read_only_data_directory(read_only_data_dir: Path) -> None:
    before = sorted(read_only_data_dir.iterdir())
    code, out, err = run("stories", "--format", "json", "--since", "36500d")
    assert code == 0, err
    assert '"url": "https://meridianwire.example/' in out
    code, out, err = run("topics", "list")
    assert (code, out.split(":")[0]) == (0, "harbour"), err
    code, _, err = run("usage")
    assert code == 0, err
    assert sorted(read_only_data_dir.iterdir()) == before


def test_writing_commands_on_a_read_only_data_directory_name_it_and_the_fix(
    read_only_data_dir: Path,
) -> None:
    for command in (["ingest"], ["topics", "add", "ports", "--source", "a.rss"]):
        code, _, err = run(*command)
        message = " ".join(err.split())
        assert code == 2, err
        assert str(read_only_data_dir) in message
        assert "writable" in message
        assert "Traceback" not in err


# ---------------------------------------------------------------- 10. silent typos


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_an_unknown_setting_in_the_environment_is_a_warning_with_the_closest_key(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("BRIEFBOT_MAX_STORYS", "9")
    settings = load_settings()
    assert settings.max_stories == 5  # ignored, as before, but no longer silently
    (message,) = warnings_of(caplog)
    assert "BRIEFBOT_MAX_STORYS" in message
    assert "the environment" in message
    assert "did you mean BRIEFBOT_MAX_STORIES?" in message


def test_an_unknown_setting_in_the_dotenv_file_is_a_warning_with_the_closest_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / ".env").write_text("BRIEFBOT_MAX_STORIES=9\nBRIEFBOT_HTTP_TIMOUT=3\n")
    assert load_settings().max_stories == 9
    (message,) = warnings_of(caplog)
    assert "BRIEFBOT_HTTP_TIMOUT" in message
    assert ".env" in message


def test_known_settings_and_other_variables_give_no_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("BRIEFBOT_MAX_STORIES", "9")
    monkeypatch.setenv("briefbot_max_points", "3")  # keys are case-insensitive
    monkeypatch.setenv("BRIEFBOT_BENCH_DATA", "/tmp/data")  # read by bench/, not a setting
    monkeypatch.setenv("OPENAI_ORG_ID", "org-1")  # the SDK's, not ours
    settings = load_settings()
    assert (settings.max_stories, settings.max_points) == (9, 3)
    assert warnings_of(caplog) == []


def test_an_unknown_table_in_the_topics_file_is_a_warning_with_the_closest_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "topics.toml"
    path.write_text('[topics.ukraine]\nquery = "kyiv"\n\n[topic.gaza]\nquery = "gaza"\n')
    assert list(load_topics(path)) == ["ukraine"]
    (message,) = warnings_of(caplog)
    assert "[topic]" in message
    assert "did you mean [topics.NAME]?" in message


def test_two_topics_differing_only_in_case_are_refused_naming_both(tmp_path: Path) -> None:
    path = tmp_path / "topics.toml"
    path.write_text(
        '[topics.Ukraine]\nquery = "kyiv"\n\n[topics."ukraine "]\nsources = ["a.rss"]\n'
    )
    with pytest.raises(ConfigError) as err:
        load_topics(path)
    assert "[topics.Ukraine]" in str(err.value)
    assert "[topics.ukraine ]" in str(err.value)
    assert "Merge them" in str(err.value)


def test_an_unknown_key_of_a_topic_names_the_closest_key(tmp_path: Path) -> None:
    path = tmp_path / "topics.toml"
    path.write_text('[topics.ukraine]\nsource = ["a.rss"]\n')
    with pytest.raises(ConfigError, match=r"source \(did you mean sources\?\)"):
        load_topics(path)


# ---------------------------------------------------------------- 11. .env.example as documented


def uncommented(example: Path) -> dict[str, str]:
    """Every ``# KEY=value`` line of ``example``, uncommented exactly as written."""
    found = {}
    for line in example.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"# ([A-Z][A-Z0-9_]*)=(.*)", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def test_env_example_uncommented_as_written_is_a_working_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    lines = uncommented(ENV_EXAMPLE)
    assert set(lines) == set(setting_keys())  # every setting is documented, and only those
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
    monkeypatch.delenv("BRIEFBOT_DATA_DIR")  # only the file speaks
    settings = load_settings()
    assert warnings_of(caplog) == []
    assert settings.data_dir == Path("data")
    assert settings.database_url is None
    assert settings.openai_api_key is None
    assert settings.daily_token_budget is None
    assert settings.max_points == 6
    code, out, err = run("stories")
    assert (code, out.strip()) == (0, "no stories"), err
    assert (tmp_path / "data" / "briefbot.sqlite3").is_file()
    code, _, err = run("usage", "--format", "json")
    assert code == 0, err


@pytest.mark.parametrize("where", ["environment", ".env"])
def test_an_empty_value_means_unset(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = [
        "BRIEFBOT_DAILY_TOKEN_BUDGET",
        "BRIEFBOT_PRICE_PROMPT_PER_MTOK",
        "BRIEFBOT_MAX_STORIES",
    ]
    for key in empty:
        if where == "environment":
            monkeypatch.setenv(key, "")
        else:
            with (tmp_path / ".env").open("a") as env:
                env.write(f"{key}=\n")
    settings = load_settings()
    assert settings.daily_token_budget is None
    assert settings.price_prompt_per_mtok is None
    assert settings.max_stories == 5  # a required setting's default
