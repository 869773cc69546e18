"""Run every benchmark in turn (``make bench``); results go in docs/benchmarks.md by hand.

    python -m bench.run_all [--quick]

``--quick`` runs small versions (one shuffle, 10k articles, a 2k-article ingest on SQLite
only, 10 generated stories, 40 timed thread answers, 300 scheduled digests) to check that
the benchmarks still run.
Clustering quality needs the shared evaluation data (see ``bench/neus.py``) and the
PostgreSQL half of the ingest benchmark needs the server binaries; without them those parts
are skipped with a note and the others run.
"""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from bench import (
    cluster_quality,
    digest_delivery,
    ingest_speed,
    llm_tokens,
    pipeline_speed,
    qa_eval,
    verify_quality,
)
from bench.neus import BenchDataMissing


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    quick = args.quick
    runs: list[tuple[str, Callable[[], object]]] = [
        (
            "Story clustering quality (NeuS val)",
            lambda: cluster_quality.main(["--split", "val", "--seeds", "1" if quick else "5"]),
        ),
        (
            "Story layer speed (normalize + duplicates + clustering)",
            lambda: pipeline_speed.main(
                ["--sizes", "10000"] if quick else ["--sizes", "10000", "50000", "100000"]
            ),
        ),
        (
            "Ingest end to end (briefbot ingest, SQLite and PostgreSQL)",
            lambda: ingest_speed.main(
                ["--sizes", "2000", "--backends", "sqlite"]
                if quick
                else ["--sizes", "10000", "12000", "100000"]
            ),
        ),
        ("Citation verification", lambda: verify_quality.main([])),
        (
            "LLM prompt tokens and overhead",
            lambda: llm_tokens.main(["--stories", "10" if quick else "40"]),
        ),
        (
            "Thread answers (Q&A evaluation set, latency on a 200-article story)",
            lambda: qa_eval.main(["--latency-questions", "40" if quick else "220"]),
        ),
        (
            "Scheduled digests (10,000 subscriptions due in one minute, paced Slack)",
            lambda: digest_delivery.main(
                ["--subscriptions", "300", "--per-channel", "3"]
                if quick
                else ["--subscriptions", "10000", "--per-channel", "1", "3"]
            ),
        ),
    ]
    print(
        f"# briefbot benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs"
    )
    for title, run in runs:
        print(f"\n## {title}", flush=True)
        try:
            run()
        except (BenchDataMissing, ingest_speed.BenchSetupError) as exc:
            print(f"skipped: {exc}")


if __name__ == "__main__":
    main()
