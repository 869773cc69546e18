"""Story clustering quality on NeuS: B-cubed and pairwise precision/recall/F1.

All articles of a split are pooled and shuffled (fixed seeds), fed one by one to
``bot.stories.cluster.StoryIndex`` (no time features: every article gets the same
timestamp), and scored against the line each article came from. The plain
baseline from the data's README (TF-IDF on title+text, average-link
agglomerative clustering, cosine distance threshold 0.75) is computed alongside.

    python -m bench.cluster_quality [--split val] [--seeds 5] [--threshold T] [--no-baseline]
"""

from __future__ import annotations

import argparse
import statistics
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

from bench.neus import LabelledArticle, load_split, shuffled
from bot.domain import Article
from bot.stories.cluster import StoryIndex

FIXED_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def bcubed(gold: Sequence[int], pred: Sequence[str]) -> tuple[float, float, float]:
    """B-cubed precision, recall and F1 of a clustering against gold labels."""
    pair = Counter(zip(gold, pred, strict=True))
    gold_size = Counter(gold)
    pred_size = Counter(pred)
    precision = sum(n * n / pred_size[p] for (_, p), n in pair.items()) / len(gold)
    recall = sum(n * n / gold_size[g] for (g, _), n in pair.items()) / len(gold)
    return precision, recall, 2 * precision * recall / (precision + recall)


def pairwise(gold: Sequence[int], pred: Sequence[str]) -> tuple[float, float, float]:
    """Pairwise precision, recall and F1 (pairs of articles put together)."""

    def pairs(counts: Counter[object]) -> int:
        return sum(n * (n - 1) // 2 for n in counts.values())

    together = pairs(Counter(zip(gold, pred, strict=True)))
    in_pred = pairs(Counter(pred))
    in_gold = pairs(Counter(gold))
    precision = together / in_pred if in_pred else 1.0
    recall = together / in_gold if in_gold else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def cluster(articles: Sequence[LabelledArticle], threshold: float | None) -> list[str]:
    index = StoryIndex() if threshold is None else StoryIndex(threshold=threshold)
    labels = []
    for number, item in enumerate(articles, start=1):
        article = Article(
            url=f"https://neus.example/{item.story}/{item.position}",
            title=item.title,
            text=item.text,
            outlet="neus",
            published_at=FIXED_TIME,
            fetched_at=FIXED_TIME,
            id=number,
        )
        labels.append(index.assign(article).story_id)
    return labels


def baseline(articles: Sequence[LabelledArticle]) -> list[str]:
    """The README's baseline: TF-IDF + average-link agglomerative, distance threshold 0.75."""
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.feature_extraction.text import TfidfVectorizer

    matrix = TfidfVectorizer().fit_transform([f"{a.title} {a.text}" for a in articles])
    model = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=0.75
    )
    return [str(label) for label in model.fit_predict(matrix.toarray())]


def evaluate(split: str, seeds: int, threshold: float | None) -> dict[str, float]:
    data = load_split(split)
    scores: list[tuple[float, ...]] = []
    for seed in range(seeds):
        order = shuffled(data, seed)
        pred = cluster(order, threshold)
        gold = [a.story for a in order]
        scores.append((*bcubed(gold, pred), *pairwise(gold, pred)))
    names = ("bcubed_p", "bcubed_r", "bcubed_f1", "pair_p", "pair_r", "pair_f1")
    return {name: statistics.fmean(s[i] for s in scores) for i, name in enumerate(names)}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="val", choices=("train", "val"))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args(argv)
    result = evaluate(args.split, args.seeds, args.threshold)
    print(f"NeuS {args.split}, {args.seeds} shuffles, StoryIndex (incremental):")
    print(
        "  B-cubed P {bcubed_p:.3f} R {bcubed_r:.3f} F1 {bcubed_f1:.3f} | "
        "pairwise P {pair_p:.3f} R {pair_r:.3f} F1 {pair_f1:.3f}".format(**result)
    )
    if not args.no_baseline:
        data = load_split(args.split)
        pred = baseline(data)
        gold = [a.story for a in data]
        bp, br, bf = bcubed(gold, pred)
        pp, pr, pf = pairwise(gold, pred)
        print("Baseline (TF-IDF, average-link, cosine distance 0.75):")
        print(
            f"  B-cubed P {bp:.3f} R {br:.3f} F1 {bf:.3f} | "
            f"pairwise P {pp:.3f} R {pr:.3f} F1 {pf:.3f}"
        )


if __name__ == "__main__":
    main()
