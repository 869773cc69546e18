"""End to end through the ``briefbot`` command line: a real-format feed on a local server,
its article pages behind it, the whole pipeline, the JSON contract.

The fixtures are described in ``tests/fixtures/e2e/README.md``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from bot.adapters.cli import app
from bot.render.json import briefing_schema
from tests.fakes.http import FakeHTTPServer

EVER = "36500d"  # the fixture dates are fixed; brief over a window that always reaches them


@pytest.fixture(autouse=True)
def no_discovery(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIEFBOT_DISCOVERY", "none")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def brief_json(server: FakeHTTPServer, topic: str, *extra: str) -> dict[str, Any]:
    code, out, err = run(
        "brief",
        topic,
        "--source",
        server.url("/feed.xml"),
        "--since",
        EVER,
        "--format",
        "json",
        *extra,
    )
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    jsonschema.validate(data, briefing_schema())
    return data


def story_about(data: dict[str, Any], url_part: str) -> dict[str, Any]:
    """The story with the most sources whose URL contains ``url_part``."""
    scored = [
        (sum(url_part in src["url"] for src in s["sources"]), index)
        for index, s in enumerate(data["stories"])
    ]
    best, index = max(scored, default=(0, -1))
    assert best, [s["title"] for s in data["stories"]]
    story: dict[str, Any] = data["stories"][index]
    return story


def outlets_of(story: dict[str, Any], ids: list[int]) -> set[str]:
    by_id = {s["id"]: s["outlet"] for s in story["sources"]}
    return {by_id[i] for i in ids}


def test_brief_json_groups_the_grounding_and_counts_wire_copies_once(
    news_site: FakeHTTPServer,
) -> None:
    data = brief_json(news_site, "ship aground", "--no-llm")
    assert data["mode"] == "extractive"
    story = story_about(data, "aground")
    outlets = {s["outlet"] for s in story["sources"]}
    assert {"The Brannock Post", "Saltfjord Courier", "Lysholm Gazette"} <= outlets
    assert "North Coast Radio" in outlets
    coverage = story["coverage"]
    assert coverage["articles"] == 6
    assert coverage["outlets"] == 5
    # The Meridian Wire story carried by three outlets is one report.
    assert coverage["independent_reports"] == 4
    copies = [s for s in story["sources"] if s["copy_of"] is not None]
    assert {s["outlet"] for s in copies} >= {"Saltfjord Courier"}
    assert all("Meridian Wire" in s["origins"] for s in copies)


def test_key_points_cite_every_outlet_that_carries_them(news_site: FakeHTTPServer) -> None:
    story = story_about(brief_json(news_site, "ship aground", "--no-llm"), "aground")
    assert 3 <= len(story["key_points"]) <= 6
    ids = {s["id"] for s in story["sources"]}
    for point in story["key_points"]:
        assert point["sources"], point
        assert set(point["sources"]) <= ids
    # The port is open, say all five outlets (the wire's three copies among them).
    port = [p for p in story["key_points"] if "open" in p["text"] and "Lind" in p["text"]]
    assert port, story["key_points"]
    assert len(outlets_of(story, port[0]["sources"])) == 5
    # The crew fact is in the wire text (three outlets), in North Coast Radio's own words
    # ("unhurt and remain on board") and in the Post's follow-up ("who remain on board"):
    # whichever wording a point takes, two independent outlets carry it.
    for point in story["key_points"]:
        if "21 crew" in point["text"]:
            assert len(outlets_of(story, point["sources"])) >= 2, point
    # The next day's development, the buoy warning, is The Brannock Post's alone so far: it
    # makes the briefing, citing the Post only.
    buoy = [p for p in story["key_points"] if "buoy" in p["text"].lower()]
    assert len(buoy) == 1, story["key_points"]
    assert outlets_of(story, buoy[0]["sources"]) == {"The Brannock Post"}


def test_missing_page_keeps_the_teaser_and_reports_the_error(news_site: FakeHTTPServer) -> None:
    data = brief_json(news_site, "Fennick Glass", "--no-llm")
    story = story_about(data, "fennick")
    teaser = [s for s in story["sources"] if "energy-costs" in s["url"]]
    assert teaser
    assert teaser[0]["full_text"] is False
    missing = [
        e for e in data["errors"] if "business-daily-fennick-glass-energy-costs" in e["source"]
    ]
    assert missing
    assert "404" in missing[0]["error"]


def test_only_stories_about_the_topic_appear(news_site: FakeHTTPServer) -> None:
    data = brief_json(news_site, "tram", "--no-llm")
    urls = [src["url"] for s in data["stories"] for src in s["sources"]]
    assert urls
    assert all("tram" in url for url in urls)


def test_hostile_page_does_not_change_the_briefing(news_site: FakeHTTPServer) -> None:
    data = brief_json(news_site, "ship aground", "--no-llm")
    story = story_about(data, "aground")
    text = json.dumps(story["key_points"]).lower()
    for planted in ("ignore previous", "system:", "[source", "crypto", "203.0.113.77", "diet"):
        assert planted not in text
    source_urls = {s["url"] for s in story["sources"]}
    assert all(url.startswith(news_site.base_url) for url in source_urls)


def test_a_dead_feed_is_an_error_entry_not_a_failure(
    news_site: FakeHTTPServer, tmp_path: Path
) -> None:
    dead = news_site.url("/gone.xml")  # 404
    code, out, err = run(
        "brief",
        "ship aground",
        "--source",
        news_site.url("/feed.xml"),
        "--source",
        dead,
        "--since",
        EVER,
        "--format",
        "json",
        "--no-llm",
    )
    assert code == 0, err
    data = json.loads(out)
    assert any(e["source"] == dead and "404" in e["error"] for e in data["errors"])
    assert data["stories"]


def test_second_run_keeps_story_ids_stable(news_site: FakeHTTPServer) -> None:
    first = story_about(brief_json(news_site, "ship aground", "--no-llm"), "aground")
    second = story_about(brief_json(news_site, "ship aground", "--no-llm"), "aground")
    assert first["id"] == second["id"]
    assert first["coverage"] == second["coverage"]


def test_stories_command_lists_every_article_url(news_site: FakeHTTPServer) -> None:
    code, _, err = run("ingest", "--source", news_site.url("/feed.xml"))
    assert code == 0, err
    code, out, err = run("stories", "--format", "json")
    assert code == 0, err
    urls = {a["url"] for s in json.loads(out)["stories"] for a in s["articles"]}
    assert len(urls) == 9


def test_bad_format_is_a_usage_error() -> None:
    code, _, err = run("brief", "ukraine", "--format", "yaml")
    assert code == 2
    assert "--format" in err


@pytest.mark.parametrize(
    "command",
    [["stories"], ["usage"], ["brief", "ukraine"]],
    ids=["stories", "usage", "brief"],
)
@pytest.mark.parametrize("since", ["99999999d", "9999999999999d", "5300000w", "1" * 400 + "m"])
def test_since_beyond_the_longest_duration_is_a_usage_error(command: list[str], since: str) -> None:
    code, out, err = run(*command, "--since", since)
    assert code == 2, err
    assert out == ""
    assert "--since" in err
    assert "longest allowed is 36500d" in err
    assert "unexpected" not in err


def test_since_of_the_longest_duration_is_accepted(news_site: FakeHTTPServer) -> None:
    assert run("ingest", "--source", news_site.url("/feed.xml"))[0] == 0
    code, out, err = run("stories", "--since", "36500d", "--format", "json")
    assert code == 0, err
    assert len(json.loads(out)["stories"]) == 3
    code, _, err = run("usage", "--since", "36500d")
    assert code == 0, err


def test_briefbot_since_beyond_the_longest_duration_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BRIEFBOT_SINCE", "99999999d")
    code, _, err = run("stories", "--topic", "ukraine")
    assert code == 2
    assert "BRIEFBOT_SINCE" in err
    assert "longest allowed is 36500d" in err


def test_bad_setting_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIEFBOT_HTTP_TIMEOUT", "-1")
    code, _, err = run("brief", "ukraine")
    assert code == 2
    assert "BRIEFBOT_HTTP_TIMEOUT" in err


def test_topics_add_list_remove() -> None:
    assert run("topics", "add", "ukraine", "--query", "ukraine OR kyiv", "-s", "a.rss")[0] == 0
    code, out, _ = run("topics", "list")
    assert code == 0
    assert "ukraine" in out
    assert "a.rss" in out
    assert run("topics", "remove", "ukraine")[0] == 0
    code, _, err = run("topics", "remove", "ukraine")
    assert code == 2
    assert "no topic" in err


def test_demo_prints_cited_briefings() -> None:
    code, out, err = run("demo")
    assert code == 0, err
    assert "independent report" in out
    assert "[1]" in out


def test_demo_key_points_do_not_give_the_same_figures_twice() -> None:
    code, out, err = run("demo", "--format", "json")
    assert code == 0, err
    points = [
        p["text"]
        for briefing in json.loads(out)
        for s in briefing["stories"]
        for p in s["key_points"]
    ]
    # Each figure is one fact, however the outlets word it.
    assert sum("87 percent" in p for p in points) == 1
    assert sum("60,000" in p for p in points) == 1
