"""Exit codes as the README promises: 0 success, 2 usage or configuration error, 1 runtime
failure. A configuration problem found deep down (the store's URL or directory, the prompt
files) is classified where it is found, by its class, not by the CLI reading its words."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.adapters.cli import app
from bot.errors import ConfigError, PromptError, PromptFileError, StoreConfigError, StoreError


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, " ".join(result.stderr.split())


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        pytest.param("DATABASE_URL", "nonsense", "is not a database URL", id="not-a-url"),
        pytest.param("DATABASE_URL", "nosuchdb://h/x", "No SQLAlchemy dialect", id="no-dialect"),
        pytest.param(
            "DATABASE_URL", "postgresql+pg8000://bb@127.0.0.1:1/x", "not installed", id="driver"
        ),
    ],
)
def test_a_bad_database_url_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    code, err = run("stories")
    assert code == 2, err
    assert says in err


def test_a_data_directory_that_is_a_file_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    occupied = tmp_path / "occupied"
    occupied.write_text("not a directory")
    monkeypatch.setenv("BRIEFBOT_DATA_DIR", str(occupied))
    code, err = run("stories")
    assert code == 2, err
    assert "BRIEFBOT_DATA_DIR" in err


def test_a_database_file_that_cannot_be_opened_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    (data / "briefbot.sqlite3").mkdir(parents=True)  # a directory where the file should be
    monkeypatch.setenv("BRIEFBOT_DATA_DIR", str(data))
    code, err = run("stories")
    assert code == 2, err
    assert "Cannot open the database" in err


@pytest.mark.parametrize("folder", ["/nope", "empty"])
def test_a_missing_prompts_folder_or_file_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: str
) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # never called
    monkeypatch.setenv("BRIEFBOT_PROMPTS_DIR", str(tmp_path / folder))
    code, err = run("brief", "ukraine", "--llm")
    assert code == 2, err
    assert "Prompt" in err


def test_an_unreachable_database_server_is_a_runtime_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Nothing listens on port 1: the setting may be right and the server down.
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://bb@127.0.0.1:1/x?connect_timeout=2")
    code, err = run("stories")
    assert code == 1, err
    assert "Cannot open the database" in err


def test_configuration_errors_of_other_areas_are_still_their_areas_errors() -> None:
    assert issubclass(StoreConfigError, ConfigError)
    assert issubclass(StoreConfigError, StoreError)
    assert issubclass(PromptFileError, ConfigError)
    assert issubclass(PromptFileError, PromptError)
