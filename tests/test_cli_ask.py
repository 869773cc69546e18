"""``briefbot ask TOPIC "question"`` end to end: the bundled demo files as ``--source``, the
whole pipeline on a temporary store, the answer as text and as schema-valid JSON."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from bot.adapters.cli import app
from bot.demo import DEMO_DIR
from bot.qa import MAX_QUESTION_CHARS
from bot.render.answer import answer_schema

EVER = "36500d"  # the demo files' dates are fixed; a window that always reaches them
SOURCES = [
    "--source",
    str(DEMO_DIR / "meridian-wire.jsonl"),
    "--source",
    str(DEMO_DIR / "coastal-ledger.jsonl"),
]


@pytest.fixture(autouse=True)
def no_discovery(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIEFBOT_DISCOVERY", "none")
    monkeypatch.setenv("BRIEFBOT_FETCH_FULL_TEXT", "false")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def ask_json(topic: str, question: str) -> dict[str, Any]:
    code, out, err = run("ask", topic, question, *SOURCES, "--since", EVER, "--format", "json")
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    jsonschema.validate(data, answer_schema())
    return data


def test_ask_gathers_the_sources_and_answers_with_cited_quotes_in_text() -> None:
    code, out, err = run(
        "ask", "halvern", "How many dockworkers walked off the job?", *SOURCES, "--since", EVER
    )

    assert code == 0, err
    assert "1,400 dockworkers" in out
    assert "Meridian Wire [" in out
    assert "https://meridianwire.example/" in out


def test_ask_json_is_the_answer_contract_with_claims_citing_its_sources() -> None:
    data = ask_json("halvern", "How many dockworkers walked off the job?")

    assert data["refused"] is False
    assert data["reason"] is None
    assert data["story_id"]
    assert data["claims"]
    ids = {source["id"] for source in data["sources"]}
    assert all(set(claim["sources"]) <= ids for claim in data["claims"])
    assert any("1,400 dockworkers" in claim["text"] for claim in data["claims"])
    assert {source["outlet"] for source in data["sources"]} >= {"Meridian Wire"}
    assert "verification" in data


def test_ask_json_refuses_what_the_sources_do_not_say() -> None:
    data = ask_json("halvern", "What is the capital of Peru?")

    assert data["refused"] is True
    assert data["reason"] == "not_in_sources"
    assert data["claims"] == []
    assert data["answer"].startswith("This story's sources don't say")


def test_ask_json_with_no_story_about_the_topic_is_a_refusal_too() -> None:
    data = ask_json("volcanoes", "What erupted?")

    assert data["refused"] is True
    assert data["reason"] == "no_story"
    assert data["story_id"] is None


def test_an_over_long_or_empty_question_is_a_usage_error() -> None:
    code, _, err = run("ask", "halvern", "why " * MAX_QUESTION_CHARS, *SOURCES)
    assert code == 2
    assert f"{MAX_QUESTION_CHARS} characters" in err

    code, _, err = run("ask", "halvern", "  ", *SOURCES)
    assert code == 2
    assert "QUESTION must not be empty" in err


def test_ask_rejects_an_unknown_format() -> None:
    code, _, err = run("ask", "halvern", "why?", "--format", "markdown")

    assert code == 2
    assert "--format" in err


def test_the_answer_schema_refuses_a_refusal_without_its_reason() -> None:
    data = ask_json("halvern", "What is the capital of Peru?")
    data["reason"] = None

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, answer_schema())
