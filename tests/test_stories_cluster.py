"""Incremental story clustering (``bot.stories.cluster.StoryIndex``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain import Article
from bot.stories.cluster import StoryIndex, story_id_for

T0 = datetime(2026, 11, 17, 11, 0, tzinfo=UTC)

STRIKE = (
    "Dockworkers at the Port of Halvern walked out on Monday over automation plans, the "
    "Halvern Dockers Union said. About 1,400 members joined the strike, which halted "
    "container traffic at the Halvern terminals. Harbour operator Norrow Ports said talks "
    "with the union would resume on Wednesday."
)
STRIKE_FOLLOW_UP = (
    "Talks between Norrow Ports and the Halvern Dockers Union broke down on Tuesday, and the "
    "strike at the Port of Halvern entered its second day. The union said automated cranes "
    "ordered by Norrow Ports would cost 300 dockworkers their jobs. Ships waited at anchor "
    "outside Halvern."
)
ELECTION = (
    "Voters in Ostrava Province re-elected governor Lenka Marek with 54 percent of the vote on "
    "Sunday, the provincial election commission said. Turnout was 61 percent. Her rival, "
    "Pavel Dostal, conceded before midnight."
)


def article(
    number: int, title: str, text: str, *, at: datetime = T0, copy_of: int | None = None
) -> Article:
    return Article(
        url=f"https://news.example/{number}",
        title=title,
        text=text,
        outlet=f"Outlet {number}",
        published_at=at,
        fetched_at=at,
        copy_of=copy_of,
        id=number,
    )


def test_a_story_is_founded_with_an_id_from_its_first_article() -> None:
    index = StoryIndex()
    first = index.assign(article(1, "Halvern dockworkers strike", STRIKE))
    assert first.created
    assert first.story_id == story_id_for("https://news.example/1")


def test_a_next_day_follow_up_joins_the_story_and_an_unrelated_article_does_not() -> None:
    index = StoryIndex()
    strike = index.assign(article(1, "Halvern dockworkers strike over automation", STRIKE))
    follow_up = index.assign(
        article(
            2,
            "Halvern port strike enters second day as talks collapse",
            STRIKE_FOLLOW_UP,
            at=T0 + timedelta(hours=20),
        )
    )
    election = index.assign(
        article(3, "Marek re-elected in Ostrava", ELECTION, at=T0 + timedelta(hours=21))
    )
    assert follow_up.story_id == strike.story_id
    assert not follow_up.created
    assert election.created
    assert election.story_id != strike.story_id


def test_a_follow_up_after_the_window_starts_a_new_story() -> None:
    index = StoryIndex(window=timedelta(days=7))
    strike = index.assign(article(1, "Halvern dockworkers strike over automation", STRIKE))
    late = index.assign(
        article(
            2,
            "Halvern port strike enters second day as talks collapse",
            STRIKE_FOLLOW_UP,
            at=T0 + timedelta(days=9),
        )
    )
    assert late.created
    assert late.story_id != strike.story_id


def test_similarity_decays_only_after_the_grace_period() -> None:
    def similarity(gap: timedelta) -> float:
        index = StoryIndex(threshold=0.0)
        index.assign(article(1, "Halvern dockworkers strike over automation", STRIKE))
        return index.assign(
            article(2, "Halvern strike second day", STRIKE_FOLLOW_UP, at=T0 + gap)
        ).similarity

    assert similarity(timedelta(hours=1)) == similarity(timedelta(hours=30))
    assert similarity(timedelta(days=3)) < similarity(timedelta(hours=30))


def test_a_syndicated_copy_joins_its_original_without_reweighting_the_story() -> None:
    def follow_up_similarity(copies: int) -> float:
        index = StoryIndex(threshold=0.0)
        index.assign(article(1, "Halvern dockworkers strike over automation", STRIKE))
        index.assign(article(2, "Marek re-elected in Ostrava", ELECTION))
        for number in range(10, 10 + copies):
            joined = index.assign(
                article(number, "Halvern dockworkers strike over automation", STRIKE, copy_of=1)
            )
            assert joined.story_id == story_id_for("https://news.example/1")
        return index.assign(
            article(3, "Halvern strike second day", STRIKE_FOLLOW_UP, at=T0 + timedelta(hours=5))
        ).similarity

    assert follow_up_similarity(3) == follow_up_similarity(0)


def test_seeding_from_the_store_lets_a_follow_up_join_the_stored_story() -> None:
    stored = [
        article(1, "Halvern dockworkers strike over automation", STRIKE),
        article(2, "Halvern dockworkers strike over automation", STRIKE, copy_of=1),
    ]
    index = StoryIndex()
    index.seed("s-stored", stored)
    assert index.story_of(2) == "s-stored"
    follow_up = index.assign(
        article(3, "Halvern strike second day", STRIKE_FOLLOW_UP, at=T0 + timedelta(hours=20))
    )
    assert follow_up.story_id == "s-stored"


def test_stories_scored_per_article_are_bounded_however_many_stories_exist() -> None:
    index = StoryIndex(max_candidates=10)
    # 300 stories that all share the words of the probe's title, so each is a candidate.
    for number in range(300):
        text = (
            f"Port strike news number {number}: dockworkers in town{number} protest, "
            f"officials in town{number} say talks on wages continue in district{number}."
        )
        index.assign(article(number + 1, f"Port strike in town{number}", text))
    before = index.comparisons
    index.assign(article(1000, "Port strike", "Dockworkers strike at the port over wages."))
    assert 0 < index.comparisons - before <= 10


def test_memory_of_idle_stories_goes_with_them() -> None:
    """Stories idle past the window go (at the next sweep) with their terms: after the first
    weeks the index holds about as much on day 40 as on day 15."""
    index = StoryIndex(window=timedelta(days=2))
    largest: dict[str, int] = {"early": 0, "late": 0}
    for day in range(40):
        for n in range(100):
            number = day * 1000 + n
            text = (
                f"Council of town{number} debates budget{number} for road{number} and "
                f"school{number}, mayor{number} said."
            )
            index.assign(article(number, f"Town{number} budget", text, at=T0 + timedelta(days=day)))
        if 10 <= day < 20:
            largest["early"] = max(largest["early"], index.vocabulary)
        elif day >= 30:
            largest["late"] = max(largest["late"], index.vocabulary)
    assert largest["late"] <= largest["early"] * 1.1
