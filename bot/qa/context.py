"""Questions checked and follow-ups resolved against the thread's earlier turns.

The rule for a follow-up (``resolve_question``): a question is *elliptical* when it starts
with "and", "what about", "how about" or "and what about" and is short (at most
``ELLIPSIS_WORDS`` words), or when it has no content word of its own ("why?", "and then?").
An elliptical question takes the content of the previous question (itself resolved the same
way, so chains work): the names it brings replace the previous question's names ("what did
France say about the talks?" + "and Germany?" -> "what did Germany say about the talks?");
a question without names adds its words to the previous one ("and the ships?" after "what
did the union say?" -> "what did the union say? the ships").

A question that names no one but refers to someone ("what did *she* say once the deal was
done?", "when will *they* try again?") is resolved first: the personal pronoun (he, she,
they, him, them; not "it" or a possessive, which more often point inside the question) is
replaced by the first name of the previous turn's answer (whom the answer was about), else of
its question ("Which minister appointed the mediator?" answered "Transport Minister Elin
Marsk appointed Oskar Feldt" -> "what did Transport Minister Elin Marsk say once the deal was
done?"). With no name in the previous turn, the question is treated as elliptical. Anything
else stands alone.

A question of several parts ("who brokered the deal, and what was his job before?", "how
many crews joined, and for how long?", two questions in one message) is split
(``question_parts``) so that each part is matched on its own: one sentence rarely answers
both. A part with next to nothing of its own ("and for how long?") takes the first part's
words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.qa import MAX_QUESTION_CHARS, Refusal, Turn
from bot.qa.retrieve import query_terms
from bot.text import STOPWORDS, names, normalize_whitespace

ELLIPSIS_WORDS = 6
_LEAD = re.compile(r"^\s*(?:and\s+)?(?:what|how)\s+about\s+|^\s*and\s+", re.IGNORECASE)
_PRONOUN = re.compile(r"\b(?:he|she|they|him|them)\b", re.IGNORECASE)


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
        if name.start == 0 and len(name.text.split()) == 1 and _sentence_word(name.text):
            continue
        found.append(name.text)
    return found


_QUESTION_WORDS = frozenset(
    "what who whom whose when where why how which did does do is are was were and can could "
    "will would should has have had tell".split()
)


def _sentence_word(word: str) -> bool:
    """A capitalised first word that is only a sentence's start ("What", "The", "Two")."""
    folded = word.casefold()
    return folded in _QUESTION_WORDS or folded in STOPWORDS or folded in _NUMBER_WORDS


_NUMBER_WORDS = frozenset(
    "one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty "
    "hundred hundreds thousand thousands dozens some several many most all both".split()
)


def is_elliptical(question: str) -> bool:
    text = normalize_whitespace(question)
    if _LEAD.match(text) and len(text.split()) <= ELLIPSIS_WORDS:
        return True
    return not query_terms(text)


def resolve_question(question: str, history: Sequence[Turn]) -> str:
    """The question as it stands alone, given the thread's earlier turns (oldest first)."""
    question = normalize_whitespace(question)
    if not history:
        return question
    pronoun = _PRONOUN.search(question) if not _names(_LEAD.sub("", question)) else None
    if pronoun is not None:
        last = history[-1]
        referent = next(iter(_names(last.answer) or _names(last.question)), None)
        if referent is not None:
            start, end = pronoun.span()
            return _LEAD.sub("", f"{question[:start]}{referent}{question[end:]}").strip()
        return _follow_on(question, history)
    if not is_elliptical(question):
        return question
    return _follow_on(question, history)


def _follow_on(question: str, history: Sequence[Turn]) -> str:
    """An elliptical question completed by the previous one."""
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


_QUESTION_START = (
    r"(?:what|who|whom|whose|when|where|which|why|how|for\s+how|since\s+when|did|does|do|is|"
    r"are|was|were|has|have|had|will|would|can|could)\b"
)
_PART_BREAK = re.compile(
    r"\?\s+(?=\S)|[,;]?\s+and\s+(?=" + _QUESTION_START + r")|[,;]\s+(?=" + _QUESTION_START + r")",
    re.IGNORECASE,
)
_ASKING = re.compile(
    r"\b(?:how\s+(?:many|much|long|far|big|large|high|old|soon)|what|who|whom|whose|when|"
    r"where|which|why|how|did|does|do|is|are|was|were|has|have|had|will|would|can|could)\b",
    re.IGNORECASE,
)
_ASKS = re.compile(r"^\W*(?:and\s+|but\s+|so\s+)?" + _QUESTION_START, re.IGNORECASE)
MIN_PART_TERMS = 2  # a part with fewer content terms borrows the first part's


def question_parts(question: str) -> list[str]:
    """The question's parts, each to be answered on its own (one part: the question)."""
    text = normalize_whitespace(question)
    parts = [p.strip(" ,;?") for p in _PART_BREAK.split(text)]
    parts = [p for p in parts if p]
    if len(parts) < 2 or not all(_ASKS.match(p) for p in parts):
        return [text]  # "once the pause is over, is it going to ...?" is one question
    first = parts[0]
    context = normalize_whitespace(_ASKING.sub(" ", first))
    whole = [first]
    head = _COUNTED.match(first)
    for part in parts[1:]:
        bare = _BARE_COUNT.match(part)
        if bare and head:  # "..., and how many by Wednesday?": how many *ships*
            part = f"{bare.group(1)} {head.group(2)}{part[bare.end(1) :]}"
        if len(query_terms(part)) < MIN_PART_TERMS:
            part = f"{part} {context}"
        whole.append(part)
    return whole


_COUNTED = re.compile(r"^\W*(how\s+(?:many|much))\s+([a-z][a-z'’-]+)", re.IGNORECASE)
_BARE_COUNT = re.compile(
    r"^\W*(?:and\s+)?(how\s+(?:many|much))(?=\s+(?:by|in|at|on|after|before|now|then|since|"
    r"today|yesterday|were|was|are|is|did|have|has)\b|\W*$)",
    re.IGNORECASE,
)
