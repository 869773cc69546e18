"""Story briefers: the strategies the pipeline can use to brief one story."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain import Article, BriefingMode, Story, StoryBriefing
from bot.summarize.extractive import brief_story


class ExtractiveBriefer:
    """Key points chosen from source sentences; no model, no key, deterministic."""

    mode = BriefingMode.EXTRACTIVE

    def __init__(self, *, max_points: int = 6) -> None:
        self.max_points = max_points

    def brief_story(self, story: Story, articles: Sequence[Article]) -> StoryBriefing:
        return brief_story(story, articles, max_points=self.max_points)
