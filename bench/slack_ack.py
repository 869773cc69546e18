"""Slack: time from an envelope's arrival to its ack, and to the posted briefing.

    python -m bench.slack_ack [--commands 1000] [--model-seconds 5] [--posts 20]

``briefbot run`` runs as its own process (as in production: the fakes do not share its
interpreter) against the fake Slack (Socket Mode) and the fake OpenAI server, in LLM mode,
on the bundled demo topics:

1. **Ack latency under load.** ``--commands`` ``/brief`` commands are pushed over the
   websocket, 100 a second, while every model reply takes ``--model-seconds``. Latency is
   the fake's clock from sending the envelope to receiving its ack (the same process, the
   same monotonic clock). Target: p99 <= 50 ms whatever the model's latency.
2. **Time to the posted briefing** with an instant model: ``--posts`` commands one after
   another, from the envelope to the ``chat.postMessage`` that carries the briefing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from bot.demo import DEMO_DIR, demo_sources
from tests.fakes.llm_briefer import faithful_writer
from tests.fakes.openai_server import Completion, FakeOpenAI
from tests.fakes.slack import FakeSlack


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def writer(delay: float) -> Callable[[dict[str, Any]], Completion]:
    def reply(body: dict[str, Any]) -> Completion:
        return Completion(content=faithful_writer(body), delay=delay)

    return reply


def chat_environment(workdir: Path, model: FakeOpenAI, platform: dict[str, str]) -> dict[str, str]:
    """The environment of a ``briefbot run`` on the demo topics in LLM mode, with the
    ``platform``'s settings (its tokens and API URL)."""
    topics = workdir / "topics.toml"
    sources = "[" + ", ".join(f'"{s}"' for s in demo_sources()) + "]"
    text = (DEMO_DIR / "topics.toml").read_text(encoding="utf-8")
    topics.write_text(text.replace("sources = []", f"sources = {sources}"), encoding="utf-8")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BRIEFBOT_", "OPENAI_", "SLACK_", "DISCORD_"))
    }
    env.update(
        {
            "BRIEFBOT_DATA_DIR": str(workdir / "data"),
            "BRIEFBOT_TOPICS_FILE": str(topics),
            "BRIEFBOT_DISCOVERY": "none",
            "BRIEFBOT_FETCH_FULL_TEXT": "false",
            "BRIEFBOT_SINCE": "3650d",
            "BRIEFBOT_MODE": "llm",
            "BRIEFBOT_LLM_TIMEOUT": "120",
            "OPENAI_API_KEY": "sk-bench-0000",
            "OPENAI_BASE_URL": model.base_url,
            "BRIEFBOT_SHUTDOWN_GRACE": "1",
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
            **platform,
        }
    )
    return env


async def _acks(slack: FakeSlack, commands: int, rate: float) -> list[float]:
    envelopes = []
    for index in range(commands):
        channel = f"C0BENCH{index % 50:04d}"
        envelopes.append(await slack.send_slash_command("port-strike", channel_id=channel))
        await asyncio.sleep(1 / rate)
    latencies = []
    sent = {e.envelope_id: e.sent_at for e in slack.envelopes if e.envelope_id}
    for envelope in envelopes:
        ack = await slack.wait_for_ack(envelope, timeout=60)
        latencies.append((ack.at - sent[envelope]) * 1000)
    return latencies


async def _posts(slack: FakeSlack, posts: int) -> list[float]:
    timings = []
    for index in range(posts):
        before = len([c for c in slack.calls_to("chat.postMessage") if c.ok])
        start = time.monotonic()
        await slack.send_slash_command("port-strike", channel_id=f"C0POST{index:05d}")
        calls = await slack.wait_for(
            "chat.postMessage", count=before + 1, timeout=120, where=lambda c: c.ok
        )
        timings.append((calls[before].at - start) * 1000)
    return timings


@contextlib.asynccontextmanager
async def bot_process(
    workdir: Path, env: dict[str, str], connected: Callable[[], Awaitable[object]]
) -> AsyncIterator[None]:
    """``briefbot run`` in a process of its own, until ``connected()`` says it is up."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from bot.adapters.cli import main; main()",
        "run",
        env=env,
        cwd=workdir,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await connected()
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = await process.communicate()
        if process.returncode not in (0, -signal.SIGTERM):
            print(err.decode(errors="replace")[-2000:])


def _slack_bot(
    workdir: Path, slack: FakeSlack, model: FakeOpenAI
) -> contextlib.AbstractAsyncContextManager[None]:
    env = chat_environment(
        workdir,
        model,
        {
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_APP_TOKEN": slack.app_token,
            "BRIEFBOT_SLACK_API_URL": slack.api_url,
        },
    )
    return bot_process(workdir, env, lambda: slack.wait_for_connection(1, timeout=60))


async def _run(args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="briefbot-bench-") as tmp,
        FakeSlack() as slack,
        FakeOpenAI() as model,
    ):
        model.script(*[writer(args.model_seconds)] * (args.commands * 4))
        async with _slack_bot(Path(tmp), slack, model):
            if args.warm:  # one briefing first: sources gathered, code paths warm
                await _posts(slack, 1)
            latencies = await _acks(slack, args.commands, args.rate)
            print(
                f"ack latency ({'warm' if args.warm else 'cold start'}) over "
                f"{len(latencies)} /brief commands at {args.rate:.0f}/s, "
                f"model {args.model_seconds:.1f} s per reply: "
                f"p50 {percentile(latencies, 0.5):.1f} ms, "
                f"p99 {percentile(latencies, 0.99):.1f} ms, max {max(latencies):.1f} ms "
                f"(model requests so far: {len(model.requests)})"
            )
            worst = sorted(range(len(latencies)), key=lambda i: -latencies[i])[:5]
            print(
                "  slowest acks (command number: ms): "
                + ", ".join(f"{i + 1}: {latencies[i]:.0f}" for i in sorted(worst))
            )

    with (
        tempfile.TemporaryDirectory(prefix="briefbot-bench-") as tmp,
        FakeSlack() as slack,
        FakeOpenAI() as model,
    ):
        model.script(*[writer(0.0)] * (args.posts * 4))
        async with _slack_bot(Path(tmp), slack, model):
            timings = await _posts(slack, args.posts)
            rest = timings[1:] or timings
            print(
                f"time to the posted briefing, instant model, {len(timings)} commands one "
                f"after another: first {timings[0]:.0f} ms (gathers the sources and calls the "
                f"model), then median {statistics.median(rest):.0f} ms, max {max(rest):.0f} ms "
                f"(model requests: {len(model.requests)})"
            )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="commands per second")
    parser.add_argument("--model-seconds", type=float, default=5.0)
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument(
        "--warm", action="store_true", help="brief once before timing acks (no cold start)"
    )
    args = parser.parse_args(argv)
    asyncio.run(_run(args))


if __name__ == "__main__":
    main()
