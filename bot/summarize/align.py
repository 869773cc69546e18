"""Sentence alignment: which sentences, in which sources, report the same thing.

The extractive briefer uses it to cite every source that carries a key point and to rank
points by how many independent reports carry them; citation verification uses
``best_support`` to ask "does this source contain a sentence that reports the claim?".

The comparison is lexical but tolerant of paraphrase: words are folded, stemmed (``bot.text``),
mapped through a small table of common news synonyms ("halted" ~ "suspended", "vessels" ~
"ships") and compared on their first seven letters ("automation" ~ "automated"). Names,
places, numbers and negation must agree: "3,200 workers" never supports "4,000 workers",
"Ostrava" never supports "Halvern", and "did not reopen" never supports "reopened".

Everything here is deterministic and order-independent for a given input.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

import numpy as np
from scipy.sparse import csr_matrix

from bot.domain import Article
from bot.text import (
    STOPWORDS,
    fold,
    names,
    normalize_whitespace,
    numbers,
    split_sentences,
    stem,
    strip_possessive,
    tokens,
    tokens_and_breaks,
    word_parts,
    words,
)

# A claim is reported by a text when this share of its weighted content is found there
# (and no number, name or negation disagrees).
SUPPORT_THRESHOLD = 0.6
# Two sentences "say the same thing" for ``align`` when the claim is supported and the two
# sentences are at least this similar overall (so a short fragment is not equated with a
# long sentence that merely contains it plus much more).
GROUP_SIMILARITY = 0.35

_PREFIX = 7  # canonical tokens are stems cut to this many letters
_ENTITY_WEIGHT = 1.5
_NUMBER_WEIGHT = 1.5
_PAIR_DISCOUNT = 0.9  # a claim found in one sentence beats the same claim spread over two
_PAIR_SHARE = 0.2  # each sentence of a pair must add this share of the claim (see _pair_adds_up)
_APPROX_TOLERANCE = Decimal("0.15")

# Light verbs and reporting words that carry no claim of their own.
_EXTRA_STOPWORDS = frozenset(
    """went go goes going gone get gets got getting make makes made making take takes took
    taken come comes came put puts give gives gave given added adding adds reportedly
    around nearly almost roughly approximately least""".split()
)

# Common news paraphrases. Each line is one group; every form maps to the group's first word.
_SYNONYM_GROUPS = """
rise rises rising rose risen increase increased increases increasing climb climbed climbs
    climbing jump jumped jumps surge surged surges soar soared soars
fall falls falling fell fallen drop dropped drops dropping decline declined declines declining
    decrease decreased decreases slump slumped plunge plunged tumble tumbled
halt halted halts halting stop stopped stops stopping suspend suspended suspends suspending
    pause paused pauses standstill
start started starts starting begin began begun begins beginning launch launched launches
end ended ends ending conclude concluded concludes finish finished finishes
reopen reopened reopens reopening resume resumed resumes restart restarted restarts
close closed closes closing closure shut shuts shutting shutdown
kill killed kills killing dead die died dies death deaths
injure injured injures injury injuries wound wounded hurt
safe unhurt unharmed uninjured unscathed
arrest arrested arrests detain detained detains detention
strike strikes striking walkout walkouts stoppage stoppages
worker workers employee employees staff
talk talks negotiation negotiations negotiate negotiated negotiating negotiator negotiators
ship ships vessel vessels
company companies
wage wages pay salary salaries paid
raise raises
buy buys bought acquire acquired acquires acquisition purchase purchased purchases
agreement agreements deal deals accord
warn warned warns warning
"""

# Multi-word paraphrases, rewritten on folded text before tokenising.
_PHRASES = [
    (re.compile(r"\bwalk(?:ed|s|ing)?\s+(?:off\s+the\s+job|out)\b"), "strike"),
    (re.compile(r"\bindustrial\s+action\b"), "strike"),
    (re.compile(r"\b(?:stop(?:ped|s|ping)?|down(?:ed|s|ing)?)\s+(?:work|tools)\b"), "strike"),
    (
        re.compile(
            r"\b(?:ground|grinds|grinding|came|comes|coming|come)\s+to\s+a\s+(?:halt|standstill)\b"
        ),
        "halt",
    ),
    (re.compile(r"\b(?:called|calls|calling)\s+off\b"), "cancelled"),
]

_HEDGES = frozenset(
    """about around nearly almost roughly approximately some over under more less than
    least most estimated""".split()
)
# Two-word hedges; "to" and "close" alone are not hedges ("rose to 4.5%" is exact).
_HEDGE_PAIRS = frozenset({("up", "to"), ("close", "to"), ("as", "many"), ("as", "much")})
_NEGATIONS = frozenset("not no never none nobody nothing neither nor without cannot".split())
_NEGATION_REACH = 3  # a negation applies to the next content word within this many words
# ... and its scope runs to the end of its clause, at most this many words on.
_NEGATION_SCOPE = 10
_CLAUSE_BREAKS = frozenset("but while whereas although though".split())
_SPEECH_VERBS = frozenset(
    """said says told tells added adds wrote writes announced announces argued argues warned
    warns stated states confirmed confirms denied denies urged urges called calls""".split()
)
_ENTITY_CONNECTORS = frozenset("of de la del van von der the al bin da di du le y and".split())
# Leading dateline with a wire credit:
# "HALVERN (Meridian Wire) — ", "NEW YORK, March 3 (Reuters) - ".
_DATELINE_CREDIT = re.compile(
    r"^[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,4}(?:,\s*[\w .]{1,25}?)?"
    r"\s*\((?=[^()]*[A-Z])[^()]{1,40}\)\s*[-—–]{1,2}\s*"
)
# Leading all-caps dateline without a credit: "HALVERN — ", "SAN DIEGO, Calif. — ".
_DATELINE_CAPS = re.compile(
    r"^[A-Z][A-Z.'’ -]{1,40}(?:,\s*[\w .]{1,25}?)?\s*[—–]{1,2}\s*"
    r"|^[A-Z]{2,}[A-Z.'’ ]{0,40}\s+-\s+"
)

_BOILERPLATE = [
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"^\(?\s*(?:additional\s+)?(?:reporting|writing|editing|edited|written|compiled|produced)\s+by\b",
        r"\b(?:sign\s+up|subscribe)\b.{0,60}\b(?:newsletter|updates|alerts|briefing|emails?)\b",
        r"\ball rights reserved\b",
        r"^(?:©|\(c\)\s*\d{4}|copyright\b)",
        r"\bcontributed (?:reporting )?to (?:this|the) (?:report|story|article)\b",
        r"^(?:read more|related|see also|click here|follow us|share this|advertisement|"
        r"listen to this article|photo|image|video|watch|more on this)\b",
        r"\b(?:click here|follow us on|download our app|terms of (?:use|service)|privacy policy|"
        r"cookie policy|trust principles|this (?:story|article) (?:has been|was) updated)\b",
        r"^(?:updated|published|last updated|posted)\b\s*:?\s*(?:\d|on\b|at\b|jan|feb|mar|apr|may|"
        r"jun|jul|aug|sep|oct|nov|dec|mon|tue|wed|thu|fri|sat|sun)",
    )
]
_BYLINE = re.compile(
    r"^[Bb][Yy]\s+(?:[A-Z][\w.'’-]*\s*(?:,|and|&)?\s*){1,6}(?:\s*[-–—|,].{0,40})?$"
)


@lru_cache(maxsize=1)
def _synonyms() -> dict[str, str]:
    table: dict[str, str] = {}
    groups: list[list[str]] = []
    for raw_line in _SYNONYM_GROUPS.strip().splitlines():
        if raw_line.startswith(" ") and groups:
            groups[-1].extend(raw_line.split())
        elif raw_line.strip():
            groups.append(raw_line.split())
    for group in groups:
        head = stem(group[0])
        for form in group:
            table[stem(form)] = head
    return table


@lru_cache(maxsize=65536)
def canonical(word: str) -> str | None:
    """The comparison form of one folded word, or None for stopwords and noise.

    Possessives are dropped, the word is stemmed, mapped through the synonym table and cut to
    seven letters, so "Halvern's" ~ "Halvern", "vessels" ~ "ships", "automated" ~ "automation".
    """
    word = strip_possessive(word)
    if len(word) < 2 or word in STOPWORDS or word in _EXTRA_STOPWORDS or word.isdigit():
        return None
    if word[0].isdigit():
        return None  # "1,400", "3.5", "180mm", "6am": compared as numbers, by value
    stemmed = stem(word)
    return _synonyms().get(stemmed, stemmed)[:_PREFIX]


def terms(text: str) -> list[str]:
    """Comparison tokens of a text, in order (hyphenated words also give their parts)."""
    return _scan(text)[0]


def _scan(text: str) -> tuple[list[str], frozenset[str], frozenset[str]]:
    """Comparison tokens, the ones a negation applies to ("did not reopen" -> reopen), and
    every token in a negation's scope: the rest of its clause ("no Polaris bases would be
    closed" -> polaris, bases, closed)."""
    folded = fold(text)
    for pattern, replacement in _PHRASES:
        folded = pattern.sub(replacement, folded)
    found: list[str] = []
    negated: set[str] = set()
    scoped: set[str] = set()
    reach = scope = 0
    for token in tokens_and_breaks(folded):
        if not token[0].isalnum() or token in _CLAUSE_BREAKS:
            scope = 0
            if not token[0].isalnum():
                continue
        if token in _NEGATIONS or token.endswith("n't"):
            reach, scope = _NEGATION_REACH, _NEGATION_SCOPE
            continue
        hit = False
        for part in word_parts(token):
            term = canonical(part)
            if term is not None:
                found.append(term)
                if scope:
                    scoped.add(term)
                if reach and not hit:
                    negated.add(term)
                    hit = True
        reach = 0 if hit else max(reach - 1, 0)
        scope = max(scope - 1, 0)
    return found, frozenset(negated), frozenset(negated | scoped)


# --------------------------------------------------------------------------- numbers


@dataclass(frozen=True, slots=True)
class _Number:
    value: Decimal
    percent: bool
    approx: bool
    alt: Decimal | None = None  # "38m" without a currency: 38 (metres) or 38 million

    def matches(self, other: _Number) -> bool:
        if self.percent != other.percent:
            return False
        mine = (self.value,) if self.alt is None else (self.value, self.alt)
        theirs = (other.value,) if other.alt is None else (other.value, other.alt)
        if any(a == b for a in mine for b in theirs):
            return True
        if not (self.approx or other.approx):
            return False
        return any(
            b != 0 and abs(a - b) / abs(b) <= _APPROX_TOLERANCE for a in mine for b in theirs
        )


def _hedged(text: str, start: int) -> bool:
    before = words(text[max(0, start - 20) : start])
    if not before:
        return False
    return before[-1] in _HEDGES or tuple(before[-2:]) in _HEDGE_PAIRS


def _numbers(text: str) -> tuple[_Number, ...]:
    """The text's figures (``bot.text.numbers``), each once, hedged ones ("about 300") marked
    approximate unless the same figure also appears unhedged."""
    unique: dict[tuple[Decimal, bool], _Number] = {}
    for found in numbers(text):
        number = _Number(found.value, found.percent, _hedged(text, found.start), found.alt)
        key = (number.value, number.percent)
        if key not in unique or (unique[key].approx and not number.approx):
            unique[key] = number
    return tuple(unique[k] for k in sorted(unique))


def _total(weights: dict[str, float], numbers: tuple[_Number, ...]) -> float:
    return math.fsum(weights.values()) + _NUMBER_WEIGHT * len(numbers)


def _missing_numbers(claim: Sequence[_Number], found: Sequence[_Number]) -> int:
    if not claim:
        return 0
    return sum(1 for n in claim if not any(n == m or n.matches(m) for m in found))


# --------------------------------------------------------------------------- entities


def _looks_like_headline(written: Sequence[str]) -> bool:
    """Title Case text ("Dockworkers Strike Halts Port") makes every word look like a name.

    Title Case capitalises (nearly) every word that is not a function word; a sentence that
    merely names many people and places still has lower-case verbs and nouns ("Orrin unveiled
    the Orrin Fold in San Lucido"), so at most one such word in ten may be lower case.
    """
    long_words = [t for t in written if len(t) > 3 and t[0].isalpha() and fold(t) not in STOPWORDS]
    if len(long_words) < 3:
        return False
    lower = sum(1 for t in long_words if not t[0].isupper())
    return lower <= len(long_words) // 10


def _entities(text: str) -> tuple[tuple[str, ...], ...]:
    """The names of one sentence (``bot.text.names``), each as its canonical tokens
    (connectors dropped; "CX-40" -> ("cx",), split like ``terms`` splits it).

    A capitalised first word is a name only when a speech verb follows ("Ortiz said"), since
    sentences start with capitals anyway; a headline names nothing.
    """
    if _looks_like_headline(tokens(text)):
        return ()
    found: list[tuple[str, ...]] = []
    for name in names(text):
        written = tokens(name.text)
        if name.start == 0 and len(written) == 1:
            following = words(text[name.end : name.end + 40])[:1]
            if not following or following[0] not in _SPEECH_VERBS:
                continue
        canon = tuple(
            c
            for w in map(fold, written)
            if w not in _ENTITY_CONNECTORS
            for c in map(canonical, word_parts(w))
            if c
        )
        if canon:
            found.append(canon)
    return tuple(dict.fromkeys(found))


# --------------------------------------------------------------------------- profiles


@dataclass(frozen=True, slots=True)
class Profile:
    """What a sentence asserts, in comparable form."""

    text: str
    weights: dict[str, float]
    numbers: tuple[_Number, ...]
    entities: tuple[tuple[str, ...], ...]
    negated: frozenset[str]  # terms under a negation
    scoped: frozenset[str] = frozenset()  # terms anywhere in a negated clause (``negated`` too)

    @property
    def total(self) -> float:
        """The weight of everything the sentence asserts (words and numbers)."""
        return _total(self.weights, self.numbers)

    def merge(self, other: Profile) -> Profile:
        """The profile of two adjacent sentences read together."""
        weights = dict(self.weights)
        for term, weight in other.weights.items():
            weights[term] = max(weight, weights.get(term, 0.0))
        numbers = {(n.value, n.percent): n for n in (*self.numbers, *other.numbers)}
        return Profile(
            text=f"{self.text} {other.text}",
            weights=weights,
            numbers=tuple(numbers[k] for k in sorted(numbers)),
            entities=tuple(dict.fromkeys((*self.entities, *other.entities))),
            negated=self.negated | other.negated,
            scoped=self.scoped | other.scoped,
        )


@lru_cache(maxsize=8192)
def profile(sentence: str) -> Profile:
    """Build the comparable form of one sentence (cached: sentences recur across copies)."""
    entities = _entities(sentence)
    entity_terms = {t for entity in entities for t in entity}
    found, negated, scoped = _scan(sentence)
    weights: dict[str, float] = {}
    for term in found:
        weights[term] = _ENTITY_WEIGHT if term in entity_terms else 1.0
    return Profile(
        text=sentence,
        weights=weights,
        numbers=_numbers(sentence),
        entities=entities,
        negated=negated,
        scoped=scoped,
    )


def _polarity_conflict(a: Profile, b: Profile) -> bool:
    """A word both texts use, negated in one and outside any negated clause in the other
    ("reopened" / "did not reopen"; but "no bases would close" agrees with "would not close
    any bases")."""
    shared = a.weights.keys() & b.weights.keys()
    return bool(((a.negated - b.scoped) | (b.negated - a.scoped)) & shared)


def _coverage(claim: Profile, other: Profile, missing_numbers: int | None = None) -> float:
    """Weighted share of the claim's words and numbers that the other text contains."""
    total = claim.total
    if total == 0:
        return 0.0
    weights = claim.weights
    found = math.fsum(weights[t] for t in weights.keys() & other.weights.keys())
    if missing_numbers is None:
        missing_numbers = _missing_numbers(claim.numbers, other.numbers)
    found += _NUMBER_WEIGHT * (len(claim.numbers) - missing_numbers)
    return found / total


def _missing_entities(
    claim: Profile,
    other: Profile,
    known: Sequence[tuple[str, ...]] = (),
    subject: Sequence[tuple[str, ...]] = (),
) -> int:
    """Names of the claim absent from the other text.

    A name counts as present when all its tokens are there, or when its last token is there
    ("Ortiz" for "Lena Ortiz") and no name the document uses (``known``) ends the same way
    with a different first part ("Maria Ortiz"). A name of the document's subject (named in
    its lead, ``subject``) also counts as present in a sentence that names nobody the claim
    does not: "Tallis Pay asked for a report" ~ "the company asked for a report".
    """
    missing = 0
    for entity in claim.entities:
        if all(t in other.weights for t in entity):
            continue
        if entity in subject and all(
            all(t in claim.weights for t in named) for named in other.entities
        ):
            continue
        if entity[-1] in other.weights and not any(
            k[-1] == entity[-1] and not (set(k) <= set(entity) or set(entity) <= set(k))
            for k in (*known, *other.entities)
        ):
            continue
        missing += 1
    return missing


def _claim_score(
    claim: Profile,
    other: Profile,
    known: Sequence[tuple[str, ...]] = (),
    subject: Sequence[tuple[str, ...]] = (),
) -> float:
    missing_numbers = _missing_numbers(claim.numbers, other.numbers)
    score = _coverage(claim, other, missing_numbers)
    missing_words = len(claim.weights.keys() - other.weights.keys())
    if missing_words > max(0, (len(claim.weights) - 2) // 2):
        score *= 0.8  # a short claim missing a word has likely lost its point ("reopened")
    if missing_numbers:
        score *= 0.4
    if _missing_entities(claim, other, known, subject):
        score *= 0.5
    if _polarity_conflict(claim, other) or claim.negated - other.weights.keys():
        score *= 0.5  # a negative claim needs the source to say the same negative thing
    return score


def _pair_adds_up(claim: Profile, first: Profile, second: Profile) -> bool:
    """Does a claim spread over two adjacent sentences take a real part from each?

    Each sentence must hold at least ``_PAIR_SHARE`` of the claim that the other lacks, and
    more than a name: otherwise the pair only lends a name or figure from the neighbouring
    sentence to a claim about something else ("rescued 300 people in Castelmarro" where the
    rescue sentence says Bellagra and the next one mentions rain at Castelmarro).
    """
    return _adds(claim, first, second) and _adds(claim, second, first)


def _adds(claim: Profile, one: Profile, other: Profile) -> bool:
    total = claim.total
    if total == 0:
        return False
    own = (claim.weights.keys() & one.weights.keys()) - other.weights.keys()
    own_numbers = [
        n
        for n in claim.numbers
        if not _missing_numbers((n,), one.numbers) and _missing_numbers((n,), other.numbers)
    ]
    names = {t for entity in claim.entities for t in entity}
    share = (math.fsum(claim.weights[t] for t in own) + _NUMBER_WEIGHT * len(own_numbers)) / total
    return share >= _PAIR_SHARE and bool(own - names or own_numbers)


def _window_score(claim: Profile, window: _Window, source: SourceText) -> float:
    """How well one window of a source reports the claim (pairs discounted and checked)."""
    if window.end - window.start == 1:
        return _claim_score(claim, window.profile, source.known, source.subject)
    first, second = source.profiles[window.start], source.profiles[window.start + 1]
    if not _pair_adds_up(claim, first, second):
        return 0.0
    return _claim_score(claim, window.profile, source.known, source.subject) * _PAIR_DISCOUNT


def _profile_similarity(a: Profile, b: Profile) -> float:
    ab, ba = _coverage(a, b), _coverage(b, a)
    if ab + ba == 0:
        return 0.0
    score = 2 * ab * ba / (ab + ba)
    if _missing_numbers(a.numbers, b.numbers) and _missing_numbers(b.numbers, a.numbers):
        score *= 0.3
    if _missing_entities(a, b) and _missing_entities(b, a):
        score *= 0.5
    if _polarity_conflict(a, b):
        score *= 0.8
    return score


def sentence_similarity(a: str, b: str) -> float:
    """How much two sentences say the same thing, from 0 (unrelated) to 1 (same wording).

    The harmonic mean of how much of each sentence the other covers, lowered sharply when the
    two give different numbers or name different people or places, and when one negates what
    the other asserts.
    """
    return _profile_similarity(profile(a), profile(b))


class SentenceSet:
    """Sentences kept so far, indexed by term, to ask whether a new one repeats any of them
    (``sentence_similarity`` ≥ a threshold) without comparing it with every one.

    The similarity is a harmonic mean of two coverages, so it reaches ``threshold`` only when
    each coverage reaches ``threshold / 2``; a kept sentence whose shared terms cannot give the
    new one that coverage is skipped. The answer is the same as checking every pair."""

    def __init__(self) -> None:
        self.sentences: list[str] = []
        self._by_term: dict[str, list[int]] = {}

    def add(self, sentence: str) -> None:
        number = len(self.sentences)
        self.sentences.append(sentence)
        for term in profile(sentence).weights:
            self._by_term.setdefault(term, []).append(number)

    def repeats(self, sentence: str, threshold: float) -> bool:
        """True when a kept sentence is at least ``threshold`` similar to ``sentence``."""
        claim = profile(sentence)
        total = claim.total
        if total == 0:
            return any(sentence_similarity(sentence, kept) >= threshold for kept in self.sentences)
        shared: dict[int, float] = {}
        for term, weight in claim.weights.items():
            for number in self._by_term.get(term, ()):
                shared[number] = shared.get(number, 0.0) + weight
        reach = _NUMBER_WEIGHT * len(claim.numbers)
        need = threshold / 2 * total - 1e-9
        return any(
            weight + reach >= need
            and _profile_similarity(claim, profile(self.sentences[number])) >= threshold
            for number, weight in sorted(shared.items())
        )


# --------------------------------------------------------------------------- sources


def strip_dateline(sentence: str) -> str:
    """Remove a leading dateline and wire credit ("HALVERN (Meridian Wire) — ")."""
    for pattern in (_DATELINE_CREDIT, _DATELINE_CAPS):
        match = pattern.match(sentence)
        if match and match.end() < len(sentence):
            return sentence[match.end() :].lstrip()
        if match:
            return ""
    return sentence


def is_boilerplate(sentence: str) -> bool:
    """Newsletter pitches, credits, copyright lines, bylines and similar page furniture."""
    text = normalize_whitespace(sentence)
    if not text:
        return True
    if _BYLINE.match(text) and len(text.split()) <= 10:
        return True
    return any(pattern.search(text) for pattern in _BOILERPLATE)


def source_sentences(text: str) -> list[str]:
    """The sentences of a news text that can carry a claim.

    Datelines are stripped from the start, boilerplate and dateline-only fragments dropped.
    """
    sentences: list[str] = []
    for position, raw in enumerate(split_sentences(text)):
        sentence = strip_dateline(raw) if position == 0 else raw
        if position and _DATELINE_CREDIT.match(sentence):
            sentence = strip_dateline(sentence)
        if sentence and not is_boilerplate(sentence):
            sentences.append(sentence)
    return sentences


@dataclass(frozen=True, slots=True)
class Support:
    """The best evidence a source text holds for a claim."""

    sentence: str  # the supporting sentence (or two adjacent sentences); "" when none
    score: float  # 0..1; at least SUPPORT_THRESHOLD when supported
    supported: bool


@dataclass(frozen=True, slots=True)
class _Window:
    start: int
    end: int  # exclusive
    profile: Profile


@dataclass(frozen=True, slots=True)
class Match:
    """Support plus where in the source it was found (sentence indices ``start:end``)."""

    support: Support
    start: int
    end: int


_NO_MATCH = Match(Support("", 0.0, False), -1, -1)


class SourceText:
    """A source text prepared for many support queries (sentences and profiles computed once)."""

    def __init__(self, text: str) -> None:
        self.sentences = source_sentences(text)
        self.profiles = [profile(s) for s in self.sentences]
        self.known = tuple(dict.fromkeys(e for p in self.profiles for e in p.entities))
        self.subject = self.profiles[0].entities if self.profiles else ()  # named in the lead
        windows = [_Window(i, i + 1, p) for i, p in enumerate(self.profiles)]
        windows.extend(
            _Window(i, i + 2, self.profiles[i].merge(self.profiles[i + 1]))
            for i in range(len(self.profiles) - 1)
        )
        self.windows = windows

    def match(self, claim: str | Profile) -> Match:
        """The window (one sentence or two adjacent ones) that best reports the claim."""
        wanted = claim if isinstance(claim, Profile) else profile(normalize_whitespace(claim))
        if len(wanted.weights) + len(wanted.numbers) < 2:
            return _NO_MATCH
        terms_wanted = wanted.weights.keys()
        best = _NO_MATCH
        for window in self.windows:
            if not any(t in window.profile.weights for t in terms_wanted):
                continue
            score = _window_score(wanted, window, self)
            if score > best.support.score:
                text = " ".join(self.sentences[window.start : window.end])
                best = Match(
                    Support(text, round(score, 6), score >= SUPPORT_THRESHOLD),
                    window.start,
                    window.end,
                )
        return best


def best_support(claim: str, source_text: str) -> Support:
    """Does ``source_text`` contain a sentence (or two adjacent ones) that reports ``claim``?

    ``supported`` is True when at least ``SUPPORT_THRESHOLD`` of the claim's weighted content
    is found there and no number, name or negation of the claim disagrees with it.
    """
    return SourceText(source_text).match(claim).support


# --------------------------------------------------------------------------- alignment


@dataclass(frozen=True, slots=True)
class SentenceRef:
    """One sentence of one article: ``article`` indexes the sequence given to ``align``."""

    article: int
    index: int
    text: str


@dataclass(frozen=True, slots=True)
class SentenceGroup:
    """Sentences from different articles that report the same thing (one per article).

    The first sentence is the group's representative: the one reported by the most articles.
    """

    sentences: tuple[SentenceRef, ...]

    @property
    def articles(self) -> tuple[int, ...]:
        return tuple(sorted(ref.article for ref in self.sentences))

    @property
    def representative(self) -> SentenceRef:
        return self.sentences[0]


class Alignment:
    """Which articles of one story report which claims.

    Support is computed in batches (``prepare``): a sparse product of claim and sentence term
    weights bounds every claim/window score from above, and only the few windows whose bound
    reaches ``SUPPORT_THRESHOLD`` are scored exactly. Results are cached per claim.
    """

    _BATCH = 256  # claims scored per dense block

    def __init__(self, articles: Sequence[Article]) -> None:
        self.articles = list(articles)
        self.sources = [SourceText(a.text) for a in self.articles]
        self._supporters: dict[str, dict[int, Match]] = {}
        self._windows = [
            (article, window)
            for article, source in enumerate(self.sources)
            for window in source.windows
        ]
        vocabulary: dict[str, int] = {}
        for _, window in self._windows:
            for term in window.profile.weights:
                vocabulary.setdefault(term, len(vocabulary))
        self._vocabulary = vocabulary
        self._window_matrix = _term_matrix(
            [w.profile for _, w in self._windows], vocabulary, weighted=False
        )
        self._discount = np.array(
            [_PAIR_DISCOUNT if w.end - w.start > 1 else 1.0 for _, w in self._windows]
        )

    def sentences(self) -> list[SentenceRef]:
        """Every claim-carrying sentence of every article, in article then sentence order."""
        return [
            SentenceRef(article, index, text)
            for article, source in enumerate(self.sources)
            for index, text in enumerate(source.sentences)
        ]

    def prepare(self, claims: Iterable[str]) -> None:
        """Find the supporting articles of many claims at once (cached for ``supporters``)."""
        pending = [c for c in dict.fromkeys(claims) if c not in self._supporters]
        for start in range(0, len(pending), self._BATCH):
            self._prepare_batch(pending[start : start + self._BATCH])

    def _prepare_batch(self, claims: Sequence[str]) -> None:
        profiles = [profile(normalize_whitespace(c)) for c in claims]
        for claim in claims:
            self._supporters[claim] = {}
        if not self._windows:
            return
        shared = (
            _term_matrix(profiles, self._vocabulary, weighted=True) @ self._window_matrix.T
        ).toarray()
        totals = np.array([p.total or 1.0 for p in profiles])
        number_weights = np.array([_NUMBER_WEIGHT * len(p.numbers) for p in profiles])
        bounds = (shared + number_weights[:, None]) / totals[:, None] * self._discount[None, :]
        rows, columns = np.nonzero(bounds >= SUPPORT_THRESHOLD - 1e-9)
        # Per claim and article, try windows from the highest bound down; stop as soon as the
        # best exact score found is above the next bound.
        window_article = [article for article, _ in self._windows]
        order = sorted(
            zip(rows.tolist(), columns.tolist(), strict=True),
            key=lambda rc: (rc[0], window_article[rc[1]], -bounds[rc[0], rc[1]], rc[1]),
        )
        for row, column in order:
            wanted = profiles[row]
            if len(wanted.weights) + len(wanted.numbers) < 2:
                continue
            article, window = self._windows[column]
            found = self._supporters[claims[row]]
            current = found.get(article)
            if current is not None and current.support.score >= bounds[row, column] + 1e-9:
                continue
            source = self.sources[article]
            score = _window_score(wanted, window, source)
            if score >= SUPPORT_THRESHOLD and (current is None or score > current.support.score):
                text = " ".join(source.sentences[window.start : window.end])
                support = Support(text, round(score, 6), True)
                found[article] = Match(support, window.start, window.end)

    def supporters(self, claim: str) -> dict[int, Match]:
        """The articles (indices) that report ``claim``, with where they report it."""
        if claim not in self._supporters:
            self.prepare([claim])
        return dict(sorted(self._supporters[claim].items()))

    def groups(self) -> list[SentenceGroup]:
        """Partition the story's sentences into groups that report the same thing.

        Sentences reported by the most articles seed groups first; each other article joins
        with the sentence that best reports the seed, if not already grouped.
        """
        refs = self.sentences()
        self.prepare(ref.text for ref in refs)
        by_position = {(r.article, r.index): r for r in refs}
        seeds: list[tuple[int, int, int, SentenceRef, dict[int, Match]]] = []
        for ref in refs:
            support = {a: m for a, m in self.supporters(ref.text).items() if a != ref.article}
            seeds.append((-len(support), ref.article, ref.index, ref, support))
        seeds.sort(key=lambda s: (s[0], s[1], s[2]))
        taken: set[tuple[int, int]] = set()
        groups: list[SentenceGroup] = []
        for _, _, _, seed, support in seeds:
            if (seed.article, seed.index) in taken:
                continue
            members = [seed]
            taken.add((seed.article, seed.index))
            for article in sorted(support):
                member = self._member(seed, article, support[article], by_position)
                if member is not None and (member.article, member.index) not in taken:
                    members.append(member)
                    taken.add((member.article, member.index))
            groups.append(SentenceGroup(tuple(members)))
        return groups

    def _member(
        self,
        seed: SentenceRef,
        article: int,
        match: Match,
        by_position: dict[tuple[int, int], SentenceRef],
    ) -> SentenceRef | None:
        """The sentence of a supporting window most similar to the seed, if similar enough."""
        best: SentenceRef | None = None
        best_score = GROUP_SIMILARITY
        for index in range(match.start, match.end):
            ref = by_position[(article, index)]
            score = sentence_similarity(seed.text, ref.text)
            if score >= best_score:
                best, best_score = ref, score
        return best


def _term_matrix(
    profiles: Sequence[Profile], vocabulary: dict[str, int], *, weighted: bool
) -> csr_matrix:
    """Rows of term weights (or presence) over ``vocabulary``; unknown terms are left out."""
    indptr = [0]
    indices: list[int] = []
    data: list[float] = []
    for item in profiles:
        for term, weight in item.weights.items():
            column = vocabulary.get(term)
            if column is not None:
                indices.append(column)
                data.append(weight if weighted else 1.0)
        indptr.append(len(indices))
    return csr_matrix(
        (np.array(data, dtype=float), np.array(indices, dtype=np.int64), np.array(indptr)),
        shape=(len(profiles), len(vocabulary)),
    )


def align(articles: Sequence[Article]) -> list[SentenceGroup]:
    """Groups of sentences from different articles that report the same thing.

    Every sentence that can carry a claim belongs to exactly one group; a sentence no other
    article reports forms a group of its own. ``SentenceRef.article`` indexes ``articles``.
    """
    return Alignment(articles).groups()
