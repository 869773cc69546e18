"""Coverage: wire and syndicated copies count once among independent reports."""

from __future__ import annotations

import dataclasses
import random

from bot.domain import Article, Coverage
from bot.summarize.coverage import coverage, independent_roots
from tests.fakes.summarize import port_strike_articles


def _by_outlet(articles: list[Article]) -> dict[str, Article]:
    return {a.outlet: a for a in articles}


def test_port_strike_story_has_three_independent_reports() -> None:
    assert coverage(port_strike_articles()) == Coverage(
        articles=6, outlets=6, independent_reports=3
    )


def test_roots_group_the_wire_with_its_copies_and_credits() -> None:
    articles = port_strike_articles()
    outlets = [a.outlet for a in articles]

    roots = independent_roots(articles)

    reports: dict[int, set[str]] = {}
    for outlet, root in zip(outlets, roots, strict=True):
        reports.setdefault(root, set()).add(outlet)
    assert sorted(map(sorted, reports.values())) == [
        ["Coastal Daily Record", "Evening Courier", "Meridian Wire", "Northport Gazette"],
        ["Harbor Times"],
        ["Valley Post"],
    ]
    assert articles[roots[outlets.index("Coastal Daily Record")]].outlet == "Meridian Wire"


def test_roots_do_not_depend_on_input_order() -> None:
    articles = port_strike_articles()
    expected = {
        a.url: articles[r].url for a, r in zip(articles, independent_roots(articles), strict=True)
    }
    rng = random.Random(7)

    for _ in range(5):
        rng.shuffle(articles)
        roots = independent_roots(articles)
        assert {a.url: articles[r].url for a, r in zip(articles, roots, strict=True)} == expected


def test_copies_of_an_original_outside_the_story_count_as_one_report() -> None:
    articles = _by_outlet(port_strike_articles())
    harbor, valley = articles["Harbor Times"], articles["Valley Post"]
    # Two outlets republish the same stored article (id 999) that is not in this story.
    copies = [
        dataclasses.replace(harbor, copy_of=999, origins=()),
        dataclasses.replace(valley, copy_of=999, origins=()),
    ]

    assert coverage(copies).independent_reports == 1


def test_articles_without_links_are_each_their_own_report() -> None:
    articles = _by_outlet(port_strike_articles())
    independent = [articles["Harbor Times"], articles["Valley Post"]]

    assert coverage(independent) == Coverage(articles=2, outlets=2, independent_reports=2)


def test_two_articles_from_one_outlet_count_as_one_outlet() -> None:
    valley = _by_outlet(port_strike_articles())["Valley Post"]
    update = dataclasses.replace(
        valley, url=valley.url + "-update", outlet="VALLEY  POST", id=None, title="Update"
    )

    assert coverage([valley, update]) == Coverage(articles=2, outlets=1, independent_reports=2)


def test_an_article_crediting_two_wires_joins_both_reports() -> None:
    articles = _by_outlet(port_strike_articles())
    harbor = dataclasses.replace(articles["Harbor Times"], origins=("Reuters",))
    valley = dataclasses.replace(articles["Valley Post"], origins=("Reuters", "Meridian Wire"))
    wire = articles["Meridian Wire"]

    assert coverage([wire, harbor, valley]).independent_reports == 1
    assert coverage([wire, harbor]).independent_reports == 2


def test_an_empty_story_has_no_coverage() -> None:
    assert coverage([]) == Coverage(articles=0, outlets=0, independent_reports=0)
