"""Speed of ``briefbot ingest`` end to end, on SQLite and on PostgreSQL.

Writes generated corpora as JSON Lines files (one article per line: ``url``, ``title``,
``text``, ``outlet``, ``published_at`` and, on most lines, ``language``; the format of
``bot.sources.local``) and times the real command line, ``briefbot ingest --source FILE``,
as a subprocess of the virtual environment's ``briefbot``: process start, migrations,
reading and parsing the file, normalising, duplicate detection, clustering and every store
write, into a fresh store each run. The articles are those of ``bench.pipeline_speed``
(developing stories over several days from 60 outlets, wire copies verbatim, trimmed and
rewritten), so the story layer's share can be read off that benchmark.

Each run gets an empty ``BRIEFBOT_DATA_DIR``, ``BRIEFBOT_FETCH_FULL_TEXT=false`` and
``BRIEFBOT_DISCOVERY=none``, and starts in an empty directory (no ``.env``). On SQLite the
store is the data directory's default file; on PostgreSQL a throwaway server is started
from the system's ``initdb``/``pg_ctl`` (with default durability, unlike the tests' server)
and each run gets a new database through ``DATABASE_URL=postgresql+psycopg://...``.

Reported per size and backend: articles per second over the whole command (wall time),
microseconds per article, and the per-article cost against the first size of the run
(``--sizes 10000 12000 100000`` by default, so the last row is 100k against 10k), and the
CPU time (user + system) of the ``briefbot`` process, which a busy machine inflates less
than the wall time (the PostgreSQL server's own CPU time is not in it). Generating and
writing the corpus is not timed.

    OMP_NUM_THREADS=1 python -m bench.ingest_speed [--sizes 10000 12000 100000]
        [--backends sqlite postgresql] [--seed 0] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from bench.pipeline_speed import CorpusGenerator

BACKENDS = ("sqlite", "postgresql")
# Languages as feeds declare them; one line in eight declares none (the field is optional).
_LANGUAGES = ("en", "en-GB", "en-US", "en", "en", "en", "en")
_REPORT = re.compile(r"(\d+) new articles \((\d+) copies\), (\d+) updated, (\d+) new stories")
_PG_USER = "postgres"
_PG_TIMEOUT_SECONDS = 60


class BenchSetupError(Exception):
    """The benchmark cannot run here (no ``briefbot`` executable, no PostgreSQL binaries)."""


def write_corpus(path: Path, size: int, seed: int) -> None:
    """Write ``size`` generated articles to ``path`` as JSON Lines, oldest first."""
    with path.open("w", encoding="utf-8") as handle:
        for n, (article, _story) in enumerate(CorpusGenerator(seed).articles(size)):
            assert article.published_at is not None
            record: dict[str, str] = {
                "url": article.url,
                "title": article.title,
                "text": article.text,
                "outlet": article.outlet,
                "published_at": article.published_at.isoformat(),
            }
            if n % 8:
                record["language"] = _LANGUAGES[n % len(_LANGUAGES)]
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def briefbot_executable() -> Path:
    """The ``briefbot`` console script next to this interpreter (the .venv's)."""
    found = Path(sys.executable).parent / "briefbot"
    if not found.is_file():
        raise BenchSetupError(
            f"no briefbot executable next to {sys.executable}; run this with the virtual "
            "environment's python (make .venv/.installed, then .venv/bin/python -m "
            "bench.ingest_speed)"
        )
    return found


# ---------------------------------------------------------------------- PostgreSQL
def _pg_binaries() -> Path:
    """The directory with ``initdb`` and ``pg_ctl``: on PATH, else the newest under
    /usr/lib/postgresql/*/bin (as ``tests.fakes.postgres`` finds them)."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for directory in versions:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    raise BenchSetupError(
        "initdb/pg_ctl not found on PATH or under /usr/lib/postgresql/*/bin (install the "
        "postgresql server package, or pass --backends sqlite)"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class PostgresServer:
    """A running throwaway server; ``new_database`` hands out empty databases."""

    port: int

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{_PG_USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self, name: str) -> str:
        """Create the empty database ``name`` and return its URL."""
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=_PG_USER, dbname="postgres", autocommit=True
        ) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server like the test suite's (``tests/fakes/postgres.py``,
    whose server is a pytest fixture): trust authentication on 127.0.0.1, run as the
    ``postgres`` user through runuser(1) when we are root (initdb refuses root). Unlike the
    tests' server it keeps PostgreSQL's default durability (fsync, synchronous commits), as
    a production server would, so that commits cost what they cost on SQLite's side too."""
    binaries = _pg_binaries()
    prefix: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="briefbot-bench-pg-"))
    if os.geteuid() == 0:
        entry = pwd.getpwnam(_PG_USER)
        prefix = ["runuser", "-u", _PG_USER, "--"]
        os.chown(root, entry.pw_uid, entry.pw_gid)
    data, log = root / "data", root / "server.log"
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    for key in ("PGDATA", "PGPORT", "PGHOST", "PGUSER", "PGDATABASE"):
        env.pop(key, None)

    def run(*args: str) -> None:
        result = subprocess.run(
            [*prefix, *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=root,
            timeout=_PG_TIMEOUT_SECONDS,
            check=False,
        )
        if result.returncode != 0:
            server_log = log.read_text(errors="replace") if log.exists() else ""
            raise BenchSetupError(
                f"{Path(args[0]).name} failed ({result.returncode}):\n{result.stderr}\n{server_log}"
            )

    try:
        run(
            str(binaries / "initdb"),
            *("-D", str(data), "-U", _PG_USER, "-A", "trust", "-E", "UTF8", "--locale=C"),
            *("--no-sync", "--no-instructions"),
        )
        port = _free_port()
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {root}"
        run(str(binaries / "pg_ctl"), "start", "-D", str(data), "-l", str(log), "-w", "-o", options)
        try:
            yield PostgresServer(port)
        finally:
            run(str(binaries / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w")
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------- runs
@dataclass(frozen=True, slots=True)
class RunResult:
    backend: str
    articles: int
    seconds: float
    cpu_seconds: float  # user + system time of the briefbot process
    copies: int
    stories: int

    @property
    def per_second(self) -> float:
        return self.articles / self.seconds

    @property
    def mean_us(self) -> float:
        return self.seconds / self.articles * 1e6


def _environment(data_dir: Path, database_url: str | None) -> dict[str, str]:
    """The parent's environment without briefbot settings, plus the benchmark's."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BRIEFBOT_", "OPENAI_", "SLACK_", "DISCORD_"))
        and key != "DATABASE_URL"
    }
    env.update(
        BRIEFBOT_DATA_DIR=str(data_dir),
        BRIEFBOT_FETCH_FULL_TEXT="false",
        BRIEFBOT_DISCOVERY="none",
        OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"),
    )
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return env


def ingest_once(
    corpus: Path, size: int, backend: str, workdir: Path, server: PostgresServer | None
) -> RunResult:
    """Time one ``briefbot ingest --source corpus`` into a fresh store."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"{backend}-{size}-", dir=workdir))
    database_url = None
    if backend == "postgresql":
        assert server is not None
        database_url = server.new_database(f"bench_{size}_{data_dir.name[-8:].lower()}")
    command = [str(briefbot_executable()), "ingest", "--source", str(corpus)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        command,
        env=_environment(data_dir, database_url),
        cwd=data_dir,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    found = _REPORT.search(done.stdout)
    if done.returncode != 0 or found is None:
        raise RuntimeError(
            f"briefbot ingest failed ({done.returncode}) on {backend}:\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    new, copies, updated, stories = (int(group) for group in found.groups())
    if new != size or updated:
        raise RuntimeError(f"expected {size} new articles, briefbot said: {found.group(0)}")
    shutil.rmtree(data_dir, ignore_errors=True)
    return RunResult(backend, size, seconds, cpu, copies, stories)


def runs(sizes: Sequence[int], backends: Sequence[str], seed: int) -> Iterator[RunResult]:
    """Every size on every backend, as each finishes; each corpus is written once, into a
    temporary directory removed at the end."""
    with tempfile.TemporaryDirectory(prefix="briefbot-bench-ingest-") as tmp:
        workdir = Path(tmp)
        corpora: dict[int, Path] = {}
        for size in sizes:
            corpora[size] = workdir / f"corpus-{size}.jsonl"
            write_corpus(corpora[size], size, seed)
        for backend in backends:
            with _server_for(backend) as server:
                for size in sizes:
                    yield ingest_once(corpora[size], size, backend, workdir, server)


@contextmanager
def _server_for(backend: str) -> Iterator[PostgresServer | None]:
    if backend == "postgresql":
        with postgres_server() as server:
            yield server
    else:
        yield None


def _row(result: RunResult, base: RunResult) -> dict[str, object]:
    return {
        "backend": result.backend,
        "articles": result.articles,
        "seconds": round(result.seconds, 1),
        "cpu_seconds": round(result.cpu_seconds, 1),
        "articles_per_s": round(result.per_second, 1),
        "mean_us": round(result.mean_us),
        "cost_vs_first": round(result.mean_us / base.mean_us, 2),
        "copies_found": result.copies,
        "stories": result.stories,
    }


def _print_row(result: RunResult, base: RunResult, *, as_json: bool) -> None:
    row = _row(result, base)
    if as_json:
        print(json.dumps(row), flush=True)
        return
    growth = f"×{row['cost_vs_first']} per article vs {base.articles}"
    print(
        f"{row['backend']:>10} {row['articles']:>7} articles: {row['seconds']:>7} s "
        f"({row['cpu_seconds']} s CPU), "
        f"{row['articles_per_s']:>7} art/s, {row['mean_us']:>6} µs/article ({growth}), "
        f"{row['copies_found']} copies, {row['stories']} stories",
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 12_000, 100_000])
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object per run")
    args = parser.parse_args(argv)
    first: dict[str, RunResult] = {}
    for result in runs(args.sizes, args.backends, args.seed):
        base = first.setdefault(result.backend, result)
        _print_row(result, base, as_json=args.json)


if __name__ == "__main__":
    main()
