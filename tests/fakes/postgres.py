"""A throwaway PostgreSQL server for tests: the session-scoped ``postgres_server`` fixture.

The server runs from the system's binaries (``initdb`` and ``pg_ctl`` on PATH
or under ``/usr/lib/postgresql/*/bin``) in a temporary data directory, on a
free TCP port of 127.0.0.1 with trust authentication and durability switched
off (it is deleted afterwards anyway). ``initdb`` refuses to run as root, so
as root the server runs as the ``postgres`` user through ``runuser``.

Where the binaries are missing the tests that need the server are skipped
with the reason, except under ``CI=true``: CI must fail loudly rather than
silently skip the PostgreSQL half of the suite.

Test modules import the fixture (``from tests.fakes.postgres import
postgres_server``); however many modules do, one server is started per test
session and stopped when the last of them is done with it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

_SERVER_USER = "postgres"
_START_TIMEOUT_SECONDS = 60


class PostgresUnavailable(Exception):
    """This machine cannot run a PostgreSQL server (skip, or fail under CI)."""


@dataclass
class PostgresServer:
    """A running server; ``database()`` hands out fresh, empty databases."""

    host: str
    port: int
    user: str
    startup_seconds: float

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL for ``database`` on this server (psycopg 3 driver)."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        )

    def create_database(self, name: str | None = None, *, template: str | None = None) -> str:
        """Create a database (empty, or a copy of ``template``); returns its name."""
        name = name or f"test_{uuid.uuid4().hex[:12]}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with self._admin() as connection:
            connection.execute(statement)
        return name

    def drop_database(self, name: str) -> None:
        with self._admin() as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def database(self, *, template: str | None = None) -> str:
        """The URL of a fresh database for one test.

        Test databases are not dropped one by one (that costs more than the
        test): the whole server is deleted at the end of the session.
        """
        return self.url(self.create_database(template=template))


def find_binaries(
    search_path: str | None = None, roots: Sequence[Path] = (Path("/usr/lib/postgresql"),)
) -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``: on ``PATH`` (or ``search_path``),
    else ``<root>/<major version>/bin``, newest version first."""
    initdb = shutil.which("initdb", path=search_path)
    if initdb and shutil.which("pg_ctl", path=search_path):
        return Path(initdb).resolve().parent
    candidates = sorted(
        (directory for root in roots for directory in root.glob("*/bin")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Instance:
    """The server process and its files; ``start`` and ``stop``."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.prefix: list[str] = []
        self.owner: tuple[int, int] | None = None
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam(_SERVER_USER)
            except KeyError:
                raise PostgresUnavailable(
                    f"running as root and there is no {_SERVER_USER!r} user to run PostgreSQL as"
                ) from None
            runuser = shutil.which("runuser")
            if runuser is None:
                raise PostgresUnavailable("running as root and runuser(1) is not installed")
            self.prefix = [runuser, "-u", _SERVER_USER, "--"]
            self.owner = (entry.pw_uid, entry.pw_gid)
        self.root = Path(tempfile.mkdtemp(prefix="briefbot-pg-"))
        if self.owner is not None:
            os.chown(self.root, *self.owner)
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0

    def _run(self, *args: str) -> None:
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        for key in ("PGDATA", "PGPORT", "PGHOST", "PGUSER", "PGDATABASE"):
            env.pop(key, None)
        result = subprocess.run(
            [*self.prefix, *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.root,
            timeout=_START_TIMEOUT_SECONDS,
            check=False,
        )
        if result.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(
                f"{Path(args[0]).name} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}\n{log}"
            )

    def start(self) -> None:
        self._run(
            str(self.binaries / "initdb"),
            "-D",
            str(self.data),
            "-U",
            _SERVER_USER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )
        last_error: RuntimeError | None = None
        for _ in range(3):  # another process may grab the free port before the server binds it
            self.port = _free_port()
            options = (
                f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            try:
                self._run(
                    str(self.binaries / "pg_ctl"),
                    "start",
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-w",
                    "-t",
                    str(_START_TIMEOUT_SECONDS),
                    "-o",
                    options,
                )
                return
            except RuntimeError as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(
                    str(self.binaries / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w"
                )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class _Shared:
    """One server per test session, however many modules use the fixture."""

    instance: _Instance | None = None
    server: PostgresServer | None = None
    unavailable: str | None = None
    users = 0


def unavailable(reason: str) -> None:
    """Skip the test for ``reason``, or fail it when ``CI=true`` (CI must not skip silently)."""
    message = f"PostgreSQL tests need a server: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: refusing to skip)", pytrace=False)
    pytest.skip(message)


def _acquire() -> PostgresServer:
    if _Shared.server is not None:
        _Shared.users += 1
        return _Shared.server
    if _Shared.unavailable is None:
        binaries = find_binaries()
        if binaries is None:
            _Shared.unavailable = (
                "initdb/pg_ctl not found on PATH or under /usr/lib/postgresql/*/bin "
                "(install the postgresql server package)"
            )
        else:
            try:
                instance = _Instance(binaries)
            except PostgresUnavailable as exc:
                _Shared.unavailable = str(exc)
            else:
                started = time.perf_counter()
                try:
                    instance.start()
                except BaseException:
                    instance.stop()
                    raise
                _Shared.instance = instance
                _Shared.server = PostgresServer(
                    host="127.0.0.1",
                    port=instance.port,
                    user=_SERVER_USER,
                    startup_seconds=time.perf_counter() - started,
                )
                _Shared.users = 1
                return _Shared.server
    unavailable(_Shared.unavailable or "unknown reason")
    raise AssertionError("unreachable: pytest.skip/fail raise")


def _release() -> None:
    _Shared.users -= 1
    if _Shared.users <= 0 and _Shared.instance is not None:
        instance, _Shared.instance, _Shared.server = _Shared.instance, None, None
        instance.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A running throwaway PostgreSQL server (skipped, or failed under CI, if impossible)."""
    server = _acquire()
    try:
        yield server
    finally:
        _release()
