"""Citation verification quality and speed (``bot.summarize.verify``).

Quality: every claim/source pair of the hand-labelled set ``tests/fixtures/verify/claims.jsonl``
is checked the way a briefing's citation is (``verify_points`` with one point citing one
source, nothing added). A pair the verifier keeps counts as "supported"; precision and recall
are those of "supported" (precision: kept citations that are right; recall: right citations
kept). Results are also given per kind (paraphrase, wrong number, negation, ...).

Cross-story: every supported claim is checked against every other article of the set, where
it must find no support.

Speed: one story of 30 sources (about 25 sentences each, drawn from the set's articles so
that they share vocabulary, as one story's coverage does) and 6 key points citing 4 sources
each, verified from scratch (alignment included).

Run: ``.venv/bin/python -m bench.verify_quality`` (``--runs N`` for the timing).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.domain import Article, KeyPoint, SourceRef
from bot.summarize.align import source_sentences
from bot.summarize.verify import CitationVerifier, verify_points

REPO_ROOT = Path(__file__).resolve().parent.parent
LABELLED = REPO_ROOT / "tests" / "fixtures" / "verify" / "claims.jsonl"
SOURCES, POINTS, CITED, SENTENCES = 30, 6, 4, 25


@dataclass(frozen=True, slots=True)
class Labelled:
    id: str
    claim: str
    source: str
    supported: bool
    kind: str


def load(path: Path = LABELLED) -> list[Labelled]:
    """The labelled claim/source pairs, in file order."""
    items: list[Labelled] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        raw = json.loads(line)
        if raw["label"] not in ("supported", "unsupported"):
            raise ValueError(f"{path}:{number}: label must be supported/unsupported")
        items.append(
            Labelled(
                raw["id"], raw["claim"], raw["source"], raw["label"] == "supported", raw["kind"]
            )
        )
    return items


def _ref(source_id: int) -> SourceRef:
    return SourceRef(
        id=source_id,
        outlet=f"Outlet {source_id}",
        title=f"Article {source_id}",
        url=f"https://outlet{source_id}.example/news/{source_id}",
        published_at=None,
        full_text=True,
    )


def _article(ref: SourceRef, text: str) -> Article:
    return Article(url=ref.url, title=ref.title, text=text, outlet=ref.outlet)


def verdict(item: Labelled) -> bool:
    """Does the verifier keep the citation of ``item.source`` for ``item.claim``?"""
    ref = _ref(1)
    result = verify_points(
        [KeyPoint(item.claim, [1])], [ref], {1: _article(ref, item.source)}, add_missing=False
    )
    return bool(result.key_points)


@dataclass(frozen=True, slots=True)
class Quality:
    true_pos: int
    false_pos: int
    false_neg: int
    true_neg: int
    by_kind: dict[str, tuple[int, int, str]]  # kind -> (items, correct, expected label)
    misses: list[Labelled]

    @property
    def precision(self) -> float:
        kept = self.true_pos + self.false_pos
        return self.true_pos / kept if kept else 1.0

    @property
    def recall(self) -> float:
        right = self.true_pos + self.false_neg
        return self.true_pos / right if right else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def quality(items: Sequence[Labelled]) -> Quality:
    """Confusion counts of the verifier on the labelled pairs."""
    counts: Counter[str] = Counter()
    kinds: dict[str, list[bool]] = defaultdict(list)
    labels: dict[str, set[str]] = defaultdict(set)
    misses: list[Labelled] = []
    for item in items:
        kept = verdict(item)
        counts[("t" if kept == item.supported else "f") + ("p" if kept else "n")] += 1
        kinds[item.kind].append(kept == item.supported)
        labels[item.kind].add("supported" if item.supported else "unsupported")
        if kept != item.supported:
            misses.append(item)
    by_kind = {
        kind: (len(results), sum(results), "/".join(sorted(labels[kind])))
        for kind, results in sorted(kinds.items())
    }
    return Quality(counts["tp"], counts["fp"], counts["fn"], counts["tn"], by_kind, misses)


def cross_story(items: Sequence[Labelled]) -> tuple[int, int]:
    """(false supports, pairs checked): supported claims against every other article."""
    texts = list(dict.fromkeys(item.source for item in items))
    refs = [_ref(i + 1) for i in range(len(texts))]
    verifier = CitationVerifier(
        refs, {r.id: _article(r, t) for r, t in zip(refs, texts, strict=True)}
    )
    wrong = checked = 0
    for item in items:
        if not item.supported:
            continue
        own = texts.index(item.source) + 1
        check = verifier.check(item.claim)
        for ref in refs:
            if ref.id == own:
                continue
            checked += 1
            wrong += check.covered_by([ref.id])
    return wrong, checked


def story(
    items: Sequence[Labelled], seed: int = 7
) -> tuple[list[SourceRef], dict[int, Article], list[KeyPoint]]:
    """A 30-source story with 6 cited points, built deterministically from the labelled set."""
    rng = random.Random(seed)
    texts = list(dict.fromkeys(item.source for item in items))
    pool = [s for text in texts for s in source_sentences(text)]
    refs = [_ref(i + 1) for i in range(SOURCES)]
    articles: dict[int, Article] = {}
    for ref in refs:
        lead = source_sentences(texts[(ref.id - 1) % len(texts)])[0]
        body = rng.sample(pool, SENTENCES - 1)
        articles[ref.id] = _article(ref, "\n\n".join([lead, *body]))
    claims = rng.sample([item.claim for item in items], POINTS)
    points = [KeyPoint(claim, sorted(rng.sample(range(1, SOURCES + 1), CITED))) for claim in claims]
    return refs, articles, points


def timing(items: Sequence[Labelled], runs: int) -> tuple[float, float]:
    """(first run, median of later runs) in milliseconds for the 30-source story."""
    refs, articles, points = story(items)
    durations: list[float] = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        verify_points(points, refs, articles)
        durations.append((time.perf_counter() - start) * 1000)
    return durations[0], statistics.median(durations[1:])


def report(items: Sequence[Labelled], runs: int) -> str:
    """The benchmark's results as Markdown."""
    first, median = timing(items, runs)  # first: before anything warms the profile caches
    result = quality(items)
    wrong, checked = cross_story(items)
    lines = [
        f"Labelled set: {len(items)} claim/source pairs "
        f"({result.true_pos + result.false_neg} supported, "
        f"{result.false_pos + result.true_neg} unsupported).",
        "",
        "| kind | label | pairs | correct |",
        "| --- | --- | ---: | ---: |",
    ]
    for kind, (count, correct, label) in result.by_kind.items():
        lines.append(f"| {kind} | {label} | {count} | {correct} |")
    lines += [
        "",
        "| precision | recall | F1 | kept wrongly | dropped wrongly |",
        "| ---: | ---: | ---: | ---: | ---: |",
        f"| {result.precision:.3f} | {result.recall:.3f} | {result.f1:.3f} "
        f"| {result.false_pos} | {result.false_neg} |",
        "",
        f"Cross-story: {wrong} false supports in {checked} (claim, other article) pairs.",
        "",
        f"Speed: {SOURCES} sources x {POINTS} points citing {CITED} each: "
        f"{median:.1f} ms median over {runs} runs (first run {first:.1f} ms, cold caches).",
    ]
    if result.misses:
        lines += ["", "Wrong verdicts:", ""]
        lines += [
            f"- `{m.id}` ({m.kind}, {'supported' if m.supported else 'unsupported'}): {m.claim}"
            for m in result.misses
        ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench.verify_quality", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--runs", type=int, default=5, help="timed runs after the first")
    parser.add_argument("--data", type=Path, default=LABELLED, help="labelled JSON Lines file")
    args = parser.parse_args(argv)
    print("## Citation verification\n")
    print(report(load(args.data), max(1, args.runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
