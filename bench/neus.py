"""Load the NeuS story roundups (``neus/{train,val}.source``) as labelled articles.

Each line of a ``.source`` file is one story: about three articles from outlets of
different political leaning, separated by `` [SEP] ``, each written as
``TITLE=> ... ARTICLE=> ...``. The story a line describes is the gold cluster of
its articles. The data lives outside the repository (``../shared/data`` from the
repository root, see its README); ``BRIEFBOT_BENCH_DATA`` points elsewhere.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SPLITS = ("train", "val")


class BenchDataMissing(RuntimeError):
    """The evaluation data is not where the benchmark looks for it."""


def data_dir() -> Path:
    """Where the shared evaluation data lives (``BRIEFBOT_BENCH_DATA`` overrides)."""
    override = os.environ.get("BRIEFBOT_BENCH_DATA")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "data"


@dataclass(frozen=True, slots=True)
class LabelledArticle:
    """One NeuS article: its title and lead, and the line (story) it came from."""

    story: int
    position: int
    title: str
    text: str


def parse_line(line: str, story: int) -> list[LabelledArticle]:
    """Split one ``.source`` line into its articles (malformed parts are skipped)."""
    found: list[LabelledArticle] = []
    for position, part in enumerate(line.split(" [SEP] ")):
        head, sep, body = part.partition("ARTICLE=>")
        title = head.replace("TITLE=>", "", 1).strip()
        text = body.strip() if sep else ""
        if title or text:
            found.append(LabelledArticle(story, position, title, text))
    return found


def load_split(split: str, *, root: Path | None = None) -> list[LabelledArticle]:
    """All articles of ``train`` or ``val`` in file order."""
    if split not in SPLITS:
        raise ValueError(f"unknown NeuS split {split!r}; use one of {', '.join(SPLITS)}")
    path = (root or data_dir()) / "neus" / f"{split}.source"
    if not path.is_file():
        raise BenchDataMissing(
            f"{path} not found: put the shared evaluation data at ../shared/data next to the "
            "repository or set BRIEFBOT_BENCH_DATA to its folder"
        )
    articles: list[LabelledArticle] = []
    with path.open(encoding="utf-8") as handle:
        for story, line in enumerate(handle):
            articles.extend(parse_line(line.rstrip("\n"), story))
    return articles


def shuffled(articles: Sequence[LabelledArticle], seed: int) -> list[LabelledArticle]:
    """The articles pooled and shuffled with a fixed seed (the order a run sees them in)."""
    pooled = list(articles)
    random.Random(seed).shuffle(pooled)
    return pooled
