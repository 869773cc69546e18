"""Topic relevance: query parsing and scoring stories against a query."""

from __future__ import annotations

import dataclasses

import pytest

from bot.domain import Article
from bot.summarize.relevance import Query, article_relevance, relevance
from tests.fakes.summarize import port_strike_articles, stadium_articles, tram_articles


def _scores(query: str) -> dict[str, float]:
    parsed = Query.parse(query)
    return {
        "port strike": relevance(parsed, port_strike_articles()),
        "tram budget": relevance(parsed, tram_articles()),
        "stadium blackout": relevance(parsed, stadium_articles()),
    }


def test_parse_splits_or_alternatives_into_and_groups_of_stems() -> None:
    query = Query.parse("port strikes OR Dockworkers")

    assert set(query.alternatives) == {
        frozenset(Query.parse("port strike").alternatives[0]),
        frozenset(Query.parse("dockworker").alternatives[0]),
    }
    assert len(Query.parse("port strike").alternatives[0]) == 2


def test_parse_ignores_stopwords_quotes_and_an_explicit_and() -> None:
    assert (
        Query.parse('"the port" AND strike').alternatives == Query.parse("port strike").alternatives
    )


def test_parse_rejects_a_query_without_words() -> None:
    with pytest.raises(ValueError, match="no words"):
        Query.parse("  OR  ")


def test_plural_query_matches_singular_text() -> None:
    scores = _scores("strikes")

    assert scores["port strike"] > 0


def test_unrelated_stories_score_zero() -> None:
    scores = _scores("port strike")

    assert scores["port strike"] > 0
    assert scores["tram budget"] == 0.0
    # mentions a "lightning strike" in passing, but nothing about a port
    assert scores["stadium blackout"] == 0.0


def test_a_single_passing_mention_is_not_enough() -> None:
    # "strike" appears once, in the second sentence of the stadium story
    assert _scores("strike")["stadium blackout"] == 0.0


def test_all_words_of_a_group_are_required() -> None:
    scores = _scores("tram strike")

    assert scores == {"port strike": 0.0, "tram budget": 0.0, "stadium blackout": 0.0}


def test_any_alternative_is_enough() -> None:
    scores = _scores("tram OR dockworkers")

    assert scores["port strike"] > 0
    assert scores["tram budget"] > 0
    assert scores["stadium blackout"] == 0.0


def test_possessives_and_hyphenation_do_not_block_a_match() -> None:
    riverside = stadium_articles()

    assert relevance(Query.parse("Halvern stadium"), riverside) > 0
    assert relevance(Query.parse("dock-workers"), port_strike_articles()) > 0


def test_headline_matches_weigh_more_than_body_matches() -> None:
    article = tram_articles()[0]
    in_title = article
    in_body_only = dataclasses.replace(article, title="City votes on transport plan")
    query = Query.parse("tram")

    assert article_relevance(query, in_title) > article_relevance(query, in_body_only) > 0


def test_a_story_mostly_about_the_topic_ranks_above_one_that_touches_it() -> None:
    port = port_strike_articles()
    tram = tram_articles()[0]
    mixed = [tram, dataclasses.replace(port[4], url="https://valleypost.example/x")]
    query = Query.parse("port strike")

    assert relevance(query, port) > relevance(query, mixed) > 0


def test_a_query_made_of_stopwords_still_matches() -> None:
    concert = dataclasses.replace(
        tram_articles()[0],
        title="The Who announce farewell concert in Halvern",
        text="The Who will play their last concert at Riverside Stadium in June.",
    )

    assert relevance(Query.parse("The Who"), [concert]) == 1.0
    assert relevance(Query.parse("The Who"), tram_articles()) == 0.0


def test_relevance_of_no_articles_is_zero() -> None:
    assert relevance(Query.parse("port"), []) == 0.0


def test_relevance_is_between_zero_and_one() -> None:
    query = Query.parse("halvern")
    stories: list[list[Article]] = [port_strike_articles(), tram_articles(), stadium_articles()]

    for articles in stories:
        assert 0.0 <= relevance(query, articles) <= 1.0
