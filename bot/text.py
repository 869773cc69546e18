"""Language helpers shared by deduplication, clustering, briefing and verification.

Pure functions on strings; no I/O. English-first but tolerant of other Latin
scripts (tokens are Unicode word characters).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

STOPWORDS: frozenset[str] = frozenset(
    """
    a about above after again against all also am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't down during each few for from further had hadn't has hasn't have haven't
    having he he'd he'll he's her here here's hers herself him himself his how how's i i'd i'll
    i'm i've if in into is isn't it it's its itself let's me more most mustn't my myself no nor
    not of off on once only or other ought our ours ourselves out over own same shan't she she'd
    she'll she's should shouldn't so some such than that that's the their theirs them themselves
    then there there's these they they'd they'll they're they've this those through to too under
    until up very was wasn't we we'd we'll we're we've were weren't what what's when when's where
    where's which while who who's whom why why's with won't would wouldn't you you'd you'll
    you're you've your yours yourself yourselves said says say saying told according will just
    one two new also would could may might must since per via yet still even though although
    however mr mrs ms dr its it’s
    """.split()
)

# Abbreviations after which a period does not end a sentence.
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sen rep gov gen col lt sgt st jr sr inc ltd co corp u.s u.k e.g i.e
    vs etc jan feb mar apr jun jul aug sep sept oct nov dec no approx est dept univ""".split()
)

# A word: letters and digits, with inner apostrophes, periods and hyphens ("o'brien", "u.s",
# "cx-40"). The one tokenizer: every layer's words come from it.
_WORD_PATTERN = r"[^\W_]+(?:[’'.-][^\W_]+)*"
_WORD = re.compile(_WORD_PATTERN)
# ... and the punctuation that breaks a clause (or a name) between words.
_WORD_OR_BREAK = re.compile(_WORD_PATTERN + r"|[,;:()!?\"“”—–]")
_POSSESSIVE = re.compile(r"[’']s$")
_SENTENCE_END = re.compile(r"([.!?…]+[\"'”’)\]]*)(\s+)(?=[\"'“‘(\[]?[A-Z0-9À-Ý])")
_WHITESPACE = re.compile(r"\s+")


def normalize_whitespace(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


# ours: 79-209x faster than pysbd 0.3.4, which splits 94-98% of our sentences the same
# (NeuS, demo and e2e text; bench.text_libraries).
def split_sentences(text: str) -> list[str]:
    """Split text into sentences (paragraph breaks always end a sentence)."""
    sentences: list[str] = []
    for paragraph in re.split(r"\n\s*\n|\r\n\s*\r\n", text):
        paragraph = normalize_whitespace(paragraph)
        if not paragraph:
            continue
        start = 0
        for match in _SENTENCE_END.finditer(paragraph):
            end = match.end(1)
            candidate = paragraph[start:end]
            last_word = candidate.rstrip(".!?…\"'”’)]").rsplit(" ", 1)[-1].lower()
            if last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()):
                continue
            sentences.append(candidate.strip())
            start = match.end()
        tail = paragraph[start:].strip()
        if tail:
            sentences.append(tail)
    return sentences


@lru_cache(maxsize=1)
def _fold_table() -> dict[int, str | None]:
    """``str.translate`` table: combining marks removed, curly quotes made straight."""
    table: dict[int, str | None] = {
        code: None for code in range(0x300, 0x20000) if unicodedata.combining(chr(code))
    }
    table.update({ord("’"): "'", ord("‘"): "'", ord("“"): '"', ord("”"): '"'})
    return table


def fold(text: str) -> str:
    """Lower-case, strip accents and unify quotes, for comparisons."""
    if text.isascii():  # the common case, and nothing to decompose
        return text.lower()
    return unicodedata.normalize("NFKD", text).translate(_fold_table()).lower()


def words(text: str) -> list[str]:
    """All word tokens, folded (lower-case, no accents)."""
    return _WORD.findall(fold(text))


def tokens(text: str) -> list[str]:
    """The word tokens of ``words``, as written (not folded)."""
    return _WORD.findall(text)


def tokens_and_breaks(text: str) -> list[str]:
    """``tokens``, with the punctuation that breaks a clause (``,;:()!?"“”—–``) as tokens of
    its own, in order."""
    return _WORD_OR_BREAK.findall(text)


def strip_possessive(word: str) -> str:
    """A word without its possessive ending ("halvern's" -> "halvern")."""
    return _POSSESSIVE.sub("", word)


def word_parts(word: str) -> Iterable[str]:
    """A hyphenated word's parts ("cx-40" -> "cx", "40"); any other word itself."""
    if "-" not in word:
        return (word,)
    return [p for p in word.split("-") if p]


_SUFFIXES = (("ies", "y"), ("ied", "y"), ("ing", ""), ("ed", ""), ("s", ""), ("ly", ""))
_SIBILANTS = ("s", "x", "z", "ch", "sh")


# ours: 33x faster than snowballstemmer 3.1.1 (uncached), and NeuS clustering F1 0.831 vs
# 0.830 with it (pairwise 0.666 vs 0.655); verification the same (bench.text_libraries).
@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light English suffix stripper: 'strikes', 'striking', 'struck'-free forms of 'strike'
    all become 'strik'; 'closed', 'closes', 'close' become 'clos'."""
    if len(word) <= 3 or not word.isalpha():
        return word
    base = word
    for suffix, repl in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)] + repl
            if suffix in ("ing", "ed") and len(base) > 3 and base[-1] == base[-2] != "s":
                base = base[:-1]  # "stopped" -> "stop"
            if suffix == "s" and base.endswith("e") and base[:-1].endswith(_SIBILANTS):
                base = base[:-1]  # "taxes" -> "tax"
            break
    if len(base) > 4 and base.endswith("e"):
        base = base[:-1]
    return base


def content_words(text: str) -> list[str]:
    """Folded, stemmed words without stopwords or one-letter tokens."""
    return [found for found in map(content_stem, words(text)) if found]


@lru_cache(maxsize=262144)
def content_stem(word: str) -> str:
    """``content_words`` of one folded word: its stem, or "" for a stopword or a letter."""
    return stem(word) if word not in STOPWORDS and len(word) > 1 else ""


_NUMBER_WORDS = {
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_SCALES = {
    "thousand": Decimal(1_000),
    "million": Decimal(1_000_000),
    "mn": Decimal(1_000_000),
    "billion": Decimal(1_000_000_000),
    "bn": Decimal(1_000_000_000),
    "trillion": Decimal(1_000_000_000_000),
}
_MONEY_SCALES = {"m": Decimal(1_000_000), "k": Decimal(1_000)}
# A figure, with its scale ("2.5bn", "3 million") and percent sign. A unit glued to it
# ("180mm", "6am", "7.6in") is skipped; "m" and "k" glued to an amount of money are scales
# ("€250m", "$40k").
_NUMBER = re.compile(
    r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?!\d)(?:st|nd|rd|th)?"
    r"(?:\s*(thousand|million|billion|trillion|bn|mn)\b|\s?([mk])\b)?"
    r"(?:\s*(%|percent\b|per\s+cent\b))?",
    re.IGNORECASE,
)
_CURRENCY = frozenset("$€£¥")
_WORD_SCALES = {"hundred": Decimal(100), **_SCALES}
_NUMBER_WORD = re.compile(
    rf"\b({'|'.join(_NUMBER_WORDS)})\b(?:\s+({'|'.join(_WORD_SCALES)})\b)?", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class Number:
    """A figure in a text, by value: "1,400", "1400" and "1.4 thousand" are all 1400."""

    value: Decimal
    percent: bool  # "12%", "12 percent", "12 per cent"
    start: int  # where in the text it was found
    alt: Decimal | None = None  # "38m" without a currency: 38 (metres) or 38 million


def numbers(text: str) -> list[Number]:
    """Every figure in the text, digits first then number words ("three", "forty thousand"),
    each in text order; repeats are kept."""
    found: list[Number] = []
    for match in _NUMBER.finditer(text):
        whole, fraction, scale, money_scale, percent = match.groups()
        try:
            value = Decimal(whole.replace(",", "") + (fraction or ""))
        except InvalidOperation:
            continue
        if scale:
            value *= _SCALES[scale.lower()]
        alt = None
        if money_scale:
            scaled = value * _MONEY_SCALES[money_scale.lower()]
            if text[max(0, match.start() - 1) : match.start()] in _CURRENCY:
                value = scaled
            else:
                alt = scaled.normalize()
        found.append(Number(value.normalize(), bool(percent), match.start(), alt))
    for match in _NUMBER_WORD.finditer(text):
        value = Decimal(_NUMBER_WORDS[match.group(1).lower()])
        if match.group(2):
            value *= _WORD_SCALES[match.group(2).lower()]
        found.append(Number(value, False, match.start()))
    return found


# A name: a run of capitalised words, which a lower-case connector may join ("Bank of
# England"); a trailing period belongs to it ("Mr.", "U.S.").
_NAME = re.compile(
    r"\b(?:[A-Z][\w’'-]*\.?)(?:\s+(?:of|de|la|del|van|von|the|al|bin)?\s*[A-Z][\w’'-]*)*"
)
NAME_CONNECTORS = frozenset("of de la del van von the al bin".split())


@dataclass(frozen=True, slots=True)
class Name:
    """A capitalised name (person, place, organisation) as ``names`` found it."""

    text: str  # as written, without a trailing period
    start: int  # its span in the sentence
    end: int


# One regex scan: 4x faster than walking the sentence's tokens (which made clustering's
# article terms 40% dearer on bench.pipeline_speed's corpus).
def names(sentence: str) -> list[Name]:
    """Capitalised names in one sentence, in order: runs of capitalised words, connectors
    between them kept ("Bank of England"). A cheap stand-in for named-entity recognition;
    what to do with a capitalised first word (a name, or just a sentence's start?) is the
    caller's: ``sentence_entities`` and alignment answer it differently.
    """
    return [
        Name(match.group(0).strip().rstrip("."), match.start(), match.end())
        for match in _NAME.finditer(sentence)
    ]


def sentence_entities(sentences: Iterable[str]) -> set[str]:
    """``names`` of a text already split into sentences, folded, without stopwords and a
    sentence-initial capitalised stopword ("The", "But")."""
    found: set[str] = set()
    for sentence in sentences:
        for name in names(sentence):
            if name.start == 0 and len(name.text.split()) == 1 and fold(name.text) in STOPWORDS:
                continue
            folded = fold(name.text)
            if folded in STOPWORDS or len(folded) < 2:
                continue
            found.add(folded)
    return found


def shingles(text: str, size: int = 5) -> set[str]:
    """Word n-grams over folded words (stopwords kept: they carry syndication signal)."""
    tokens = words(text)
    if len(tokens) < size:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


@dataclass(frozen=True, slots=True)
class Analysis:
    """A text split once: its sentences and each sentence's ``words``."""

    sentences: tuple[str, ...]
    sentence_words: tuple[tuple[str, ...], ...]

    @property
    def words(self) -> list[str]:
        """``words(text)``: a text's words are its sentences' words in order."""
        return [w for found in self.sentence_words for w in found]


# Holds a whole ingest batch (BRIEFBOT_INGEST_BATCH_SIZE, 500 by default): the batch is
# hashed before its duplicates are looked up, and each text is then analysed once.
@lru_cache(maxsize=1024)
def analyze(text: str) -> Analysis:
    """The text's sentences and words, computed once for the several layers that need them
    (hashing, duplicate detection, clustering handle the same article one after another)."""
    sentences = tuple(split_sentences(text))
    return Analysis(sentences, tuple(tuple(words(s)) for s in sentences))


def text_hash(text: str) -> str:
    """SHA-256 of the folded, whitespace-normalised text: equal for exact copies."""
    return words_hash(analyze(text).words)


def words_hash(tokens: list[str]) -> str:
    """``text_hash`` of a text whose ``words`` are ``tokens``."""
    return hashlib.sha256(" ".join(tokens).encode("utf-8")).hexdigest()


def sentence_key(sentence: str) -> str:
    """A short hash identifying a sentence regardless of case, accents and punctuation."""
    return words_key(words(sentence))


def words_key(tokens: list[str]) -> str:
    """``sentence_key`` of a sentence whose ``words`` are ``tokens``."""
    return hashlib.blake2b(" ".join(tokens).encode("utf-8"), digest_size=8).hexdigest()
