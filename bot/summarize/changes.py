"""What changed in a story for one channel: the comparison behind digests and live updates.

``compare(story, earlier)`` marks a fresh story briefing against the channel's previous
briefing of the same story (``None``: the channel was never briefed on it):

- no earlier briefing: ``StoryStatus.NEW``;
- key points the earlier one did not make: ``StoryStatus.UPDATED``, with ``whats_new`` the new
  points and ``key_points`` reordered, new points first;
- otherwise ``StoryStatus.SEEN``.

A point is new when no point of the earlier briefing (its key points, what was new then and
where sources differed) says the same thing: ``sentence_similarity`` below
``SAME_POINT_SIMILARITY``. A rewording or a wire copy's version of an old point is not new
("prolonged their walkout" ~ "extended their strike"); a changed number, name or negation is
("a fourth day", "fifty ships"), because the similarity drops sharply when those disagree.

Pure: no I/O, deterministic for a given input.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from bot.domain import KeyPoint, StoryBriefing, StoryStatus
from bot.summarize.align import sentence_similarity

__all__ = [
    "SAME_POINT_SIMILARITY",
    "STATUS_ORDER",
    "compare",
    "live_update",
    "new_points",
    "order_by_status",
]

# Two points say the same thing at this similarity or above. Rewordings of one sentence by
# two outlets score about 0.75; a different fact on the same story stays under 0.3
# (tests/test_digest.py pins both sides).
SAME_POINT_SIMILARITY = 0.5

STATUS_ORDER = (StoryStatus.NEW, StoryStatus.UPDATED, StoryStatus.SEEN)


def _said(briefing: StoryBriefing) -> list[str]:
    points = [*briefing.key_points, *briefing.whats_new, *briefing.disagreements]
    return [point.text for point in points if point.text.strip()]


def new_points(points: Iterable[KeyPoint], earlier: Sequence[str]) -> list[KeyPoint]:
    """The ``points`` that none of the ``earlier`` sentences says (in their order)."""
    return [
        point
        for point in points
        if point.text.strip()
        and all(sentence_similarity(point.text, said) < SAME_POINT_SIMILARITY for said in earlier)
    ]


def compare(story: StoryBriefing, earlier: StoryBriefing | None) -> StoryBriefing:
    """``story`` marked NEW, UPDATED or SEEN for a channel whose previous briefing of it was
    ``earlier`` (a new object; ``story`` is left as it is)."""
    if earlier is None:
        return replace(story, status=StoryStatus.NEW, whats_new=[])
    fresh = new_points(story.key_points, _said(earlier))
    if not fresh:
        return replace(story, status=StoryStatus.SEEN, whats_new=[])
    rest = [point for point in story.key_points if not any(point is new for new in fresh)]
    return replace(
        story, status=StoryStatus.UPDATED, whats_new=list(fresh), key_points=[*fresh, *rest]
    )


def order_by_status(stories: Iterable[StoryBriefing]) -> list[StoryBriefing]:
    """NEW stories first, then UPDATED, then SEEN (each group in its given order)."""
    rank = {status: index for index, status in enumerate(STATUS_ORDER)}
    return sorted(stories, key=lambda story: rank[story.status] if story.status is not None else 0)


def live_update(story: StoryBriefing) -> StoryBriefing:
    """An UPDATED story cut down to a live update: its key points are just the new points."""
    return replace(
        story,
        status=StoryStatus.UPDATED,
        key_points=list(story.whats_new),
        disagreements=[],
        summary=None,
    )
