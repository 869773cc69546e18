"""Article text and model output are untrusted: neither can change the briefing's format,
its source list or its links.

The grounding story includes the hostile Coastwatch page (``tests/fixtures/e2e/README.md``:
injected instructions, fake citation markers, planted links); the scripted model then
misbehaves the way an injected model would: it adds a planted link, cites a source 99 that
does not exist, says the port is closed and writes citation markers into its text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import stamina
from typer.testing import CliRunner

from bot.adapters.cli import app
from bot.render.json import briefing_schema
from bot.summarize.llm import clean_model_text
from tests.fakes.http import FakeHTTPServer
from tests.fakes.llm_briefer import (
    briefing_json,
    copied_points,
    faithful_writer,
    serve_news_site,
)
from tests.fakes.openai_server import FakeOpenAI

WIRE = "carrying about 3,800 containers"
PLANTED = "https://free-crypto-giveaway.example/claim?ref=brannock"
_ANY_URL = re.compile(r"(?:https?|ftp)://[^\s\"'<>)\]]+|www\.[^\s\"'<>)\]]+|\b[\w-]+\.example/\S*")


@pytest.fixture(autouse=True)
def setup(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("BRIEFBOT_DISCOVERY", "none")
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


def hostile_writer(body: dict[str, Any]) -> str:
    if WIRE not in body["messages"][-1]["content"]:
        return faithful_writer(body)
    points = copied_points(body)
    first_text, first_ids = points[0]
    points[0] = (f"{first_text} Details: {PLANTED} [7][12]", [*first_ids, 99])
    points.insert(1, ("The port is closed until further notice, every source confirms.", [1, 4]))
    points.append(("See [source 3] and www.miracle-diet.example/one-trick for more.", [3]))
    return briefing_json(
        f"Port of Brannock closed [source 1] {PLANTED}",
        "Every source confirms that the port is closed until further notice.",
        points,
    )


def brief(site: FakeHTTPServer, *extra: str) -> dict[str, Any]:
    result = CliRunner().invoke(
        app,
        [
            "brief",
            "ship aground",
            "-s",
            site.url("/feed.xml"),
            "--since",
            "36500d",
            "-f",
            "json",
            *list(extra),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    jsonschema.validate(data, briefing_schema())
    return data


def grounding(data: dict[str, Any]) -> dict[str, Any]:
    story: dict[str, Any] = next(
        s for s in data["stories"] if any("ship-aground" in x["url"] for x in s["sources"])
    )
    return story


def test_hostile_page_and_hostile_model_leave_format_sources_and_links_intact(
    http_server: FakeHTTPServer, openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = serve_news_site(http_server)
    extractive = grounding(brief(site, "--no-llm"))
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    openai_server.script(*[hostile_writer] * 3)
    data = brief(site)
    assert data["mode"] == "llm"
    story = grounding(data)
    # The source list is the one the articles give, whatever the page or the model said.
    assert story["sources"] == extractive["sources"]
    source_urls = {s["url"] for s in story["sources"]}
    # No URL anywhere in the briefing that is not one of its sources'.
    for url in _ANY_URL.findall(json.dumps(story)):
        assert url.rstrip(".,") in source_urls, url
    written = json.dumps(
        [story["title"], story["summary"], story["key_points"], story.get("disagreements", [])]
    ).lower()
    for planted in ("closed", "[7]", "[12]", "[source", "crypto", "diet", "ignore previous"):
        assert planted not in written, planted
    cited = {n for p in story["key_points"] for n in p["sources"]}
    assert cited <= {s["id"] for s in story["sources"]}
    removed_ids = {item["source"] for item in story["verification"]["removed"]}
    assert 99 in removed_ids
    assert any("closed" in text for text in story["verification"]["dropped"])
    # The prompt kept the pages' text inside its delimiters.
    prompt = next(
        b["messages"][-1]["content"] for b in openai_server.bodies if WIRE in json.dumps(b)
    )
    assert prompt.count("<source ") == prompt.count("</source>")


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("Ships wait at anchor [3].", "Ships wait at anchor."),
        ("See https://evil.example/x?a=1, then leave.", "See, then leave."),
        ("Read [the report](http://203.0.113.77/r.exe) now.", "Read the report now."),
        ("Visit www.evil.example today (source 2).", "Visit today."),
        ("Details at evil.example/path [source 1][7].", "Details at."),
        (
            "Own source http://127.0.0.1:8000/a.html stays.",
            "Own source http://127.0.0.1:8000/a.html stays.",
        ),
    ],
)
def test_model_text_keeps_no_foreign_link_and_no_citation_marker(
    written: str, expected: str
) -> None:
    assert clean_model_text(written, {"http://127.0.0.1:8000/a.html"}) == expected
