"""What counts as a material development (``bot.summarize.developments``): a key point that
a new independent report carries and that no earlier briefing made, in any words."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain import Coverage, KeyPoint, SourceRef, StoryBriefing
from bot.summarize.align import sentence_similarity
from bot.summarize.developments import REWORDING, material_points

T0 = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
OLD_POINT = (
    "The strike at the port of Calder left 40 container ships waiting at anchor on Tuesday, "
    "the port authority said."
)
REWORDED = (
    "Forty container ships were left waiting at anchor off Calder on Tuesday because of the "
    "strike, the port authority said."
)
NEW_FACT = (
    "Port managers offered the Calder Dockers Union a 5 percent rise on Wednesday, the first "
    "new offer since the strike began."
)


def source(number: int, article_id: int, *, copy_of: int | None = None) -> SourceRef:
    return SourceRef(
        id=number,
        outlet=f"Outlet {number}",
        title="Calder strike",
        url=f"https://outlet{number}.example/calder",
        published_at=T0,
        full_text=True,
        copy_of=copy_of,
        article_id=article_id,
    )


def briefing(points: list[KeyPoint], sources: list[SourceRef]) -> StoryBriefing:
    return StoryBriefing(
        story_id="s-calder",
        title="Calder strike",
        updated_at=T0,
        key_points=points,
        sources=sources,
        coverage=Coverage(len(sources), len(sources), len(sources)),
    )


def test_a_new_fact_in_a_new_independent_report_is_a_development() -> None:
    story = briefing(
        [KeyPoint(OLD_POINT, [1]), KeyPoint(NEW_FACT, [2])], [source(1, 10), source(2, 20)]
    )
    found = material_points(story, [OLD_POINT], new_article_ids={20})
    assert [point.text for point in found] == [NEW_FACT]
    assert found[0].sources == [2]


def test_a_rewording_of_an_earlier_point_is_not_one_even_from_a_new_report() -> None:
    assert sentence_similarity(REWORDED, OLD_POINT) >= REWORDING  # the threshold's one side
    assert sentence_similarity(NEW_FACT, OLD_POINT) < REWORDING  # and the other
    story = briefing([KeyPoint(REWORDED, [2])], [source(1, 10), source(2, 20)])
    assert material_points(story, [OLD_POINT], new_article_ids={20}) == []


def test_a_syndicated_copy_is_not_an_independent_report() -> None:
    story = briefing([KeyPoint(NEW_FACT, [2])], [source(1, 10), source(2, 20, copy_of=1)])
    assert material_points(story, [OLD_POINT], new_article_ids={20}) == []


def test_a_point_only_old_reports_carry_is_not_a_development() -> None:
    story = briefing([KeyPoint(NEW_FACT, [1])], [source(1, 10), source(2, 20)])
    assert material_points(story, [OLD_POINT], new_article_ids={20}) == []


def test_a_new_article_that_an_older_one_copied_is_no_news() -> None:
    # The "new" article is the original of a copy the story already carried.
    story = briefing([KeyPoint(NEW_FACT, [2])], [source(1, 10, copy_of=2), source(2, 20)])
    assert material_points(story, [OLD_POINT], new_article_ids={20}) == []
