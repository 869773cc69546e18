"""The LLM briefer end to end: the ``briefbot brief`` command, a real feed on a local server,
and a fake OpenAI-compatible server (``OPENAI_BASE_URL``) driven through the real SDK.

The news fixtures are described in ``tests/fixtures/e2e/README.md``; the scripted models in
``tests/fakes/llm_briefer.py``. Assertions are on the JSON contract and on the requests that
went over the wire.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from bot.adapters.cli import app
from bot.render.json import briefing_schema
from bot.summarize.llm import FALLBACK_PREFIX
from tests.fakes.http import FakeHTTPServer, Reply
from tests.fakes.llm_briefer import (
    E2E,
    copied_points,
    failing_for,
    faithful_writer,
    misciting_writer,
    passages,
)
from tests.fakes.openai_server import (
    DROP,
    Completion,
    FakeOpenAI,
    context_length_exceeded,
    rate_limited,
    refusal,
    server_error,
    truncated,
)

EVER = "36500d"
GROUNDING = "ship aground"
WIRE = "carrying about 3,800 containers"  # in the wire copies' lead: the grounding story


pytestmark = pytest.mark.usefixtures("quiet_llm")


def brief(site: FakeHTTPServer, *extra: str, topic: str = GROUNDING) -> dict[str, Any]:
    result = CliRunner().invoke(
        app,
        ["brief", topic, "--source", site.url("/feed.xml"), "--since", EVER, "-f", "json", *extra],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    jsonschema.validate(data, briefing_schema())
    return data


def grounding(data: dict[str, Any]) -> dict[str, Any]:
    stories = [s for s in data["stories"] if any("aground" in x["url"] for x in s["sources"])]
    assert len(stories) == 1, [s["title"] for s in data["stories"]]
    story: dict[str, Any] = stories[0]
    return story


def test_model_briefing_is_llm_mode_and_every_citation_is_verified(
    news_site: FakeHTTPServer, model: FakeOpenAI
) -> None:
    model.script(*[faithful_writer] * 3)
    data = brief(news_site)
    assert data["mode"] == "llm"
    story = grounding(data)
    assert story["verification"]["removed"] == []
    assert story["verification"]["checked"] >= len(story["key_points"]) >= 2
    assert story["usage"]["prompt_tokens"] > 0
    assert story["usage"]["cached"] is False
    sent = next(b for b in model.bodies if WIRE in b["messages"][-1]["content"])
    assert sent["response_format"]["type"] == "json_schema"
    # What the model wrote is what the briefing says, with its citations mapped back.
    written = {text for text, _ in copied_points(sent)}
    assert {p["text"] for p in story["key_points"]} <= written


def test_wire_copies_go_into_the_prompt_once_and_citations_reach_every_copy(
    news_site: FakeHTTPServer, model: FakeOpenAI
) -> None:
    model.script(*[faithful_writer] * 3)
    story = grounding(brief(news_site))
    body = next(b for b in model.bodies if WIRE in b["messages"][-1]["content"])
    sent = passages(body)
    copies = {s["id"] for s in story["sources"] if "Meridian Wire" in s["origins"]}
    assert len(copies) == 3
    wire_passages = [p for p in sent if {p.id, *p.also} & copies]
    assert len(wire_passages) == 1
    assert {wire_passages[0].id, *wire_passages[0].also} == copies
    # A fact all three copies carry, cited by the model as the wire passage only, cites them all.
    wire_point = next(p for p in story["key_points"] if WIRE in p["text"])
    assert copies <= set(wire_point["sources"])


def test_citation_of_an_unsupporting_source_is_removed_and_shown(
    news_site: FakeHTTPServer, model: FakeOpenAI
) -> None:
    model.script(*[misciting_writer] * 3)
    story = grounding(brief(news_site))
    removed = story["verification"]["removed"]
    assert removed, story["verification"]
    for text, source in removed:
        point = next((p for p in story["key_points"] if p["text"] == text), None)
        assert point is None or source not in point["sources"]


def test_without_key_or_base_url_the_briefing_is_extractive(news_site: FakeHTTPServer) -> None:
    data = brief(news_site)
    assert data["mode"] == "extractive"
    assert "verification" not in grounding(data) or grounding(data)["verification"] is None


@pytest.mark.parametrize(
    ("failure", "cause"),
    [
        pytest.param([rate_limited(retry_after="0")] * 2, "rate limiting", id="429"),
        pytest.param([server_error(503)] * 2, "HTTP 503", id="5xx"),
        pytest.param([Completion("{}", delay=2.5)] * 2, "did not answer in 1 s", id="timeout"),
        pytest.param([truncated('{"headline": "Ship agr')], "cut off", id="truncated"),
        pytest.param(
            [f"not json: {WIRE}", "still { not json"], "not a valid briefing", id="invalid-json"
        ),
        pytest.param([refusal()], "declined", id="refusal"),
        pytest.param([context_length_exceeded()], "too long", id="context-length"),
        pytest.param(
            [DROP, DROP], "connection to the model server dropped", id="dropped-connection"
        ),
    ],
)
def test_each_model_failure_falls_back_to_extractive_with_a_note(
    news_site: FakeHTTPServer, model: FakeOpenAI, failure: list[Any], cause: str
) -> None:
    model.script(*[failing_for(WIRE, failure)] * (3 + len(failure)))
    # "Brannock" brings in the grounding and the council's tram line.
    data = brief(news_site, topic="Brannock")
    story = grounding(data)
    note = next(n for n in story["notes"] if n.startswith("Written without the model"))
    assert cause.lower() in note.lower()
    assert "127.0.0.1" not in note  # the cause in plain words: no server address for readers
    assert story["key_points"]
    # The other story still got the model's briefing.
    others = [s for s in data["stories"] if s is not story]
    assert others
    for other in others:
        assert not any(n.startswith("Written without the model") for n in other["notes"])
    assert data["mode"] == "llm"


def test_connection_refused_falls_back_for_every_story(
    news_site: FakeHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = FakeOpenAI().start()
    base_url = dead.base_url
    dead.stop()
    monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    data = brief(news_site)
    assert data["mode"] == "extractive"
    for story in data["stories"]:
        assert any("connection refused" in n.lower() for n in story["notes"])


def test_second_identical_run_reuses_the_briefing_without_a_request(
    news_site: FakeHTTPServer, model: FakeOpenAI
) -> None:
    model.script(*[faithful_writer] * 3)
    first = grounding(brief(news_site))
    requests = len(model.requests)
    second = grounding(brief(news_site))
    assert len(model.requests) == requests
    assert second["key_points"] == first["key_points"]
    assert second["usage"] == {
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost_usd": 0.0,
        "cached": True,
    }


def test_new_articles_get_an_update_prompt_with_the_previous_points_and_only_new_passages(
    news_site: FakeHTTPServer, model: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fixture's articles are two weeks old: keep their stories open to newcomers.
    monkeypatch.setenv("BRIEFBOT_STORY_WINDOW_DAYS", "36500")
    # The feed as it stood before the Post's follow-up (item 6) was published.
    full = (E2E / "feed.xml").read_text(encoding="utf-8").replace("{BASE}", news_site.base_url)
    items = full.split("<item>")
    early = "<item>".join(i for i in items if "pilot-warned-unlit-buoy" not in i)
    assert early != full
    news_site.route("GET", "/early.xml", Reply(200, early, {"Content-Type": "application/rss+xml"}))
    model.script(*[faithful_writer] * 10)
    code = CliRunner().invoke(
        app,
        ["brief", GROUNDING, "-s", news_site.url("/early.xml"), "--since", EVER, "-f", "json"],
        catch_exceptions=False,
    )
    assert code.exit_code == 0, code.stderr
    first = grounding(json.loads(code.stdout))
    assert not any("buoy" in s["url"] for s in first["sources"])
    sent_before = len(model.bodies)

    second = grounding(brief(news_site))
    follow_up = [s["id"] for s in second["sources"] if "pilot-warned-unlit-buoy" in s["url"]]
    assert len(follow_up) == 1
    updates = [
        b
        for b in model.bodies[sent_before:]
        if "<previous_briefing>" in b["messages"][-1]["content"]
    ]
    assert len(updates) == 1
    prompt = updates[0]["messages"][-1]["content"]
    previous = prompt.split("<previous_briefing>")[1].split("</previous_briefing>")[0]
    for point in first["key_points"]:
        assert point["text"] in previous
    # Only the new article's passage is sent, not the five the previous briefing covered.
    assert {p.id for p in passages(updates[0])} == set(follow_up)
    assert "buoy" in prompt


def _brief_while_held(
    site: FakeHTTPServer, model: FakeOpenAI, waiting: int, timeout: float = 10.0
) -> tuple[bool, dict[str, Any]]:
    """Brief "Brannock" (several stories) while every model reply is held back; whether
    ``waiting`` requests were held at the server at once, and the briefing once released."""
    release = threading.Event()

    def held(body: dict[str, Any]) -> Completion:
        return Completion(faithful_writer(body), hold=release)

    model.script(*[held] * 10)
    result: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: result.update(brief(site, topic="Brannock")))
    worker.start()
    try:
        together = model.wait_until_held(waiting, timeout=timeout)
    finally:
        release.set()
        worker.join(60)
    return together, result


def test_the_stories_of_a_briefing_wait_for_the_model_together(
    news_site: FakeHTTPServer, model: FakeOpenAI
) -> None:
    # One slow reply no longer holds up the others: every story's request is in flight at once.
    together, data = _brief_while_held(news_site, model, waiting=2)
    assert together
    assert len(data["stories"]) >= 2
    assert data["mode"] == "llm"
    assert not [n for s in data["stories"] for n in s["notes"] if n.startswith(FALLBACK_PREFIX)]
    assert len(model.requests) == len(data["stories"])


def test_brief_concurrency_bounds_the_requests_in_flight(
    news_site: FakeHTTPServer, model: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIEFBOT_BRIEF_CONCURRENCY", "1")
    together, data = _brief_while_held(news_site, model, waiting=2, timeout=1.0)
    assert not together  # one story at a time: never two requests held
    assert len(data["stories"]) >= 2
    assert len(model.requests) == len(data["stories"])
