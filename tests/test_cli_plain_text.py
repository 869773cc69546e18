"""What the terminal prints that did not come from our code is printed as it is, never read
as rich markup: topic names, paths, URLs and error messages with square brackets."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from bot.adapters import console
from bot.adapters.cli import app

DEMO = Path(__file__).resolve().parent.parent / "bot" / "demo" / "data"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("name", ["[/x] gaza", "[bold]ukraine[/bold]", "chips [red]"])
def test_a_topic_name_with_brackets_is_named_whole_in_the_error(name: str) -> None:
    code, _, err = run("topics", "remove", name)
    assert code == 2
    assert f"no topic {name!r}" in " ".join(err.split())


def test_an_unknown_topic_with_brackets_is_named_whole_by_ingest() -> None:
    code, _, err = run("ingest", "--topic", "[b]harbour[/b]")
    assert code == 2
    assert "no topic '[b]harbour[/b]'" in err


def test_a_source_error_with_brackets_prints_the_whole_path() -> None:
    code, _, err = run("ingest", "--source", "feeds[1]/[/missing].xml")
    assert code == 0
    assert "feeds[1]/[/missing].xml: no such file or directory" in " ".join(err.split())


def test_an_error_message_keeps_its_brackets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://briefbot@127.0.0.1:1/briefbot")
    _, _, err = run("stories")
    assert "install briefbot[postgres]" in " ".join(err.split())


def test_usage_table_prints_a_topic_name_with_brackets() -> None:
    topic = "[/x] strike"  # short: a long name folds in the table
    source = str(DEMO / "meridian-wire.jsonl")
    code, _, err = run("brief", topic, "--source", source, "--since", "36500d", "--no-llm")
    assert code == 0, err
    code, out, err = run("usage", "--by", "topic", "--since", "36500d")
    assert code == 0, err
    assert "[/x] strike" in out


def test_the_progress_label_is_plain_text_and_redacted() -> None:
    screen = Console(file=io.StringIO(), force_terminal=True, width=200)
    source = "https://reader:SENTINELPASS@news.example/[/feeds]/world.xml"
    with console.fetch_progress(True, console=screen) as update:
        assert update is not None
        update(source, 1, 2)
    shown = screen.file.getvalue()
    assert "reader:***@news.example/[/feeds]/world.xml" in shown
    assert "SENTINELPASS" not in shown


def test_topics_list_shows_sources_without_credentials() -> None:
    feed = "https://reader:SENTINELPASS@news.example/[x]/feed.xml"
    assert run("topics", "add", "[x] world", "--source", feed)[0] == 0
    code, out, _ = run("topics", "list")
    assert code == 0
    assert "[x] world" in out
    assert "https://reader:***@news.example/[x]/feed.xml" in out
    assert "SENTINELPASS" not in out
