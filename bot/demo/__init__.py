"""The bundled demo: a fictional developing-news set served from files, no network needed.

The data files live in ``bot/demo/data/`` (see its README): JSON Lines for most
outlets and one RSS feed, plus a topics file with one topic per story. Their
dates are fixed; ``briefbot demo`` shifts them so the newest article is an hour
old, which keeps the default ``--since`` window meaningful on any day.
"""

from __future__ import annotations

from pathlib import Path

from bot.config import Topic, load_topics

DEMO_DIR = Path(__file__).resolve().parent / "data"


def demo_sources() -> list[str]:
    """Every bundled source file (JSON Lines and feed XML), in a stable order."""
    return sorted(
        str(path)
        for path in DEMO_DIR.iterdir()
        if path.suffix in {".jsonl", ".ndjson", ".xml", ".rss", ".atom"}
    )


def demo_topics() -> list[Topic]:
    """The demo's tracked topics, one per story, in file order."""
    return list(load_topics(DEMO_DIR / "topics.toml").values())
