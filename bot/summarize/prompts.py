"""Prompt templates: files with named variables, loaded and checked once at start-up.

Each prompt is one UTF-8 file ``<name>.md`` in the prompts folder
(``Settings.resolved_prompts_dir``) with a system part and a user part::

    Anything before the first marker is a comment for the prompt's editors; it is not sent.
    --- system ---
    You brief readers on {{ topic }}. ...
    --- user ---
    Today is {{ today }}. Sources:
    {{ sources }}

- A marker is a line of its own, ``--- system ---`` or ``--- user ---`` (case-insensitive);
  each appears exactly once, system first.
- ``{{ name }}`` (spaces optional) is a variable; names are letters, digits and underscores.
  Every other brace is literal text, so JSON examples need no escaping.
- Values are inserted in one pass and never re-read as templates: a ``{{ today }}`` inside an
  article stays as it is.

``load_prompts`` checks every prompt against ``PROMPT_SPECS`` and raises ``PromptError``
naming the file and the variable when a prompt file is missing, a template uses a variable
its prompt does not know, or a required variable is missing from the template. So a bad
prompt fails when the bot starts, not at the 8 a.m. digest.

Untrusted text (articles, a reader's question, earlier model output) goes in through
``format_sources`` / ``format_key_points`` / ``neutralize``, which delimit it and defuse any
delimiter-like text inside it; the system prompts tell the model that such text is data,
never instructions. ``prompts/README.md`` documents the variables of each prompt.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TypedDict

from bot.domain import KeyPoint
from bot.errors import PromptError, PromptFileError
from bot.text import normalize_whitespace

log = logging.getLogger(__name__)

Role = Literal["system", "user", "assistant"]


class ChatMessage(TypedDict):
    """One chat message as sent to an OpenAI-compatible server."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class PromptSpec:
    """The variables a prompt must use (``required``) and may use (``optional``)."""

    required: frozenset[str]
    optional: frozenset[str] = frozenset()

    @property
    def known(self) -> frozenset[str]:
        return self.required | self.optional


PROMPT_SPECS: dict[str, PromptSpec] = {
    "briefing": PromptSpec(
        required=frozenset({"topic", "story_title", "sources", "today"}),
        optional=frozenset({"max_points", "source_count"}),
    ),
    "update": PromptSpec(
        required=frozenset({"topic", "story_title", "previous_points", "sources", "today"}),
        optional=frozenset({"max_points", "source_count", "previous_date"}),
    ),
    "qa": PromptSpec(
        required=frozenset({"question", "story_title", "sources", "today"}),
        optional=frozenset({"topic", "source_count"}),
    ),
    "repair": PromptSpec(required=frozenset({"invalid_output", "error", "schema"})),
}

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_MARKER = re.compile(r"^---[ \t]*(system|user)[ \t]*---[ \t]*$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Prompt:
    """One parsed prompt: its system and user templates and the variables they use."""

    name: str
    path: Path
    system: str
    user: str

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(_VARIABLE.findall(self.system) + _VARIABLE.findall(self.user))

    def render(self, **values: str | int) -> list[ChatMessage]:
        """Fill the variables and return ``[system message, user message]``.

        Every variable the template uses needs a value; a value for a variable the prompt
        does not know is a programming error. Both raise ``PromptError``.
        """
        spec = PROMPT_SPECS.get(self.name)
        if spec is not None:
            unknown = sorted(set(values) - spec.known)
            if unknown:
                raise PromptError(
                    f"Prompt {self.name!r} has no variable {unknown[0]!r}; "
                    f"its variables are {', '.join(sorted(spec.known))}."
                )
        missing = sorted(self.variables - set(values))
        if missing:
            raise PromptError(
                f"Prompt {self.name!r} ({self.path}) needs a value for {{{{ {missing[0]} }}}}."
            )
        text = {name: str(value) for name, value in values.items()}

        def fill(template: str) -> str:
            return _VARIABLE.sub(lambda m: text[m.group(1)], template)

        return [
            ChatMessage(role="system", content=fill(self.system)),
            ChatMessage(role="user", content=fill(self.user)),
        ]


@dataclass(frozen=True, slots=True)
class PromptSet:
    """The four prompts briefbot uses, each already checked against its spec."""

    briefing: Prompt
    update: Prompt
    qa: Prompt
    repair: Prompt
    directory: Path


def load_prompts(directory: Path) -> PromptSet:
    """Read and check ``briefing``, ``update``, ``qa`` and ``repair`` from ``directory``."""
    if not directory.is_dir():
        raise PromptFileError(
            f"Prompts folder {directory} does not exist. Point BRIEFBOT_PROMPTS_DIR at a folder "
            "with briefing.md, update.md, qa.md and repair.md, or unset it to use the shipped ones."
        )
    prompts = {name: load_prompt(directory / f"{name}.md", name) for name in PROMPT_SPECS}
    log.debug("loaded prompts %s from %s", ", ".join(prompts), directory)
    return PromptSet(directory=directory, **prompts)


def load_prompt(path: Path, name: str) -> Prompt:
    """Read one prompt file and check it against ``PROMPT_SPECS[name]``."""
    spec = PROMPT_SPECS[name]
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PromptFileError(
            f"Prompt file {path} is missing; every prompts folder needs "
            f"{', '.join(f'{n}.md' for n in PROMPT_SPECS)}."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptFileError(f"Prompt file {path} cannot be read as UTF-8 text: {exc}.") from None
    system, user = _split_parts(source, path)
    prompt = Prompt(name=name, path=path, system=system, user=user)
    used = prompt.variables
    unknown = sorted(used - spec.known)
    if unknown:
        raise PromptFileError(
            f"Prompt file {path} uses unknown variable {{{{ {unknown[0]} }}}}; "
            f"the {name} prompt knows {', '.join(sorted(spec.known))}."
        )
    missing = sorted(spec.required - used)
    if missing:
        raise PromptFileError(
            f"Prompt file {path} does not use required variable {{{{ {missing[0]} }}}}; "
            f"the {name} prompt must use {', '.join(sorted(spec.required))}."
        )
    return prompt


def _split_parts(source: str, path: Path) -> tuple[str, str]:
    markers = [(m.group(1).lower(), m.start(), m.end()) for m in _MARKER.finditer(source)]
    roles = [role for role, _, _ in markers]
    if roles != ["system", "user"]:
        found = ", ".join(f"--- {r} ---" for r in roles) or "none"
        raise PromptFileError(
            f"Prompt file {path} must have a '--- system ---' line and then a '--- user ---' "
            f"line, each once (found: {found})."
        )
    (_, _, system_end), (_, user_start, user_end) = markers
    system = source[system_end:user_start].strip()
    user = source[user_end:].strip()
    for part, text in (("system", system), ("user", user)):
        if not text:
            raise PromptFileError(f"Prompt file {path} has an empty {part} part.")
    return system, user


# --- Untrusted text ---------------------------------------------------------------------------

_ANGLE = str.maketrans({"<": "‹", ">": "›"})


def neutralize(text: str) -> str:
    """Make untrusted text unable to open or close a delimiter of ours.

    Angle brackets become single guillemets (``<`` → ``‹``, ``>`` → ``›``), so an article
    containing ``</source>`` or ``<question>`` cannot end its passage or fake another block.
    News text rarely uses angle brackets, and the model still reads the text as written.
    """
    return text.translate(_ANGLE)


def _attribute(value: str) -> str:
    return neutralize(normalize_whitespace(value)).replace('"', "”")


@dataclass(frozen=True, slots=True)
class SourcePassage:
    """Text from one numbered source of a story, as put in front of the model.

    ``id`` is the source's 1-based number in the story (``SourceRef.id``); ``text`` is the
    article text or the passages chosen from it; ``full_text`` is False for a feed teaser.
    """

    id: int
    outlet: str
    text: str
    title: str = ""
    published_at: datetime | None = None
    full_text: bool = True


def format_date(when: datetime | None) -> str:
    """``2025-03-03 06:10 UTC`` (or ``unknown``): how dates appear in prompts."""
    if when is None:
        return "unknown"
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_sources(passages: Sequence[SourcePassage]) -> str:
    """Number and delimit source passages for the ``sources`` variable.

    Each passage becomes::

        <source id="3" outlet="Valley Post" date="2025-03-03 11:30 UTC" title="...">
        text
        </source>

    with ``partial="true"`` added for a feed teaser. Outlet, title and text are neutralised
    (see ``neutralize``) because they come from the open web.
    """
    blocks = []
    for passage in passages:
        if passage.id < 1:
            raise ValueError(f"source ids start at 1, got {passage.id}")
        attributes = [
            f'id="{passage.id}"',
            f'outlet="{_attribute(passage.outlet)}"',
            f'date="{format_date(passage.published_at)}"',
        ]
        if passage.title:
            attributes.append(f'title="{_attribute(passage.title)}"')
        if not passage.full_text:
            attributes.append('partial="true"')
        body = neutralize(passage.text.strip())
        blocks.append(f"<source {' '.join(attributes)}>\n{body}\n</source>")
    return "\n\n".join(blocks)


def format_key_points(points: Sequence[KeyPoint]) -> str:
    """Earlier key points for the ``previous_points`` variable: ``- text [1, 3]`` per line."""
    lines = []
    for point in points:
        cited = f" [{', '.join(str(s) for s in point.sources)}]" if point.sources else ""
        lines.append(f"- {neutralize(normalize_whitespace(point.text))}{cited}")
    return "\n".join(lines) if lines else "(none)"
