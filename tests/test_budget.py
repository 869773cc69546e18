"""Daily token budgets (``BRIEFBOT_DAILY_TOKEN_BUDGET`` per deployment,
``BRIEFBOT_CHANNEL_DAILY_TOKEN_BUDGET`` per channel) on the real path.

Briefings are written the way briefbot writes them: the ``brief --llm`` command in the
terminal, or, for a Slack/Discord channel or another time of day, the service a chat
adapter or the scheduler runs (``build_service`` with its clock; each briefing for its
channel, saved for that channel). The news is the North Coast Network feed
(``tests/fixtures/e2e``); the model is the fake OpenAI-compatible server, which reports
every reply as ``PROMPT + COMPLETION`` = 1,100 tokens. The single-story topics "tram" and
"Fennick Glass" cost exactly one request each when the model writes them.

Over budget, a story gets the extractive briefing with the note "Written without the
model: <which budget>", and no request goes to the model for it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import jsonschema
import pytest
from typer.testing import CliRunner

from bot.adapters.cli import app
from bot.app import build_service
from bot.config import Topic, load_settings
from bot.domain import Briefing, Channel, Platform, terminal, utcnow
from bot.pipeline import select_stories
from bot.render.json import briefing_schema, to_json_dict
from bot.summarize.llm import FALLBACK_PREFIX, LLMBriefer
from tests.fakes.http import FakeHTTPServer
from tests.fakes.llm_briefer import faithful_writer
from tests.fakes.openai_server import Completion, FakeOpenAI

T = TypeVar("T")
EVER = "36500d"
PROMPT, COMPLETION = 1000, 100
BRIEFING = PROMPT + COMPLETION  # tokens of one model-written story briefing
DEPLOYMENT = "BRIEFBOT_DAILY_TOKEN_BUDGET"
PER_CHANNEL = "BRIEFBOT_CHANNEL_DAILY_TOKEN_BUDGET"
TRAM = "tram"  # one story: the council's tram line
GLASS = "Fennick Glass"  # one story: the Aldbury glassworks closure
GLASS_MARKER = "Fennick"  # in the prompt of the glassworks story only
NEWSROOM = Channel(Platform.SLACK, "C024BE91L", "newsroom")
DISCORD = Channel(Platform.DISCORD, "1180000000000000001", "harbour-watch")


pytestmark = pytest.mark.usefixtures("quiet_llm")


def metered(body: dict[str, Any]) -> Completion:
    """A faithful model whose every reply the server reports as PROMPT + COMPLETION tokens."""
    return Completion(faithful_writer(body), prompt_tokens=PROMPT, completion_tokens=COMPLETION)


@pytest.fixture
def model(openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAI:
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    openai_server.script(*[metered] * 100)
    return openai_server


class Clock:
    """A clock the test moves: what ``build_service(clock=...)`` reads as now."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# ---------------------------------------------------------------------- running briefings


def brief(site: FakeHTTPServer, topic: str) -> dict[str, Any]:
    """``briefbot brief TOPIC --llm`` in the terminal (JSON); the briefing is saved."""
    result = CliRunner().invoke(
        app,
        ["brief", topic, "--llm", "--source", site.url("/feed.xml"), "--since", EVER, "-f", "json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    jsonschema.validate(data, briefing_schema())
    return data


def brief_text(site: FakeHTTPServer, topic: str) -> str:
    """``briefbot brief TOPIC --llm`` as the terminal shows it."""
    result = CliRunner().invoke(
        app,
        ["brief", topic, "--llm", "--source", site.url("/feed.xml"), "--since", EVER],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    return result.stdout


class Bot:
    """One running bot (settings read at start-up): a service on the test's store, on an event
    loop of its own that lives as long as the bot, briefing for chat channels (or the
    terminal) and saving each briefing for its channel, as a chat adapter or the scheduler
    does."""

    def __init__(self, site: FakeHTTPServer, clock: Callable[[], datetime] = utcnow) -> None:
        self.loop = asyncio.new_event_loop()
        self.service = build_service(load_settings(), clock=clock, force_llm=True)
        assert isinstance(self.service.briefer, LLMBriefer)
        self.briefer = self.service.briefer
        self.run(self.service.ingest([site.url("/feed.xml")]))

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(work)

    def brief(self, topic: str, channel: Channel | None = None) -> dict[str, Any]:
        briefing = self.run(
            self.service.brief(
                Topic(topic), channel or terminal(), since=timedelta(days=36500), refresh=False
            )
        )
        return _json(briefing)

    def close(self) -> None:
        self.run(self.service.aclose())
        self.loop.close()


def _json(briefing: Briefing) -> dict[str, Any]:
    data = to_json_dict(briefing)
    jsonschema.validate(data, briefing_schema())
    return data


# ---------------------------------------------------------------------- reading briefings


def fallback_notes(story: dict[str, Any]) -> list[str]:
    return [note for note in story["notes"] if note.startswith(FALLBACK_PREFIX)]


def by_model(story: dict[str, Any]) -> bool:
    """The model wrote the story now (not reused, not the extractive fallback)."""
    usage = story.get("usage")
    return (
        not fallback_notes(story)
        and usage is not None
        and usage["cached"] is False
        and usage["prompt_tokens"] == PROMPT
        and usage["completion_tokens"] == COMPLETION
    )


def only_story(data: dict[str, Any]) -> dict[str, Any]:
    assert len(data["stories"]) == 1, [s["title"] for s in data["stories"]]
    story: dict[str, Any] = data["stories"][0]
    return story


def requests_about(model: FakeOpenAI, marker: str) -> int:
    return sum(marker in body["messages"][-1]["content"] for body in model.bodies)


def over_budget(story: dict[str, Any], variable: str) -> str:
    """The story's one fallback note, which must name ``variable``; the note."""
    notes = fallback_notes(story)
    assert len(notes) == 1, story["notes"]
    assert variable in notes[0], notes[0]
    assert "token budget" in notes[0], notes[0]
    assert "is used up" in notes[0], notes[0]
    assert story["key_points"], "the extractive briefing stands in with key points"
    assert story.get("usage") is None, story["usage"]  # no tokens spent on it
    return notes[0]


def usage_budgets() -> dict[str, Any]:
    result = CliRunner().invoke(app, ["usage", "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    budgets: dict[str, Any] = json.loads(result.stdout)["budgets"]
    return budgets


# ---------------------------------------------------------------------- tests


def test_under_both_budgets_the_model_writes_every_story(
    news_site: FakeHTTPServer, model: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DEPLOYMENT, "100000")
    monkeypatch.setenv(PER_CHANNEL, "100000")
    data = brief(news_site, "Brannock")  # the tram line and the grounding: several stories
    assert len(data["stories"]) >= 2
    assert data["mode"] == "llm"
    assert all(by_model(story) for story in data["stories"]), [s["notes"] for s in data["stories"]]
    assert len(model.requests) == len(data["stories"])
    assert usage_budgets()["deployment"]["spent"] == BRIEFING * len(data["stories"])


def test_deployment_budget_smaller_than_one_briefing_stops_the_next_without_a_request(
    news_site: FakeHTTPServer, model: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DEPLOYMENT, "1000")  # less than the 1,100 tokens of one briefing
    tram = only_story(brief(news_site, TRAM))
    assert by_model(tram)  # the budget is checked before a call: 0 spent so far
    assert len(model.requests) == 1

    data = brief(news_site, GLASS)

    glass = only_story(data)
    note = over_budget(glass, DEPLOYMENT)
    assert "1,100 of 1,000 tokens" in note
    assert data["mode"] == "extractive"
    assert len(model.requests) == 1
    assert requests_about(model, GLASS_MARKER) == 0
    # The terminal shows the note with the briefing.
    shown = brief_text(news_site, GLASS)
    assert f"Note: {FALLBACK_PREFIX}: the daily token budget is used up" in shown
    assert DEPLOYMENT in shown
    assert len(model.requests) == 1


def test_a_run_over_the_deployment_budget_briefs_its_remaining_stories_without_the_model(
    news_site: FakeHTTPServer, model: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Spent on the first story of the run, not saved yet when the second story is briefed.
    monkeypatch.setenv(DEPLOYMENT, "1000")
    data = brief(news_site, "Brannock")
    first, *rest = data["stories"]
    assert rest
    assert by_model(first)
    for story in rest:
        over_budget(story, DEPLOYMENT)
    assert len(model.requests) == 1
    assert data["mode"] == "llm"  # the model wrote one of its stories


def test_a_long_running_bot_counts_each_spend_once_across_channels(
    news_site: FakeHTTPServer, model: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Spends this process remembers and the same spends saved in the store count once.
    monkeypatch.setenv(DEPLOYMENT, str(2 * BRIEFING))
    running = Bot(news_site)
    assert by_model(only_story(running.brief(TRAM, NEWSROOM)))
    assert by_model(only_story(running.brief(GLASS, DISCORD)))  # 1,100 of 2,200 so far

    note = over_budget(running.brief("ship aground", NEWSROOM)["stories"][0], DEPLOYMENT)

    assert "2,200 of 2,200 tokens" in note
    running.close()
    assert len(model.requests) == 2


def test_channel_budget_used_up_in_one_channel_does_not_stop_another(
    news_site: FakeHTTPServer, model: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PER_CHANNEL, "1000")
    running = Bot(news_site)
    assert by_model(only_story(running.brief(TRAM, NEWSROOM)))

    newsroom = only_story(running.brief(GLASS, NEWSROOM))

    note = over_budget(newsroom, PER_CHANNEL)
    assert "of this channel" in note
    assert "1,100 of 1,000 tokens" in note
    assert requests_about(model, GLASS_MARKER) == 0
    # The terminal and a Discord channel each have a budget of their own.
    assert by_model(only_story(brief(news_site, GLASS)))
    assert requests_about(model, GLASS_MARKER) == 1
    assert by_model(running.brief("ship aground", DISCORD)["stories"][0])
    running.close()
    spent = {c["channel"]: c["spent"] for c in usage_budgets()["channel"]["channels"]}
    assert spent == {
        "slack:newsroom": BRIEFING,
        "terminal": BRIEFING,
        "discord:harbour-watch": BRIEFING,
    }


@pytest.mark.parametrize("variable", [DEPLOYMENT, PER_CHANNEL])
def test_a_used_up_budget_resets_at_midnight_utc(
    news_site: FakeHTTPServer, model: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "1000")
    clock = Clock(datetime(2026, 11, 19, 23, 50, tzinfo=UTC))  # after the feed's last article
    running = Bot(news_site, clock)  # one long-running bot, across midnight
    assert by_model(only_story(running.brief(TRAM, NEWSROOM)))

    clock.now = datetime(2026, 11, 19, 23, 59, 59, 999999, tzinfo=UTC)
    over_budget(only_story(running.brief(GLASS, NEWSROOM)), variable)
    assert requests_about(model, GLASS_MARKER) == 0

    clock.now = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
    assert by_model(only_story(running.brief(GLASS, NEWSROOM)))
    assert requests_about(model, GLASS_MARKER) == 1
    # The new day's spend counts against the new day's budget.
    clock.now = datetime(2026, 11, 20, 0, 5, tzinfo=UTC)
    over_budget(running.brief("ship aground", NEWSROOM)["stories"][0], variable)
    running.close()
    assert len(model.requests) == 2


def test_briefings_reused_from_the_cache_cost_nothing(
    news_site: FakeHTTPServer, model: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DEPLOYMENT, str(2 * BRIEFING))  # room for two model briefings
    written = only_story(brief(news_site, TRAM))
    assert by_model(written)
    for _ in range(3):  # the same articles again: the stored briefing, no request, no tokens
        reused = only_story(brief(news_site, TRAM))
        assert reused["usage"] == {
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cost_usd": 0.0,
            "cached": True,
        }
        assert reused["key_points"] == written["key_points"]
    assert len(model.requests) == 1
    assert usage_budgets()["deployment"]["spent"] == BRIEFING

    # Reuse left room for the second model briefing; that one uses the budget up.
    assert by_model(only_story(brief(news_site, GLASS)))
    assert usage_budgets()["deployment"]["used_up"] is True
    over_budget(brief(news_site, "ship aground")["stories"][0], DEPLOYMENT)
    # A stored briefing is still served over budget: it costs nothing.
    assert only_story(brief(news_site, TRAM))["key_points"] == written["key_points"]
    assert len(model.requests) == 2


def test_a_spend_counts_in_every_process_before_its_briefing_is_saved(
    news_site: FakeHTTPServer, model: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DEPLOYMENT, "1000")  # less than one briefing
    bot = Bot(news_site)
    other = Bot(news_site)  # a second process on the same store, e.g. a terminal run
    # The bot's model call has come back; its briefing is not saved yet.
    [(story, articles)] = select_stories(
        bot.service.store.articles, Topic(TRAM), timedelta(days=36500), now=utcnow(), limit=5
    )
    unsaved = bot.run(bot.briefer.brief_story(story, articles, NEWSROOM))
    assert by_model(_json(Briefing(TRAM, utcnow(), unsaved.mode, [unsaved]))["stories"][0])

    note = over_budget(only_story(other.brief(GLASS)), DEPLOYMENT)

    assert "1,100 of 1,000 tokens" in note
    assert requests_about(model, GLASS_MARKER) == 0
    bot.close()
    other.close()
