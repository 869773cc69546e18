"""An answer to a question (``bot.qa.Answer``) as plain text and as JSON.

``answer_to_json`` returns JSON-ready data matching ``answer.schema.json`` (shipped in this
package; ``answer_schema()`` loads it): ``question``, ``answer`` (the text), ``claims``
(each ``text`` and ``sources``, ids into ``sources``), ``sources`` (as in the briefing
contract), ``new_sources`` (ids of sources new since the thread's last briefing),
``story_id``, ``mode``, ``verification`` (what citation checking changed; ``null`` when
nothing was checked), ``refused`` and its ``reason`` (``null`` for an answer), and
``usage`` when a model was paid. ``answer_to_text`` is what the terminal prints.

``bot.qa`` is a layer above ``bot.render``, so an answer comes in as ``AnswerLike``: the
shape of ``bot.qa.Answer``, read only.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any, Protocol

from bot.domain import BriefingMode, SourceRef, TokenUsage, Verification
from bot.render.json import _source, bundled_schema

SCHEMA_FILE = "answer.schema.json"


class ClaimLike(Protocol):
    @property
    def text(self) -> str: ...
    @property
    def sources(self) -> Sequence[int]: ...


class AnswerLike(Protocol):
    """What is rendered of ``bot.qa.Answer``."""

    @property
    def question(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def claims(self) -> Sequence[ClaimLike]: ...
    @property
    def sources(self) -> Sequence[SourceRef]: ...
    @property
    def new_sources(self) -> Sequence[int]: ...
    @property
    def story_id(self) -> str | None: ...
    @property
    def mode(self) -> BriefingMode: ...
    @property
    def verification(self) -> Verification | None: ...
    @property
    def refused(self) -> bool: ...
    @property
    def reason(self) -> enum.Enum | None: ...
    @property
    def usage(self) -> TokenUsage | None: ...


def answer_to_json(answer: AnswerLike) -> dict[str, Any]:
    """The answer as JSON-ready data (``json.dumps`` it as is)."""
    check = answer.verification
    usage = answer.usage
    return {
        "question": answer.question,
        "answer": answer.text,
        "claims": [
            {"text": claim.text, "sources": sorted(set(claim.sources))} for claim in answer.claims
        ],
        "sources": [_source(source) for source in answer.sources],
        "new_sources": sorted(set(answer.new_sources)),
        "story_id": answer.story_id,
        "mode": answer.mode.value,
        "verification": None
        if check is None
        else {
            "checked": check.checked,
            "removed": [{"text": text, "source": source} for text, source in check.removed],
            "added": [{"text": text, "source": source} for text, source in check.added],
            "dropped": list(check.dropped),
        },
        "refused": answer.refused,
        "reason": None if answer.reason is None else answer.reason.value,
        "usage": None
        if usage is None
        else {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cost_usd": None if usage.cost_usd is None else round(usage.cost_usd, 8),
            "cached": usage.cached,
        },
    }


def answer_to_text(answer: AnswerLike) -> str:
    """The answer as the terminal prints it: its text (which already cites its sources)."""
    return answer.text


def answer_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that ``answer_to_json`` output conforms to."""
    return bundled_schema(SCHEMA_FILE)
