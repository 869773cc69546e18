"""Terminal adapter: progress bars on stderr, briefings on stdout.

Machine-readable output (``--format json``) goes to stdout alone; everything
meant for a person watching (progress, warnings) goes to stderr.

Text that did not come from our own code (topic names, paths, URLs, error messages, log
records) is never read as rich markup: it goes out as ``Text`` objects or with
``markup=False``, so ``briefbot[postgres]`` or a topic named ``[x]`` prints as it is.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal

from rich import box
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from bot.domain import Briefing
from bot.redact import RedactingFilter, redact
from bot.render.json import to_json_dict
from bot.render.markdown import to_markdown
from bot.render.text import to_text
from bot.usage import BudgetUse, UsageReport, UsageTotals

OutputFormat = Literal["text", "markdown", "json"]

stdout = Console(soft_wrap=True, highlight=False)
stderr = Console(stderr=True, highlight=False)


def setup_logging(level: str) -> None:
    """Log to stderr through rich, every record redacted (``bot.redact``); quiet down chatty
    libraries."""
    handler = RichHandler(console=stderr, show_path=False, show_time=False, markup=False)
    handler.addFilter(RedactingFilter())
    logging.basicConfig(level=level, handlers=[handler], format="%(message)s", force=True)
    for noisy in (
        "httpx2",
        "httpcore2",
        "trafilatura",
        "alembic",
        "charset_normalizer",
        "apscheduler",  # "Running job ..." every 15 s; its warnings and errors still show
    ):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


@contextmanager
def fetch_progress(enabled: bool, *, console: Console | None = None) -> Iterator[Any]:
    """A progress callback ``(source, done, total)`` drawing a bar on ``console`` (stderr)
    when it is interactive; the source is shown redacted and as plain text."""
    console = console or stderr
    if not enabled or not console.is_terminal:
        yield None
        return
    with Progress(
        TextColumn("[bold]fetching[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}", markup=False),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("", total=None)

        def update(source: str, done: int, total: int) -> None:
            label = redact(source)[-60:]
            progress.update(task, completed=done, total=total, description=label)

        yield update


def render_briefing(briefing: Briefing, fmt: OutputFormat) -> str:
    if fmt == "json":
        return json.dumps(to_json_dict(briefing), ensure_ascii=False, indent=2)
    if fmt == "markdown":
        return to_markdown(briefing)
    return to_text(briefing)


def print_error(message: str) -> None:
    """``error: <message>`` on stderr, the message as plain text."""
    stderr.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False)


def print_source_error(source: str, error: str) -> None:
    """``<source>: <error>`` on stderr for one source that could not be gathered."""
    stderr.print(Text.assemble((source, "yellow"), ": ", error), highlight=False)


def print_note(message: str) -> None:
    """A dim remark for the person watching, on stderr."""
    stderr.print(Text(message, style="dim"), highlight=False)


class OutputClosed(Exception):
    """Whoever read stdout has gone (``briefbot demo | head -1``): nothing more can be shown."""


@contextmanager
def _writing() -> Iterator[None]:
    try:
        yield
    except BrokenPipeError:
        raise OutputClosed from None


def emit(text: str) -> None:
    """Write to stdout verbatim (no markup interpretation, no wrapping changes); raises
    ``OutputClosed`` when the reader has closed it."""
    with _writing():
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()


def silence_stdout() -> None:
    """Point stdout at the null device, so that the interpreter's last flush of what is
    still buffered for a closed pipe does not fail once more (the Python docs' recipe)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # not a real file (a test's capture): nothing to silence
        return
    os.close(devnull)


# ---------------------------------------------------------------------- usage
_GROUP_TITLE = {"day": "day (UTC)", "topic": "topic", "channel": "channel", "model": "model"}


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _cost(totals: UsageTotals) -> str:
    cost = totals.cost_usd
    return "unknown" if cost is None else f"${cost:,.4f}"


def _usage_row(key: str, totals: UsageTotals) -> list[str | Text]:
    return [
        Text(key),  # a topic, channel or model name: plain text, never markup
        f"{totals.briefings:,}",
        f"{totals.llm_briefings:,}",
        f"{totals.cached_briefings:,}",
        f"{totals.prompt_tokens:,}",
        f"{totals.completion_tokens:,}",
        f"{totals.total_tokens:,}",
        _cost(totals),
    ]


def _budget_row(scope: str, use: BudgetUse) -> list[str | Text]:
    share = f"{use.spent / use.limit:.0%}"
    state = "used up" if use.used_up else f"{use.remaining:,} left"
    return [Text(scope), f"{use.spent:,}", f"{use.limit:,}", share, state]


def usage_lines(report: UsageReport) -> list[str | Table]:
    """``briefbot usage`` for a person: a table of the groups and their total, today's spend
    against the daily budgets that are set, and what the columns mean."""
    out: list[str | Table] = []
    if report.empty:
        out.append(
            f"No briefings saved since {_when(report.since)}. "
            "`briefbot brief TOPIC` writes one; widen the window with --since, e.g. --since 30d."
        )
    else:
        table = Table(
            title=f"Token usage by {report.by}, {_when(report.since)} to {_when(report.until)}",
            box=box.SIMPLE,
            show_footer=True,
            show_edge=False,
            pad_edge=False,
        )
        headers = ["briefings", "LLM", "cached", "prompt", "completion", "total", "cost USD"]
        footers = _usage_row("total", report.total)
        # Numbers never wrap; a long topic, channel or model name folds instead.
        table.add_column(_GROUP_TITLE[report.by], footer=footers[0], overflow="fold", min_width=10)
        for header, footer in zip(headers, footers[1:], strict=True):
            table.add_column(header, footer=footer, justify="right", no_wrap=True)
        for key, totals in report.groups:
            table.add_row(*_usage_row(key, totals))
        out.append(table)
        out.append(
            "Counts are story briefings: LLM = written by the model, cached = a stored model "
            "briefing reused at no cost; prompt, completion and total are tokens."
        )
        if report.total.unpriced_tokens:
            out.append(
                f"Cost unknown: {report.total.unpriced_tokens:,} tokens were spent with no "
                "cost stored, so groups holding them show no estimate."
            )
    if report.deployment_budget is not None or report.channel_budget is not None:
        budgets = Table(
            title=f"Today ({report.today.isoformat()} UTC) against the daily token budgets",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
        )
        budgets.add_column("budget", overflow="fold", min_width=10)
        for header in ("spent", "limit", "share"):
            budgets.add_column(header, justify="right", no_wrap=True)
        budgets.add_column("state", no_wrap=True)
        if report.deployment_budget is not None:
            budgets.add_row(*_budget_row("deployment", report.deployment_budget))
        for use in report.channel_budgets:
            budgets.add_row(*_budget_row(f"channel {use.scope}", use))
        if report.channel_budget is not None and not report.channel_budgets:
            budgets.add_row("each channel", "0", f"{report.channel_budget:,}", "0%", "no briefings")
        out.append(budgets)
    return out


def print_usage(report: UsageReport) -> None:
    with _writing():
        for item in usage_lines(report):
            stdout.print(item, markup=False, highlight=False)
