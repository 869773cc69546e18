"""The ``briefbot`` command line: an adapter over ``BriefingService``.

Each command parses its arguments, calls the service, and renders the result; the use
cases themselves live in ``bot.service``. The terminal is a channel (``terminal``): its
briefings are saved, budgeted and reported like any chat channel's.

Exit codes: 0 success, 2 usage or configuration error, 1 runtime failure; 130 when
interrupted, 141 (128 + SIGPIPE, as for a program the signal stops) when the reader of
stdout went away (``briefbot demo | head -1``), quietly.
Every command goes through one error boundary (``_run``): expected errors
become one plain sentence on stderr; unexpected ones are logged with a
traceback and the user gets a short apology.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from bot.adapters import console
from bot.app import build_service
from bot.config import Settings, load_settings, parse_duration
from bot.demo import demo_sources, demo_topics
from bot.doctor import Check, failed, run_checks
from bot.domain import terminal, topic_key, utcnow
from bot.errors import BriefbotError, ConfigError, InvalidRequest
from bot.pipeline import shift_articles
from bot.qa import MAX_QUESTION_CHARS
from bot.redact import redact
from bot.render.answer import answer_to_json, answer_to_text
from bot.service import BriefingService
from bot.usage import GROUPINGS

log = logging.getLogger("bot.adapters.cli")
T = TypeVar("T")
EXIT_OUTPUT_CLOSED = 141  # 128 + SIGPIPE (13): what a shell reports for a closed pipe

app = typer.Typer(
    name="briefbot",
    help="Briefings on developing news stories, with cited key points.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
topics_app = typer.Typer(help="List, add and remove tracked topics.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")

SourceOpt = Annotated[
    list[str] | None,
    typer.Option("--source", "-s", help="Feed URL, local feed/JSON Lines file or directory."),
]
FormatOpt = Annotated[
    str, typer.Option("--format", "-f", help="Output format: text, markdown or json.")
]
LLMOpt = Annotated[
    bool | None,
    typer.Option(
        "--llm/--no-llm",
        help="Force the LLM briefer or the extractive one (default: BRIEFBOT_MODE, auto).",
    ),
]
SinceOpt = Annotated[
    str | None, typer.Option("--since", help="Only articles newer than this, e.g. 48h or 7d.")
]


class UsageError(InvalidRequest):
    """A command-line argument is invalid (exit code 2)."""


def _fail(message: str, code: int) -> NoReturn:
    console.print_error(redact(message))
    raise typer.Exit(code)


def _run(fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """The error boundary shared by every command: runs the command's coroutine."""
    try:
        return asyncio.run(fn())
    except typer.Exit:
        raise
    except ConfigError as exc:
        _fail(str(exc), 2)
    except BriefbotError as exc:
        _fail(str(exc), 1)
    except console.OutputClosed:
        console.silence_stdout()
        raise typer.Exit(EXIT_OUTPUT_CLOSED) from None
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception:
        log.exception("unexpected failure")
        _fail("briefbot hit an unexpected problem (details logged above); nothing was lost.", 1)


def _settings() -> Settings:
    settings = load_settings()
    console.setup_logging(settings.log_level)
    return settings


def _choice(option: str, value: str, allowed: tuple[str, ...]) -> Any:
    if value not in allowed:
        raise UsageError(f"{option} must be one of {', '.join(allowed)}, not {value!r}.")
    return value


def _format(value: str, allowed: tuple[str, ...] = ("text", "markdown", "json")) -> Any:
    return _choice("--format", value, allowed)


def _since(value: str | None, settings: Settings) -> timedelta:
    try:
        return parse_duration(value or settings.since)
    except ValueError as exc:
        raise UsageError(f"--since: {exc}") from None


@app.command()
def brief(
    topic: Annotated[str, typer.Argument(help="Topic to brief, e.g. ukraine.")],
    source: SourceOpt = None,
    since: SinceOpt = None,
    fmt: FormatOpt = "text",
    discovery: Annotated[
        bool | None,
        typer.Option(
            "--discovery/--no-discovery",
            help="Search GDELT and Google News too (default: only when no source is known).",
        ),
    ] = None,
    llm: LLMOpt = None,
) -> None:
    """Gather the topic's sources and print a briefing of its stories."""

    async def run() -> None:
        settings = _settings()
        output = _format(fmt)
        window = _since(since, settings)
        if not topic_key(topic):
            raise UsageError("TOPIC must not be empty; e.g. briefbot brief ukraine")
        async with build_service(settings, force_llm=llm) as service:
            with console.fetch_progress(output != "json") as update:
                briefing = await service.brief(
                    topic,
                    terminal(),
                    sources=source or [],
                    since=window,
                    discovery=discovery,
                    max_age=timedelta(0),  # asked for at the terminal: always gather
                    progress=update,
                )
        console.emit(console.render_briefing(briefing, output))

    _run(run)


@app.command()
def ask(
    topic: Annotated[str, typer.Argument(help="Topic the question is about, e.g. ukraine.")],
    question: Annotated[str, typer.Argument(help='The question, e.g. "what did Press TV say?"')],
    source: SourceOpt = None,
    since: SinceOpt = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text or json.")] = "text",
    llm: LLMOpt = None,
) -> None:
    """Gather the topic's sources and answer a question from its most relevant story only.

    Exit code 0 for an answer and for an honest refusal (the sources don't say); 2 for an
    empty or over-long question."""

    async def run() -> None:
        settings = _settings()
        output = _format(fmt, ("text", "json"))
        window = _since(since, settings)
        if not topic_key(topic):
            raise UsageError('TOPIC must not be empty; e.g. briefbot ask ukraine "what happened?"')
        if not question.strip():
            raise UsageError(
                'QUESTION must not be empty; e.g. briefbot ask ukraine "what happened?"'
            )
        if len(" ".join(question.split())) > MAX_QUESTION_CHARS:
            raise UsageError(
                f"QUESTION is longer than {MAX_QUESTION_CHARS} characters; shorten it."
            )
        async with build_service(settings, force_llm=llm) as service:
            answer = await service.answer(
                terminal(),
                question,
                topic=topic,
                since=window,
                sources=source or [],
                max_age=timedelta(0),  # asked for at the terminal: always gather
                refresh=True,
            )
        if output == "json":
            console.emit(json.dumps(answer_to_json(answer), indent=2, ensure_ascii=False))
            return
        console.emit(answer_to_text(answer))

    _run(run)


@app.command()
def demo(fmt: FormatOpt = "text", llm: LLMOpt = None) -> None:
    """Brief the bundled sample news (fictional, offline, no API key)."""

    async def run() -> None:
        # The bundled files carry full texts: never reach for article pages.
        settings = _settings().model_copy(update={"fetch_full_text": False})
        output = _format(fmt)
        workdir = Path(tempfile.mkdtemp(prefix="briefbot-demo-"))
        try:
            service = build_service(
                settings, database_url=f"sqlite:///{workdir / 'demo.sqlite3'}", force_llm=llm
            )
            async with service:
                gathered = await service.gather(demo_sources())
                articles = shift_articles(gathered.articles, utcnow() - timedelta(hours=1))
                report = await service.ingest_articles(articles)
                errors = [*gathered.errors, *report.errors]
                briefings = [
                    await service.brief(
                        topic, terminal(), since=timedelta(days=7), refresh=False, errors=errors
                    )
                    for topic in demo_topics()
                ]
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if output == "json":
            from bot.render.json import to_json_dict

            console.emit(json.dumps([to_json_dict(b) for b in briefings], indent=2))
            return
        console.print_note(
            f"demo: {len(report.new_articles)} articles, {report.copies} copies, "
            f"{len(report.new_stories)} stories from {len(demo_sources())} bundled files"
        )
        for briefing in briefings:
            console.emit(console.render_briefing(briefing, output))

    _run(run)


@app.command()
def run() -> None:
    """Serve the bot: Slack when its tokens are set, else a console channel here."""

    async def go() -> None:
        from bot.adapters.run import serve

        await serve(_settings(), write=console.emit, note=console.print_note)

    _run(go)


@app.command()
def ingest(
    source: SourceOpt = None,
    topic: Annotated[
        str | None, typer.Option("--topic", "-t", help="Ingest one configured topic.")
    ] = None,
) -> None:
    """Fetch sources (or every configured topic's sources) into the store."""

    async def run() -> None:
        settings = _settings()
        async with build_service(settings, force_llm=False) as service:
            topics = await service.topics()
            if topic is not None:
                key = topic_key(topic)
                if key not in topics:
                    raise UsageError(
                        f"no topic {topic!r} in {settings.resolved_topics_file}; "
                        "add it with: briefbot topics add NAME --source URL"
                    )
                topics = {key: topics[key]}
            specs = list(source or [])
            for chosen in topics.values():
                specs.extend(s for s in chosen.sources if s not in specs)
            if not specs:
                raise UsageError("nothing to ingest: pass --source or add sources to a topic.")
            with console.fetch_progress(True) as update:
                result = await service.ingest(specs, progress=update)
        report = result.report
        for error in result.errors:
            console.print_source_error(error.source, error.error)
        console.emit(
            f"{len(report.new_articles)} new articles ({report.copies} copies), "
            f"{len(report.updated_articles)} updated, {len(report.new_stories)} new stories, "
            f"{len(result.errors)} errors"
        )

    _run(run)


@app.command()
def stories(
    topic: Annotated[
        str | None, typer.Option("--topic", "-t", help="Only stories about this topic.")
    ] = None,
    since: SinceOpt = None,
    fmt: FormatOpt = "text",
) -> None:
    """List stored stories with their articles' URLs."""

    async def run() -> None:
        settings = _settings()
        output = _format(fmt, ("text", "json"))
        window = _since(since, settings) if since else None
        async with build_service(settings, force_llm=False) as service:
            selected = await service.stories(topic, window)
        rows: list[dict[str, Any]] = [
            {
                "id": story.id,
                "title": story.title,
                "created_at": story.created_at.isoformat(),
                "updated_at": story.updated_at.isoformat(),
                "articles": [
                    {"url": a.url, "outlet": a.outlet, "title": a.title, "copy_of": a.copy_of}
                    for a in articles
                ],
            }
            for story, articles in selected
        ]
        if output == "json":
            console.emit(json.dumps({"stories": rows}, ensure_ascii=False, indent=2))
            return
        if not rows:
            console.emit("no stories")
        for row in rows:
            console.emit(f"{row['id']}  {row['title']}  (updated {row['updated_at']})")
            for article in row["articles"]:
                copy = "  (copy)" if article["copy_of"] else ""
                console.emit(f"    {article['outlet']}: {article['url']}{copy}")

    _run(run)


@app.command()
def usage(
    since: Annotated[
        str, typer.Option("--since", help="Only briefings newer than this, e.g. 24h or 30d.")
    ] = "7d",
    by: Annotated[str, typer.Option("--by", help="Group by day, topic, channel or model.")] = (
        "day"
    ),
    fmt: Annotated[str, typer.Option("--format", "-f", help="Output format: text or json.")] = (
        "text"
    ),
) -> None:
    """Tokens and estimated cost of saved briefings by day, topic, channel or model, and
    today's spend against the daily token budgets."""

    async def run() -> None:
        settings = _settings()
        output = _format(fmt, ("text", "json"))
        group = _choice("--by", by, GROUPINGS)
        window = _since(since, settings)
        async with build_service(settings, force_llm=False) as service:
            report = await service.usage(window, group)
        if output == "json":
            from bot.render.usage import to_json_dict

            console.emit(json.dumps(to_json_dict(report), ensure_ascii=False, indent=2))
            return
        console.print_usage(report)

    _run(run)


@app.command()
def doctor(
    fmt: Annotated[str, typer.Option("--format", "-f", help="Output format: text or json.")] = (
        "text"
    ),
) -> None:
    """Check the deployment (settings, database, prompts, model, Slack, Discord, sources)
    and say how to fix what is wrong; exit 1 when a check fails."""

    async def run() -> list[Check]:
        output = _format(fmt, ("text", "json"))
        checks = await run_checks(_settings)
        if output == "json":
            console.emit(json.dumps([c.to_dict() for c in checks], ensure_ascii=False, indent=2))
        else:
            marks = {"ok": "✓", "warn": "!", "fail": "✗"}
            for check in checks:
                fix = f" → {check.fix}" if check.fix and check.status != "ok" else ""
                console.emit(f"{marks[check.status]} {check.name}: {check.detail}{fix}")
        return checks

    if failed(_run(run)):
        raise typer.Exit(1)


@app.command()
def sources(
    fmt: Annotated[str, typer.Option("--format", "-f", help="Output format: text or json.")] = (
        "text"
    ),
) -> None:
    """Each tracked source's health: its topics, last success, last error, consecutive
    failures and next poll (``briefbot run`` polls them)."""

    async def run() -> None:
        from bot.render.sources import health_lines, to_json_list
        from bot.scheduler.polling import health_report

        output = _format(fmt, ("text", "json"))
        async with _topics_service() as service:
            report = await health_report(service)
        rows = [(tracked.topics, health) for tracked, health in report]
        if output == "json":
            console.emit(json.dumps(to_json_list(rows), ensure_ascii=False, indent=2))
            return
        console.emit("\n".join(health_lines(rows)))

    _run(run)


def _topics_service() -> BriefingService:
    """A service for editing topics: no model, and the store only opened, never written."""
    return build_service(_settings(), force_llm=False)


@topics_app.command("list")
def topics_list() -> None:
    """Show the tracked topics."""

    async def run() -> None:
        async with _topics_service() as service:
            topics = await service.topics()
            path = service.topics_file
        if not topics:
            console.emit(f"no topics in {path}")
        for topic in topics.values():
            extra = " (+discovery)" if topic.discovery else ""
            console.emit(f"{topic.name}: query={topic.effective_query!r}{extra}")
            for spec in topic.sources:
                console.emit(f"    {redact(spec)}")  # stdout gets pasted: no credentials

    _run(run)


@topics_app.command("add")
def topics_add(
    name: Annotated[str, typer.Argument(help="Topic name, e.g. ukraine.")],
    query: Annotated[
        str | None, typer.Option("--query", "-q", help='e.g. "ukraine OR kyiv"')
    ] = None,
    source: SourceOpt = None,
    discovery: Annotated[
        bool, typer.Option("--discovery/--no-discovery", help="Also search GDELT/Google News.")
    ] = False,
) -> None:
    """Add a topic, or update an existing one's query and sources."""

    async def run() -> None:
        if not topic_key(name):
            raise UsageError("NAME must not be empty")
        async with _topics_service() as service:
            topic = await service.save_topic(
                name, query=query, sources=source or [], discovery=discovery
            )
            path = service.topics_file
        console.emit(f"saved topic {topic.name!r} in {path}")

    _run(run)


@topics_app.command("remove")
def topics_remove(name: Annotated[str, typer.Argument(help="Topic name.")]) -> None:
    """Stop tracking a topic (stored articles and stories are kept)."""

    async def run() -> None:
        async with _topics_service() as service:
            await service.remove_topic(name)
        console.emit(f"removed topic {name!r}")

    _run(run)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
