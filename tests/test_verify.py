"""Citation verification: the labelled claim/source set, and what verify_points changes.

The labelled set (``tests/fixtures/verify/claims.jsonl``) is hand-written: fictional news
articles and claims about them. Kinds a verifier must get right are asserted one by one;
the known-hard kinds (overclaims, partly invented clauses, a figure from the right sentence
attached to the wrong thing) count only towards the overall precision and recall, whose
floors are the values measured by ``bench/verify_quality.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.domain import Article, KeyPoint, SourceRef
from bot.summarize.verify import (
    CitationVerifier,
    VerifiedPoints,
    claim_parts,
    verify_items,
    verify_points,
)
from tests.fakes.summarize import port_strike_articles

LABELLED = Path(__file__).parent / "fixtures" / "verify" / "claims.jsonl"
MUST_PASS = {"verbatim", "paraphrase", "reordered", "passive", "number_format", "multi_sentence"}
MUST_FAIL = {
    "wrong_number",
    "wrong_name",
    "wrong_place",
    "wrong_date",
    "negation",
    "contradiction",
    "unrelated",
}
HARD = {"overclaim", "partial", "swapped_number"}  # measured, not asserted one by one
# Measured on the labelled set (168 pairs): precision 0.912, recall 1.000.
MIN_PRECISION = 0.91
MIN_RECALL = 1.0


def _load() -> list[dict[str, str]]:
    return [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]


ITEMS = _load()


def _ref(source_id: int, outlet: str = "", title: str = "", url: str = "") -> SourceRef:
    return SourceRef(
        id=source_id,
        outlet=outlet or f"Outlet {source_id}",
        title=title or f"Article {source_id}",
        url=url or f"https://outlet{source_id}.example/{source_id}",
        published_at=None,
        full_text=True,
    )


def _kept(claim: str, source_text: str) -> bool:
    ref = _ref(1)
    article = Article(url=ref.url, title=ref.title, text=source_text, outlet=ref.outlet)
    result = verify_points([KeyPoint(claim, [1])], [ref], {1: article}, add_missing=False)
    return bool(result.key_points)


# --------------------------------------------------------------------------- labelled set


def test_labelled_set_is_large_balanced_and_every_kind_is_classified() -> None:
    assert len(ITEMS) >= 80
    assert len({item["id"] for item in ITEMS}) == len(ITEMS)
    labels = {item["label"] for item in ITEMS}
    assert labels == {"supported", "unsupported"}
    for item in ITEMS:
        assert item["kind"] in MUST_PASS | MUST_FAIL | HARD, item["id"]
        expected = "supported" if item["kind"] in MUST_PASS else "unsupported"
        assert item["label"] == expected, item["id"]


@pytest.mark.parametrize(
    "item", [i for i in ITEMS if i["kind"] in MUST_PASS], ids=lambda i: f"{i['id']}-{i['kind']}"
)
def test_supported_claim_keeps_its_citation(item: dict[str, str]) -> None:
    assert _kept(item["claim"], item["source"]), item["claim"]


@pytest.mark.parametrize(
    "item", [i for i in ITEMS if i["kind"] in MUST_FAIL], ids=lambda i: f"{i['id']}-{i['kind']}"
)
def test_claim_with_a_wrong_detail_loses_its_citation(item: dict[str, str]) -> None:
    assert not _kept(item["claim"], item["source"]), item["claim"]


def test_precision_and_recall_on_the_whole_labelled_set() -> None:
    true_pos = false_pos = false_neg = 0
    for item in ITEMS:
        kept = _kept(item["claim"], item["source"])
        supported = item["label"] == "supported"
        true_pos += kept and supported
        false_pos += kept and not supported
        false_neg += supported and not kept

    precision = true_pos / (true_pos + false_pos)
    recall = true_pos / (true_pos + false_neg)

    assert precision >= MIN_PRECISION, f"precision {precision:.3f}"
    assert recall >= MIN_RECALL, f"recall {recall:.3f}"


def test_a_supported_claim_finds_no_support_in_the_other_stories() -> None:
    texts = list(dict.fromkeys(item["source"] for item in ITEMS))
    refs = [_ref(i + 1) for i in range(len(texts))]
    verifier = CitationVerifier(
        refs,
        {
            r.id: Article(url=r.url, title=r.title, text=t, outlet=r.outlet)
            for r, t in zip(refs, texts, strict=True)
        },
    )
    for item in ITEMS:
        if item["label"] != "supported":
            continue
        own = texts.index(item["source"]) + 1
        assert [s for s in verifier.check(item["claim"]).support if s != own] == [], item["id"]


# --------------------------------------------------------------------------- a real story


def _port_story() -> tuple[list[SourceRef], dict[int, Article]]:
    """The six outlets' reports of the Halvern strike as sources 1..6."""
    articles = port_strike_articles()
    refs = [
        SourceRef(i + 1, a.outlet, a.title, a.url, a.published_at, a.full_text)
        for i, a in enumerate(articles)
    ]
    return refs, {ref.id: article for ref, article in zip(refs, articles, strict=True)}


def _with_phrase(articles: dict[int, Article], phrase: str) -> list[int]:
    return sorted(i for i, a in articles.items() if phrase in a.text)


KESTREL = "Kestrel Lines said three of its ships bound for Halvern had been rerouted to Ostrava."
BECK = "Union leader Sam Beck said dockworkers had been patient for 18 months."
WRONG_FIGURE = "The Halvern Dockworkers Union said about 4,800 of its members joined the strike."


def test_a_cited_source_that_does_not_support_the_point_is_removed_and_recorded() -> None:
    refs, articles = _port_story()
    valley = _with_phrase(articles, "Kestrel Lines")  # the only outlet with the Kestrel claim

    result = verify_points([KeyPoint(KESTREL, [1, *valley])], refs, articles)

    assert result.key_points == [KeyPoint(KESTREL, valley)]
    assert result.verification.removed == [(KESTREL, 1)]
    assert result.verification.checked == 2
    assert result.verification.dropped == []


def test_a_point_citing_nothing_valid_is_dropped() -> None:
    refs, articles = _port_story()

    result = verify_points([KeyPoint(WRONG_FIGURE, [1, 4])], refs, articles)

    assert result.key_points == []
    assert result.verification.dropped == [WRONG_FIGURE]
    assert result.verification.removed == [(WRONG_FIGURE, 1), (WRONG_FIGURE, 4)]
    assert result.marked == []


def test_mark_mode_returns_the_unsupported_point_without_sources() -> None:
    refs, articles = _port_story()

    result = verify_points([KeyPoint(WRONG_FIGURE, [1])], refs, articles, unsupported="mark")

    assert result.key_points == []
    assert result.marked == [KeyPoint(WRONG_FIGURE, [])]
    assert result.verification.dropped == [WRONG_FIGURE]


def test_a_supporting_source_the_writer_missed_is_added() -> None:
    refs, articles = _port_story()
    quoting = _with_phrase(articles, "patient for 18 months")
    assert len(quoting) >= 3  # the wire, its copies and the rewrite that shares the quote

    result = verify_points([KeyPoint(BECK, [quoting[0]])], refs, articles)

    assert result.key_points == [KeyPoint(BECK, quoting)]
    assert result.verification.added == [(BECK, s) for s in quoting[1:]]
    assert result.verification.removed == []


def test_nothing_is_added_when_add_missing_is_off() -> None:
    refs, articles = _port_story()
    quoting = _with_phrase(articles, "patient for 18 months")

    result = verify_points([KeyPoint(BECK, [quoting[0]])], refs, articles, add_missing=False)

    assert result.key_points == [KeyPoint(BECK, [quoting[0]])]
    assert result.verification.added == []


def test_citations_of_nonexistent_sources_are_removed_and_counted() -> None:
    refs, articles = _port_story()
    valley = _with_phrase(articles, "Kestrel Lines")[0]

    result = verify_points([KeyPoint(KESTREL, [valley, 9, 0])], refs, articles)

    assert result.key_points == [KeyPoint(KESTREL, [valley])]
    assert result.unknown == [(KESTREL, 9), (KESTREL, 0)]
    assert result.verification.removed == [(KESTREL, 9), (KESTREL, 0)]
    assert result.verification.checked == 1  # unknown ids have no text to check against


def test_repeated_citations_collapse_and_are_checked_once() -> None:
    refs, articles = _port_story()
    valley = _with_phrase(articles, "Kestrel Lines")[0]

    result = verify_points([KeyPoint(KESTREL, [valley, valley, valley])], refs, articles)

    assert result.key_points == [KeyPoint(KESTREL, [valley])]
    assert result.verification.checked == 1


def test_counts_over_several_points_and_order_is_kept() -> None:
    refs, articles = _port_story()
    quoting = _with_phrase(articles, "patient for 18 months")
    valley = _with_phrase(articles, "Kestrel Lines")
    points = [
        KeyPoint(BECK, quoting),
        KeyPoint(WRONG_FIGURE, [1, 2]),
        KeyPoint(KESTREL, [*valley, 4, 4, 12]),
    ]

    result = verify_points(points, refs, articles, add_missing=False)

    assert [p.text for p in result.key_points] == [BECK, KESTREL]
    report = result.verification
    assert report.checked == len(quoting) + 2 + len(valley) + 1
    assert report.removed == [(WRONG_FIGURE, 1), (WRONG_FIGURE, 2), (KESTREL, 4), (KESTREL, 12)]
    assert report.dropped == [WRONG_FIGURE]
    assert report.added == []


def test_a_two_part_point_is_kept_when_its_sources_support_it_jointly() -> None:
    refs, articles = _port_story()
    valley = _with_phrase(articles, "Kestrel Lines")[0]
    point = (
        "Kestrel Lines rerouted three ships bound for Halvern to Ostrava; the Halvern "
        "Dockworkers Union said about 3,200 of its members joined the strike."
    )
    # neither source reports both halves
    assert "Kestrel" not in articles[1].text
    assert "3,200" not in articles[valley].text

    joint = verify_points([KeyPoint(point, [1, valley])], refs, articles, add_missing=False)
    alone = verify_points([KeyPoint(point, [valley])], refs, articles, add_missing=False)

    assert joint.key_points == [KeyPoint(point, [1, valley])]
    assert alone.key_points == []
    assert alone.verification.dropped == [point]


def test_a_point_with_one_invented_clause_is_dropped_although_the_rest_is_sourced() -> None:
    refs, articles = _port_story()
    point = (
        "Port authority chief Lena Ortiz said the authority had offered a 4% pay rise over two "
        "years, and the transport ministry ordered the port to reopen on Tuesday."
    )

    result = verify_points([KeyPoint(point, [1, 2, 3])], refs, articles)

    assert result.key_points == []
    assert result.verification.dropped == [point]
    assert result.verification.removed == []  # each source supports the first clause


def test_naming_the_outlet_in_the_point_does_not_count_against_it() -> None:
    refs, articles = _port_story()
    valley = _with_phrase(articles, "Kestrel Lines")[0]
    point = f"According to the {refs[valley - 1].outlet}, {KESTREL}"

    result = verify_points([KeyPoint(point, [valley])], refs, articles, add_missing=False)

    assert result.key_points == [KeyPoint(point, [valley])]


def test_a_source_without_article_text_supports_nothing() -> None:
    refs, articles = _port_story()
    quoting = _with_phrase(articles, "patient for 18 months")
    del articles[quoting[0]]

    result = verify_points([KeyPoint(BECK, quoting)], refs, articles, add_missing=False)

    assert result.key_points == [KeyPoint(BECK, quoting[1:])]
    assert result.verification.removed == [(BECK, quoting[0])]


def test_the_result_does_not_depend_on_the_order_sources_are_given_in() -> None:
    refs, articles = _port_story()
    points = [KeyPoint(BECK, [1]), KeyPoint(KESTREL, [1, 5]), KeyPoint(WRONG_FIGURE, [3])]

    forward = verify_points(points, refs, articles)
    backward = verify_points(points, list(reversed(refs)), dict(reversed(articles.items())))

    assert forward == backward


def test_an_unknown_mode_is_refused_with_a_clear_message() -> None:
    refs, articles = _port_story()

    with pytest.raises(ValueError, match="unsupported must be 'drop' or 'mark'"):
        verify_points([KeyPoint(BECK, [1])], refs, articles, unsupported="hide")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- other lists

OFFICIAL = Article(
    url="https://pennantpress.example/rivel-floods",
    title="Rivel floods kill nine",
    outlet="Pennant Press",
    text=(
        "Floodwaters swept through towns along the Rivel river on Friday, killing at least nine "
        "people, regional officials said.\n\nMore than 300 people were rescued from rooftops in "
        "Bellagra."
    ),
)
HOSPITALS = Article(
    url="https://rivelcourier.example/flood-toll",
    title="Hospital records show higher flood toll",
    outlet="Rivel Courier",
    text=(
        "Twelve people have died in the floods along the Rivel river, according to hospital "
        "records seen by the Rivel Courier.\n\nOfficials have so far confirmed nine deaths."
    ),
)
RAIN = Article(
    url="https://valleypost.example/rain-record",
    title="Record rain at Castelmarro",
    outlet="Valley Post",
    text="The regional weather service said 180 millimetres of rain fell in 36 hours at "
    "Castelmarro.",
)


def _flood_story() -> tuple[list[SourceRef], dict[int, Article]]:
    articles = [OFFICIAL, HOSPITALS, RAIN]
    refs = [_ref(i + 1, a.outlet, a.title, a.url) for i, a in enumerate(articles)]
    return refs, {ref.id: a for ref, a in zip(refs, articles, strict=True)}


def test_a_disagreement_keeps_each_source_that_reports_its_side() -> None:
    refs, articles = _flood_story()
    item = KeyPoint(
        "Accounts of the death toll differ: officials say at least nine people were killed, "
        "while the Rivel Courier reports that twelve people have died.",
        [1, 2, 3],
    )

    result = verify_items([item], refs, articles, rule="differ")

    assert result.key_points == [KeyPoint(item.text, [1, 2])]
    assert result.verification.removed == [(item.text, 3)]


def test_a_disagreement_with_an_invented_side_is_dropped() -> None:
    refs, articles = _flood_story()
    item = KeyPoint(
        "Officials say nine people died in the floods, while other reports put the toll at 20.",
        [1, 2],
    )

    result = verify_items([item], refs, articles, rule="differ")

    assert result.key_points == []
    assert result.verification.dropped == [item.text]


def test_a_disagreement_that_only_frames_is_dropped() -> None:
    refs, articles = _flood_story()
    item = KeyPoint("Sources differ on the death toll.", [1, 2])

    result = verify_items([item], refs, articles, rule="differ")

    assert result.key_points == []


def test_whats_new_items_are_checked_like_key_points() -> None:
    refs, articles = _flood_story()
    new = KeyPoint("Hospital records show twelve people have died in the Rivel floods.", [1, 2])

    result = verify_items([new], refs, articles)

    assert result.key_points == [KeyPoint(new.text, [2])]
    assert result.verification.removed == [(new.text, 1)]


def test_one_verifier_serves_several_lists_of_a_story() -> None:
    refs, articles = _flood_story()
    verifier = CitationVerifier(refs, articles)
    points = [KeyPoint("At least nine people were killed by floods along the Rivel river.", [1])]
    differ = [KeyPoint("Officials say nine died, while hospital records show twelve deaths.", [1])]

    checked_points: VerifiedPoints = verifier.verify(points)
    checked_differ = verifier.verify(differ, rule="differ")

    assert checked_points.key_points == [KeyPoint(points[0].text, [1, 2])]
    assert checked_differ.key_points == [KeyPoint(differ[0].text, [1, 2])]
    assert checked_differ.verification.added == [(differ[0].text, 2)]


# --------------------------------------------------------------------------- claim parts


def test_claim_parts_split_sentences_and_independent_clauses() -> None:
    text = (
        "The union said 3,200 members joined the strike, while the port authority put the "
        "figure at 1,500. Talks are due to resume on Thursday; both sides have named mediators."
    )

    assert claim_parts(text) == [
        "The union said 3,200 members joined the strike",
        "the port authority put the figure at 1,500.",
        "Talks are due to resume on Thursday",
        "both sides have named mediators.",
    ]


def test_claim_parts_keep_a_short_clause_or_a_list_with_its_sentence() -> None:
    listing = "Pre-orders open on Friday in Japan, Germany, and Brazil."
    short = "The port reopened on Tuesday, and cargo moved."

    assert claim_parts(listing) == [listing]
    assert claim_parts(short) == [short]


# --------------------------------------------------------------------------- alignment fixes

LEDGER = (
    "The Bank of Caravelle lifted its main rate to 4.75%, its first increase since 2019.\n\n"
    "Trading volume was the highest since the pandemic, at 1.9 billion shares, and the CX-40 "
    "index closed down 3.1%.\n\n"
    "Orrin unveiled the Orrin Fold at an event in San Lucido on Thursday.\n\n"
    "Menzi asked the national government for 250 million euros in relief funds."
)


@pytest.mark.parametrize(
    ("claim", "supported"),
    [
        ("Volume reached 1.9bn shares, the highest since the pandemic.", True),
        ("Volume reached 1.9 shares, the highest since the pandemic.", False),
        ("Menzi asked the national government for €250m in relief funds.", True),
        ("Menzi asked the national government for €350m in relief funds.", False),
        ("Menzi asked the national government for 250m euros in relief funds.", True),
        ("The bank raised its main rate to 4.5%, its first increase since 2019.", False),
        ("The CX-40 index closed down 3.1%.", True),
        ("Orrin unveiled the Orrin Fold in San Marino on Thursday.", False),
    ],
)
def test_figures_and_names_are_compared_however_they_are_written(
    claim: str, supported: bool
) -> None:
    assert _kept(claim, LEDGER) is supported


def test_a_name_borrowed_from_the_next_sentence_does_not_make_a_claim_supported() -> None:
    text = (
        "The weather service said 180 millimetres of rain fell in 36 hours at Castelmarro.\n\n"
        "Rescue teams pulled more than 300 people from rooftops in the town of Bellagra."
    )

    assert _kept("Rescue teams pulled more than 300 people from rooftops in Bellagra.", text)
    assert not _kept("Rescue teams pulled more than 300 people from rooftops in Castelmarro.", text)


def test_a_negation_may_move_within_its_clause_but_not_disappear() -> None:
    text = "Lindqvist said the airline would not close any Polaris bases."

    assert _kept("Lindqvist said no Polaris bases would be closed.", text)
    assert not _kept("Lindqvist said the airline would close Polaris bases.", text)


def test_the_article_subject_may_stand_for_the_company_in_a_later_sentence() -> None:
    text = (
        "A software fault at Tallis Pay left card users unable to pay for five hours on Friday."
        "\n\nThe central bank said it had asked the company for a full report within 10 days."
    )

    assert _kept("The central bank asked Tallis Pay for a full report within 10 days.", text)
    assert not _kept("The central bank asked Orrin Pay for a full report within 10 days.", text)
