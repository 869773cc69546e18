"""Exact and near duplicates: wire and syndicated copies, and rewrites of one wire story.

Three signals, each bounded in cost per lookup:

1. **Exact text**: ``bot.text.text_hash`` of the folded words.
2. **Shingle containment** (MinHash LSH for candidates, exact containment to
   decide): ``|A ∩ B| / min(|A|, |B|)`` over hashed word 5-grams. Containment, not
   Jaccard, so a shortened copy (a dropped last paragraph, a trimmed teaser) of a
   longer text still scores high.
3. **Shared sentences** (an inverted index of sentence hashes): rewrites of one
   wire story keep its quotes and several sentences but not its whole text, which
   document-level similarity misses. Sentences shorter than eight words are not
   indexed (bylines, "He said."), and a sentence found in more than
   ``MAX_POSTINGS`` documents is boilerplate and ignored.

Quotations of eight words or more are indexed as well, to find rewrites as
candidates (a rewrite keeps the wire's quotes but recasts the sentences around them).

A text is a copy of an earlier one when containment ≥ ``CONTAINMENT`` (a
syndicated copy, perhaps trimmed), when containment ≥ ``REWRITE_CONTAINMENT`` (a
rewrite: on our fixtures rewrites score 0.25 and independent reports of the same
event at most 0.09, quotes included), or when the two share ≥ ``SHARED_SENTENCES``
sentences that make up ≥ ``SHARED_SHARE`` of the shorter text's sentences. One
shared quote from a press conference is not enough: independent reports quote the
same people.
"""

from __future__ import annotations

import re
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np

from bot.text import analyze, sentence_key, words_hash, words_key

SHINGLE = 5
NUM_PERM = 64
# 21 bands of 3 rows: what datasketch picks for a Jaccard threshold of 0.3 over 64
# permutations (equal weight on false positives and negatives). Candidates are then decided
# by exact containment, so the bands only need to find them.
BANDS, ROWS = 21, 3
CONTAINMENT = 0.6
REWRITE_CONTAINMENT = 0.2
SHARED_SENTENCES = 3
SHARED_SHARE = 0.3
MIN_SENTENCE_WORDS = 8
MIN_SHINGLES = 20  # below this (a teaser) only exact copies count
MAX_POSTINGS = 50
MAX_CANDIDATES = 30


@dataclass(frozen=True, slots=True)
class DuplicateMatch:
    """The earlier text a new one copies."""

    key: int
    kind: Literal["exact", "near", "rewrite"]
    containment: float
    shared_sentences: int


@dataclass(slots=True)
class _Doc:
    shingles: np.ndarray  # sorted unique uint32 hashes
    sentences: frozenset[str]
    n_sentences: int
    quotes: frozenset[str]
    _sketch: np.ndarray | None = None

    def minhash(self) -> np.ndarray:
        if self._sketch is None:
            self._sketch = _minhash(self.shingles)
        return self._sketch


_QUOTE = re.compile(r"[“\"]([^”\"]{20,400})[”\"]")


def _quote_keys(text: str) -> frozenset[str]:
    return frozenset(
        "q" + sentence_key(quote)
        for quote in _QUOTE.findall(text)
        if len(quote.split()) >= MIN_SENTENCE_WORDS
    )


_GRAM_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd: mixes word hashes into gram hashes
_CHAR_POWERS = np.cumprod(np.full(64, 0x100000001B3, dtype=np.uint64), dtype=np.uint64)


def _word_hashes(tokens: list[str]) -> np.ndarray:
    """A 64-bit polynomial hash of each token's code points (the first 64), vectorised."""
    cells = np.array([t[:64] for t in tokens])  # fixed-width UTF-32, zero-padded
    codes = cells.view(np.uint32).reshape(len(tokens), -1).astype(np.uint64)
    return codes @ _CHAR_POWERS[: codes.shape[1]]


def _shingle_hashes(tokens: list[str]) -> np.ndarray:
    """Sorted unique 32-bit hashes of the word ``SHINGLE``-grams (one gram for short texts)."""
    if not tokens:
        return np.empty(0, dtype=np.uint32)
    word = _word_hashes(tokens)
    size = min(SHINGLE, len(word))
    grams = np.zeros(len(word) - size + 1, dtype=np.uint64)
    for offset in range(size):  # a polynomial rolling hash, wrapping at 2**64
        grams = grams * _GRAM_MULTIPLIER + word[offset : offset + len(grams)]
    grams ^= grams >> np.uint64(29)
    return np.unique((grams >> np.uint64(32)).astype(np.uint32))


# MinHash permutations by multiply-shift hashing: h(x) = (a * x + b) mod 2**64, top 32 bits,
# with a odd (a universal family on the 32-bit shingle hashes).
_PERMUTATIONS = np.random.default_rng(7).integers(0, 1 << 63, size=(2, NUM_PERM), dtype=np.uint64)
_PERMUTATIONS[0] |= np.uint64(1)


def _minhash(shingles: np.ndarray) -> np.ndarray:
    """The MinHash signature: for each permutation, the smallest permuted shingle hash."""
    mixed = shingles.astype(np.uint64)[:, None] * _PERMUTATIONS[0] + _PERMUTATIONS[1]
    signature: np.ndarray = (mixed >> np.uint64(32)).astype(np.uint32).min(axis=0)
    return signature


class _BandIndex:
    """Locality-sensitive hashing of MinHash signatures: ``BANDS`` bands of ``ROWS``
    values each; texts whose signatures agree on a whole band are candidates. Insert, query
    and remove cost one dictionary operation per band."""

    def __init__(self) -> None:
        self._tables: list[dict[bytes, set[int]]] = [{} for _ in range(BANDS)]
        self._bands: dict[int, list[bytes]] = {}

    @staticmethod
    def _split(signature: np.ndarray) -> list[bytes]:
        raw = signature.tobytes()
        width = ROWS * signature.itemsize
        return [raw[i * width : (i + 1) * width] for i in range(BANDS)]

    def __contains__(self, key: int) -> bool:
        return key in self._bands

    def insert(self, key: int, signature: np.ndarray) -> None:
        bands = self._bands[key] = self._split(signature)
        for table, band in zip(self._tables, bands, strict=True):
            found = table.get(band)
            if found is None:
                table[band] = {key}
            else:
                found.add(key)

    def query(self, signature: np.ndarray) -> set[int]:
        found: set[int] = set()
        for table, band in zip(self._tables, self._split(signature), strict=True):
            keys = table.get(band)
            if keys:
                found |= keys
        return found

    def remove(self, key: int) -> None:
        for table, band in zip(self._tables, self._bands.pop(key, ()), strict=False):
            keys = table.get(band)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del table[band]


def _sentences(text: str) -> tuple[list[str], frozenset[str], int]:
    """The text's words, and the keys and number of its sentences of ``MIN_SENTENCE_WORDS``
    or more."""
    analysis = analyze(text)
    keys = [
        words_key(list(found))
        for sentence, found in zip(analysis.sentences, analysis.sentence_words, strict=True)
        if len(sentence.split()) >= MIN_SENTENCE_WORDS
    ]
    return analysis.words, frozenset(keys), len(keys)


class DuplicateIndex:
    """Finds the earlier article a text copies.

    It holds the texts of the last ``window`` (by the times given to ``add``; copies run
    within hours or days of their original) and at most ``capacity`` texts, so a lookup
    costs the same however long the process has been running.
    """

    def __init__(self, *, window: timedelta = timedelta(days=7), capacity: int = 200_000) -> None:
        self.window = window
        self.capacity = capacity
        self._docs: OrderedDict[int, _Doc] = OrderedDict()  # in the order they were added
        self._when: dict[int, datetime] = {}
        self._newest: datetime | None = None
        self._hashes: dict[str, int] = {}
        self._by_key_hash: dict[int, str] = {}
        self._sentences: defaultdict[str, list[int]] = defaultdict(list)
        self._lsh = _BandIndex()
        self._last: tuple[str, str, _Doc] | None = None  # ``find`` then ``add`` of one text

    def __len__(self) -> int:
        return len(self._docs)

    def _prepare(self, text: str) -> tuple[str, _Doc]:
        if self._last is not None and self._last[0] == text:
            return self._last[1], self._last[2]
        tokens, sentences, n_sentences = _sentences(text)
        doc = _Doc(_shingle_hashes(tokens), sentences, n_sentences, _quote_keys(text))
        digest = words_hash(tokens)  # = text_hash(text)
        self._last = (text, digest, doc)
        return digest, doc

    def find(self, text: str) -> DuplicateMatch | None:
        """The best earlier text this one copies, or ``None``."""
        digest, doc = self._prepare(text)
        exact = self._hashes.get(digest)
        if exact is not None:
            return DuplicateMatch(exact, "exact", 1.0, doc.n_sentences)
        candidates: dict[int, int] = defaultdict(int)  # key -> shared sentences
        for sentence in doc.sentences:
            postings = self._sentences.get(sentence)
            if postings and len(postings) <= MAX_POSTINGS:
                for posted in postings:
                    candidates[posted] += 1
        for quote in doc.quotes:
            postings = self._sentences.get(quote)
            if postings and len(postings) <= MAX_POSTINGS:
                for posted in postings:
                    candidates.setdefault(posted, 0)
        if len(doc.shingles) >= MIN_SHINGLES:
            for found in self._lsh.query(doc.minhash()):
                candidates.setdefault(found, 0)
        best: DuplicateMatch | None = None
        ranked = sorted(candidates.items(), key=lambda item: (-item[1], item[0]))
        for key, shared in ranked[:MAX_CANDIDATES]:
            other = self._docs.get(key)
            if other is None:
                continue
            containment = _containment(doc.shingles, other.shingles)
            shorter = max(min(doc.n_sentences, other.n_sentences), 1)
            long_enough = min(len(doc.shingles), len(other.shingles)) >= MIN_SHINGLES
            is_copy = (long_enough and containment >= REWRITE_CONTAINMENT) or (
                shared >= SHARED_SENTENCES and shared / shorter >= SHARED_SHARE
            )
            if is_copy and (
                best is None
                or (containment, shared, -key)
                > (best.containment, best.shared_sentences, -best.key)
            ):
                kind: Literal["near", "rewrite"] = (
                    "near" if containment >= CONTAINMENT else "rewrite"
                )
                best = DuplicateMatch(key, kind, containment, shared)
        return best

    def add(self, key: int, text: str, when: datetime | None = None) -> None:
        """Index ``text`` under ``key`` (an article id) as published at ``when``; texts older
        than the window before the newest go, and the oldest go past capacity."""
        if key in self._docs:
            self.remove(key)
        digest, doc = self._prepare(text)
        self._docs[key] = doc
        if when is not None:
            self._when[key] = when
            self._newest = when if self._newest is None else max(self._newest, when)
        self._hashes.setdefault(digest, key)
        self._by_key_hash[key] = digest
        for sentence in doc.sentences | doc.quotes:
            self._sentences[sentence].append(key)
        if len(doc.shingles) >= MIN_SHINGLES:
            self._lsh.insert(key, doc.minhash())
        while len(self._docs) > self.capacity:
            self.remove(next(iter(self._docs)))
        self._evict_old()

    def _evict_old(self) -> None:
        """Drop texts from the front (the earliest added) while they are out of the window;
        one that arrived late and out of order goes when it reaches the front."""
        if self._newest is None:
            return
        cutoff = self._newest - self.window
        while self._docs:
            first = next(iter(self._docs))
            when = self._when.get(first)
            if when is None or when >= cutoff:
                return
            self.remove(first)

    def remove(self, key: int) -> None:
        doc = self._docs.pop(key, None)
        if doc is None:
            return
        self._when.pop(key, None)
        digest = self._by_key_hash.pop(key)
        if self._hashes.get(digest) == key:
            del self._hashes[digest]
        for sentence in doc.sentences | doc.quotes:
            postings = self._sentences.get(sentence)
            if postings is not None:
                postings[:] = [k for k in postings if k != key]
                if not postings:
                    del self._sentences[sentence]
        if key in self._lsh:
            self._lsh.remove(key)


def _containment(a: np.ndarray, b: np.ndarray) -> float:
    if not len(a) or not len(b):
        return 0.0
    shared = np.intersect1d(a, b, assume_unique=True).size
    return float(shared) / float(min(len(a), len(b)))
