"""Terminal adapter: progress bars on stderr, briefings on stdout.

Machine-readable output (``--format json``) goes to stdout alone; everything
meant for a person watching (progress, warnings) goes to stderr.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bot.domain import Briefing
from bot.render.json import to_json_dict
from bot.render.markdown import to_markdown
from bot.render.text import to_text

OutputFormat = Literal["text", "markdown", "json"]

stdout = Console(soft_wrap=True, highlight=False)
stderr = Console(stderr=True, highlight=False)


def setup_logging(level: str) -> None:
    """Log to stderr through rich; quiet down chatty libraries."""
    handler = RichHandler(console=stderr, show_path=False, show_time=False, markup=False)
    logging.basicConfig(level=level, handlers=[handler], format="%(message)s", force=True)
    for noisy in ("httpx2", "httpcore2", "trafilatura", "alembic", "charset_normalizer"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


@contextmanager
def fetch_progress(enabled: bool) -> Iterator[Any]:
    """A progress callback ``(source, done, total)`` drawing a bar on stderr when interactive."""
    if not enabled or not stderr.is_terminal:
        yield None
        return
    with Progress(
        TextColumn("[bold]fetching[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}", markup=False),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
    ) as progress:
        task = progress.add_task("", total=None)

        def update(source: str, done: int, total: int) -> None:
            progress.update(task, completed=done, total=total, description=source[-60:])

        yield update


def render_briefing(briefing: Briefing, fmt: OutputFormat) -> str:
    if fmt == "json":
        return json.dumps(to_json_dict(briefing), ensure_ascii=False, indent=2)
    if fmt == "markdown":
        return to_markdown(briefing)
    return to_text(briefing)


def emit(text: str) -> None:
    """Write to stdout verbatim (no markup interpretation, no wrapping changes)."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()
