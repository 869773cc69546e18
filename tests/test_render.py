"""Renderers: the JSON contract, terminal text and Markdown."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import jsonschema
import pytest

from bot.domain import (
    Briefing,
    BriefingMode,
    Coverage,
    KeyPoint,
    SourceError,
    SourceRef,
    StoryBriefing,
)
from bot.render.json import briefing_schema, to_json_dict
from bot.render.markdown import escape, to_markdown
from bot.render.text import clean, coverage_line, to_text
from bot.summarize.extractive import brief_story
from tests.fakes.summarize import port_strike_articles, port_strike_story

GENERATED = datetime(2025, 3, 3, 12, 30, tzinfo=UTC)
ANSI = re.compile(r"\x1b|\x9b")


@pytest.fixture(scope="module")
def briefing() -> Briefing:
    story = brief_story(port_strike_story(), port_strike_articles())
    return Briefing(
        topic="port strike",
        generated_at=GENERATED,
        mode=BriefingMode.EXTRACTIVE,
        stories=[story],
        errors=[
            SourceError("https://feeds.example.org/world.rss", "HTTP 503 from feeds.example.org"),
            SourceError("./local/missing.xml", "file not found"),
        ],
    )


def _hostile_story() -> StoryBriefing:
    return StoryBriefing(
        story_id="s-ffffffffffff",
        title="Port *strike* [live] <b>updates</b> \x1b[31mRED\x1b[0m",
        updated_at=GENERATED,
        key_points=[
            KeyPoint(
                text="Union says _no_ deal | talks `off` [1](https://evil.example)", sources=[1]
            )
        ],
        sources=[
            SourceRef(
                id=1,
                outlet="Evil\x1b]0;pwned\x07 Outlet",
                title="Click [here](javascript:alert(1))",
                url="javascript:alert(1)",
                published_at=None,
                full_text=True,
            ),
            SourceRef(
                id=2,
                outlet="Harbor Times",
                title="Strike (day 2)",
                url="https://harbortimes.example/a(b) c",
                published_at=GENERATED,
                full_text=False,
                origins=("Reuters",),
                copy_of=1,
            ),
        ],
        coverage=Coverage(articles=2, outlets=2, independent_reports=1),
        notes=["LLM unavailable; fell back to extractive."],
    )


def _hostile_briefing() -> Briefing:
    return Briefing(
        topic="port\x1b[2J strike",
        generated_at=GENERATED,
        mode=BriefingMode.LLM,
        stories=[_hostile_story()],
        errors=[SourceError("https://x.example/`feed`", "bad *XML* \x1b[1m")],
    )


# --------------------------------------------------------------------------- JSON


def test_json_validates_against_the_schema(briefing: Briefing) -> None:
    data = json.loads(json.dumps(to_json_dict(briefing)))

    jsonschema.validate(data, briefing_schema())


def test_json_key_points_cite_existing_sources(briefing: Briefing) -> None:
    data = to_json_dict(briefing)

    for story in data["stories"]:
        ids = {source["id"] for source in story["sources"]}
        assert story["key_points"]
        for point in story["key_points"]:
            assert point["sources"]
            assert set(point["sources"]) <= ids


def test_json_carries_coverage_sources_and_times(briefing: Briefing) -> None:
    data = to_json_dict(briefing)
    story = data["stories"][0]

    assert data["mode"] == "extractive"
    assert data["generated_at"] == "2025-03-03T12:30:00Z"
    assert story["coverage"] == {"articles": 6, "outlets": 6, "independent_reports": 3}
    assert story["coverage_line"] == "6 articles · 6 outlets · 3 independent reports"
    coastal = next(s for s in story["sources"] if s["outlet"] == "Coastal Daily Record")
    assert coastal["copy_of"] == 1
    assert coastal["origins"] == ["Meridian Wire"]
    assert coastal["published_at"] == "2025-03-03T07:05:00Z"
    assert "article_id" not in coastal
    assert data["errors"][1] == {"source": "./local/missing.xml", "error": "file not found"}


def test_json_schema_rejects_a_key_point_without_sources(briefing: Briefing) -> None:
    data = to_json_dict(briefing)
    data["stories"][0]["key_points"][0]["sources"] = []

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, briefing_schema())


def test_json_schema_rejects_a_time_without_offset(briefing: Briefing) -> None:
    data = to_json_dict(briefing)
    data["generated_at"] = "2025-03-03 12:30"

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, briefing_schema())


def test_json_of_a_hostile_briefing_is_still_valid() -> None:
    data = to_json_dict(_hostile_briefing())

    jsonschema.validate(data, briefing_schema())
    assert data["stories"][0]["sources"][0]["published_at"] is None
    assert data["mode"] == "llm"


# --------------------------------------------------------------------------- text


def test_text_shows_title_coverage_points_with_markers_and_sources(briefing: Briefing) -> None:
    story = briefing.stories[0]

    text = to_text(briefing)

    assert story.title in text
    assert "6 articles · 6 outlets · 3 independent reports" in text
    for point in story.key_points:
        markers = "".join(f"[{n}]" for n in point.sources)
        assert f"{point.text} {markers}" in text
    for source in story.sources:
        assert f"[{source.id}] {source.outlet} — {source.title}" in text
        assert source.url in text
    assert "2025-03-03 06:10 UTC" in text
    assert "copy of [1]" in text
    assert "via Meridian Wire" in text
    assert "teaser only" in text


def test_text_puts_errors_last(briefing: Briefing) -> None:
    text = to_text(briefing)

    errors_at = text.index("Errors (2)")
    assert errors_at > text.index("Sources:")
    assert (
        "https://feeds.example.org/world.rss: HTTP 503 from feeds.example.org" in text[errors_at:]
    )
    assert text.endswith("./local/missing.xml: file not found\n")


def test_text_does_not_say_via_for_the_wires_own_report(briefing: Briefing) -> None:
    wire_line = next(line for line in to_text(briefing).splitlines() if "[1] Meridian Wire" in line)

    assert "via" not in wire_line


def test_text_has_no_escape_codes_even_from_hostile_input() -> None:
    text = to_text(_hostile_briefing())

    assert not ANSI.search(text)
    assert "RED" in text
    assert "Evil Outlet" in text
    assert "Note: LLM unavailable; fell back to extractive." in text


def test_text_of_an_empty_briefing_says_so() -> None:
    empty = Briefing("tram", GENERATED, BriefingMode.EXTRACTIVE, stories=[])

    text = to_text(empty)

    assert "0 stories" in text
    assert "No stories" in text
    assert "Errors" not in text


def test_coverage_line_uses_singular_for_one() -> None:
    assert coverage_line(Coverage(1, 1, 1)) == "1 article · 1 outlet · 1 independent report"


def test_clean_flattens_lines_and_strips_controls() -> None:
    assert clean("a\n\tb\x00c\u202ed  ") == "a bcd"


# --------------------------------------------------------------------------- Markdown


def test_markdown_shows_story_points_sources_and_errors(briefing: Briefing) -> None:
    story = briefing.stories[0]

    markdown = to_markdown(briefing)

    assert f"### 1. {escape(story.title)}" in markdown
    assert "*6 articles · 6 outlets · 3 independent reports" in markdown
    for point in story.key_points:
        markers = "".join(f"[{n}]" for n in point.sources)
        assert f"- {escape(point.text)} {markers}" in markdown
    wire = story.sources[0]
    assert f"[{escape(wire.title)}]({wire.url})" in markdown
    assert "copy of [1] · via Meridian Wire" in markdown
    assert markdown.index("### Errors (2)") > markdown.index("**Sources**")


def test_markdown_escapes_untrusted_titles_and_text() -> None:
    markdown = to_markdown(_hostile_briefing())

    assert r"Port \*strike\* \[live\] \<b\>updates\</b\> RED" in markdown
    assert r"Union says \_no\_ deal \| talks \`off\` \[1\](https://evil.example)" in markdown
    assert "<b>" not in markdown
    assert not ANSI.search(markdown)


def test_markdown_links_only_web_urls() -> None:
    markdown = to_markdown(_hostile_briefing())

    assert not re.search(r"(?<!\\)\]\(javascript:", markdown)
    assert r"Click \[here\](javascript:alert(1)) (`javascript:alert(1)`)" in markdown
    # parentheses and spaces in a URL cannot end the link early
    assert "[Strike (day 2)](https://harbortimes.example/a%28b%29%20c)" in markdown


def test_markdown_error_sources_are_code_spans() -> None:
    markdown = to_markdown(_hostile_briefing())

    assert "- `https://x.example/'feed'`: bad \\*XML\\*" in markdown


def test_markdown_of_an_empty_briefing_says_so() -> None:
    markdown = to_markdown(Briefing("tram", GENERATED, BriefingMode.EXTRACTIVE, stories=[]))

    assert "No stories" in markdown
    assert "Errors" not in markdown
