"""Material developments of a story: what a live update posts.

A key point is a material development when a new independent report carries it (a source
among the newly stored articles that copies no other source: not a wire or syndicated copy)
and no earlier briefing of the story made it, in any words (``sentence_similarity`` below
``REWORDING``: a rewording of an old point is not news).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from bot.domain import KeyPoint, StoryBriefing
from bot.summarize.align import sentence_similarity

# Two points at least this similar say the same thing (the digest's test pins it: a
# reworded lead with the same names and numbers scores above it, a new fact below).
REWORDING = 0.55


def material_points(
    briefing: StoryBriefing,
    earlier_points: Sequence[str],
    new_article_ids: Collection[int],
    *,
    rewording: float = REWORDING,
) -> list[KeyPoint]:
    """The key points of ``briefing`` that are material developments (see the module)."""
    by_id = {source.id: source for source in briefing.sources}
    fresh = {
        source.id
        for source in briefing.sources
        if source.article_id is not None
        and source.article_id in new_article_ids
        and source.copy_of is None
        and not _copied_by_old(source.id, briefing, new_article_ids)
    }
    found = []
    for point in briefing.key_points:
        if not any(source_id in fresh for source_id in point.sources):
            continue
        if any(sentence_similarity(point.text, old) >= rewording for old in earlier_points):
            continue
        found.append(KeyPoint(point.text, [s for s in point.sources if s in by_id]))
    return found


def _copied_by_old(source_id: int, briefing: StoryBriefing, new_ids: Collection[int]) -> bool:
    """True when an older source is a copy of this one: the "new" article is a report the
    story had already carried under another outlet's name."""
    return any(
        other.copy_of == source_id and other.article_id not in new_ids for other in briefing.sources
    )
