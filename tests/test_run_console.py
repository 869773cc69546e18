"""``briefbot run`` with no platform configured: the console channel, driven as a person
would drive it, as a real process reading a pipe, and stopped by signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

BRIEFBOT = [sys.executable, "-c", "from bot.adapters.cli import main; main()"]


def env(tmp_path: Path) -> dict[str, str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BRIEFBOT_", "OPENAI_", "SLACK_", "DISCORD_"))
        and key != "DATABASE_URL"
    }
    clean["BRIEFBOT_DATA_DIR"] = str(tmp_path / "data")  # no topics file there: the demo
    clean["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    return clean


def run_console(
    tmp_path: Path, lines: list[str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BRIEFBOT, "run"],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        env=env(tmp_path),
        cwd=tmp_path,
        timeout=timeout,
        check=False,
    )


def test_a_fresh_machine_gets_the_demo_console_channel_and_every_command_works(
    tmp_path: Path,
) -> None:
    result = run_console(
        tmp_path,
        [
            "help",
            "frobnicate",  # before any briefing: not a question about one
            "/brief port-strike",
            "how many members walked out?",
            "what is the capital of Peru?",
            "subscribe port-strike weekdays 07:30 Europe/London",
            "list",
            "subscribe port-strike 25:00",
            "/brief unsubscribe port-strike",
            "list",
            "sources port-strike",
            "quit",
            "brief rail-strike",  # after quit: never read
        ],
    )
    out, err = " ".join(result.stdout.split()), " ".join(result.stderr.split())
    assert result.returncode == 0, err
    assert "serving the bundled demo news (ammonia-leak, port-strike, rail-strike)" in err
    assert "briefbot console channel" in err
    assert "subscribe <topic> [schedule] [time zone]" in out  # help
    assert "Halvern" in out  # the port strike briefing
    assert "Sources" in out
    assert "Subscribed this channel to port-strike: weekdays 07:30 (Europe/London)" in out
    assert "port-strike: weekdays 07:30 (Europe/London), next" in out
    assert "! 25:00 is not a time of day" in out  # the bad time named
    assert "Unsubscribed this channel from port-strike." in out
    assert "This channel has no subscriptions." in out
    assert "port-strike has no feeds." in out
    assert "I don't know the command 'frobnicate'" in out
    answer = out.split("From this story's sources:")[1].split("you asked")[0]
    assert "some 1,400 members of the Halvern Dockworkers’ Union stopped work" in answer
    assert "This story's sources don't say" in out  # the capital of Peru
    assert "rail-strike" not in out.split("port-strike has no feeds.")[-1]  # after quit


def test_the_end_of_input_ends_the_console_cleanly(tmp_path: Path) -> None:
    result = run_console(tmp_path, ["list"])
    assert result.returncode == 0, result.stderr
    assert "This channel has no subscriptions." in result.stdout


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_bot_cleanly(tmp_path: Path, signum: signal.Signals) -> None:
    process = subprocess.Popen(
        [*BRIEFBOT, "run"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(tmp_path),
        cwd=tmp_path,
    )
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + 60
        seen = ""
        while "console channel" not in seen and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            seen += line
        assert "console channel" in seen, seen
        process.send_signal(signum)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, seen + err
    assert "Traceback" not in err
