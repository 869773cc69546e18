"""``briefbot run`` with no platform configured: the console channel, driven as a person
would drive it, as a real process reading a pipe, and stopped by signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.demo import DEMO_DIR, demo_sources
from bot.domain import DeliveryState, Subscription, terminal
from bot.store import Store

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


def test_ask_in_the_console_answers_and_its_answer_becomes_the_thread(tmp_path: Path) -> None:
    result = run_console(
        tmp_path,
        [
            "/brief port-strike",
            "ask ammonia-leak how many people were told not to drink tap water?",
            "how many dockworkers walked off the job?",  # now about the leak: not answered
            "quit",
        ],
    )
    out, err = " ".join(result.stdout.split()), " ".join(result.stderr.split())
    assert result.returncode == 0, err
    answered = out.split("Halvern", 1)[-1]  # after the port strike briefing
    leak, after = answered.split("This story's sources don't say", 1)
    assert "60,000" in leak
    assert "how many dockworkers walked off the job?" in after  # echoed in the refusal


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


def test_a_due_digest_is_delivered_to_the_console_channel_once(tmp_path: Path) -> None:
    """The embedded defaults (SQLite under the data dir, the bundled news, extractive, the
    terminal): a digest this terminal subscribed to, whose slot passed during a restart, is
    printed when ``briefbot run`` starts - once, marked late - and recorded as delivered."""
    data = tmp_path / "data"
    data.mkdir()
    sources = "[" + ", ".join(f'"{s}"' for s in demo_sources()) + "]"
    text = (DEMO_DIR / "topics.toml").read_text(encoding="utf-8")
    (data / "topics.toml").write_text(text.replace("sources = []", f"sources = {sources}"))
    slot = (datetime.now(UTC) - timedelta(minutes=3)).replace(second=0, microsecond=0)
    with Store.open(f"sqlite:///{data / 'briefbot.sqlite3'}") as store:
        subscription = store.subscriptions.upsert(
            Subscription(
                terminal(),
                "port-strike",
                f"daily {slot:%H:%M}",
                "UTC",
                "console",
                slot - timedelta(days=1),
            )
        )
    environment = {**env(tmp_path), "BRIEFBOT_SINCE": "3650d", "BRIEFBOT_FETCH_FULL_TEXT": "false"}
    process = subprocess.Popen(
        [*BRIEFBOT, "run"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        cwd=tmp_path,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            seen.append(line)
            if "Halvern" in line or not line:
                break
        process.stdin.write("list\nquit\n")
        process.stdin.flush()
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    printed = " ".join("".join([*seen, out]).split())
    assert process.returncode == 0, err
    assert "digest" in printed.lower()
    assert "(late)" in printed
    assert "Halvern" in printed  # the port strike's story
    assert printed.count("(late)") == 1
    assert subscription.id is not None
    with Store.open(f"sqlite:///{data / 'briefbot.sqlite3'}") as store:
        (delivery,) = store.deliveries.of_subscription(subscription.id)
    assert delivery.state is DeliveryState.COMPLETED
    assert delivery.late
