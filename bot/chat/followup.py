"""Follow-up questions in a briefing's thread, answered from that thread's stories only.

The matcher lives in ``bot.qa.extractive`` (the Q&A core's answer without a model); this
module keeps the names ``bot.chat`` and the platform renderers import: ``answer_in_thread``
quotes the stories' own sentences that match the question, each with the sources that carry
it, numbered like the briefing numbers them, and ``defuse_mentions`` makes "@everyone",
"@here" and "@channel" inert.
"""

from __future__ import annotations

from bot.qa.extractive import (
    MATCH_THRESHOLD,
    MAX_QUOTES,
    Answerer,
    Quote,
    ThreadAnswer,
    ThreadStories,
    answer_extractively,
    answer_in_thread,
    defuse_mentions,
    quotable,
)

__all__ = [
    "MATCH_THRESHOLD",
    "MAX_QUOTES",
    "Answerer",
    "Quote",
    "ThreadAnswer",
    "ThreadStories",
    "answer_extractively",
    "answer_in_thread",
    "defuse_mentions",
    "quotable",
]
