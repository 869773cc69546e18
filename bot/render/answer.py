"""An answer to a question about a story, as plain text and as JSON.

``answer_to_json`` returns JSON-ready data matching ``answer.schema.json`` (shipped in this
package; ``answer_schema()`` loads it): ``answer`` (the text posted), ``claims`` (each with
``text`` and ``sources``, ids into ``sources``), ``sources`` (the briefing contract's
source shape), ``story_id``, ``verification`` (what citation checking changed, or null for
an answer quoted without a model), ``refused`` and its ``reason`` (null when answered).

The renderer sits below ``bot.qa`` in the layers, so it takes any object with the fields of
``bot.qa.Answer`` (``RenderableAnswer``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from bot.domain import BriefingMode, SourceRef, Verification
from bot.render.json import bundled_schema, source_json
from bot.render.text import clean

SCHEMA_FILE = "answer.schema.json"


class RenderableClaim(Protocol):
    @property
    def text(self) -> str: ...

    @property
    def sources(self) -> Sequence[int]: ...


class RenderableAnswer(Protocol):
    """What the renderers read of ``bot.qa.Answer``."""

    @property
    def text(self) -> str: ...

    @property
    def claims(self) -> Sequence[RenderableClaim]: ...

    @property
    def sources(self) -> Sequence[SourceRef]: ...

    @property
    def story_id(self) -> str | None: ...

    @property
    def refused(self) -> bool: ...

    @property
    def reason(self) -> str | None: ...

    @property
    def verification(self) -> Verification | None: ...

    @property
    def mode(self) -> BriefingMode: ...

    @property
    def notes(self) -> Sequence[str]: ...

    @property
    def new_sources(self) -> Sequence[int]: ...


def answer_to_text(answer: RenderableAnswer) -> str:
    """The answer as posted in a plain-text channel (the terminal, the console channel)."""
    lines = [clean(line) if line.strip() else "" for line in answer.text.splitlines()]
    return "\n".join(line for line in lines if line) or clean(answer.text)


def answer_to_json(answer: RenderableAnswer) -> dict[str, Any]:
    """The answer as JSON-ready data (``json.dumps`` it as is)."""
    check = answer.verification
    return {
        "answer": answer.text,
        "claims": [
            {"text": claim.text, "sources": sorted(set(claim.sources))} for claim in answer.claims
        ],
        "sources": [source_json(ref) for ref in answer.sources],
        "story_id": answer.story_id,
        "verification": None
        if check is None
        else {
            "checked": check.checked,
            "removed": [{"text": text, "source": source} for text, source in check.removed],
            "added": [{"text": text, "source": source} for text, source in check.added],
            "dropped": list(check.dropped),
        },
        "refused": answer.refused,
        "reason": None if answer.reason is None else str(answer.reason),
        "mode": str(answer.mode),
        "notes": list(answer.notes),
        "new_sources": list(answer.new_sources),
    }


def answer_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that ``answer_to_json`` output conforms to."""
    return bundled_schema(SCHEMA_FILE)
