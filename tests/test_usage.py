"""``briefbot usage``: tokens and estimated cost of saved briefings by day, topic, channel and
model.

Briefings are written for real: the ``brief --llm`` command (or, for a Slack channel or an
earlier day, the service an adapter or the scheduler would run) against the North Coast
Network feed (``tests/fixtures/e2e``) and the fake OpenAI-compatible server, which reports
the scripted ``usage`` numbers below. Every briefing lands in the SQLite store of the test's
data dir, which ``usage`` then reads. The fake server answers as gpt-4.1-mini, so costs are
its list price: $0.40 per million prompt tokens and $1.60 per million completion tokens.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import jsonschema
import pytest
from rich.console import Console
from typer.testing import CliRunner, Result

from bot.adapters.cli import app
from bot.adapters.console import usage_lines
from bot.app import build_service
from bot.config import Topic, load_settings
from bot.domain import Briefing, BriefingMode, Channel, Platform, terminal, utcnow
from bot.render.usage import to_json_dict, usage_schema
from bot.store import Store, UsageRecord
from bot.summarize.llm import LLMBriefer
from bot.usage import summarize_usage
from tests.fakes.http import FakeHTTPServer
from tests.fakes.llm_briefer import faithful_writer
from tests.fakes.openai_server import DEFAULT_MODEL, Completion, FakeOpenAI

T = TypeVar("T")
EVER = "36500d"
WIRE = "carrying about 3,800 containers"  # only in the prompt of the grounding story
NEWSROOM = Channel(Platform.SLACK, "C024BE91L", "newsroom")
TOTALS = {
    "briefings",
    "llm_briefings",
    "cached_briefings",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost_usd",
    "unpriced_tokens",
}


pytestmark = pytest.mark.usefixtures("quiet_llm")


class Meter:
    """A faithful model whose every reply the server reports as ``tokens`` (prompt,
    completion) long; set ``cut_off`` to have the grounding story's reply cut off at the
    token limit (the briefer then falls back to the extractive briefing)."""

    def __init__(self, model: FakeOpenAI) -> None:
        self.model = model
        self.tokens = (0, 0)
        self.cut_off: tuple[int, int] | None = None
        model.script(*[self] * 100)

    def __call__(self, body: dict[str, Any]) -> Completion:
        if self.cut_off is not None and WIRE in body["messages"][-1]["content"]:
            prompt, completion = self.cut_off
            return Completion(
                '{"headline": "Ship agr',
                finish_reason="length",
                prompt_tokens=prompt,
                completion_tokens=completion,
            )
        prompt, completion = self.tokens
        return Completion(faithful_writer(body), prompt_tokens=prompt, completion_tokens=completion)

    def requests(self, run: Callable[[], T]) -> tuple[T, int]:
        """What ``run`` returns and how many requests it made."""
        before = len(self.model.requests)
        result = run()
        return result, len(self.model.requests) - before


@pytest.fixture
def meter(model: FakeOpenAI) -> Meter:
    return Meter(model)


def cost(prompt_tokens: int, completion_tokens: int) -> float:
    return round((prompt_tokens * 0.40 + completion_tokens * 1.60) / 1_000_000, 8)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def brief(site: FakeHTTPServer, topic: str, *extra: str) -> dict[str, Any]:
    """``briefbot brief TOPIC`` in the terminal (JSON); the briefing is saved on the way."""
    result = invoke(
        "brief", topic, "--source", site.url("/feed.xml"), "--since", EVER, "-f", "json", *extra
    )
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def brief_elsewhere(
    site: FakeHTTPServer,
    topic: str,
    *,
    channel: Channel | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Briefing:
    """A model briefing saved for ``channel`` (the terminal when none) at ``clock()``, the way
    the chat adapters and the scheduler run the service."""

    async def run() -> Briefing:
        async with build_service(load_settings(), clock=clock, force_llm=True) as service:
            assert isinstance(service.briefer, LLMBriefer)
            return await service.brief(
                Topic(topic),
                channel or terminal(),
                sources=[site.url("/feed.xml")],
                since=timedelta(days=36500),
                max_age=timedelta(0),
            )

    return asyncio.run(run())


def usage_json(*args: str) -> dict[str, Any]:
    result = invoke("usage", "--format", "json", *args)
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    jsonschema.validate(data, usage_schema())
    return data


def groups(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        group["key"]: {k: v for k, v in group.items() if k != "key"} for group in data["groups"]
    }


def totals(briefings: int, llm: int, cached: int, prompt: int, completion: int) -> dict[str, Any]:
    return {
        "briefings": briefings,
        "llm_briefings": llm,
        "cached_briefings": cached,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "cost_usd": cost(prompt, completion),
        "unpriced_tokens": 0,
    }


def test_usage_adds_up_exactly_the_tokens_the_model_server_reported(
    news_site: FakeHTTPServer, meter: Meter
) -> None:
    meter.tokens = (1200, 150)
    briefing, calls = meter.requests(lambda: brief(news_site, "ship aground", "--llm"))
    stories = len(briefing["stories"])
    assert calls == stories >= 1  # one request per story
    assert [s["usage"]["prompt_tokens"] for s in briefing["stories"]] == [1200] * stories

    data = usage_json()

    assert data["by"] == "day"
    today = briefing["generated_at"][:10]
    expected = totals(stories, stories, 0, 1200 * calls, 150 * calls)
    assert groups(data) == {today: expected}
    assert data["total"] == expected


def test_json_is_the_documented_object(news_site: FakeHTTPServer, meter: Meter) -> None:
    meter.tokens = (1000, 100)
    brief(news_site, "tram", "--llm")

    data = usage_json("--by", "topic", "--since", "24h")

    assert set(data) == {"by", "since", "until", "groups", "total", "budgets"}
    assert set(data["total"]) == TOTALS
    assert data["groups"] == [{"key": "tram", **totals(1, 1, 0, 1000, 100)}]
    since = datetime.fromisoformat(data["since"])
    until = datetime.fromisoformat(data["until"])
    assert until - since == timedelta(hours=24)
    assert data["budgets"] == {"day": until.date().isoformat(), "deployment": None, "channel": None}


def test_usage_by_topic_counts_reused_briefings_as_cached_and_free(
    news_site: FakeHTTPServer, meter: Meter
) -> None:
    meter.tokens = (1000, 100)
    _, grounding = meter.requests(lambda: brief(news_site, "ship aground", "--llm"))
    meter.tokens = (2000, 300)
    _, tram = meter.requests(lambda: brief(news_site, "tram", "--llm"))
    again, reused = meter.requests(lambda: brief(news_site, "ship aground", "--llm"))
    assert (tram, reused) == (1, 0)  # the same articles again: no request
    assert all(story["usage"]["cached"] for story in again["stories"])

    data = usage_json("--by", "topic")

    assert groups(data) == {
        "ship aground": totals(
            2 * grounding, grounding, grounding, 1000 * grounding, 100 * grounding
        ),
        "tram": totals(1, 1, 0, 2000, 300),
    }
    assert data["total"] == totals(
        2 * grounding + 1, grounding + 1, grounding, 1000 * grounding + 2000, 100 * grounding + 300
    )


def test_usage_by_channel_separates_the_terminal_from_a_slack_channel(
    news_site: FakeHTTPServer, meter: Meter
) -> None:
    meter.tokens = (1000, 100)
    _, terminal = meter.requests(lambda: brief(news_site, "ship aground", "--llm"))
    meter.tokens = (2500, 400)
    _, slack = meter.requests(lambda: brief_elsewhere(news_site, "tram", channel=NEWSROOM))
    assert slack == 1

    data = usage_json("--by", "channel")

    assert groups(data) == {
        "slack:newsroom": totals(1, 1, 0, 2500, 400),
        "terminal": totals(terminal, terminal, 0, 1000 * terminal, 100 * terminal),
    }
    assert data["total"]["total_tokens"] == 2900 + 1100 * terminal


def test_todays_spend_is_set_against_the_deployment_and_channel_budgets(
    news_site: FakeHTTPServer, meter: Meter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIEFBOT_DAILY_TOKEN_BUDGET", "20000")
    monkeypatch.setenv("BRIEFBOT_CHANNEL_DAILY_TOKEN_BUDGET", "2900")
    meter.tokens = (1000, 100)
    _, terminal = meter.requests(lambda: brief(news_site, "ship aground", "--llm"))
    meter.tokens = (2500, 400)
    brief_elsewhere(news_site, "tram", channel=NEWSROOM)
    spent = 1100 * terminal + 2900

    budgets = usage_json()["budgets"]

    assert budgets["deployment"] == {
        "limit": 20000,
        "spent": spent,
        "remaining": 20000 - spent,
        "used_up": False,
    }
    assert budgets["channel"] == {
        "limit": 2900,
        "channels": [
            {"channel": "slack:newsroom", "spent": 2900, "remaining": 0, "used_up": True},
            {
                "channel": "terminal",
                "spent": 1100 * terminal,
                "remaining": max(2900 - 1100 * terminal, 0),
                "used_up": 1100 * terminal >= 2900,
            },
        ],
    }
    text = invoke("usage").stdout.splitlines()
    assert any("against the daily token budgets" in line for line in text)
    deployment = next(line for line in text if line.startswith("deployment"))
    assert deployment.split()[:3] == ["deployment", f"{spent:,}", "20,000"]
    assert deployment.split()[-2:] == [f"{20000 - spent:,}", "left"]
    newsroom = next(line for line in text if "slack:newsroom" in line)
    assert newsroom.split()[-2:] == ["used", "up"]


def test_usage_by_day_puts_each_briefing_on_its_utc_date_and_budgets_count_today_only(
    news_site: FakeHTTPServer, meter: Meter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIEFBOT_DAILY_TOKEN_BUDGET", "10000")
    day_before = utcnow() - timedelta(days=1)
    meter.tokens = (700, 90)
    brief_elsewhere(news_site, "tram", clock=lambda: day_before)
    meter.tokens = (2000, 300)
    briefing, calls = meter.requests(lambda: brief(news_site, "ship aground", "--llm"))
    today = briefing["generated_at"][:10]
    stories = len(briefing["stories"])

    data = usage_json("--by", "day")

    todays = totals(stories, calls, 0, 2000 * calls, 300 * calls)
    assert groups(data) == {day_before.date().isoformat(): totals(1, 1, 0, 700, 90), today: todays}
    assert data["budgets"]["deployment"]["spent"] == 2300 * calls
    assert groups(usage_json("--by", "day", "--since", "12h")) == {today: todays}


def test_tokens_of_a_failed_model_call_count_though_the_story_was_written_without_it(
    news_site: FakeHTTPServer, meter: Meter, model: FakeOpenAI
) -> None:
    meter.tokens, meter.cut_off = (900, 100), (1500, 1200)
    briefing, calls = meter.requests(lambda: brief(news_site, "ship aground", "--llm"))
    failed = sum(WIRE in body["messages"][-1]["content"] for body in model.bodies)
    assert failed == 1  # a reply cut off at the token limit is not repaired
    notes = [n for story in briefing["stories"] for n in story["notes"]]
    assert sum(n.startswith("Written without the model") for n in notes) == 1
    written = calls - failed

    data = usage_json()

    assert data["total"] == totals(
        len(briefing["stories"]), written, 0, 1500 + 900 * written, 1200 + 100 * written
    )


def test_extractive_briefings_are_counted_and_cost_nothing(news_site: FakeHTTPServer) -> None:
    briefing = brief(news_site, "ship aground", "--no-llm")
    stories = len(briefing["stories"])
    assert stories >= 1

    data = usage_json("--by", "topic")

    assert groups(data) == {"ship aground": totals(stories, 0, 0, 0, 0)}
    assert data["total"]["cost_usd"] == 0.0
    total = next(line for line in invoke("usage").stdout.splitlines() if line.startswith("total"))
    assert total.split()[-1] == "$0.0000"


def test_text_report_is_a_table_with_a_total_row(news_site: FakeHTTPServer, meter: Meter) -> None:
    meter.tokens = (2000, 300)
    brief(news_site, "tram", "--llm")
    brief(news_site, "tram", "--llm")  # reused

    result = invoke("usage", "--by", "topic")

    assert result.exit_code == 0
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines() if line}
    assert rows["topic"] == [
        "briefings",
        "LLM",
        "cached",
        "prompt",
        "completion",
        "total",
        "cost",
        "USD",
    ]
    assert rows["tram"] == ["2", "1", "1", "2,000", "300", "2,300", "$0.0013"]
    assert rows["total"] == rows["tram"]
    assert "budgets" not in result.stdout  # none configured


def test_an_empty_store_says_there_are_no_briefings_yet() -> None:
    result = invoke("usage")
    assert result.exit_code == 0, result.stderr
    assert "No briefings saved since" in result.stdout
    assert "briefbot brief TOPIC" in result.stdout

    data = usage_json()
    assert data["groups"] == []
    assert data["total"] == totals(0, 0, 0, 0, 0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--by", "week"], "--by must be one of day, topic, channel, model"),
        (["--format", "markdown"], "--format must be one of text, json"),
        (["--since", "last tuesday"], "--since: 'last tuesday' is not a duration"),
    ],
)
def test_bad_arguments_exit_with_code_2_and_name_the_fix(args: list[str], message: str) -> None:
    result = invoke("usage", *args)
    assert result.exit_code == 2
    assert message in result.stderr


# ---------------------------------------------------------------------- prices per model
@pytest.fixture
def local_model(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """An Ollama-like server at ``OPENAI_BASE_URL`` serving a model the price table does not
    know, under the name it was asked for."""
    with FakeOpenAI(model="llama3.1:8b") as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("BRIEFBOT_MODEL", "llama3.1:8b")
        yield server


def stored_costs() -> list[float | None]:
    with Store.open(load_settings().resolved_database_url) as store:
        return [record.cost_usd for record in store.spend.usage_records()]


def test_a_local_model_not_in_the_price_table_stores_an_unknown_cost(
    news_site: FakeHTTPServer, local_model: FakeOpenAI
) -> None:
    meter = Meter(local_model)
    meter.tokens = (1200, 150)
    briefing, calls = meter.requests(lambda: brief(news_site, "tram", "--llm"))
    assert calls == 1
    assert briefing["stories"][0]["usage"]["cost_usd"] is None

    assert stored_costs() == [None]
    data = usage_json("--by", "topic")
    assert data["total"]["cost_usd"] is None
    assert data["total"]["unpriced_tokens"] == 1350
    tram = next(
        line for line in invoke("usage", "--by", "topic").stdout.splitlines() if "tram" in line
    )
    assert tram.split()[-1] == "unknown"


def test_a_local_model_with_prices_set_stores_their_cost(
    news_site: FakeHTTPServer, local_model: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIEFBOT_PRICE_PROMPT_PER_MTOK", "0")
    monkeypatch.setenv("BRIEFBOT_PRICE_COMPLETION_PER_MTOK", "0")
    meter = Meter(local_model)
    meter.tokens = (1200, 150)
    brief(news_site, "tram", "--llm")

    assert stored_costs() == [0.0]
    assert usage_json()["total"]["cost_usd"] == 0.0


def test_a_table_model_stores_its_tokens_times_its_list_price(
    news_site: FakeHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIEFBOT_MODEL", "gpt-4o-mini")
    with FakeOpenAI(model="gpt-4o-mini-2024-07-18") as server:  # OpenAI names the snapshot
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        meter = Meter(server)
        meter.tokens = (1200, 150)
        briefing, calls = meter.requests(lambda: brief(news_site, "tram", "--llm"))
    assert calls == 1
    assert server.bodies[0]["model"] == "gpt-4o-mini"

    # 1200 x $0.15 + 150 x $0.60 per million tokens
    assert stored_costs() == [pytest.approx(0.00027, rel=1e-12)]
    assert briefing["stories"][0]["usage"]["cost_usd"] == 0.00027
    assert usage_json()["total"]["cost_usd"] == 0.00027


def test_price_settings_override_the_list_price(
    news_site: FakeHTTPServer, meter: Meter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIEFBOT_PRICE_PROMPT_PER_MTOK", "1.00")
    monkeypatch.setenv("BRIEFBOT_PRICE_COMPLETION_PER_MTOK", "2.00")
    meter.tokens = (1000, 100)
    brief(news_site, "tram", "--llm")

    assert stored_costs() == [pytest.approx(0.0012, rel=1e-12)]  # not gpt-4.1-mini's 0.00056


def test_usage_by_model_puts_each_briefing_under_the_model_that_wrote_it(
    news_site: FakeHTTPServer, meter: Meter, monkeypatch: pytest.MonkeyPatch
) -> None:
    meter.tokens = (1000, 100)
    _, grounding = meter.requests(lambda: brief(news_site, "ship aground", "--llm"))
    _, reused = meter.requests(lambda: brief(news_site, "ship aground", "--llm"))
    assert reused == 0  # the stored briefing: no request, still the writer's model
    extractive = len(brief(news_site, "ship aground", "--no-llm")["stories"])
    with FakeOpenAI(model="llama3.1:8b") as local:
        monkeypatch.setenv("OPENAI_BASE_URL", local.base_url)
        monkeypatch.setenv("BRIEFBOT_MODEL", "llama3.1:8b")
        Meter(local).tokens = (2000, 300)
        brief(news_site, "tram", "--llm")

    data = usage_json("--by", "model")

    assert data["by"] == "model"
    assert groups(data) == {
        DEFAULT_MODEL: totals(
            2 * grounding, grounding, grounding, 1000 * grounding, 100 * grounding
        ),
        "extractive": totals(extractive, 0, 0, 0, 0),
        "llama3.1:8b": {**totals(1, 1, 0, 2000, 300), "cost_usd": None, "unpriced_tokens": 2300},
    }
    assert data["total"]["cost_usd"] is None
    rows = {
        line.split()[0]: line.split()[1:]
        for line in invoke("usage", "--by", "model").stdout.splitlines()
        if line.strip()
    }
    assert rows["model"][0] == "briefings"
    assert rows["llama3.1:8b"] == ["1", "1", "0", "2,000", "300", "2,300", "unknown"]
    assert rows["extractive"][-1] == "$0.0000"
    assert rows["total"][-1] == "unknown"


# ---------------------------------------------------------------------- the core, directly
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def record(
    hours_ago: float,
    prompt: int,
    completion: int,
    *,
    cost_usd: float | None,
    topic: str = "port strike",
    channel: str = "terminal",
    mode: BriefingMode = BriefingMode.LLM,
    cached: bool = False,
    model: str | None = None,
) -> UsageRecord:
    return UsageRecord(
        generated_at=NOW - timedelta(hours=hours_ago),
        topic=topic,
        channel=channel,
        mode=mode,
        cached=cached,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=cost_usd,
        model=model,
    )


def rendered(lines: list[Any]) -> str:
    out = io.StringIO()
    console = Console(file=out, width=100)
    for line in lines:
        console.print(line)
    return out.getvalue()


def test_cost_is_unknown_rather_than_zero_when_tokens_have_no_stored_cost() -> None:
    records = [
        record(2, 1000, 100, cost_usd=0.00056, topic="port strike"),
        record(1, 3000, 500, cost_usd=None, topic="ukraine"),
    ]

    report = summarize_usage(records, by="topic", since=NOW - timedelta(days=7), now=NOW)
    data = to_json_dict(report)

    by_topic = groups(data)
    assert by_topic["port strike"]["cost_usd"] == 0.00056
    assert by_topic["ukraine"]["cost_usd"] is None
    assert by_topic["ukraine"]["unpriced_tokens"] == 3500
    assert data["total"]["cost_usd"] is None
    assert data["total"]["unpriced_tokens"] == 3500
    jsonschema.validate(data, usage_schema())
    text = rendered(usage_lines(report))
    ukraine = next(line for line in text.splitlines() if line.startswith("ukraine"))
    assert ukraine.split()[-1] == "unknown"
    assert "3,500 tokens were spent with no cost stored" in text


def test_window_limits_the_groups_while_budgets_count_the_whole_utc_day() -> None:
    records = [
        record(20, 5000, 500, cost_usd=0.0028),  # yesterday (19:00 UTC)
        record(5, 1000, 100, cost_usd=0.00056),  # today, outside a 2-hour window
        record(1, 2000, 200, cost_usd=0.00112, channel="discord:ops"),
    ]

    report = summarize_usage(
        records,
        by="channel",
        since=NOW - timedelta(hours=2),
        now=NOW,
        daily_budget=4000,
        channel_budget=3000,
    )

    assert [key for key, _ in report.groups] == ["discord:ops"]
    assert report.total.total_tokens == 2200
    assert report.deployment_budget is not None
    assert report.deployment_budget.spent == 3300
    assert [(use.scope, use.spent) for use in report.channel_budgets] == [
        ("discord:ops", 2200),
        ("terminal", 1100),
    ]


def test_model_groups_name_briefings_no_model_wrote_and_those_saved_without_one() -> None:
    records = [
        record(3, 1000, 100, cost_usd=0.00056, model="gpt-4.1-mini-2025-04-14"),
        record(3, 0, 0, cost_usd=0.0, model="gpt-4.1-mini-2025-04-14", cached=True),
        record(2, 0, 0, cost_usd=0.0, mode=BriefingMode.EXTRACTIVE),
        record(2, 1500, 1200, cost_usd=None, mode=BriefingMode.EXTRACTIVE, model="llama3.1:8b"),
        record(1, 800, 90, cost_usd=0.000464),  # saved before briefbot recorded the model
        record(1, 0, 0, cost_usd=0.0, cached=True),  # reused, the writer not recorded
    ]

    report = summarize_usage(records, by="model", since=NOW - timedelta(days=1), now=NOW)

    by_model = dict(report.groups)
    assert sorted(by_model) == ["extractive", "gpt-4.1-mini-2025-04-14", "llama3.1:8b", "unknown"]
    assert by_model["gpt-4.1-mini-2025-04-14"].briefings == 2
    assert by_model["extractive"].briefings == 1
    assert by_model["llama3.1:8b"].cost_usd is None  # a failed call of a model with no price
    assert (by_model["unknown"].briefings, by_model["unknown"].total_tokens) == (2, 890)


def test_unknown_grouping_is_refused() -> None:
    with pytest.raises(ValueError, match="day, topic, channel, model"):
        summarize_usage([], by="week", since=NOW, now=NOW)  # type: ignore[arg-type]
