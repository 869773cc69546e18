"""Keyless discovery: GDELT DOC 2.0 and Google News search served locally in their real formats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.config import Settings, load_settings
from bot.sources.discovery import (
    DISCOVERY_MAX_RESULTS,
    gdelt_query,
    gdelt_timespan,
    google_news_window,
)
from bot.sources.gather import discover
from tests.fakes.http import FakeHTTPServer, Reply
from tests.fakes.news import (
    FLOOD_PARAGRAPHS,
    STRIKE_PARAGRAPHS,
    article_page,
    fixture_text,
    redirect,
    serve_page,
)

GDELT_PATH = "/api/v2/doc/doc"
NEWS_PATH = "/rss/search"
SPANISH = [
    "Los estibadores del puerto de Calder prolongaron la huelga por tercer día consecutivo "
    "este miércoles, con más de cuarenta buques portacontenedores fondeados frente a la costa.",
    "El sindicato rechazó una oferta de aumento salarial del seis por ciento en dos años y "
    "exige garantías de empleo ante la llegada de grúas automatizadas a la terminal norte.",
] * 3


def _settings(server: FakeHTTPServer, *services: str, **overrides: Any) -> Settings:
    return load_settings(
        BRIEFBOT_GDELT_URL=server.url(GDELT_PATH),
        BRIEFBOT_GOOGLE_NEWS_URL=server.url(NEWS_PATH),
        BRIEFBOT_DISCOVERY=",".join(services),
        **overrides,
    )


def _serve_gdelt(server: FakeHTTPServer, body: str, kind: str = "application/json") -> None:
    server.route("GET", GDELT_PATH, Reply(200, body, {"Content-Type": kind}))


def _serve_news(server: FakeHTTPServer, body: str) -> None:
    server.route(
        "GET", NEWS_PATH, Reply(200, body, {"Content-Type": "application/xml; charset=utf-8"})
    )


async def test_gdelt_is_asked_for_an_article_list_in_its_documented_parameters(
    http_server: FakeHTTPServer,
) -> None:
    _serve_gdelt(http_server, "{}")
    await discover("calder OR strike", _settings(http_server, "gdelt", BRIEFBOT_SINCE="48h"))
    (request,) = http_server.requests
    assert request.path == GDELT_PATH
    assert request.query == {
        "query": ["(calder OR strike)"],
        "mode": ["ArtList"],
        "format": ["json"],
        "maxrecords": [str(DISCOVERY_MAX_RESULTS)],
        "sort": ["DateDesc"],
        "timespan": ["2d"],
    }


async def test_gdelt_results_are_completed_from_their_pages(http_server: FakeHTTPServer) -> None:
    _serve_gdelt(http_server, fixture_text("gdelt_artlist.json", http_server.base_url))
    serve_page(
        http_server,
        "/2026/11/20/calder-port-strike-third-day",
        article_page("Calder dock strike enters third day", STRIKE_PARAGRAPHS),
    )
    serve_page(
        http_server,
        "/es/huelga-puerto-calder",
        article_page("La huelga", SPANISH, site_name="Diario del Sur", lang="es"),
    )
    settings = _settings(http_server, "gdelt")

    result = await discover("calder port strike", settings)

    strike, flood, spanish = result.articles
    assert strike.url == http_server.url("/2026/11/20/calder-port-strike-third-day")
    assert strike.title == "Calder dock strike enters third day as ships queue offshore"
    assert strike.published_at == datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
    assert strike.full_text
    assert strike.text.split("\n\n") == STRIKE_PARAGRAPHS
    assert strike.outlet == "The Harbor Ledger"
    assert strike.language == "en"
    assert (spanish.outlet, spanish.language, spanish.full_text) == ("Diario del Sur", "es", True)
    assert flood.full_text is False  # its page is missing: the GDELT title is all there is
    assert flood.text == flood.title == "Hundreds evacuated as River Aire bursts its banks"
    assert {a.source for a in result.articles} == {
        f"{http_server.url(GDELT_PATH)}?query=calder%20port%20strike&mode=ArtList&format=json"
        f"&maxrecords={DISCOVERY_MAX_RESULTS}&sort=DateDesc&timespan=2d"
    }
    assert [(e.source, e.error.split(";")[1].strip()) for e in result.errors] == [
        (flood.url, "kept the teaser text instead")
    ]


async def test_gdelt_plain_text_refusal_is_reported(http_server: FakeHTTPServer) -> None:
    _serve_gdelt(http_server, fixture_text("gdelt_refusal.txt"), "text/html; charset=utf-8")
    result = await discover("eu", _settings(http_server, "gdelt"))
    (error,) = result.errors
    assert error.source.startswith(http_server.url(GDELT_PATH) + "?query=eu&")
    assert error.error == (
        "GDELT did not return JSON; it said: Your search contained a keyword that was too "
        "short. Please use keywords of at least 3 characters."
    )


async def test_gdelt_with_no_matches_is_not_an_error(http_server: FakeHTTPServer) -> None:
    _serve_gdelt(http_server, "{}")
    result = await discover("zzqxv glorbnak", _settings(http_server, "gdelt"))
    assert result.articles == []
    assert result.errors == []


async def test_google_news_search_is_asked_in_its_documented_parameters(
    http_server: FakeHTTPServer,
) -> None:
    _serve_news(http_server, fixture_text("google_news_empty.rss"))
    result = await discover(
        "calder port strike", _settings(http_server, "googlenews", BRIEFBOT_SINCE="48h")
    )
    assert result.articles == []
    assert result.errors == []
    (request,) = http_server.requests
    assert request.query == {
        "q": ["calder port strike when:2d"],
        "hl": ["en-US"],
        "gl": ["US"],
        "ceid": ["US:en"],
    }


async def test_google_news_items_keep_their_link_and_outlet_and_follow_redirects(
    http_server: FakeHTTPServer,
) -> None:
    _serve_news(http_server, fixture_text("google_news_search.rss", http_server.base_url))
    serve_page(
        http_server,
        "/harborledger/calder-strike",
        article_page("Calder strike", STRIKE_PARAGRAPHS, site_name="harborledger.example"),
    )
    first = "/rss/articles/CBMiV2h0dHBzOi8vaGFyYm9ybGVkZ2VyLmV4YW1wbGUvY2FsZGVyLXN0cmlrZdIBAA"
    http_server.route("GET", first, redirect("/harborledger/calder-strike"))

    result = await discover("calder port strike", _settings(http_server, "googlenews"))

    ledger, northgate = result.articles
    assert ledger.url == ledger.original_url == http_server.url(first) + "?oc=5"
    assert ledger.outlet == "The Harbor Ledger"  # <source> wins over og:site_name
    assert ledger.title == "Calder dock strike enters third day as ships queue offshore"
    assert ledger.full_text is True
    assert ledger.text.split("\n\n") == STRIKE_PARAGRAPHS
    assert ledger.published_at == datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
    assert northgate.outlet == "Northgate Post"
    assert northgate.full_text is False
    assert northgate.text == "Calder port authority calls offer 'fair and final'"
    assert [e.source for e in result.errors] == [northgate.url]


async def test_discovery_results_on_other_internal_servers_are_refused(
    http_server: FakeHTTPServer,
) -> None:
    with FakeHTTPServer() as internal:
        serve_page(internal, "/news/aire-flood-evacuations", article_page("F", FLOOD_PARAGRAPHS))
        _serve_gdelt(http_server, fixture_text("gdelt_artlist.json", internal.base_url))
        result = await discover("flood", _settings(http_server, "gdelt"))
        assert internal.requests == []
    assert len(result.articles) == 3
    assert not any(a.full_text for a in result.articles)
    assert all("is a loopback address" in e.error for e in result.errors)
    assert len(result.errors) == 3


async def test_only_the_configured_services_are_asked(http_server: FakeHTTPServer) -> None:
    _serve_gdelt(http_server, "{}")
    _serve_news(http_server, fixture_text("google_news_empty.rss"))
    progress: list[tuple[str, int, int]] = []
    await discover(
        "strike", _settings(http_server, "googlenews"), progress=lambda *a: progress.append(a)
    )
    assert [r.path for r in http_server.requests] == [NEWS_PATH]
    assert progress == [("googlenews", 1, 1)]

    http_server.requests.clear()
    await discover("strike", _settings(http_server, "gdelt", "googlenews"))
    assert sorted(r.path for r in http_server.requests) == [GDELT_PATH, NEWS_PATH]


async def test_unreachable_discovery_service_is_reported(http_server: FakeHTTPServer) -> None:
    http_server.route("GET", NEWS_PATH, Reply(503, "", {"Content-Type": "text/html"}))
    result = await discover("strike", _settings(http_server, "googlenews"))
    (error,) = result.errors
    assert error.error.startswith("HTTP 503 Service Unavailable from ")


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (timedelta(hours=48), "2d"),
        (timedelta(hours=36), "36h"),
        (timedelta(minutes=90), "90min"),
        (timedelta(minutes=5), "15min"),
        (timedelta(weeks=30), "90d"),
    ],
)
def test_gdelt_timespan_uses_units_gdelt_understands(window: timedelta, expected: str) -> None:
    assert gdelt_timespan(window) == expected


def test_google_news_window_is_whole_hours_or_days() -> None:
    assert google_news_window(timedelta(hours=48)) == "2d"
    assert google_news_window(timedelta(minutes=90)) == "2h"


def test_gdelt_query_puts_or_terms_in_parentheses() -> None:
    assert gdelt_query("ukraine OR kyiv  OR zelensky") == "(ukraine OR kyiv OR zelensky)"
    assert gdelt_query('"port strike" calder') == '"port strike" calder'
    assert gdelt_query("(a OR b)") == "(a OR b)"
