"""Discord: time from INTERACTION_CREATE to the deferred ("thinking") callback.

    python -m bench.discord_defer [--commands 1000] [--rate 20] [--model-seconds 5] [--warm]

``briefbot run`` runs as its own process against the fake Discord (REST and Gateway,
``tests/fakes/discord.py``) and the fake OpenAI server, in LLM mode, on the bundled demo
topics. ``--commands`` ``/brief topic:port-strike`` interactions are dispatched over the
gateway at ``--rate`` a second while every model reply takes ``--model-seconds``; the fake
times each callback from the dispatch of its INTERACTION_CREATE. Target: p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.slack_ack import bot_process, chat_environment, percentile, writer
from tests.fakes.discord import FakeDiscord
from tests.fakes.openai_server import FakeOpenAI

COMMANDS_ROUTE = "PUT /applications/{application_id}/guilds/{guild_id}/commands"


async def _defers(fake: FakeDiscord, commands: int, rate: float) -> list[float]:
    sent = []
    for _ in range(commands):
        sent.append(await fake.send_interaction("brief", {"topic": "port-strike"}))
        await asyncio.sleep(1 / rate)
    latencies = []
    for interaction in sent:
        callback = await fake.wait_for_callback(interaction.id, timeout=60)
        assert callback.after is not None
        latencies.append(callback.after * 1000)
    return latencies


async def _run(args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="briefbot-bench-") as tmp,
        FakeDiscord() as fake,
        FakeOpenAI() as model,
    ):
        model.script(*[writer(args.model_seconds)] * (args.commands * 4))
        env = chat_environment(
            Path(tmp),
            model,
            {"DISCORD_BOT_TOKEN": fake.bot_token, "BRIEFBOT_DISCORD_API_URL": fake.api_url},
        )
        async with bot_process(Path(tmp), env, lambda: fake.wait_for(COMMANDS_ROUTE, timeout=60)):
            await asyncio.sleep(0.5)  # on_ready finishes after the sync
            if args.warm:  # one briefing first: sources gathered, code paths warm
                first = await fake.send_interaction("brief", {"topic": "port-strike"})
                await fake.wait_for_callback(first.id, timeout=60)
                await fake.wait_for(
                    "POST /channels/{channel_id}/messages/{message_id}/threads", timeout=120
                )
            latencies = await _defers(fake, args.commands, args.rate)
        print(
            f"defer latency ({'warm' if args.warm else 'cold start'}) over {len(latencies)} "
            f"/brief interactions at {args.rate:.0f}/s, model {args.model_seconds:.1f} s per "
            f"reply: p50 {percentile(latencies, 0.5):.1f} ms, "
            f"p99 {percentile(latencies, 0.99):.1f} ms, max {max(latencies):.1f} ms"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="interactions per second")
    parser.add_argument("--model-seconds", type=float, default=5.0)
    parser.add_argument("--warm", action="store_true", help="brief once before timing")
    asyncio.run(_run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
