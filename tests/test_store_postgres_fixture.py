"""The throwaway-PostgreSQL fixture: where it finds the server and when it may skip."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.postgres import find_binaries, unavailable


def install_fake_server(root: Path, version: str, *, complete: bool = True) -> Path:
    bin_dir = root / version / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("initdb", "pg_ctl") if complete else ("initdb",):
        program = bin_dir / name
        program.write_text("#!/bin/sh\n")
        program.chmod(0o755)
    return bin_dir


def test_binaries_are_found_under_the_newest_complete_version(tmp_path: Path) -> None:
    install_fake_server(tmp_path, "13")
    newest = install_fake_server(tmp_path, "15")
    install_fake_server(tmp_path, "16", complete=False)

    assert find_binaries(search_path="", roots=[tmp_path]) == newest


def test_binaries_on_the_search_path_win(tmp_path: Path) -> None:
    install_fake_server(tmp_path / "lib", "15")
    on_path = install_fake_server(tmp_path / "path", "14")

    assert find_binaries(search_path=str(on_path), roots=[tmp_path / "lib"]) == on_path


def test_no_binaries_anywhere_is_reported_as_none(tmp_path: Path) -> None:
    assert find_binaries(search_path=str(tmp_path), roots=[tmp_path]) is None


def test_missing_server_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)

    with pytest.raises(pytest.skip.Exception, match="initdb not found"):
        unavailable("initdb not found")


def test_missing_server_fails_loudly_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")

    with pytest.raises(pytest.fail.Exception, match="CI=true: refusing to skip"):
        unavailable("initdb not found")
