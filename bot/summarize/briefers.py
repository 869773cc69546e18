"""The extractive briefer: key points chosen from source sentences; no model, no key.

It is the default ``StoryBriefer`` and the LLM briefer's fallback. Choosing sentences is
CPU work, so ``brief_story`` runs it in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from bot.domain import MAX_POINTS, Article, BriefingMode, Channel, Story, StoryBriefing
from bot.summarize.extractive import brief_story


class ExtractiveBriefer:
    """Key points chosen from source sentences; deterministic."""

    mode = BriefingMode.EXTRACTIVE

    def __init__(self, *, max_points: int = MAX_POINTS) -> None:
        self.max_points = max_points

    def brief_now(self, story: Story, articles: Sequence[Article]) -> StoryBriefing:
        """The briefing, computed in the calling thread."""
        return brief_story(story, articles, max_points=self.max_points)

    async def brief_story(
        self, story: Story, articles: Sequence[Article], channel: Channel
    ) -> StoryBriefing:
        del channel  # the same sentences for every channel
        return await asyncio.to_thread(self.brief_now, story, articles)
