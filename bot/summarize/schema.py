"""What the LLM must return: JSON schemas for briefings and answers, and pydantic mirrors.

The schemas are sent to the model as ``response_format`` (strict ``json_schema`` where the
server supports it), so they keep to the subset OpenAI's strict mode accepts: every object
lists all its properties as ``required`` and sets ``additionalProperties: false``; optional
content is an empty list, never a missing key.

A briefing (``BRIEFING_SCHEMA``)::

    {"headline": "...", "summary": "<one sentence>",
     "key_points":    [{"text": "...", "sources": [1, 3]}],
     "disagreements": [{"text": "...", "sources": [2]}],   # where sources differ
     "whats_new":     [{"text": "...", "sources": [5]}]}   # vs the previous briefing; [] if none

An answer to a follow-up question (``ANSWER_SCHEMA``)::

    {"answer": "...", "sources": [1, 4], "answerable": true}

An answer written from retrieved passages (``QA_SCHEMA``, the ``qa`` prompt's reply)::

    {"answer": "...", "claims": [{"text": "...", "sources": [2]}],
     "outcome": "answered"}                       # or "not_in_sources"

Source ids are the 1-based numbers of the story's sources as given in the prompt
(``<source id="3" ...>``), the same numbers as ``bot.domain.SourceRef.id``.

``validate_json(content, schema)`` parses a reply and checks it against a schema (integers
must be JSON integers: ``1.0`` and ``true`` are not source ids). The pydantic models
(``BriefingOutput``, ``AnswerOutput``, ``QAOutput``) accept exactly what the schemas accept,
so the caller can turn a validated reply into typed objects with
``BriefingOutput.model_validate(data)``.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

import jsonschema
from pydantic import BaseModel, ConfigDict, Field

BRIEFING_SCHEMA_NAME = "story_briefing"
ANSWER_SCHEMA_NAME = "story_answer"
QA_SCHEMA_NAME = "story_qa"


def _cited_items(description: str) -> dict[str, Any]:
    return {
        "type": "array",
        "description": description,
        "items": {
            "type": "object",
            "properties": {
                "text": {"type": "string", "description": "One self-contained sentence."},
                "sources": {
                    "type": "array",
                    "description": "Ids of the sources that report this, e.g. [1, 3].",
                    "items": {"type": "integer", "minimum": 1},
                },
            },
            "required": ["text", "sources"],
            "additionalProperties": False,
        },
    }


BRIEFING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "headline": {"type": "string", "description": "A neutral headline for the story."},
        "summary": {"type": "string", "description": "The story in one sentence."},
        "key_points": _cited_items("The most important facts, most important first."),
        "disagreements": _cited_items(
            "Where sources differ: conflicting figures, claims or accounts. Empty if none."
        ),
        "whats_new": _cited_items(
            "What the new sources add to the previous briefing. Empty if there was none."
        ),
    },
    "required": ["headline", "summary", "key_points", "disagreements", "whats_new"],
    "additionalProperties": False,
}

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "answer": {
            "type": "string",
            "description": "The answer, from the sources only; says so when they do not tell.",
        },
        "sources": {
            "type": "array",
            "description": "Ids of the sources the answer relies on; empty if unanswerable.",
            "items": {"type": "integer", "minimum": 1},
        },
        "answerable": {
            "type": "boolean",
            "description": "False when the sources do not contain the answer.",
        },
    },
    "required": ["answer", "sources", "answerable"],
    "additionalProperties": False,
}

QA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "answer": {
            "type": "string",
            "description": "The answer in a few sentences, from the sources only.",
        },
        "claims": _cited_items(
            "Each statement of the answer with the ids of the sources that say it. "
            "Empty when the sources do not contain the answer."
        ),
        "outcome": {
            "type": "string",
            "enum": ["answered", "not_in_sources"],
            "description": "not_in_sources when the sources do not contain the answer.",
        },
    },
    "required": ["answer", "claims", "outcome"],
    "additionalProperties": False,
}

SourceId = Annotated[int, Field(strict=True, ge=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CitedItem(_Strict):
    """A key point, disagreement or new development and the sources that report it."""

    text: str
    sources: list[SourceId]


class BriefingOutput(_Strict):
    """A briefing as the model returns it (see ``BRIEFING_SCHEMA``)."""

    headline: str
    summary: str
    key_points: list[CitedItem]
    disagreements: list[CitedItem]
    whats_new: list[CitedItem]


class AnswerOutput(_Strict):
    """An answer to a follow-up question as the model returns it (see ``ANSWER_SCHEMA``)."""

    answer: str
    sources: list[SourceId]
    answerable: bool


class QAOutput(_Strict):
    """An answer written from retrieved passages as the model returns it (``QA_SCHEMA``)."""

    answer: str
    claims: list[CitedItem]
    outcome: Literal["answered", "not_in_sources"]


# --- Checking a reply ------------------------------------------------------------------------

_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n?```\s*$", re.S | re.I)
_Integer = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
)
# JSON Schema counts 1.0 as an integer; source ids must be real ints, as the pydantic models say.
_Validator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]  # untyped in the stubs
    jsonschema.Draft202012Validator, type_checker=_Integer
)


def validate_json(content: str, schema: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """Parse ``content`` and check it against ``schema``: ``(data, "")`` or ``(None, problem)``.

    A Markdown code fence around the JSON (common in JSON mode) is tolerated.
    """
    fenced = _FENCE.match(content)
    text = fenced.group(1) if fenced else content
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    if not isinstance(data, dict):
        return None, f"expected a JSON object, got {type(data).__name__}"
    error = jsonschema.exceptions.best_match(_Validator(schema).iter_errors(data))
    if error is not None:
        where = error.json_path if error.path else "the top level"
        return None, f"at {where}: {error.message}"
    return data, ""
