"""Scripted "models" for the LLM briefer's tests, and the e2e news site they brief.

A writer is a callable the fake OpenAI server calls with the request body; it reads the
numbered ``<source ...>`` passages out of the prompt the way a model would and answers with
``story_briefing`` JSON. ``faithful_writer`` copies a sentence from each passage and cites
that passage, so every citation it gives is supported; the hostile and sloppy variants add
what a misbehaving model adds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import stamina

from bot.text import split_sentences, words
from tests.fakes.http import FakeHTTPServer, Reply
from tests.fakes.openai_server import FakeOpenAI

E2E = Path(__file__).resolve().parent.parent / "fixtures" / "e2e"

_PASSAGE = re.compile(r'<source id="(\d+)"([^>]*)>\n(.*?)\n</source>', re.S)
_STORY = re.compile(r"^Story: (.*)$", re.M)


@dataclass(frozen=True)
class Passage:
    id: int
    also: tuple[int, ...]
    text: str


def passages(body: dict[str, Any]) -> list[Passage]:
    """The source passages of the request's user message, as the prompt numbered them."""
    user = body["messages"][-1]["content"]
    found = []
    for number, attributes, text in _PASSAGE.findall(user):
        also = re.search(r'also_ids="([\d, ]+)"', attributes)
        ids = tuple(int(n) for n in also.group(1).split(",")) if also else ()
        found.append(Passage(int(number), ids, text))
    return found


def story_title(body: dict[str, Any]) -> str:
    match = _STORY.search(body["messages"][-1]["content"])
    return match.group(1).strip() if match else "A story"


def briefing_json(
    headline: str,
    summary: str,
    key_points: list[tuple[str, list[int]]],
    *,
    disagreements: list[tuple[str, list[int]]] | None = None,
    whats_new: list[tuple[str, list[int]]] | None = None,
) -> str:
    def items(pairs: list[tuple[str, list[int]]] | None) -> list[dict[str, Any]]:
        return [{"text": text, "sources": ids} for text, ids in pairs or []]

    return json.dumps(
        {
            "headline": headline,
            "summary": summary,
            "key_points": items(key_points),
            "disagreements": items(disagreements),
            "whats_new": items(whats_new),
        }
    )


def copied_points(body: dict[str, Any], limit: int = 4) -> list[tuple[str, list[int]]]:
    """The first long sentence of each passage, citing that passage."""
    points = []
    for passage in passages(body)[:limit]:
        sentences = [s for s in split_sentences(passage.text) if len(s.split()) >= 8]
        if sentences:
            points.append((sentences[0], [passage.id]))
    return points


def faithful_writer(body: dict[str, Any]) -> str:
    """A model that only says what the passages say and cites the passage it took it from."""
    points = copied_points(body)
    return briefing_json(story_title(body), points[0][0] if points else "", points)


def misciting_writer(body: dict[str, Any]) -> str:
    """Faithful, except that the first point also cites the passage that shares the fewest
    words with it (in a story with several reports, one that says something else)."""
    points = copied_points(body)
    first_text, first_ids = points[0]
    claim = set(words(first_text))
    others = [p for p in passages(body) if p.id not in first_ids]
    unrelated = min(others, key=lambda p: (len(claim & set(words(p.text))), p.id))
    points[0] = (first_text, sorted({*first_ids, unrelated.id}))
    return briefing_json(story_title(body), "", points)


Writer = Callable[[dict[str, Any]], str]


def serve_news_site(server: FakeHTTPServer) -> FakeHTTPServer:
    """The North Coast Network feed and its article pages (tests/fixtures/e2e/README.md)."""
    feed = (E2E / "feed.xml").read_text(encoding="utf-8").replace("{BASE}", server.base_url)
    server.route(
        "GET", "/feed.xml", Reply(200, feed, {"Content-Type": "application/rss+xml; charset=utf-8"})
    )
    for page in sorted((E2E / "articles").glob("*.html")):
        server.route(
            "GET",
            f"/articles/{page.name}",
            Reply(200, page.read_bytes(), {"Content-Type": "text/html; charset=utf-8"}),
        )
    return server


def failing_for(marker: str, failures: list[Any], writer: Writer = faithful_writer) -> Any:
    """A script item that answers requests about the story whose prompt contains ``marker``
    with ``failures`` (one per request, in order) and every other request with ``writer``."""
    pending = list(failures)

    def reply(body: dict[str, Any]) -> Any:
        if marker in body["messages"][-1]["content"] and pending:
            return pending.pop(0)
        return writer(body)

    return reply


# Fixtures for the tests that brief the news site with a model: import them into the test
# module and mark it ``pytestmark = pytest.mark.usefixtures("quiet_llm")``.


@pytest.fixture
def quiet_llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No discovery, short model timeouts, one retry, and retries that do not sleep."""
    monkeypatch.setenv("BRIEFBOT_DISCOVERY", "none")
    monkeypatch.setenv("BRIEFBOT_LLM_TIMEOUT", "1")
    monkeypatch.setenv("BRIEFBOT_LLM_MAX_RETRIES", "1")
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


@pytest.fixture
def news_site(http_server: FakeHTTPServer) -> FakeHTTPServer:
    """The North Coast Network feed and its article pages on a local server."""
    return serve_news_site(http_server)


@pytest.fixture
def model(openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAI:
    """The fake OpenAI-compatible server, configured as the briefer's model."""
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    return openai_server
