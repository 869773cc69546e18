"""The source passages an LLM prompt carries (``bot.summarize.passages``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain import Article, SourceRef
from bot.summarize.passages import select_passages
from bot.summarize.tokens import count_tokens

T0 = datetime(2026, 11, 17, 8, 0, tzinfo=UTC)

FILLER = [
    "The port handles about a fifth of the country's container traffic in a normal week.",
    "Shipping agents said several vessels had been diverted to smaller harbours along the coast.",
    "Local businesses near the terminal reported fewer lorries passing through on Monday.",
    "The harbour authority published a revised schedule for pilot boats on its website.",
    "Analysts at two banks said the disruption would weigh on exports in the fourth quarter.",
    "A spokesman for the chamber of commerce urged both sides to return to the table quickly.",
    "Weather forecasters expect calmer seas along the coast by the end of the week.",
    "The last comparable stoppage at the port, in 2019, lasted eleven days.",
]


def article(
    number: int,
    outlet: str,
    sentences: list[str],
    *,
    copy_of: int | None = None,
    origins: tuple[str, ...] = (),
) -> Article:
    return Article(
        url=f"https://{outlet.lower().replace(' ', '-')}.example/{number}",
        title=f"Halvern port report {number}",
        text="\n\n".join(sentences),
        outlet=outlet,
        published_at=T0 + timedelta(minutes=number),
        fetched_at=T0 + timedelta(minutes=number),
        copy_of=copy_of,
        origins=origins,
        id=number,
    )


def refs_for(articles: list[Article]) -> tuple[list[SourceRef], dict[int, Article]]:
    number_of = {a.id: n for n, a in enumerate(articles, start=1)}
    refs = [
        SourceRef(
            id=n,
            outlet=a.outlet,
            title=a.title,
            url=a.url,
            published_at=a.published_at,
            full_text=True,
            origins=a.origins,
            copy_of=number_of.get(a.copy_of) if a.copy_of is not None else None,
            article_id=a.id,
        )
        for n, a in enumerate(articles, start=1)
    ]
    return refs, {ref.id: a for ref, a in zip(refs, articles, strict=True)}


SHARED = "Transport Minister Elin Marsk thanked both sides and the mediator on Tuesday evening."


def story() -> list[Article]:
    wire = [
        "Dockworkers at the Port of Halvern ended their three-day strike on Tuesday.",
        SHARED,
        "The union said its 1,400 members would return to work on Wednesday morning.",
        *FILLER[:4],
    ]
    independent = [
        "The strike that shut the Port of Halvern for three days is over, the union said.",
        *FILLER[4:],
    ]
    # A partner's copy of the independent report that adds one sentence of its own: the
    # minister's thanks, which the wire carries too.
    partner_copy = [*independent, SHARED]
    return [
        article(1, "Meridian Wire", wire),
        article(2, "Coastal Ledger", wire, copy_of=1, origins=("Meridian Wire",)),
        article(3, "VBC News", independent),
        article(4, "VBC Partner", partner_copy, copy_of=3),
    ]


def test_wire_copies_become_one_passage_that_stands_for_every_copy() -> None:
    refs, by_id = refs_for(story())
    chosen = select_passages(refs, by_id, 4000)
    assert chosen.passage_count == 2
    assert chosen.aliases[1] == (1, 2)
    assert chosen.expand([1]) == [1, 2]
    assert chosen.expand([3]) == [3, 4]
    assert 'also_ids="2"' in chosen.text


def test_a_sentence_a_copy_shares_with_another_report_goes_in_before_single_report_ones() -> None:
    refs, by_id = refs_for(story())
    # Room for very little: what two independent reports carry must still be there, although
    # in the second report only its partner's copy (not the report's own article) carries it.
    chosen = select_passages(refs, by_id, 120, min_tokens=0, min_single_tokens=0, share=0.0)
    sent = [s for sentences in chosen.sentences.values() for s in sentences]
    assert SHARED in sent
    assert all(s not in sent for s in FILLER)


def test_the_same_sentence_in_two_reports_is_sent_once() -> None:
    refs, by_id = refs_for(story())
    chosen = select_passages(refs, by_id, 4000)
    assert chosen.text.count(SHARED) == 1


def test_sentences_sent_before_are_left_out() -> None:
    refs, by_id = refs_for(story())
    chosen = select_passages(refs, by_id, 4000, exclude_sentences=[SHARED, FILLER[0]])
    assert SHARED not in chosen.text
    assert FILLER[0] not in chosen.text
    assert FILLER[1] in chosen.text


def test_the_prompt_is_held_to_a_share_of_the_naive_one() -> None:
    long_story = [
        article(
            n,
            f"Outlet {n}",
            [
                f"{sentence[:-1]}, outlet {n} reported in update {k}."
                for k in range(6)
                for sentence in FILLER
            ],
        )
        for n in range(1, 9)
    ]
    refs, by_id = refs_for(long_story)
    chosen = select_passages(refs, by_id, 100_000, share=0.25, min_tokens=0)
    assert chosen.naive_tokens > 4000
    assert count_tokens(chosen.text) <= 0.25 * chosen.naive_tokens + 40 * len(long_story)
