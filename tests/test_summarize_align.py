"""Sentence alignment: similarity, support of a claim by a source, and cross-article groups."""

from __future__ import annotations

import pytest

from bot.summarize.align import (
    SUPPORT_THRESHOLD,
    SentenceSet,
    align,
    best_support,
    is_boilerplate,
    sentence_similarity,
    source_sentences,
    strip_dateline,
)
from tests.fakes.summarize import (
    HARBOR_TEXT,
    VALLEY_TEXT,
    WIRE_TEXT,
    port_strike_articles,
)

LEAD = (
    "Dockworkers at the Port of Halvern walked off the job on Monday, halting cargo "
    "operations at the country's second-busiest container terminal after talks over pay and "
    "automation collapsed."
)


# --------------------------------------------------------------------------- best_support


@pytest.mark.parametrize(
    "claim",
    [
        # reordered, inflected, synonyms ("stopped" ~ "halting", "wage talks" ~ "talks over pay")
        "On Monday Halvern's dockworkers went on strike, stopping cargo operations at the "
        "container terminal after wage talks collapsed.",
        # passive voice and a possessive
        "About 3,200 members of the Halvern Dockworkers Union joined the strike, which is set "
        "to last 72 hours.",
        # a hedged, rounded figure stays within tolerance
        "Roughly 3,000 union members joined the 72-hour strike at Halvern.",
        # surname only where the source gives the full name
        "Ortiz said the authority had offered a 4% pay rise over two years.",
        # "vessels" ~ "ships", "anchored" ~ "at anchor"
        "By Monday afternoon at least 14 container vessels were waiting at anchor outside "
        "the harbour.",
    ],
)
def test_best_support_accepts_paraphrases(claim: str) -> None:
    support = best_support(claim, WIRE_TEXT)

    assert support.supported, support
    assert support.score >= SUPPORT_THRESHOLD
    assert support.sentence in WIRE_TEXT


@pytest.mark.parametrize(
    ("claim", "what_is_wrong"),
    [
        (
            "The Halvern Dockworkers Union said about 4,800 of its members joined the strike.",
            "number of strikers",
        ),
        (
            "Port authority chief Lena Ortiz said the authority had offered a 7% pay rise over "
            "two years.",
            "size of the offer",
        ),
        (
            '"We have been patient for 18 months," union leader Tom Reyes told reporters '
            "outside the main gate.",
            "who said it (unknown person)",
        ),
        (
            "Port authority chief Maria Ortiz said the authority had offered a 4% pay rise over "
            "two years.",
            "who said it (same surname, other first name)",
        ),
        (
            "Dockworkers at the Port of Ostrava walked off the job on Monday, halting cargo "
            "operations at the country's second-busiest container terminal.",
            "place",
        ),
        (
            "Dockworkers at the Port of Halvern walked off the job on Friday, halting cargo "
            "operations at the country's second-busiest container terminal.",
            "day",
        ),
        (
            "Dockworkers at the Port of Halvern did not walk off the job on Monday, and cargo "
            "operations at the container terminal continued.",
            "negation",
        ),
    ],
)
def test_best_support_rejects_a_claim_with_a_wrong_detail(claim: str, what_is_wrong: str) -> None:
    support = best_support(claim, WIRE_TEXT)

    assert not support.supported, f"accepted a wrong {what_is_wrong}: {support}"
    assert support.score < SUPPORT_THRESHOLD


def test_best_support_rejects_a_short_claim_missing_its_point() -> None:
    assert not best_support("The port reopened on Monday.", WIRE_TEXT).supported
    assert best_support("The port strike began on Monday.", WIRE_TEXT).supported


def test_best_support_rejects_a_negative_claim_the_source_does_not_make() -> None:
    assert not best_support("The port did not reopen on Monday.", WIRE_TEXT).supported
    # a negation elsewhere in the source sentence ("nothing but excuses") is no conflict
    claim = "Union leader Sam Beck said dockworkers had been patient for 18 months."
    assert best_support(claim, WIRE_TEXT).supported


def test_best_support_rejects_a_claim_the_source_does_not_make() -> None:
    claim = "Kestrel Lines said three of its ships bound for Halvern had been rerouted to Ostrava."

    assert best_support(claim, VALLEY_TEXT).supported
    assert not best_support(claim, WIRE_TEXT).supported
    assert not best_support(claim, HARBOR_TEXT).supported


def test_best_support_finds_a_claim_spread_over_two_adjacent_sentences() -> None:
    claim = (
        "Kestrel Lines rerouted three ships bound for Halvern to the port of Ostrava, and at "
        "least 14 ships were anchored outside the harbour on Monday afternoon."
    )

    support = best_support(claim, VALLEY_TEXT)

    assert support.supported
    assert "Kestrel Lines" in support.sentence
    assert "At least 14 ships" in support.sentence


def test_best_support_of_an_empty_or_wordless_claim_is_unsupported() -> None:
    assert best_support("", WIRE_TEXT).supported is False
    assert best_support("Yes.", WIRE_TEXT) == best_support("", WIRE_TEXT)
    assert best_support(LEAD, "").supported is False


# --------------------------------------------------------------------------- similarity


def test_sentence_similarity_is_one_for_the_same_sentence_and_symmetric() -> None:
    other = (
        "Cargo handling at Halvern's port ground to a halt on Monday as thousands of "
        "dockworkers went on strike in a dispute over wages."
    )

    assert sentence_similarity(LEAD, LEAD) == pytest.approx(1.0)
    assert sentence_similarity(LEAD, other) == pytest.approx(sentence_similarity(other, LEAD))


def test_sentence_similarity_ranks_a_paraphrase_above_another_fact_of_the_same_story() -> None:
    paraphrase = (
        "Cargo handling at Halvern's port ground to a halt on Monday as thousands of "
        "dockworkers went on strike in a dispute over wages."
    )
    other_fact = (
        "Transport minister Ilse Varga urged the Halvern port authority and dockworkers to "
        "return to talks."
    )

    assert sentence_similarity(LEAD, paraphrase) > 2 * sentence_similarity(LEAD, other_fact)


def test_sentence_similarity_drops_when_numbers_conflict() -> None:
    base = "The union said 3,200 of its members joined the strike at the port on Monday."
    same = "The union said 3,200 of its members joined the strike at the port on Monday."
    conflicting = "The union said 1,500 of its members joined the strike at the port on Monday."

    assert sentence_similarity(base, same) == pytest.approx(1.0)
    assert sentence_similarity(base, conflicting) < 0.5


def test_sentence_similarity_drops_when_names_conflict() -> None:
    a = "Union leader Sam Beck said the members would stay out until the offer improved."
    b = "Union leader Lena Ortiz said the members would stay out until the offer improved."

    assert sentence_similarity(a, b) < 0.6
    assert sentence_similarity(a, a.replace("Union leader ", "")) > 0.8


def test_unrelated_sentences_are_not_similar() -> None:
    tram = "The city council approved a 240 million euro budget for a new tram line."

    assert sentence_similarity(LEAD, tram) < 0.1


# --------------------------------------------------------------------------- sentences


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("HALVERN (Meridian Wire) — Dockworkers walked out.", "Dockworkers walked out."),
        ("NEW YORK, March 3 (Reuters) - Stocks fell on Monday.", "Stocks fell on Monday."),
        ("WASHINGTON (AP) — The Senate voted.", "The Senate voted."),
        (
            "HALVERN — Shipping lines began diverting vessels.",
            "Shipping lines began diverting vessels.",
        ),
        (
            "Dockworkers at the Port of Halvern walked out.",
            "Dockworkers at the Port of Halvern walked out.",
        ),
        ("HALVERN (Meridian Wire) —", ""),
        (
            "Sam Beck (pictured) — the union leader — spoke.",
            "Sam Beck (pictured) — the union leader — spoke.",
        ),
        ("San Diego, Calif. (AP) — Fires spread.", "Fires spread."),
    ],
)
def test_strip_dateline_removes_a_leading_dateline_and_wire_credit(raw: str, clean: str) -> None:
    assert strip_dateline(raw) == clean


@pytest.mark.parametrize(
    "sentence",
    [
        "Sign up for our morning newsletter to get the day's top stories in your inbox.",
        "Reporting by Anna Keller; Editing by Tom Hale",
        "(Additional reporting by Sam Ortiz in Halvern)",
        "© 2025 Northport Gazette. All rights reserved.",
        "Harbor Times reporter Maria Santos contributed to this report from Halvern.",
        "By Maria Santos",
        "By Maria Santos and Tom Hale, Harbor Times",
        "Read more: Halvern port braces for strike",
        "Our Standards: The Meridian Wire Trust Principles.",
    ],
)
def test_boilerplate_is_recognised(sentence: str) -> None:
    assert is_boilerplate(sentence)


@pytest.mark.parametrize(
    "sentence",
    [
        LEAD,
        "By Monday afternoon at least 14 ships were waiting at anchor outside the harbour.",
        "The union said its newsletter had urged members to join the strike.",
    ],
)
def test_news_sentences_are_not_boilerplate(sentence: str) -> None:
    assert not is_boilerplate(sentence)


def test_source_sentences_strip_the_dateline_and_drop_credits() -> None:
    sentences = source_sentences(WIRE_TEXT)

    assert sentences[0] == LEAD
    assert not any("Reporting by" in s for s in sentences)
    assert len(sentences) == 6


# --------------------------------------------------------------------------- align


def test_align_groups_copies_and_shared_quotes_across_outlets() -> None:
    articles = port_strike_articles()
    outlet = {i: a.outlet for i, a in enumerate(articles)}

    groups = align(articles)

    quote = next(g for g in groups if "patient for 18 months" in g.representative.text)
    assert {outlet[i] for i in quote.articles} == {
        "Meridian Wire",
        "Coastal Daily Record",
        "Northport Gazette",
        "Harbor Times",
    }
    assert all("patient for 18 months" in ref.text for ref in quote.sentences)


def test_align_keeps_a_single_outlet_claim_in_a_group_of_its_own() -> None:
    articles = port_strike_articles()

    groups = align(articles)

    kestrel = [g for g in groups if any("Kestrel" in ref.text for ref in g.sentences)]
    assert len(kestrel) == 1
    assert [articles[i].outlet for i in kestrel[0].articles] == ["Valley Post"]


def test_align_puts_every_sentence_in_exactly_one_group_with_one_sentence_per_article() -> None:
    articles = port_strike_articles()

    groups = align(articles)

    refs = [(ref.article, ref.index) for g in groups for ref in g.sentences]
    assert len(refs) == len(set(refs))
    assert len(refs) == sum(len(source_sentences(a.text)) for a in articles)
    for group in groups:
        assert len(group.articles) == len(set(group.articles))


def test_sentence_set_finds_exactly_the_repeats_a_pairwise_check_finds() -> None:
    sentences = [
        "Dockworkers at the Port of Halvern extended their strike into a third day on Wednesday.",
        "The strike at the Port of Halvern went into a third day on Wednesday, dockworkers said.",
        "The union says 1,400 members have walked out over automation plans.",
        "About 1,400 union members walked out over the automation plans, the union said.",
        "Some 1,200 union members walked out over the automation plans, the union said.",
        "Transport Minister Elin Marsk named a mediator on Thursday.",
        "Elin Marsk, the transport minister, did not name a mediator on Thursday.",
        "Ships are waiting at anchor outside the port.",
        "Talks broke down.",
        "“We will not accept this,” he said.",
    ]
    kept = SentenceSet()
    for sentence in sentences[:5]:
        kept.add(sentence)
    for threshold in (0.3, 0.6, 0.8):
        for sentence in sentences:
            pairwise = any(sentence_similarity(sentence, k) >= threshold for k in sentences[:5])
            assert kept.repeats(sentence, threshold) is pairwise, (sentence, threshold)
    assert kept.repeats(sentences[1], 0.6)  # a retelling of a kept sentence
    assert not kept.repeats(sentences[7], 0.6)
