"""The Discord bot: discord.py's client and app command tree translating to the chat core.

What it serves (the same grammar and replies as Slack, through ``ChatCore``):

- ``/brief topic:`` with the tracked topics as autocomplete choices (at most 25);
- ``/ask topic: question:`` (topic autocomplete too): answered from the channel's latest
  briefing of the topic (``BriefingService.answer``), posted like a briefing, with a thread
  started on it and recorded (``record_answer``), so a question there continues from it;
- ``/briefbot subscribe|unsubscribe|list|sources|help``: the management commands;
- a mention of the bot, in a briefing's thread (a question about its stories) or anywhere
  (a command).

An interaction is deferred (``thinking``) before any other I/O; the work then runs as a task
of its own, at most ``BRIEFBOT_CHAT_CONCURRENCY`` at once. A briefing replaces the deferred
response while the interaction token lives (15 minutes) and goes to the channel after
that; the bot starts a thread on it (on the original response: the message a followup
returns cannot start one), puts the rest of a long briefing there, and records the message
and thread ids with the briefing's stories. Nothing the bot posts can mention anyone
(``allowed_mentions`` none, and the renderer escapes mention syntax).

``BRIEFBOT_DISCORD_API_URL`` sets ``discord.http.Route.BASE``; the gateway URL is then asked
of it (``GET /gateway/bot``) and set before connecting, since ``discord.Client`` would dial
the public gateway itself. Discord's errors are logged and told to the user where Discord
still lets us: missing access or permissions (50001, 50013), a deleted channel or thread
(10003), an expired or unknown interaction (10062, 10015).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket

from bot.adapters.discord.embeds import DiscordMessage, render_briefing, render_reply
from bot.chat.commands import ChatCore, ChatReply, ChatRequest, ReplyKind
from bot.chat.inflight import InFlight
from bot.config import Settings
from bot.domain import Channel, Platform, Topic
from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.adapters.discord.outbox import DiscordOutbox

log = logging.getLogger(__name__)

MAX_CHOICES = 25
TOKEN_LIFETIME = timedelta(minutes=14, seconds=30)  # Discord's is 15 minutes; keep a margin
_TOPICS_TTL = 30.0  # seconds the autocomplete's topic list is reused

PERMISSION_HELP = (
    "I'm missing a permission in this channel. I need View Channel, Send Messages, Send "
    "Messages in Threads, Create Public Threads, Embed Links and Read Message History; "
    "ask a server admin to grant them."
)
# Discord's JSON error codes that a user or an operator can act on.
MISSING_ACCESS, MISSING_PERMISSIONS = 50001, 50013
UNKNOWN_CHANNEL, UNKNOWN_WEBHOOK, UNKNOWN_INTERACTION = 10003, 10015, 10062
INVALID_WEBHOOK_TOKEN = 50027
GONE = frozenset({UNKNOWN_WEBHOOK, UNKNOWN_INTERACTION})
GONE_TOKEN = frozenset({UNKNOWN_WEBHOOK, UNKNOWN_INTERACTION, INVALID_WEBHOOK_TOKEN})


def _quoted(topic: str) -> str:
    """The topic as one grammar argument, whatever words it holds."""
    return '"' + " ".join(topic.replace('"', " ").split()) + '"'


def command_text(name: str, **options: str | None) -> str:
    """A ``/briefbot`` subcommand and its options as the chat grammar's text."""
    topic = options.get("topic")
    parts = [name, _quoted(topic) if topic else ""]
    if name == "subscribe":
        parts += [options.get("schedule") or "", options.get("timezone") or ""]
        parts += [options.get("live") or "", options.get("quiet") or ""]  # "live", "quiet"
    elif name == "sources":
        action, url = options.get("action"), options.get("url")
        if action:
            parts += [action, url or ""]
    return " ".join(part for part in parts if part)


def to_embeds(message: DiscordMessage) -> list[discord.Embed]:
    return [discord.Embed.from_dict(embed) for embed in message.embeds]


def _body(message: DiscordMessage) -> dict[str, Any]:
    """``send``/``edit`` arguments for one rendered message (no empty content)."""
    body: dict[str, Any] = {"embeds": to_embeds(message)}
    if message.content:
        body["content"] = message.content
    return body


class DiscordBot:
    """One bot user on every server that invited it, over one chat core."""

    def __init__(self, settings: Settings, core: ChatCore) -> None:
        token = settings.discord_bot_token
        if token is None or not token.get_secret_value().strip():
            raise ConfigError(
                "Discord needs DISCORD_BOT_TOKEN (the bot's token from the Developer Portal); "
                "see the README's Connect to Discord."
            )
        self.settings = settings
        self.core = core
        self.service = core.service
        self._token = token.get_secret_value().strip()
        self.client = discord.Client(
            intents=discord.Intents.default(),
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.tree = app_commands.CommandTree(self.client)
        self._ready = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._work = InFlight(settings.chat_concurrency, name="Discord")
        self._accepting = True
        self._topics: tuple[float, list[str]] = (0.0, [])
        self._saved: tuple[str, yarl.URL] | None = None
        self._register()

    # ------------------------------------------------------------------ lifecycle
    async def start(self, *, ready_within: float = 60.0) -> None:
        """Log in (``GET /users/@me``), take the gateway URL from ``GET /gateway/bot`` and
        connect; return once the bot is ready."""
        self._saved = (discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
        discord.http.Route.BASE = self.settings.discord_api_url
        try:
            await self.client.login(self._token)
            _, url, _ = await self.client.http.get_bot_gateway()
        except discord.LoginFailure:
            await self.client.close()
            self._restore()
            raise ConfigError(
                "Discord refused DISCORD_BOT_TOKEN: copy the bot's token again from the "
                "Developer Portal (Bot -> Reset Token)."
            ) from None
        except (discord.HTTPException, discord.GatewayNotFound, OSError) as exc:
            await self.client.close()
            self._restore()
            raise ConfigError(
                f"Cannot reach Discord at {self.settings.discord_api_url}: {exc}. Check the "
                "network and BRIEFBOT_DISCORD_API_URL."
            ) from None
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        self._runner = asyncio.create_task(self.client.connect(reconnect=True))
        ready = asyncio.create_task(self._ready.wait())
        done, _ = await asyncio.wait(
            {ready, self._runner}, timeout=ready_within, return_when="FIRST_COMPLETED"
        )
        if ready not in done:
            ready.cancel()
            failure = self._runner.exception() if self._runner in done else None
            await self.client.close()
            self._restore()
            raise ConfigError(
                f"Discord's gateway did not get ready ({failure or 'timed out'}); check "
                "BRIEFBOT_DISCORD_API_URL and the network."
            )
        log.info(
            "Discord: connected as %s on %d server(s)", self.client.user, len(self.client.guilds)
        )

    async def stop(self, grace: float) -> None:
        """Take no new work, let what is in flight finish within ``grace`` seconds, then
        close the gateway and the HTTP session."""
        self._accepting = False
        await self._work.drain(grace)
        await self.client.close()
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)
        self._restore()

    def outbox(self) -> DiscordOutbox:
        """The scheduler's way of posting here: over this bot's REST client (once
        ``start``ed)."""
        from bot.adapters.discord.outbox import DiscordOutbox  # it imports this module

        return DiscordOutbox(self.client)

    def _restore(self) -> None:
        """Leave discord.py's class attributes (REST base, gateway) as they were found."""
        if self._saved is not None:
            discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = self._saved
            self._saved = None

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self._work.spawn(work)

    # ------------------------------------------------------------------ commands
    def _register(self) -> None:
        client, tree = self.client, self.tree

        @client.event
        async def on_ready() -> None:
            await self._sync_all()
            self._ready.set()

        @client.event
        async def on_guild_join(guild: discord.Guild) -> None:
            if not self.settings.discord_global_commands:
                await self._sync(guild)

        @client.event
        async def on_message(message: discord.Message) -> None:
            await self._on_message(message)

        @client.event
        async def on_resumed() -> None:
            log.info("Discord: gateway session resumed")

        @client.event
        async def on_disconnect() -> None:
            log.info("Discord: gateway disconnected; discord.py reconnects")

        @app_commands.command(name="brief", description="Brief a topic now, with cited key points")
        @app_commands.describe(topic="A tracked topic, e.g. ukraine")
        async def brief(interaction: discord.Interaction, topic: str) -> None:
            await self._command(interaction, f"brief {topic}")

        @brief.autocomplete("topic")
        async def brief_topics(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            return await self._topic_choices(current)

        @app_commands.command(
            name="ask", description="Ask about a topic's latest briefing, answered from its sources"
        )
        @app_commands.describe(
            topic="A tracked topic, e.g. ukraine", question="e.g. what did Press TV say?"
        )
        async def ask(interaction: discord.Interaction, topic: str, question: str) -> None:
            await self._command(interaction, f"ask {_quoted(topic)} {question}")

        ask.autocomplete("topic")(brief_topics)

        group = app_commands.Group(
            name="briefbot", description="Digests, sources and help for this channel"
        )

        @group.command(name="subscribe", description="A digest of a topic on a schedule")
        @app_commands.describe(
            topic="A tracked topic",
            schedule="daily 08:00, weekdays 07:30, weekly mon 09:00, every 6h ...",
            timezone="An IANA time zone such as Europe/Berlin",
            live="Post a story's material developments into its thread as they come",
            quiet="Post nothing when a digest has nothing new (default: one line)",
        )
        async def subscribe(
            interaction: discord.Interaction,
            topic: str,
            schedule: str | None = None,
            timezone: str | None = None,
            live: bool = False,
            quiet: bool = False,
        ) -> None:
            text = command_text(
                "subscribe",
                topic=topic,
                schedule=schedule,
                timezone=timezone,
                live="live" if live else None,
                quiet="quiet" if quiet else None,
            )
            await self._command(interaction, text)

        @group.command(name="unsubscribe", description="Stop this channel's digest of a topic")
        async def unsubscribe(interaction: discord.Interaction, topic: str) -> None:
            await self._command(interaction, command_text("unsubscribe", topic=topic))

        @group.command(name="list", description="This channel's digests and when they come")
        async def list_(interaction: discord.Interaction) -> None:
            await self._command(interaction, "list")

        @group.command(name="sources", description="A topic's feeds; add or remove one")
        @app_commands.choices(
            action=[
                app_commands.Choice(name="add", value="add"),
                app_commands.Choice(name="remove", value="remove"),
            ]
        )
        async def sources(
            interaction: discord.Interaction,
            topic: str,
            action: app_commands.Choice[str] | None = None,
            url: str | None = None,
        ) -> None:
            text = command_text(
                "sources", topic=topic, action=action.value if action else None, url=url
            )
            await self._command(interaction, text)

        @group.command(name="help", description="The commands")
        async def help_(interaction: discord.Interaction) -> None:
            await self._command(interaction, "help")

        subscribe.autocomplete("topic")(brief_topics)
        unsubscribe.autocomplete("topic")(brief_topics)
        sources.autocomplete("topic")(brief_topics)
        tree.add_command(brief)
        tree.add_command(ask)
        tree.add_command(group)
        tree.error(self._on_tree_error)

    async def _sync_all(self) -> None:
        if self.settings.discord_global_commands:
            synced = await self.tree.sync()
            log.info("Discord: %d global commands synced", len(synced))
            return
        for guild in self.client.guilds:
            await self._sync(guild)

    async def _sync(self, guild: discord.abc.Snowflake) -> None:
        try:
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("Discord: %d commands synced to server %s", len(synced), guild.id)
        except discord.HTTPException as exc:
            log.error("Discord: could not sync the commands to server %s: %s", guild.id, exc)

    async def _topic_choices(self, current: str) -> list[app_commands.Choice[str]]:
        checked_at, names = self._topics
        if time.monotonic() - checked_at > _TOPICS_TTL:
            topics: dict[str, Topic] = await self.service.topics()
            names = sorted(topics)
            self._topics = (time.monotonic(), names)
        wanted = current.casefold().strip()
        found = [n for n in names if n.startswith(wanted)] + [
            n for n in names if wanted in n and not n.startswith(wanted)
        ]
        return [app_commands.Choice(name=n[:100], value=n[:100]) for n in found[:MAX_CHOICES]]

    async def _on_tree_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        log.error("Discord: command %s failed", interaction.command, exc_info=error)
        try:
            if interaction.response.is_done():
                await interaction.followup.send(
                    "Sorry, something went wrong on my side.", ephemeral=True
                )
            else:
                await interaction.response.send_message(
                    "Sorry, something went wrong on my side.", ephemeral=True
                )
        except discord.HTTPException:
            pass

    # ------------------------------------------------------------------ interactions
    async def _command(self, interaction: discord.Interaction, text: str) -> None:
        if not self._accepting:
            await interaction.response.send_message(
                "briefbot is restarting; please try again in a minute.", ephemeral=True
            )
            return
        await interaction.response.defer(thinking=True)  # before anything else
        self._spawn(self._serve_interaction(interaction, text))

    async def _serve_interaction(self, interaction: discord.Interaction, text: str) -> None:
        channel = _channel_of(interaction.channel, interaction.guild_id)
        user = str(interaction.user.id)
        try:
            may = self._may_manage(interaction.user, interaction.permissions)
            request = ChatRequest(channel, user, may, text)
            reply = await self.core.handle(request)
            await self._deliver(interaction, reply, channel)
        except discord.HTTPException as exc:
            await self._report(exc, channel, interaction=interaction)
        except Exception:
            log.exception("Discord: a request in %s failed", channel.label)

    def _may_manage(self, user: object, permissions: discord.Permissions | None) -> bool:
        """Manage Server, or a role named in ``BRIEFBOT_DISCORD_MANAGER_ROLES``."""
        if permissions is not None and permissions.manage_guild:
            return True
        wanted = {name.casefold() for name in self.settings.discord_manager_roles}
        return any(role.name.casefold() in wanted for role in getattr(user, "roles", []))

    async def _deliver(
        self, interaction: discord.Interaction, reply: ChatReply, channel: Channel
    ) -> None:
        live = datetime.now(UTC) - interaction.created_at < TOKEN_LIFETIME
        if reply.kind is ReplyKind.BRIEFING and reply.briefing is not None:
            briefing = reply.briefing

            async def remember(first: discord.Message) -> None:
                await self.service.record_post(
                    briefing, channel, str(first.id), thread_id=str(first.id)
                )

            await self._post_with_thread(
                interaction,
                render_briefing(briefing),
                channel,
                live,
                remember,
                f"{briefing.topic} briefing",
            )
            return
        if reply.kind is ReplyKind.ANSWER and reply.answer is not None and reply.starts_thread:
            answer = reply.answer

            async def remember_answer(first: discord.Message) -> None:
                await self.service.record_answer(
                    answer, channel, str(first.id), thread_id=str(first.id)
                )

            await self._post_with_thread(
                interaction,
                render_reply(reply),
                channel,
                live,
                remember_answer,
                _thread_name(answer.question),
            )
            return
        messages = render_reply(reply)
        if reply.private and live:
            await interaction.delete_original_response()
            for message in messages:
                await interaction.followup.send(**_body(message), ephemeral=True)
            return
        if live:
            await interaction.edit_original_response(**_body(messages[0]))
            for message in messages[1:]:
                await interaction.followup.send(**_body(message))
            return
        log.warning("Discord: a reply in %s came after its interaction expired", channel.label)

    async def _post_with_thread(
        self,
        interaction: discord.Interaction,
        messages: list[DiscordMessage],
        channel: Channel,
        live: bool,
        remember: Callable[[discord.Message], Awaitable[None]],
        thread_name: str,
    ) -> None:
        """The first message as the interaction's response (or into the channel once the
        token is gone), recorded, a thread started on it, and the rest in that thread."""
        first: discord.Message | None = None
        if live:
            try:
                await interaction.edit_original_response(**_body(messages[0]))
                first = await interaction.original_response()  # it can start a thread
            except discord.HTTPException as exc:
                if exc.code not in GONE_TOKEN:
                    raise
                log.info("Discord: the interaction expired; posting into %s", channel.label)
        if first is None:  # the token is gone: into the channel itself
            target = interaction.channel
            if not isinstance(target, discord.abc.Messageable):
                log.warning("Discord: %s cannot take messages", channel.label)
                return
            first = await target.send(**_body(messages[0]))
        # Recorded before the thread exists, so no question in it can come first: a
        # thread started on a message has that message's id.
        await remember(first)
        thread = await self._thread_for(first, thread_name)
        rest_to: discord.abc.Messageable = thread or first.channel
        for message in messages[1:]:
            await rest_to.send(**_body(message))

    async def _thread_for(self, message: discord.Message, name: str) -> discord.Thread | None:
        """A public thread on the message, called ``name``; ``None`` when the bot may not
        start one (the message is posted all the same)."""
        try:
            return await message.create_thread(name=" ".join(name.split())[:100] or "briefbot")
        except discord.HTTPException as exc:
            log.warning("Discord: could not start a thread on %s: %s", message.id, exc)
            return None

    # ------------------------------------------------------------------ mentions
    async def _on_message(self, message: discord.Message) -> None:
        me = self.client.user
        if not self._accepting or message.author.bot or me is None:
            return
        if me not in message.mentions:
            return
        text = message.content
        for form in (f"<@{me.id}>", f"<@!{me.id}>"):
            text = text.replace(form, " ")
        thread_id = None
        place = message.channel
        if isinstance(place, discord.Thread):
            thread_id = str(place.id)
        channel = _channel_of(
            place.parent if isinstance(place, discord.Thread) else place,
            message.guild.id if message.guild else None,
        )
        self._spawn(
            self._serve_message(message, channel, " ".join(text.split()) or "help", thread_id)
        )

    async def _serve_message(
        self, message: discord.Message, channel: Channel, text: str, thread_id: str | None
    ) -> None:
        try:
            author = message.author
            permissions = author.guild_permissions if isinstance(author, discord.Member) else None
            may = self._may_manage(author, permissions)
            request = ChatRequest(channel, str(author.id), may, text, thread_id=thread_id)
            reply = await self.core.handle(request)
            if reply.kind is ReplyKind.BRIEFING and reply.briefing is not None:
                messages = render_briefing(reply.briefing)
                first = await message.channel.send(
                    **_body(messages[0]),
                    reference=message,
                )
                for extra in messages[1:]:
                    await message.channel.send(**_body(extra))
                await self.service.record_post(
                    reply.briefing, channel, str(first.id), thread_id=thread_id
                )
                return
            first_part: discord.Message | None = None
            for part in render_reply(reply):
                sent = await message.channel.send(**_body(part), reference=message)
                first_part = first_part or sent
            if reply.starts_thread and reply.answer is not None and first_part is not None:
                await self.service.record_answer(
                    reply.answer, channel, str(first_part.id), thread_id=thread_id
                )
        except discord.HTTPException as exc:
            await self._report(exc, channel)
        except Exception:
            log.exception("Discord: a message in %s failed", channel.label)

    async def _report(
        self,
        exc: discord.HTTPException,
        channel: Channel,
        *,
        interaction: discord.Interaction | None = None,
    ) -> None:
        """Log Discord's error and tell the user what it means, where Discord lets us."""
        code = exc.code
        if code in (MISSING_ACCESS, MISSING_PERMISSIONS):
            log.warning("Discord: missing permissions in %s (%s)", channel.label, code)
            text = PERMISSION_HELP
        elif code == UNKNOWN_CHANNEL:
            log.warning("Discord: %s no longer exists (deleted channel or thread)", channel.label)
            return
        elif code in GONE_TOKEN:
            log.warning(
                "Discord: the interaction in %s expired before the reply (%s)", channel.label, code
            )
            return
        else:
            log.error("Discord: a request in %s failed: %s", channel.label, exc)
            text = f"Discord refused that ({exc.status}, code {code}). Please try again later."
        if interaction is None:
            return
        try:
            await interaction.followup.send(text, ephemeral=True)
        except discord.HTTPException as again:
            log.warning("Discord: could not tell the user either: %s", again)


def _thread_name(question: str) -> str:
    """A thread's name for an answer: the question, cut to Discord's 100 characters."""
    text = " ".join(question.split()) or "question"
    return text if len(text) <= 100 else text[:99] + "…"


def _channel_of(place: object, guild_id: int | None) -> Channel:
    channel_id = getattr(place, "id", None)
    name = getattr(place, "name", None) or ""
    return Channel(Platform.DISCORD, str(channel_id or ""), str(name), str(guild_id or ""))
