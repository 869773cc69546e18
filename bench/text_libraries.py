"""Our hand-written text helpers against the well-kept libraries that could replace them.

    python -m bench.text_libraries [--repeat N]

For each helper, speed on the same inputs and agreement with the library on real text:

- ``bot.text.stem`` against ``snowballstemmer`` (English): words per second (uncached), and
  how often the two *group* words alike (two words of the corpus share a stem under one
  exactly when they do under the other; the stems themselves are spelled differently);
- ``bot.text.split_sentences`` against ``pysbd``: characters per second, and the share of our
  sentences that pysbd returns too (whitespace-normalised);
- ``bot.stories.canonical.canonical_url`` against ``courlan.normalize_url`` and
  ``w3lib.url.canonicalize_url``: URLs per second, the share of URLs spelled alike, and the
  job itself: each URL with tracking added (``utm_*``, ``fbclid``, a fragment, an upper-case
  host, the default port, an AMP path) must give the same canonical form as the URL.

Text: the bundled demo news (``bot/demo/data``), the e2e fixture pages
(``tests/fixtures/e2e``), NeuS ``val`` articles and the titles and URLs of the UCI News
Aggregator prefix (the last two from the shared data, ``../shared/data``). A library that is
not installed is skipped with the command that installs it (none is a dependency).
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from types import ModuleType
from typing import Any

from bench.neus import REPO_ROOT, BenchDataMissing, data_dir, load_split
from bot.sources.extract import extract_page
from bot.stories.canonical import canonical_url
from bot.text import normalize_whitespace, split_sentences, stem, words

VERSIONS = {"snowballstemmer": "3.1.1", "pysbd": "0.3.4", "courlan": "1.4.0", "w3lib": "2.5.0"}


def _library(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        print(f"  {name} not installed: .venv/bin/pip install {name}=={VERSIONS[name]}")
        return None


# --------------------------------------------------------------------------- corpus


def demo_texts() -> list[str]:
    texts: list[str] = []
    for path in sorted((REPO_ROOT / "bot" / "demo" / "data").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                texts.append(f"{record.get('title', '')}\n\n{record.get('text', '')}")
    return texts


def e2e_texts() -> list[str]:
    texts: list[str] = []
    for path in sorted((REPO_ROOT / "tests" / "fixtures" / "e2e" / "articles").glob("*.html")):
        page = extract_page(
            path.read_bytes(),
            url=f"https://e2e.example/{path.stem}",
            content_type="text/html",
            charset="utf-8",
        )
        texts.append(page.text)
    return texts


def neus_texts() -> list[str]:
    return [f"{a.title}\n\n{a.text}" for a in load_split("val")]


def uci_rows() -> list[dict[str, str]]:
    path = data_dir() / "uci-news-aggregator-prefix.csv"
    if not path.is_file():
        raise BenchDataMissing(f"{path} not found (see bench/neus.py)")
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# --------------------------------------------------------------------------- timing


def best_seconds(run: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` runs (the least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def _each(function: Callable[[str], object], items: Sequence[str]) -> list[object]:
    return [function(item) for item in items]


# --------------------------------------------------------------------------- stemmer


def _groups(vocabulary: Sequence[str], stemmer: Callable[[str], str]) -> dict[str, frozenset[str]]:
    """Each word's group: the vocabulary's words sharing its stem."""
    by_stem: dict[str, set[str]] = defaultdict(set)
    for word in vocabulary:
        by_stem[stemmer(word)].add(word)
    return {w: frozenset(group) for group in by_stem.values() for w in group}


def compare_stemmer(texts: Iterable[str], repeat: int) -> None:
    library = _library("snowballstemmer")
    if library is None:
        return
    snowball: Any = library.stemmer("english")
    vocabulary = sorted({w for text in texts for w in words(text) if w.isalpha()})
    ours = stem.__wrapped__  # uncached: the library has no cache either
    ours_s = best_seconds(partial(_each, ours, vocabulary), repeat)
    theirs_s = best_seconds(lambda: snowball.stemWords(vocabulary), repeat)
    mine, theirs = _groups(vocabulary, ours), _groups(vocabulary, snowball.stemWord)
    same = sum(1 for w in vocabulary if mine[w] == theirs[w])
    print(
        f"  stem: {len(vocabulary):,} distinct words; ours {len(vocabulary) / ours_s:,.0f} "
        f"words/s, snowballstemmer {len(vocabulary) / theirs_s:,.0f} words/s "
        f"(ours {theirs_s / ours_s:.2f}x its speed); same grouping for "
        f"{same / len(vocabulary):.1%} of words"
    )


# --------------------------------------------------------------------------- sentences


def compare_sentences(corpora: dict[str, list[str]], repeat: int) -> None:
    library = _library("pysbd")
    if library is None:
        return
    segmenter: Any = library.Segmenter(language="en", clean=False)

    def theirs(text: str) -> list[str]:
        found: list[str] = []
        for paragraph in text.split("\n\n"):  # ours always breaks at a paragraph
            found.extend(normalize_whitespace(s) for s in segmenter.segment(paragraph))
        return [s for s in found if s]

    for name, texts in corpora.items():
        chars = sum(len(t) for t in texts)
        ours_s = best_seconds(partial(_each, split_sentences, texts), repeat)
        theirs_s = best_seconds(partial(_each, theirs, texts), max(1, repeat // 3))
        mine = [s for t in texts for s in split_sentences(t)]
        agreed = 0
        for text in texts:
            other = set(theirs(text))
            agreed += sum(1 for s in split_sentences(text) if s in other)
        print(
            f"  split_sentences, {name} ({len(texts)} texts, {len(mine):,} sentences): ours "
            f"{chars / ours_s / 1e6:.2f} M chars/s, pysbd {chars / theirs_s / 1e6:.3f} M chars/s "
            f"(ours {theirs_s / ours_s:.0f}x faster); pysbd gives the same sentence for "
            f"{agreed / len(mine):.1%} of ours"
        )


# --------------------------------------------------------------------------- URLs


def tracked(url: str) -> list[str]:
    """The URL as links in the wild carry it: tracking, fragments, case, port, AMP."""
    scheme, _, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    joiner = "&" if "?" in url else "?"
    amp = f"{scheme}://{host}/{path.split('?')[0].rstrip('/')}/amp" if path else url
    return [
        f"{url}{joiner}utm_source=twitter&utm_medium=social",
        f"{url}{joiner}fbclid=IwAR0abc",
        f"{url}#comments",
        f"{scheme}://{host.upper()}{slash}{path}",
        f"https://{host}:443{slash}{path}" if scheme == "https" else f"http://{host}:80/{path}",
        amp if "?" not in url else url,
    ]


def compare_urls(urls: Sequence[str], repeat: int) -> None:
    courlan, w3lib_url = _library("courlan"), _library("w3lib")
    candidates: dict[str, Callable[[str], str]] = {"ours": canonical_url}
    if courlan is not None:
        candidates["courlan.normalize_url"] = courlan.normalize_url
        candidates["courlan.normalize_url(strict=True)"] = lambda u: courlan.normalize_url(
            u, strict=True
        )
    if w3lib_url is not None:
        candidates["w3lib.canonicalize_url"] = importlib.import_module("w3lib.url").canonicalize_url
    https = [u for u in urls if u.startswith(("http://", "https://"))]
    ours = [canonical_url(u) for u in https]
    for name, function in candidates.items():
        seconds = best_seconds(partial(_each, function, https), repeat)
        spelled = [function(u) for u in https]
        alike = sum(1 for a, b in zip(spelled, ours, strict=True) if a == b)
        variants = held = 0
        for url, canon in zip(https, spelled, strict=True):
            for variant in tracked(url):
                variants += 1
                held += function(variant) == canon
        distinct = len(set(spelled))
        print(
            f"  {name}: {len(https) / seconds:,.0f} URLs/s; "
            f"spelled as ours {alike / len(https):.1%}; "
            f"tracked variants mapped to the URL's form {held / variants:.1%}; "
            f"{distinct:,} distinct forms of {len(set(https)):,} distinct URLs"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timing runs (the best is kept)")
    args = parser.parse_args(argv)
    corpora = {"demo": demo_texts(), "e2e": e2e_texts()}
    rows: list[dict[str, str]] = []
    try:
        corpora["NeuS val"] = neus_texts()
        rows = uci_rows()
    except BenchDataMissing as exc:
        print(f"  shared data missing, demo and e2e text only: {exc}")
    titles = [row["TITLE"] for row in rows]
    compare_stemmer([t for texts in corpora.values() for t in texts] + titles, args.repeat)
    compare_sentences(corpora, args.repeat)
    urls = [row["URL"] for row in rows] or [
        json.loads(line)["url"]
        for path in sorted((REPO_ROOT / "bot" / "demo" / "data").glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    compare_urls(urls, args.repeat)


if __name__ == "__main__":
    main()
