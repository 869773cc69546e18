"""``briefbot ... | head -1``: a reader that goes away stops briefbot quietly, exit 141."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

BRIEFBOT = Path(sys.executable).with_name("briefbot")
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)  # Linux; Python has the name from 3.10


def test_demo_into_a_pipe_closed_after_the_first_line_exits_quietly() -> None:
    read_end, write_end = os.pipe()
    try:
        # The smallest pipe (one page), so the demo's output (several kB) cannot all fit in
        # it before the reader closes: the later writes meet the closed pipe every time.
        fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)
    except OSError:
        pytest.skip("cannot shrink a pipe on this system")
    process = subprocess.Popen(
        [str(BRIEFBOT), "demo"], stdout=write_end, stderr=subprocess.PIPE, env=os.environ.copy()
    )
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        first = reader.readline()
    _, err = process.communicate(timeout=120)
    assert first.strip(), "the demo printed nothing"
    assert process.returncode == 141, err.decode()
    text = err.decode()
    assert "Traceback" not in text
    assert "BrokenPipeError" not in text
    assert "error" not in text.lower()
