"""Questions checked and follow-ups resolved against the thread's earlier turns.

The rule for a follow-up (``resolve_question``): a question is *elliptical* when it starts
with "and", "what about", "how about" or "and what about" and is short (at most
``ELLIPSIS_WORDS`` words), or when it has no content word of its own ("why?", "and then?").
An elliptical question takes the content of the previous question (itself resolved the same
way, so chains work): the names it brings replace the previous question's names ("what did
France say about the talks?" + "and Germany?" -> "what did Germany say about the talks?");
a question without names adds its words to the previous one ("and the ships?" after "what
did the union say?" -> "what did the union say? the ships"). Anything else stands alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.qa import MAX_QUESTION_CHARS, Refusal, Turn
from bot.qa.retrieve import query_terms
from bot.text import names, normalize_whitespace

ELLIPSIS_WORDS = 6
_LEAD = re.compile(r"^\s*(?:and\s+)?(?:what|how)\s+about\s+|^\s*and\s+", re.IGNORECASE)


def check_question(question: str) -> Refusal | None:
    """Why a question is not taken at all (empty, or over ``MAX_QUESTION_CHARS``)."""
    if not normalize_whitespace(question).strip(" ?!."):
        return Refusal.EMPTY
    if len(question) > MAX_QUESTION_CHARS:
        return Refusal.TOO_LONG
    return None


def _names(text: str) -> list[str]:
    found = []
    for name in names(text):
        if name.start == 0 and len(name.text.split()) == 1 and name.text.lower() in _QUESTION_WORDS:
            continue
        found.append(name.text)
    return found


_QUESTION_WORDS = frozenset(
    "what who whom whose when where why how which did does do is are was were and can could "
    "will would should has have had tell".split()
)


def is_elliptical(question: str) -> bool:
    text = normalize_whitespace(question)
    if _LEAD.match(text) and len(text.split()) <= ELLIPSIS_WORDS:
        return True
    return not query_terms(text)


def resolve_question(question: str, history: Sequence[Turn]) -> str:
    """The question as it stands alone, given the thread's earlier turns (oldest first)."""
    question = normalize_whitespace(question)
    if not history or not is_elliptical(question):
        return question
    previous = resolve_question(history[-1].question, history[:-1])
    rest = _LEAD.sub("", question).strip().rstrip("?!. ").strip()
    if not rest:
        return previous
    brought = _names(rest)
    before = _names(previous)
    if brought and before:
        resolved = previous.replace(before[0], " and ".join(brought), 1)
        for other in before[1:]:
            resolved = resolved.replace(other, "", 1)
        return normalize_whitespace(resolved)
    return normalize_whitespace(f"{previous} {rest}")
