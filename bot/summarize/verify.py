"""Citation verification: keep only the citations a source's text actually supports.

A writer (an LLM) gives key points and says which numbered sources report each one. That is
never trusted: every (point, cited source) pair is checked against the source's text with the
sentence alignment of ``bot.summarize.align``, and then

- a cited source that does not support the point is removed (``Verification.removed``);
- a citation to a source id the story does not have is removed too (and listed in
  ``VerifiedPoints.unknown``); repeated ids count once;
- a source that supports the point but was not cited is added (``add_missing``);
- a point left with no support is dropped, or returned in ``marked`` (``unsupported="mark"``).

What "supports" means
---------------------
A point is split into *parts*: its sentences, and within a sentence the clauses joined by
"; ", ": " or ", and / but / while / whereas / although" when both sides carry at least
three words or figures of their own. A source supports a part when alignment finds a
sentence (or two adjacent ones, each adding a real share of the part) that reports it:
enough of the part's weighted words, every number (``1,400`` = ``1400``, ``12 percent`` =
``12%``, ``€250m`` = ``250 million euros``), every name and place, and the same polarity
("did not reopen" never supports "reopened"). On top of alignment four checks are made here:

- *contradiction*: the part uses a word whose opposite the source uses instead ("weakened"
  where the source says "strengthened", "rose" where it says "fell");
- *denial*: the part asserts plainly what the source says under a negation ("patient data
  was stolen" against "no evidence that patient data had been stolen");
- *quantifier inflation*: the part says "all", "every", "entire" or "only" where the source
  has no such word ("all trains were cancelled" against "38 of 1,250 services ran");
- *relative dates*: "last week", "next month", "yesterday" in the part must be in the source
  too (weekdays, months and years are names and numbers, which alignment already checks).

A cited source is kept when it supports at least one part. A point survives when every part
is supported by at least one kept (or added) source: the citations must support the point
*jointly*, so a point combining facts from two sources keeps both, and a point with one
fabricated clause is dropped even when its other clauses are well sourced.

Disagreements and what's new
----------------------------
``verify_items(..., rule="differ")`` checks "where sources differ" items, which cite sources
that say *different* things ("the union says 3,200 joined, while the port authority puts it
at 1,500"). The same rule applies part by part, so each cited source must support the part
attributed to it, and every side must be supported by some cited source. Framing clauses
that only announce the disagreement ("Accounts differ on the turnout") carry no fact and are
not checked. "What's new" items are plain claims: ``rule="support"``, as for key points.
References to the story's own outlets ("according to the Harbor Times", "Source 2 says")
are removed before checking, since the source text does not name itself.

Everything is deterministic: the same points and sources give the same result.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from bot.domain import Article, KeyPoint, SourceRef, Verification
from bot.summarize.align import Alignment, Match, Profile, canonical, profile
from bot.text import fold, normalize_whitespace, split_sentences, words

log = logging.getLogger(__name__)

Rule = Literal["support", "differ"]
Unsupported = Literal["drop", "mark"]

# A clause is checked on its own only when it carries this many words and figures.
MIN_PART_TOKENS = 3
# A plain claim is denied when this many of its words sit in a negated clause of the source.
_DENIED_TERMS = 2

_CLAUSE_SPLIT = re.compile(
    r"\s*;\s+|:\s+|,\s+(?=(?:and|but|while|whereas|although)\s)|\s+(?=(?:while|whereas)\s)",
    re.IGNORECASE,
)
_LEADING_CONNECTIVE = re.compile(r"^(?:and|but|while|whereas|although)\s+", re.IGNORECASE)
_FRAMING = re.compile(
    r"\b(?:differ\w*|disagree\w*|conflict\w*|contradict\w*|vary|varies|varied|diverge\w*|"
    r"discrepanc\w*|inconsisten\w*|dispute[sd]?|at odds)\b",
    re.IGNORECASE,
)
_SOURCE_NUMBER = re.compile(
    r"\[\s*\d+(?:\s*,\s*\d+)*\s*\]"
    r"|\(\s*sources?\s+\d+(?:\s*(?:,|and)\s*\d+)*\s*\)"
    r"|\bsources?\s+\d+(?:\s*(?:,|and)\s*\d+)*(?:\s+(?:says?|said|reports?|reported))?",
    re.IGNORECASE,
)
_REPORT_VERBS = (
    r"(?:says?|said|reports?|reported|writes?|wrote|puts?|claims?|claimed|cites?|cited|"
    r"quotes?|quoted|adds?|added|notes?|noted|estimates?|estimated)"
)

# Opposites that a lexical match would otherwise count as agreement. Each pair is two groups
# of words; the words are mapped to alignment's comparison forms when first used.
_OPPOSITES = (
    (
        "rise rose risen rising rises increase increased climb climbed jump jumped soar soared "
        "surge surged",
        "fall fell fallen falling falls decrease decreased drop dropped decline "
        "declined slump slumped plunge plunged tumble tumbled",
    ),
    ("gain gained gains", "lose lost loses loss losses"),
    ("win won wins winning", "lose lost loses losing defeat defeated"),
    (
        "strengthen strengthened strengthens strong stronger strongest",
        "weaken weakened weakens weak weaker weakest",
    ),
    ("higher highest", "lower lowest"),
    ("raise raised raises hike hiked hikes", "cut cuts lower lowered lowers reduce reduced"),
    (
        "approve approved approves approval accept accepted accepts",
        "reject rejected rejects rejection block blocked blocks",
    ),
    ("convict convicted conviction guilty", "acquit acquitted acquittal innocent"),
    ("profit profits surplus", "loss losses deficit"),
    ("expand expanded expands", "shrink shrank shrunk shrinks"),
    ("ease eased eases", "tighten tightened tightens"),
    ("allow allowed allows", "ban banned bans forbid forbade"),
    ("reopen reopened reopens resume resumed", "close closed closes shut halt halted"),
    ("confirm confirmed confirms", "deny denied denies"),
    ("support supported supports", "oppose opposed opposes"),
    ("uphold upheld upholds", "struck overturn overturned overturns quash quashed annul annulled"),
)
# "last week", "next month", "yesterday": a claim's relative date must be the source's too.
_RELATIVE_DATE = re.compile(
    r"\b(?:(last|past|previous|next|coming|this|following)\s+"
    r"(week|weekend|month|year|quarter|season|spring|summer|autumn|fall|winter|night|"
    r"morning|afternoon|evening|decade|century))\b|\b(yesterday|today|tomorrow|tonight)\b",
    re.IGNORECASE,
)
_DATE_DIRECTION = {"past": "last", "previous": "last", "coming": "next", "following": "next"}


# Words that turn "some" into "all" (or "the only one"); a claim using one needs a source that
# uses one of the same group.
_QUANTIFIERS = (
    frozenset(
        """all every everyone everybody everything entire entirely whole wholly
    completely totally always""".split()
    ),
    frozenset("only sole solely".split()),
)


@dataclass(slots=True)
class VerifiedPoints:
    """Key points (or other cited items) after their citations were checked.

    ``key_points`` are the surviving items in their original order, each citing exactly the
    sources that support it (ascending ids). ``marked`` holds the items left with no support
    when ``unsupported="mark"`` (with no sources); they are in ``verification.dropped`` too.
    ``unknown`` lists citations of ids the story has no source for (also in ``removed``).
    """

    key_points: list[KeyPoint]
    verification: Verification
    marked: list[KeyPoint] = field(default_factory=list)
    unknown: list[tuple[str, int]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ClaimCheck:
    """Which sources support which parts of one claim.

    ``parts`` are the claim's checked parts (framing clauses of a disagreement excluded);
    ``support`` maps a source id to the indices of the parts it supports (only sources that
    support at least one part appear).
    """

    parts: tuple[str, ...]
    support: Mapping[int, frozenset[int]]

    def covered_by(self, source_ids: Iterable[int]) -> bool:
        """Is every part supported by at least one of ``source_ids``?"""
        covered: set[int] = set()
        for source_id in source_ids:
            covered |= self.support.get(source_id, frozenset())
        return bool(self.parts) and covered >= set(range(len(self.parts)))


class CitationVerifier:
    """One story's sources, prepared once for checking many cited items.

    ``articles_by_source`` maps a ``SourceRef.id`` to the article whose text is checked; a
    source without an article has no text, so nothing can be verified against it.
    """

    def __init__(
        self, sources: Sequence[SourceRef], articles_by_source: Mapping[int, Article]
    ) -> None:
        self.sources = sorted(sources, key=lambda ref: ref.id)
        self.ids = [ref.id for ref in self.sources]
        missing = [ref.id for ref in self.sources if ref.id not in articles_by_source]
        if missing:
            log.warning(
                "no article text for source(s) %s; their citations cannot be verified",
                ", ".join(map(str, missing)),
            )
        articles = [
            articles_by_source.get(ref.id)
            or Article(url=ref.url, title=ref.title, text="", outlet=ref.outlet)
            for ref in self.sources
        ]
        self.alignment = Alignment(articles)
        self._attribution = _attribution_pattern(ref.outlet for ref in self.sources)
        self._checks: dict[tuple[str, Rule], ClaimCheck] = {}

    def parts(self, text: str, rule: Rule = "support") -> tuple[str, ...]:
        """The parts of a claim that are checked (see the module docstring)."""
        text = _SOURCE_NUMBER.sub(" ", text)
        if self._attribution is not None:
            text = self._attribution.sub(" ", text)
        found = claim_parts(text)
        if rule == "differ":
            found = [p for p in found if not (_FRAMING.search(p) and not profile(p).numbers)]
        return tuple(found)

    def prepare(self, texts: Iterable[str], rule: Rule = "support") -> None:
        """Align the parts of many claims in one batch (results are cached for ``check``)."""
        self.alignment.prepare(p for text in texts for p in self.parts(text, rule))

    def check(self, text: str, rule: Rule = "support") -> ClaimCheck:
        """Which sources support which parts of ``text``."""
        key = (text, rule)
        if key not in self._checks:
            parts = self.parts(text, rule)
            support: dict[int, set[int]] = {}
            for index, part in enumerate(parts):
                wanted = profile(part)
                for article, match in self.alignment.supporters(part).items():
                    if _agrees(wanted, match):
                        support.setdefault(self.ids[article], set()).add(index)
            self._checks[key] = ClaimCheck(
                parts, {source: frozenset(found) for source, found in sorted(support.items())}
            )
        return self._checks[key]

    def verify(
        self,
        items: Sequence[KeyPoint],
        *,
        rule: Rule = "support",
        add_missing: bool = True,
        unsupported: Unsupported = "drop",
    ) -> VerifiedPoints:
        """Check every item's citations; see ``verify_points`` and ``verify_items``."""
        if unsupported not in ("drop", "mark"):
            raise ValueError(f"unsupported must be 'drop' or 'mark', not {unsupported!r}")
        if rule not in ("support", "differ"):
            raise ValueError(f"rule must be 'support' or 'differ', not {rule!r}")
        known = set(self.ids)
        self.prepare((item.text for item in items), rule)
        result = VerifiedPoints([], Verification())
        report = result.verification
        for item in items:
            cited = list(dict.fromkeys(item.sources))
            valid = [s for s in cited if s in known]
            report.checked += len(valid)
            check = self.check(item.text, rule)
            kept = [s for s in valid if s in check.support]
            for source_id in cited:
                if source_id not in known:
                    result.unknown.append((item.text, source_id))
                if source_id not in kept:
                    report.removed.append((item.text, source_id))
            added = [s for s in check.support if s not in valid] if add_missing else []
            if check.covered_by([*kept, *added]):
                report.added.extend((item.text, s) for s in added)
                result.key_points.append(KeyPoint(item.text, sorted([*kept, *added])))
            else:
                report.dropped.append(item.text)
                if unsupported == "mark":
                    result.marked.append(KeyPoint(item.text, []))
        log.info(
            "verified %d item(s): %d citation(s) checked, %d removed, %d added, %d dropped",
            len(items),
            report.checked,
            len(report.removed),
            len(report.added),
            len(report.dropped),
        )
        return result


def verify_points(
    points: Sequence[KeyPoint],
    sources: Sequence[SourceRef],
    articles_by_source: Mapping[int, Article],
    *,
    add_missing: bool = True,
    unsupported: Unsupported = "drop",
) -> VerifiedPoints:
    """Check the citations of a briefing's key points against the cited sources' text.

    Unsupported citations and citations of unknown ids are removed, supporting sources the
    writer missed are added (``add_missing``), and points left with no support are dropped
    or, with ``unsupported="mark"``, returned in ``marked``.
    """
    verifier = CitationVerifier(sources, articles_by_source)
    return verifier.verify(points, add_missing=add_missing, unsupported=unsupported)


def verify_items(
    items: Sequence[KeyPoint],
    sources: Sequence[SourceRef],
    articles_by_source: Mapping[int, Article],
    *,
    rule: Rule = "support",
    add_missing: bool = True,
    unsupported: Unsupported = "drop",
) -> VerifiedPoints:
    """``verify_points`` for other cited lists: ``rule="differ"`` for "where sources differ"
    (each cited source must support the side attributed to it; framing clauses are not
    checked), ``rule="support"`` for "what's new"."""
    verifier = CitationVerifier(sources, articles_by_source)
    return verifier.verify(items, rule=rule, add_missing=add_missing, unsupported=unsupported)


# --------------------------------------------------------------------------- claim parts


def claim_parts(text: str) -> list[str]:
    """Split a claim into its sentences, and sentences into clauses that stand on their own.

    A clause with fewer than ``MIN_PART_TOKENS`` words and figures ("..., and Brazil") stays
    joined to the clause before it (or after it, when it comes first), with its original
    wording; a clause that stands alone loses its leading connective ("while", "and").
    """
    parts: list[str] = []
    for sentence in split_sentences(text):
        cuts = [0]
        for match in _CLAUSE_SPLIT.finditer(sentence):
            cuts += [match.start(), match.end()]
        cuts.append(len(sentence))
        spans = [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts), 2)]
        merged: list[tuple[int, int]] = []
        for begin, finish in spans:
            piece = sentence[begin:finish]
            if merged and (
                _size(piece) < MIN_PART_TOKENS
                or _size(sentence[merged[-1][0] : merged[-1][1]]) < MIN_PART_TOKENS
            ):
                merged[-1] = (merged[-1][0], finish)
            else:
                merged.append((begin, finish))
        for begin, finish in merged:
            piece = sentence[begin:finish].strip().lstrip(",;:—– ")
            piece = _LEADING_CONNECTIVE.sub("", normalize_whitespace(piece))
            if _size(piece):
                parts.append(piece)
    return parts


def _size(text: str) -> int:
    found = profile(text)
    return len(found.weights) + len(found.numbers)


def _attribution_pattern(outlets: Iterable[str]) -> re.Pattern[str] | None:
    """Matches mentions of the story's outlets as the teller of a claim."""
    names = sorted({normalize_whitespace(o) for o in outlets if o.strip()}, key=len, reverse=True)
    if not names:
        return None
    alternatives = "|".join(re.escape(name).replace(r"\ ", r"\s+") for name in names)
    return re.compile(
        rf"(?:\baccording\s+to\s+)?(?:\bthe\s+)?(?:{alternatives})(?:['’]s)?"
        rf"(?:\s+{_REPORT_VERBS}\b(?:\s+that\b)?)?",
        re.IGNORECASE,
    )


# --------------------------------------------------------------------------- extra checks


def _agrees(claim: Profile, match: Match) -> bool:
    """Alignment found the claim in ``match``; do the extra checks agree?"""
    evidence = profile(match.support.sentence)
    return not (
        _contradicts(claim, evidence)
        or _denies(claim, evidence)
        or _inflates(claim.text, evidence.text)
        or not _relative_dates(claim.text) <= _relative_dates(evidence.text)
    )


@lru_cache(maxsize=1)
def _opposites() -> tuple[tuple[frozenset[str], frozenset[str]], ...]:
    def forms(words: str) -> frozenset[str]:
        return frozenset(c for c in (canonical(fold(w)) for w in words.split()) if c)

    return tuple((forms(a), forms(b)) for a, b in _OPPOSITES)


def _contradicts(claim: Profile, evidence: Profile) -> bool:
    """The claim uses a word whose opposite the evidence uses instead ("weakened" where the
    evidence says "strengthened")."""
    said, found = claim.weights.keys(), evidence.weights.keys()
    for one, other in _opposites():
        for a, b in ((one, other), (other, one)):
            if said & a and not found & a and found & b and not said & b:
                return True
    return False


def _denies(claim: Profile, evidence: Profile) -> bool:
    """The claim states plainly what the evidence puts under a negation ("no evidence that
    patient data had been stolen" does not support "patient data was stolen")."""
    if claim.scoped:
        return False  # a negative claim: alignment already compared polarities
    return len(claim.weights.keys() & evidence.scoped) >= _DENIED_TERMS


def _inflates(claim: str, evidence: str) -> bool:
    """The claim generalises with "all", "every" or "only" where the evidence does not."""
    said, found = set(words(claim)), set(words(evidence))
    return any(said & group and not found & group for group in _QUANTIFIERS)


def _relative_dates(text: str) -> set[str]:
    """Relative dates in a text, normalised ("past week" -> "last week")."""
    found: set[str] = set()
    for direction, unit, day in _RELATIVE_DATE.findall(fold(text)):
        found.add(day or f"{_DATE_DIRECTION.get(direction, direction)} {unit}")
    return found
