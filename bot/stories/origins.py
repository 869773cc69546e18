"""Wire credits: which news agencies an article says its reporting comes from.

Recognised credits (case-insensitive where agencies are named):

- a dateline at the start of the text or of a paragraph: ``LONDON (Reuters) -``,
  ``(AP) —``, ``PORT HALVERN (Meridian Wire) —``: any agency name, so unknown and
  regional wires are found too;
- ``according to Reuters`` / ``Reuters reported`` for known agencies only;
- source lines: ``Sources: Reuters, AFP``, ``Source: AP``;
- agency sign-offs: ``Reporting by ...; Editing by ...`` (Reuters' house style),
  ``The Associated Press contributed to this report``, ``With reporting by AFP``,
  ``Copyright 2026 The Associated Press``.

A story *about* an agency ("Reuters announced a new editor") is not a credit.
"""

from __future__ import annotations

import re

KNOWN_WIRES: dict[str, str] = {
    "reuters": "Reuters",
    "thomson reuters": "Reuters",
    "ap": "AP",
    "associated press": "AP",
    "the associated press": "AP",
    "afp": "AFP",
    "agence france-presse": "AFP",
    "agence france presse": "AFP",
    "bloomberg": "Bloomberg",
    "bloomberg news": "Bloomberg",
    "dpa": "dpa",
    "deutsche presse-agentur": "dpa",
    "pa": "PA Media",
    "pa media": "PA Media",
    "press association": "PA Media",
    "upi": "UPI",
    "united press international": "UPI",
    "efe": "EFE",
    "ansa": "ANSA",
    "kyodo": "Kyodo",
    "kyodo news": "Kyodo",
    "xinhua": "Xinhua",
    "tass": "TASS",
    "yonhap": "Yonhap",
    "anadolu": "Anadolu",
    "anadolu agency": "Anadolu",
    "cp": "Canadian Press",
    "the canadian press": "Canadian Press",
    "canadian press": "Canadian Press",
    "aap": "AAP",
    "australian associated press": "AAP",
    "ani": "ANI",
    "pti": "PTI",
    "press trust of india": "PTI",
}

_KNOWN = "|".join(sorted((re.escape(k) for k in KNOWN_WIRES), key=len, reverse=True))
_DASH = r"(?:—|–|--|-)"
_AGENCY = r"[A-Z][\w&'’.-]*(?:[ -][A-Z][\w&'’.-]*){0,4}"

# "PORT HALVERN (Meridian Wire) —", "LONDON, March 3 (Reuters) -", "(AP) —"
_CITY = r"[A-ZÀ-Ý][A-ZÀ-Ý.'’ -]{1,40}(?:,\s*[\w. ]{1,30})?"
_DATELINE = re.compile(rf"(?:^|\n)\s*(?:{_CITY}\s*)?\(({_AGENCY})\)\s*{_DASH}")
_ACCORDING = re.compile(rf"\baccording to (?:the )?({_KNOWN})\b(?![- ]\w*(?:poll|survey))", re.I)
_REPORTED = re.compile(rf"\b(?:the )?({_KNOWN}) (?:reported|news agency reported)\b", re.I)
_SOURCES = re.compile(r"(?:^|\n)\s*Sources?\s*:\s*([^\n]{2,120})")
_CONTRIBUTED = re.compile(  # case-sensitive: any capitalised agency name may stand here
    rf"\b(?:[Tt]he )?((?i:{_KNOWN})\b|{_AGENCY}) contributed (?:to )?(?:this|the) "
    r"(?:report|story|article)"
)
_WITH_REPORTING = re.compile(
    rf"\b(?:with|additional) reporting (?:by|from) (?:the )?({_KNOWN})\b", re.I
)
_COPYRIGHT = re.compile(rf"(?:©|\bcopyright)\s*(?:\d{{4}}\s*)?(?:the )?({_KNOWN})\b", re.I)
_REUTERS_SIGNOFF = re.compile(
    r"\bReporting by [^;\n]{2,120};\s*(?:Additional reporting|Editing) by"
)

# Each pattern with the lower-case words one of which any match must contain.
_CUED_PATTERNS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (_ACCORDING, ("according to",)),
    (_REPORTED, ("reported",)),
    (_CONTRIBUTED, ("contributed",)),
    (_WITH_REPORTING, ("reporting",)),
    (_COPYRIGHT, ("copyright", "©")),
)

# Words that look like an agency in parentheses but are not one: "(pictured)", "(AFP photo)"
_NOT_AGENCIES = frozenset({"pictured", "file", "photo", "video", "updated", "corrected", "ret"})


def canonical_wire(name: str) -> str:
    """Canonical agency name: known agencies by their house name, others as written."""
    cleaned = " ".join(name.replace("’", "'").split()).strip(" .")
    return KNOWN_WIRES.get(cleaned.lower(), cleaned)


def wire_origins(text: str) -> tuple[str, ...]:
    """Agencies credited in ``text``, canonical names, in order of first appearance."""
    found: list[tuple[int, str]] = []

    def add(position: int, name: str) -> None:
        if name and name.lower() not in _NOT_AGENCIES:
            found.append((position, canonical_wire(name)))

    lowered = text.lower()
    if "(" in text:
        for match in _DATELINE.finditer(text):
            add(match.start(1), match.group(1))
    for pattern, cue in _CUED_PATTERNS:
        if any(word in lowered for word in cue):  # a cheap test spares most texts the regex
            for match in pattern.finditer(text):
                add(match.start(1), match.group(1))
    for match in _SOURCES.finditer(text):
        for offset, part in enumerate(re.split(r",|;|\band\b|/", match.group(1))):
            name = part.strip(" .")
            if name.lower() in KNOWN_WIRES:
                add(match.start(1) + offset, name)
    if "reporting by" in lowered:
        for match in _REUTERS_SIGNOFF.finditer(text):
            add(match.start(), "Reuters")
    ordered: list[str] = []
    for _, name in sorted(found):
        if name not in ordered:
            ordered.append(name)
    return tuple(ordered)
