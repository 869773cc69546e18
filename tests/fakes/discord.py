"""A fake Discord: REST API v10 and the Gateway on one real local server, for the real discord.py.

One aiohttp server on 127.0.0.1 (port 0), running on its own event loop in a thread, so the
same started fake serves sync and async tests alike:

- ``{url}/api/v10/...``: the REST routes a bot calls (``GET /gateway/bot``, ``/users/@me``,
  ``/oauth2/applications/@me``, command bulk overwrites, interaction callbacks, webhook
  follow-ups and ``@original``, channel messages, threads, channels, members) in Discord's
  documented shapes. Point discord.py at it with ``discord.http.Route.BASE = fake.api_url``.
  Errors are Discord's: ``{"message": ..., "code": ...}`` with 400 / 403 / 404, and 429 with
  ``Retry-After``, ``X-RateLimit-*`` and ``Via`` headers (discord.py retries a 429 only when
  ``Via`` is present; without it the 429 comes from Cloudflare and is a ban).
- ``ws://127.0.0.1:PORT/gateway``: the Gateway (``GET /gateway/bot`` hands it out). HELLO,
  IDENTIFY -> READY + one GUILD_CREATE per guild, heartbeats acked, RESUME -> missed events
  replayed + RESUMED (via ``resume_gateway_url``, ``/gateway-resume``), ``zlib-stream``
  transport compression (what discord.py asks for without a zstd module), RECONNECT (op 7),
  INVALID_SESSION (op 9) and dropped connections on demand.

discord.py never calls ``/gateway/bot`` itself (``Client.connect`` uses the class attribute
``DiscordWebSocket.DEFAULT_GATEWAY``); ``pointed_at(fake)`` sets both class attributes and
restores them, and ``connected(fake, client)`` logs a client in, reads the gateway URL from
``GET /gateway/bot`` and connects, waiting until every guild is available:

    async def test_brief(fake_discord: FakeDiscord) -> None:
        client = discord.Client(intents=discord.Intents.default())
        tree = app_commands.CommandTree(client)
        ...
        async with connected(fake_discord, client):
            await tree.sync(guild=discord.Object(fake_discord.guild.id))
            interaction = await fake_discord.send_interaction("brief", {"topic": "port strike"})
            callback = await fake_discord.wait_for_callback(interaction.id)
            assert callback.type == 5

A bot's ``POST /channels/{id}/messages`` honours ``nonce`` with ``enforce_nonce`` (the same
nonce in the same channel within ``nonce_window`` seconds, 5 minutes by default, answers with
the earlier message and creates none), and ``GET /channels/{id}/messages`` pages with
``before``/``after``/``limit``, newest first, as Discord does. For crash tests, posts pass
the stages of ``PostStages`` (``on_post``, ``hold_posts``, ``release``, ``wait_for_held``):
before they are stored, once stored but unanswered, and once answered.

Every REST request is recorded (``fake.calls``, ``calls_to(route)``), as are interaction
callbacks (``fake.callbacks``), frames the client sent (``fake.received``) and events sent to
it (``fake.dispatched``). Failures can be scripted per route (``fail_next``, ``forbid_next``,
``not_found_next``, ``rate_limit_next``). Messages are validated as Discord does (2000
characters of content, 10 embeds, the embed field limits and 6000 characters in all) and
channel sends check the bot's computed permissions, overwrites included.

Routes are named ``"METHOD /template"`` as listed in ``ROUTES`` (``"POST
/channels/{channel_id}/messages"``); a concrete path (``"POST /channels/123/messages"``) works
too wherever a route is asked for. The ``wait_for*`` and ``send_*`` helpers are coroutines
usable from any event loop; they raise ``TimeoutError`` naming what was seen.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import itertools
import json
import math
import re
import secrets
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import BodyPartReader, WSMsgType, web

from tests.fakes.slack import PostStages

if TYPE_CHECKING:
    import discord

API_VERSION = 10
BOT_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GfAkEt.fake-discord-bot-token-000000000000"
DISCORD_EPOCH_MS = 1420070400000
HEARTBEAT_INTERVAL_MS = 41250

# -- permissions (https://discord.com/developers/docs/topics/permissions) --

CREATE_INSTANT_INVITE = 1 << 0
KICK_MEMBERS = 1 << 1
BAN_MEMBERS = 1 << 2
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
SEND_TTS_MESSAGES = 1 << 12
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_EXTERNAL_EMOJIS = 1 << 18
CHANGE_NICKNAME = 1 << 26
USE_APPLICATION_COMMANDS = 1 << 31
MANAGE_THREADS = 1 << 34
CREATE_PUBLIC_THREADS = 1 << 35
CREATE_PRIVATE_THREADS = 1 << 36
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 51) - 1

EVERYONE_PERMISSIONS = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | MENTION_EVERYONE
    | USE_EXTERNAL_EMOJIS
    | CHANGE_NICKNAME
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | CREATE_PRIVATE_THREADS
    | SEND_MESSAGES_IN_THREADS
)

# -- intents (https://discord.com/developers/docs/events/gateway#gateway-intents) --

INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT

# -- message limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits)

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TITLE = 256
MAX_EMBED_DESCRIPTION = 4096
MAX_EMBED_FIELDS = 25
MAX_FIELD_NAME = 256
MAX_FIELD_VALUE = 1024
MAX_FOOTER_TEXT = 2048
MAX_AUTHOR_NAME = 256
MAX_EMBEDS_TOTAL = 6000
MAX_CHOICES = 25
MAX_THREAD_NAME = 100
MAX_NONCE = 25
MAX_MESSAGES_PAGE = 100
NONCE_WINDOW = 300.0  # seconds: "the past few minutes" of Discord's enforce_nonce

# message flags
EPHEMERAL = 1 << 6
LOADING = 1 << 7

# channel types
GUILD_TEXT = 0
DM = 1
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12
THREAD_TYPES = frozenset({10, PUBLIC_THREAD, PRIVATE_THREAD})

# interaction types and callback types
APPLICATION_COMMAND = 2
APPLICATION_COMMAND_AUTOCOMPLETE = 4
_CALLBACKS_ALLOWED = {
    APPLICATION_COMMAND: frozenset({4, 5, 9}),
    APPLICATION_COMMAND_AUTOCOMPLETE: frozenset({8}),
}

ROUTES: tuple[str, ...] = (
    "GET /gateway",
    "GET /gateway/bot",
    "GET /users/@me",
    "GET /users/{user_id}",
    "GET /oauth2/applications/@me",
    "GET /applications/{application_id}/commands",
    "PUT /applications/{application_id}/commands",
    "GET /applications/{application_id}/guilds/{guild_id}/commands",
    "PUT /applications/{application_id}/guilds/{guild_id}/commands",
    "POST /interactions/{interaction_id}/{interaction_token}/callback",
    "POST /webhooks/{application_id}/{interaction_token}",
    "GET /webhooks/{application_id}/{interaction_token}/messages/{message_id}",
    "PATCH /webhooks/{application_id}/{interaction_token}/messages/{message_id}",
    "DELETE /webhooks/{application_id}/{interaction_token}/messages/{message_id}",
    "GET /channels/{channel_id}",
    "GET /channels/{channel_id}/messages",
    "POST /channels/{channel_id}/messages",
    "GET /channels/{channel_id}/messages/{message_id}",
    "PATCH /channels/{channel_id}/messages/{message_id}",
    "POST /channels/{channel_id}/messages/{message_id}/threads",
    "POST /channels/{channel_id}/threads",
    "POST /channels/{channel_id}/typing",
    "GET /guilds/{guild_id}/members/{user_id}",
)
# Routes whose token is in the URL: no Authorization needed (discord.py sends none).
_WEBHOOK_ROUTES = frozenset(r for r in ROUTES if " /webhooks/" in r or " /interactions/" in r)
_COMMAND_NAME = re.compile(r"^[-_'\w\u0900-\u097F\u0E00-\u0E7F]{1,32}$")


# -- records --


@dataclass
class UploadedFile:
    """A file part of a multipart request (``files[n]``)."""

    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class RestCall:
    """One REST request as the fake saw it, and what it answered."""

    method: str  # "POST"
    path: str  # "/channels/123/messages", after /api/v10
    route: str  # "POST /channels/{channel_id}/messages" ("" when no route matched)
    params: dict[str, str]  # the route's path parameters
    query: dict[str, str]
    headers: dict[str, str]
    json: Any  # the JSON body, or a multipart request's payload_json (None without a body)
    files: list[UploadedFile]
    at: float  # time.monotonic() on arrival
    status: int = 200
    response: Any = None

    @property
    def token(self) -> str | None:
        """The bot token of ``Authorization: Bot <token>``."""
        auth = self.headers.get("Authorization", "")
        return auth.removeprefix("Bot ") if auth.startswith("Bot ") else None

    @property
    def code(self) -> int | None:
        """Discord's JSON error code, for an error answer."""
        if self.status < 400 or not isinstance(self.response, dict):
            return None
        return int(self.response.get("code", 0))


@dataclass
class InteractionCallback:
    """A ``POST /interactions/{id}/{token}/callback``, accepted or not."""

    interaction_id: str
    type: int  # 4 message, 5 deferred (thinking), 8 autocomplete result, 9 modal ...
    data: dict[str, Any]
    at: float  # time.monotonic() on arrival
    after: float | None  # seconds since the interaction was dispatched
    status: int = 204
    code: int | None = None  # Discord's error code when refused (40060, 10062 ...)

    @property
    def ok(self) -> bool:
        return self.status < 300


@dataclass
class GatewayFrame:
    """A frame the client sent over the Gateway."""

    connection: int  # 1, 2, ... in order of connecting
    op: int
    d: Any
    at: float


@dataclass
class Dispatched:
    """An event (op 0) the fake sent, or queued while the client was away."""

    t: str
    s: int
    d: dict[str, Any]
    at: float
    connection: int | None  # None: queued for a resume


@dataclass
class GatewayConnection:
    number: int
    path: str  # "/gateway" or "/gateway-resume"
    query: dict[str, str]
    opened_at: float
    closed_at: float | None = None
    close_code: int | None = None  # as seen by the fake: the client's, or the fake's own
    identified: bool = False
    resumed: bool = False


@dataclass
class Failure:
    """A scripted REST failure."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeUser:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "bot": self.bot,
            "system": False,
            "banner": None,
            "accent_color": None,
            "public_flags": 0,
            "flags": 0,
            "avatar_decoration_data": None,
        }


@dataclass
class FakeRole:
    id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False
    bot_id: int | None = None  # a bot's own managed role

    def payload(self) -> dict[str, Any]:
        role: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": False,
            "flags": 0,
        }
        if self.bot_id is not None:
            role["tags"] = {"bot_id": str(self.bot_id)}
        return role


@dataclass
class FakeMember:
    user: FakeUser
    roles: list[int] = field(default_factory=list)  # role ids, @everyone not included
    nick: str | None = None
    joined_at: str = "2025-01-06T09:00:00.000000+00:00"

    def payload(self, *, with_user: bool = True) -> dict[str, Any]:
        member: dict[str, Any] = {
            "roles": [str(r) for r in self.roles],
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        if with_user:
            member["user"] = self.user.payload()
        return member


@dataclass
class FakeChannel:
    """A guild text channel or a thread (``type`` 11 / 12, ``parent_id`` set)."""

    id: int
    guild_id: int
    name: str
    type: int = GUILD_TEXT
    position: int = 0
    overwrites: list[dict[str, Any]] = field(default_factory=list)  # see ``overwrite()``
    parent_id: int | None = None
    owner_id: int | None = None  # threads
    topic: str | None = None
    archived: bool = False
    locked: bool = False
    auto_archive_duration: int = 1440
    created_at: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    member_ids: set[int] = field(default_factory=set)  # threads: who joined

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES

    def payload(self) -> dict[str, Any]:
        last = self.messages[-1]["id"] if self.messages else None
        if not self.is_thread:
            return {
                "id": str(self.id),
                "type": self.type,
                "guild_id": str(self.guild_id),
                "position": self.position,
                "permission_overwrites": [dict(o) for o in self.overwrites],
                "name": self.name,
                "topic": self.topic,
                "nsfw": False,
                "last_message_id": last,
                "rate_limit_per_user": 0,
                "parent_id": None if self.parent_id is None else str(self.parent_id),
                "default_auto_archive_duration": 1440,
                "flags": 0,
            }
        metadata: dict[str, Any] = {
            "archived": self.archived,
            "auto_archive_duration": self.auto_archive_duration,
            "archive_timestamp": self.created_at,
            "locked": self.locked,
            "create_timestamp": self.created_at,
        }
        if self.type == PRIVATE_THREAD:
            metadata["invitable"] = True
        count = sum(1 for m in self.messages if m.get("type") != 21)  # not the starter
        return {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "parent_id": str(self.parent_id),
            "owner_id": str(self.owner_id),
            "name": self.name,
            "last_message_id": last,
            "rate_limit_per_user": 0,
            "flags": 0,
            "message_count": count,
            "member_count": len(self.member_ids),
            "total_message_sent": count,
            "thread_metadata": metadata,
        }


@dataclass
class FakeGuild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, FakeRole] = field(
        default_factory=dict
    )  # the @everyone role's id is the guild's
    members: dict[int, FakeMember] = field(default_factory=dict)
    channels: dict[int, FakeChannel] = field(default_factory=dict)  # threads included
    preferred_locale: str = "en-US"

    @property
    def everyone(self) -> FakeRole:
        return self.roles[self.id]

    def text_channels(self) -> list[FakeChannel]:
        return [c for c in self.channels.values() if not c.is_thread]

    def threads(self) -> list[FakeChannel]:
        return [c for c in self.channels.values() if c.is_thread]


@dataclass
class FakeInteraction:
    """An interaction the fake dispatched; ``id`` and ``token`` are what callbacks use."""

    id: str
    token: str
    type: int
    payload: dict[str, Any]
    sent_at: float
    expired: bool = False
    callback: InteractionCallback | None = None  # the accepted one
    original: dict[str, Any] | None = None  # the original response message, once there is one
    followups: list[dict[str, Any]] = field(default_factory=list)

    @property
    def channel_id(self) -> int:
        return int(self.payload["channel_id"])


@dataclass
class _Session:
    id: str
    intents: int
    seq: int = 0
    log: list[Dispatched] = field(default_factory=list)
    connection: _Connection | None = None


@dataclass
class _Connection:
    record: GatewayConnection
    ws: web.WebSocketResponse
    compressor: Any  # zlib compressobj for zlib-stream, else None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, frame: Mapping[str, Any]) -> None:
        text = json.dumps(frame, separators=(",", ":"))
        async with self.lock:
            if self.compressor is None:
                await self.ws.send_str(text)
            else:
                data = self.compressor.compress(text.encode()) + self.compressor.flush(
                    zlib.Z_SYNC_FLUSH
                )
                await self.ws.send_bytes(data)


class DiscordError(Exception):
    """A request Discord refuses: HTTP ``status`` with ``{"message", "code"[, "errors"]}``."""

    def __init__(
        self, status: int, code: int, message: str, errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def form_error(errors: dict[str, Any]) -> DiscordError:
    return DiscordError(400, 50035, "Invalid Form Body", errors)


def _max_length(limit: int) -> dict[str, Any]:
    return {
        "_errors": [
            {"code": "BASE_TYPE_MAX_LENGTH", "message": f"Must be {limit} or fewer in length."}
        ]
    }


def _nest(path: Sequence[str], leaf: dict[str, Any]) -> dict[str, Any]:
    for key in reversed(path):
        leaf = {key: leaf}
    return leaf


def overwrite(
    target_id: int, *, allow: int = 0, deny: int = 0, member: bool = False
) -> dict[str, Any]:
    """A permission overwrite in Discord's shape (``type`` 0 a role, 1 a member)."""
    return {
        "id": str(target_id),
        "type": 1 if member else 0,
        "allow": str(allow),
        "deny": str(deny),
    }


def validate_message(body: Mapping[str, Any], *, files: int = 0) -> None:
    """Raise ``DiscordError`` where Discord would refuse a message body (create or edit)."""
    content = body.get("content")
    if content is not None and len(str(content)) > MAX_CONTENT:
        raise form_error({"content": _max_length(MAX_CONTENT)})
    embeds = body.get("embeds") or []
    if len(embeds) > MAX_EMBEDS:
        raise form_error({"embeds": _max_length(MAX_EMBEDS)})
    total = 0
    for index, embed in enumerate(embeds):
        at = ["embeds", str(index)]
        checks: list[tuple[list[str], Any, int]] = [
            (["title"], embed.get("title"), MAX_EMBED_TITLE),
            (["description"], embed.get("description"), MAX_EMBED_DESCRIPTION),
            (["footer", "text"], (embed.get("footer") or {}).get("text"), MAX_FOOTER_TEXT),
            (["author", "name"], (embed.get("author") or {}).get("name"), MAX_AUTHOR_NAME),
        ]
        fields = embed.get("fields") or []
        if len(fields) > MAX_EMBED_FIELDS:
            raise form_error(_nest([*at, "fields"], _max_length(MAX_EMBED_FIELDS)))
        for number, item in enumerate(fields):
            where = ["fields", str(number)]
            checks.append(([*where, "name"], item.get("name"), MAX_FIELD_NAME))
            checks.append(([*where, "value"], item.get("value"), MAX_FIELD_VALUE))
        for path, value, limit in checks:
            if value is None:
                continue
            total += len(str(value))
            if len(str(value)) > limit:
                raise form_error(_nest([*at, *path], _max_length(limit)))
    if total > MAX_EMBEDS_TOTAL:
        raise form_error(
            {
                "embeds": {
                    "_errors": [
                        {
                            "code": "MAX_EMBED_SIZE_EXCEEDED",
                            "message": f"Embed size exceeds maximum size of {MAX_EMBEDS_TOTAL}",
                        }
                    ]
                }
            }
        )
    present = any(
        body.get(key) for key in ("content", "embeds", "components", "sticker_ids", "poll")
    )
    if not present and not files and not body.get("attachments"):
        raise DiscordError(400, 50006, "Cannot send an empty message")


def compute_permissions(guild: FakeGuild, user_id: int, channel: FakeChannel | None = None) -> int:
    """A member's permissions in the guild, or in ``channel`` with its overwrites applied
    (a thread uses its parent's), as Discord computes them."""
    if user_id == guild.owner_id:
        return ALL_PERMISSIONS
    member = guild.members.get(user_id)
    role_ids = member.roles if member else []
    perms = guild.everyone.permissions
    for role_id in role_ids:
        role = guild.roles.get(role_id)
        if role is not None:
            perms |= role.permissions
    if perms & ADMINISTRATOR:
        return ALL_PERMISSIONS
    if channel is None:
        return perms
    if channel.is_thread and channel.parent_id is not None:
        channel = guild.channels.get(channel.parent_id, channel)
    by_target = {int(o["id"]): o for o in channel.overwrites}
    everyone = by_target.get(guild.id)
    if everyone is not None:
        perms = (perms & ~int(everyone["deny"])) | int(everyone["allow"])
    allow = deny = 0
    for role_id in role_ids:
        found = by_target.get(role_id)
        if found is not None and found["type"] == 0:
            allow |= int(found["allow"])
            deny |= int(found["deny"])
    perms = (perms & ~deny) | allow
    own = by_target.get(user_id)
    if own is not None and own["type"] == 1:
        perms = (perms & ~int(own["deny"])) | int(own["allow"])
    if not perms & VIEW_CHANNEL:
        return 0
    if not perms & SEND_MESSAGES:  # implicitly denied with sending
        perms &= ~(SEND_TTS_MESSAGES | MENTION_EVERYONE | EMBED_LINKS | ATTACH_FILES)
    return perms


# -- the fake --


class FakeDiscord(PostStages):
    """The fake Discord server; start it with ``with`` / ``async with`` or the fixture.

    By default it has one application and its bot user, one guild (``guild``) owned by
    ``owner``, with a member ``user`` (no roles), a ``moderator`` (a role with Manage Server),
    the bot (its managed role) and two text channels: ``channel`` (#general) and
    ``read_only`` (#announcements: @everyone may not send). Add more with ``add_*`` before the
    client connects (GUILD_CREATE is built at IDENTIFY).
    """

    thread_name = "fake-discord"

    def __init__(
        self,
        *,
        bot_token: str = BOT_TOKEN,
        bot_name: str = "briefbot",
        privileged_intents: int = 0,
        callback_deadline: float | None = None,
        nonce_window: float = NONCE_WINDOW,
    ) -> None:
        super().__init__()
        self.bot_token = bot_token
        # Seconds a message's nonce is remembered for ``enforce_nonce`` (Discord: minutes).
        self.nonce_window = nonce_window
        # (channel id, author id, nonce) -> (message id, time.monotonic() when created)
        self._nonces: dict[tuple[int, int, str], tuple[str, float]] = {}
        # The privileged intents enabled for the app (developer portal): asking for others
        # closes the gateway with 4014, as Discord does.
        self.privileged_intents = privileged_intents
        # Seconds an interaction accepts its first callback (Discord: 3); None: no deadline.
        self.callback_deadline = callback_deadline
        self._ids = itertools.count(1)

        self.application_id = self.snowflake()
        self.bot = FakeUser(self.application_id, bot_name, bot=True)
        self.users: dict[int, FakeUser] = {self.bot.id: self.bot}
        self.owner = self.add_user("owner", global_name="Guild Owner")
        self.user = self.add_user("alex", global_name="Alex Doe")
        self.moderator_user = self.add_user("sam", global_name="Sam Mod")
        self.guilds: dict[int, FakeGuild] = {}
        self.guild = self.add_guild("Briefbot Test", owner=self.owner)
        self.moderator_role = self.add_role(self.guild, "Moderators", MANAGE_GUILD, position=1)
        self.add_member(self.guild, self.user)
        self.add_member(self.guild, self.moderator_user, roles=[self.moderator_role.id])
        self.channel = self.add_channel(self.guild, "general")
        self.read_only = self.add_channel(
            self.guild,
            "announcements",
            overwrites=[overwrite(self.guild.id, deny=SEND_MESSAGES)],
        )
        self.commands: dict[int | None, list[dict[str, Any]]] = {}  # guild id (None: global)

        self.calls: list[RestCall] = []
        self.callbacks: list[InteractionCallback] = []
        self.interactions: dict[str, FakeInteraction] = {}
        self.received: list[GatewayFrame] = []
        self.dispatched: list[Dispatched] = []
        self.connections: list[GatewayConnection] = []

        self._failures: dict[str, deque[Failure]] = {}
        self._session: _Session | None = None
        self._live: list[_Connection] = []
        self._tasks: set[asyncio.Task[int]] = set()  # THREAD_CREATEs being sent

    # -- ids --

    def snowflake(self) -> int:
        """A fresh snowflake: now as milliseconds since Discord's epoch, then a counter."""
        millis = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (millis << 22) | (next(self._ids) & 0x3FFFFF)

    # -- setup --

    def add_user(
        self, username: str, *, global_name: str | None = None, bot: bool = False
    ) -> FakeUser:
        user = FakeUser(self.snowflake(), username, global_name, bot)
        with self._lock:
            self.users[user.id] = user
        return user

    def add_guild(self, name: str, *, owner: FakeUser | None = None) -> FakeGuild:
        """A guild with its @everyone role, the owner and the bot (with its managed role)."""
        guild_id = self.snowflake()
        owner = owner or self.owner
        guild = FakeGuild(guild_id, name, owner.id)
        guild.roles[guild_id] = FakeRole(guild_id, "@everyone", EVERYONE_PERMISSIONS)
        bot_role = FakeRole(
            self.snowflake(),
            self.bot.username,
            EVERYONE_PERMISSIONS | MANAGE_THREADS | MANAGE_MESSAGES,
            position=2,
            managed=True,
            bot_id=self.bot.id,
        )
        guild.roles[bot_role.id] = bot_role
        guild.members[owner.id] = FakeMember(owner)
        guild.members[self.bot.id] = FakeMember(self.bot, [bot_role.id])
        with self._lock:
            self.guilds[guild_id] = guild
        return guild

    def add_role(
        self, guild: FakeGuild, name: str, permissions: int, *, position: int = 1
    ) -> FakeRole:
        role = FakeRole(self.snowflake(), name, permissions, position)
        with self._lock:
            guild.roles[role.id] = role
        return role

    def add_member(
        self, guild: FakeGuild, user: FakeUser, *, roles: Sequence[int] = ()
    ) -> FakeMember:
        member = FakeMember(user, list(roles))
        with self._lock:
            guild.members[user.id] = member
        return member

    def bot_role(self, guild: FakeGuild | None = None) -> FakeRole:
        guild = guild or self.guild
        return next(r for r in guild.roles.values() if r.bot_id == self.bot.id)

    def add_channel(
        self,
        guild: FakeGuild,
        name: str,
        *,
        overwrites: Sequence[dict[str, Any]] = (),
        topic: str | None = None,
    ) -> FakeChannel:
        """A text channel (type 0); ``overwrites`` as made by ``overwrite()``."""
        channel = FakeChannel(
            self.snowflake(),
            guild.id,
            name,
            position=len(guild.text_channels()),
            overwrites=list(overwrites),
            topic=topic,
        )
        with self._lock:
            guild.channels[channel.id] = channel
        return channel

    def add_thread(
        self,
        parent: FakeChannel,
        name: str,
        *,
        owner: FakeUser | None = None,
        private: bool = False,
        thread_id: int | None = None,
    ) -> FakeChannel:
        """An active thread under ``parent`` (GUILD_CREATE lists it)."""
        guild = self.guilds[parent.guild_id]
        owner = owner or self.user
        thread = FakeChannel(
            thread_id or self.snowflake(),
            guild.id,
            name,
            type=PRIVATE_THREAD if private else PUBLIC_THREAD,
            parent_id=parent.id,
            owner_id=owner.id,
            created_at=_iso_now(),
            member_ids={owner.id},
        )
        with self._lock:
            guild.channels[thread.id] = thread
        return thread

    def find_channel(self, channel_id: int | str) -> tuple[FakeGuild, FakeChannel] | None:
        with self._lock:
            for guild in self.guilds.values():
                found = guild.channels.get(int(channel_id))
                if found is not None:
                    return guild, found
        return None

    # -- scripted failures --

    def fail_next(
        self,
        route: str,
        status: int,
        code: int,
        message: str,
        *,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` requests of ``route`` with ``{"message", "code"}``."""
        failure = Failure(status, {"message": message, "code": code}, dict(headers or {}))
        with self._lock:
            self._failures.setdefault(route, deque()).extend([failure] * times)

    def forbid_next(self, route: str, *, code: int = 50013, times: int = 1) -> None:
        """403: ``50013`` Missing Permissions (default) or ``50001`` Missing Access."""
        message = {50001: "Missing Access", 50013: "Missing Permissions"}.get(code, "Forbidden")
        self.fail_next(route, 403, code, message, times=times)

    def not_found_next(self, route: str, *, code: int = 10003, times: int = 1) -> None:
        """404: ``10003`` Unknown Channel (default), ``10008`` Unknown Message ..."""
        message = {
            10003: "Unknown Channel",
            10004: "Unknown Guild",
            10007: "Unknown Member",
            10008: "Unknown Message",
            10015: "Unknown Webhook",
            10062: "Unknown interaction",
        }.get(code, "Not Found")
        self.fail_next(route, 404, code, message, times=times)

    def rate_limit_next(
        self,
        route: str,
        *,
        retry_after: float = 0.5,
        is_global: bool = False,
        times: int = 1,
        via: bool = True,
    ) -> None:
        """429 as Discord's edge sends it: ``Retry-After`` (whole seconds), ``X-RateLimit-*``
        and ``Via`` (``via=False``: as Cloudflare sends it, which discord.py does not retry)."""
        headers = {
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Bucket": _bucket(route),
            "X-RateLimit-Scope": "global" if is_global else "user",
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        if via:
            headers["Via"] = "1.1 google"
        failure = Failure(
            429,
            {
                "message": "You are being rate limited.",
                "retry_after": retry_after,
                "global": is_global,
            },
            headers,
        )
        with self._lock:
            self._failures.setdefault(route, deque()).extend([failure] * times)

    # -- addresses --

    @property
    def url(self) -> str:
        assert self._port, "FakeDiscord not started"
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        """For ``discord.http.Route.BASE`` (no trailing slash, as discord.py joins it)."""
        return f"{self.url}/api/v{API_VERSION}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/gateway-resume"

    # -- inspection --

    def calls_to(self, route: str) -> list[RestCall]:
        """The requests of ``route`` (a template as in ``ROUTES`` or a concrete path)."""
        with self._lock:
            return [c for c in self.calls if _matches(route, c)]

    def callbacks_for(self, interaction_id: str) -> list[InteractionCallback]:
        with self._lock:
            return [c for c in self.callbacks if c.interaction_id == str(interaction_id)]

    def messages(self, channel_id: int | str) -> list[dict[str, Any]]:
        """Every message in a channel or thread, oldest first."""
        found = self.find_channel(channel_id)
        with self._lock:
            return [dict(m) for m in found[1].messages] if found else []

    def posted(self, channel_id: int | str | None = None) -> list[dict[str, Any]]:
        """The messages the bot posted with ``POST /channels/{id}/messages``, oldest first;
        each once (a post that ``enforce_nonce`` answered with an earlier message made none)."""
        with self._lock:
            found = list(
                {
                    c.response["id"]: dict(c.response)
                    for c in reversed(self.calls)
                    if c.route == "POST /channels/{channel_id}/messages" and c.status == 200
                }.values()
            )[::-1]
        if channel_id is not None:
            found = [m for m in found if m["channel_id"] == str(channel_id)]
        return found

    @property
    def identifies(self) -> list[GatewayFrame]:
        with self._lock:
            return [f for f in self.received if f.op == 2]

    @property
    def resumes(self) -> list[GatewayFrame]:
        with self._lock:
            return [f for f in self.received if f.op == 6]

    @property
    def session_id(self) -> str | None:
        with self._lock:
            return self._session.id if self._session else None

    # -- waiting --

    def _seen(self) -> str:
        with self._lock:
            calls = [f"{c.method} {c.path} -> {c.status}" for c in self.calls]
            frames = [f.op for f in self.received]
            callbacks = [(c.interaction_id, c.type, c.status) for c in self.callbacks]
        return f"requests so far: {calls}; gateway ops received: {frames}; callbacks: {callbacks}"

    async def wait_for(
        self,
        route: str,
        count: int = 1,
        timeout: float = 5.0,
        *,
        where: Callable[[RestCall], bool] | None = None,
    ) -> list[RestCall]:
        """Wait until ``count`` requests of ``route`` (matching ``where``) were answered;
        return them all, oldest first."""

        def matching() -> list[RestCall]:
            return [c for c in self.calls_to(route) if where is None or where(c)]

        await self._wait(lambda: len(matching()) >= count, timeout, f"{count} x {route}")
        return matching()

    async def wait_for_callback(
        self, interaction_id: str, count: int = 1, timeout: float = 5.0
    ) -> InteractionCallback:
        """Wait for the ``count``-th callback of an interaction (accepted or refused); return
        it. ``callback.at`` is when it arrived, ``callback.after`` how long after dispatch."""
        await self._wait(
            lambda: len(self.callbacks_for(interaction_id)) >= count,
            timeout,
            f"callback #{count} for interaction {interaction_id}",
        )
        return self.callbacks_for(interaction_id)[count - 1]

    async def wait_for_followup(
        self, interaction_id: str, count: int = 1, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Wait until ``count`` follow-up messages of an interaction were created."""

        def followups() -> list[dict[str, Any]]:
            with self._lock:
                found = self.interactions.get(str(interaction_id))
                return list(found.followups) if found else []

        await self._wait(
            lambda: len(followups()) >= count, timeout, f"{count} followups of {interaction_id}"
        )
        return followups()

    async def wait_for_ready(self, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until ``count`` IDENTIFYs were answered with READY and every GUILD_CREATE."""

        def done() -> bool:
            return sum(1 for c in self.connections if c.identified) >= count

        await self._wait(done, timeout, f"READY #{count}")

    async def wait_for_resume(self, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until ``count`` RESUMEs were answered with RESUMED."""

        def done() -> bool:
            return sum(1 for c in self.connections if c.resumed) >= count

        await self._wait(done, timeout, f"RESUMED #{count}")

    async def wait_for_disconnect(self, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until ``count`` gateway connections have closed (``close_code`` recorded)."""

        def done() -> bool:
            return sum(1 for c in self.connections if c.closed_at is not None) >= count

        await self._wait(done, timeout, f"{count} closed gateway connections")

    async def wait_for_frame(
        self, op: int, count: int = 1, timeout: float = 5.0
    ) -> list[GatewayFrame]:
        """Wait until the client sent ``count`` frames with opcode ``op``."""

        def frames() -> list[GatewayFrame]:
            with self._lock:
                return [f for f in self.received if f.op == op]

        await self._wait(lambda: len(frames()) >= count, timeout, f"{count} op {op} frames")
        return frames()

    # -- gateway: pushing events --

    async def _on_loop(self, coro: Any) -> Any:
        assert self._loop is not None, "FakeDiscord not started"
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def dispatch(self, event: str, data: dict[str, Any], timeout: float = 5.0) -> int:
        """Send a DISPATCH (op 0) ``event`` to the client once it is ready; return its ``s``.
        While the client is away the event is kept and replayed when it resumes."""
        await self.wait_for_ready(1, timeout)
        seq: int = await self._on_loop(self._dispatch(event, data))
        return seq

    async def _dispatch(self, event: str, data: dict[str, Any]) -> int:
        session = self._session
        assert session is not None
        with self._lock:
            session.seq += 1
            connection = session.connection
            live = connection is not None and not connection.ws.closed
            record = Dispatched(
                event,
                session.seq,
                data,
                time.monotonic(),
                connection.record.number if live and connection else None,
            )
            session.log.append(record)
            self.dispatched.append(record)
        if live and connection is not None:
            await connection.send({"op": 0, "t": event, "s": record.s, "d": data})
        self._changed()
        return record.s

    async def send_reconnect(self, timeout: float = 5.0) -> None:
        """Send op 7 RECONNECT: the client closes and RESUMEs on ``resume_gateway_url``."""
        await self.wait_for_ready(1, timeout)
        await self._on_loop(self._send_op(7, None))

    async def invalidate_session(self, *, resumable: bool = False, timeout: float = 5.0) -> None:
        """Send op 9 INVALID_SESSION (``d`` false: the client must IDENTIFY again)."""
        await self.wait_for_ready(1, timeout)
        if not resumable:
            with self._lock:
                if self._session is not None:
                    self._session.id = f"invalidated-{self._session.id}"
        await self._on_loop(self._send_op(9, resumable))

    async def drop_connection(self, code: int = 4000, timeout: float = 5.0) -> None:
        """Close the newest gateway connection from the server side with ``code``
        (4000 "unknown error" is resumable; 4004 authentication failed is not)."""
        await self.wait_for_ready(1, timeout)
        await self._on_loop(self._close_newest(code))

    async def _send_op(self, op: int, d: Any) -> None:
        with self._lock:
            connection = self._live[-1] if self._live else None
        if connection is not None:
            await connection.send({"op": op, "d": d, "s": None, "t": None})

    async def _close_newest(self, code: int) -> None:
        with self._lock:
            connection = self._live[-1] if self._live else None
        if connection is not None:
            connection.record.close_code = code
            await connection.ws.close(code=code, message=b"closed by the fake")

    # -- interactions --

    def _command_data(self, name: str, guild_id: int, command_type: int) -> tuple[str, int | None]:
        """The registered command's id, and its guild for a guild command."""
        with self._lock:
            for scope in (guild_id, None):
                for command in self.commands.get(scope, []):
                    if command["name"] == name and command.get("type", 1) == command_type:
                        return command["id"], scope
        return str(self.snowflake()), None

    def interaction_payload(
        self,
        name: str,
        options: Mapping[str, Any] | Sequence[dict[str, Any]] | None = None,
        *,
        type: int = APPLICATION_COMMAND,
        subcommand: str | None = None,
        group: str | None = None,
        channel: FakeChannel | None = None,
        user: FakeUser | None = None,
        locale: str = "en-US",
    ) -> dict[str, Any]:
        """An INTERACTION_CREATE ``d`` for a chat input command (or its autocomplete) as
        Discord sends it: ``member.permissions`` is the user's computed permissions in the
        channel, ``app_permissions`` the bot's."""
        channel = channel or self.channel
        user = user or self.user
        guild = self.guilds[channel.guild_id]
        with self._lock:
            member = guild.members.get(user.id) or FakeMember(user)
            member_perms = compute_permissions(guild, user.id, channel)
            app_perms = compute_permissions(guild, self.bot.id, channel)
            channel_payload = channel.payload()
        inner = _options(options)
        if subcommand is not None:
            inner = [{"name": subcommand, "type": 1, "options": inner}]
            if group is not None:
                inner = [{"name": group, "type": 2, "options": inner}]
        command_id, command_guild = self._command_data(name, guild.id, 1)
        data: dict[str, Any] = {"id": command_id, "name": name, "type": 1}
        if inner:
            data["options"] = inner
        if command_guild is not None:
            data["guild_id"] = str(command_guild)
        channel_payload["permissions"] = str(member_perms)
        interaction_id = str(self.snowflake())
        return {
            "id": interaction_id,
            "application_id": str(self.application_id),
            "type": type,
            "data": data,
            "guild": {"id": str(guild.id), "locale": guild.preferred_locale, "features": []},
            "guild_id": str(guild.id),
            "channel": channel_payload,
            "channel_id": str(channel.id),
            "member": {**member.payload(), "permissions": str(member_perms)},
            "token": _interaction_token(interaction_id),
            "version": 1,
            "app_permissions": str(app_perms),
            "locale": locale,
            "guild_locale": guild.preferred_locale,
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }

    async def send_interaction(
        self,
        name: str,
        options: Mapping[str, Any] | Sequence[dict[str, Any]] | None = None,
        *,
        subcommand: str | None = None,
        group: str | None = None,
        channel: FakeChannel | None = None,
        user: FakeUser | None = None,
        locale: str = "en-US",
        timeout: float = 5.0,
    ) -> FakeInteraction:
        """Dispatch ``/name [group] [subcommand] options`` (INTERACTION_CREATE type 2).

        ``options`` maps option names to values (str, int, float, bool) or is a list of
        Discord option objects. The command's id (and ``data.guild_id`` for a guild command)
        come from the commands synced so far."""
        payload = self.interaction_payload(
            name,
            options,
            subcommand=subcommand,
            group=group,
            channel=channel,
            user=user,
            locale=locale,
        )
        return await self._send_interaction(payload, timeout)

    async def send_autocomplete(
        self,
        name: str,
        focused: str,
        value: str,
        options: Mapping[str, Any] | Sequence[dict[str, Any]] | None = None,
        *,
        subcommand: str | None = None,
        group: str | None = None,
        channel: FakeChannel | None = None,
        user: FakeUser | None = None,
        timeout: float = 5.0,
    ) -> FakeInteraction:
        """Dispatch an autocomplete (type 4) for option ``focused`` typed so far as ``value``."""
        others = _options(options)
        typed = {"name": focused, "type": 3, "value": value, "focused": True}
        payload = self.interaction_payload(
            name,
            [*others, typed],
            type=APPLICATION_COMMAND_AUTOCOMPLETE,
            subcommand=subcommand,
            group=group,
            channel=channel,
            user=user,
        )
        return await self._send_interaction(payload, timeout)

    async def _send_interaction(self, payload: dict[str, Any], timeout: float) -> FakeInteraction:
        interaction = FakeInteraction(
            payload["id"], payload["token"], payload["type"], payload, time.monotonic()
        )
        with self._lock:
            self.interactions[interaction.id] = interaction
        await self.dispatch("INTERACTION_CREATE", payload, timeout)
        return interaction

    def expire(self, interaction_id: str) -> None:
        """From now on the interaction's callbacks answer 404 10062 "Unknown interaction"
        and its follow-ups 401 50027 "Invalid Webhook Token", as after Discord's deadlines."""
        with self._lock:
            self.interactions[str(interaction_id)].expired = True

    # -- gateway: events from users --

    def message_payload(
        self,
        content: str,
        *,
        channel: FakeChannel | None = None,
        author: FakeUser | None = None,
        mention_bot: bool = False,
        reply_to: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A MESSAGE_CREATE ``d`` (with ``guild_id`` and the partial ``member``)."""
        channel = channel or self.channel
        author = author or self.user
        guild = self.guilds[channel.guild_id]
        if mention_bot and f"<@{self.bot.id}>" not in content:
            content = f"<@{self.bot.id}> {content}"
        with self._lock:
            message = self._message(channel, author, {"content": content}, reply_to=reply_to)
            member = guild.members.get(author.id)
            for mentioned in message["mentions"]:
                found = guild.members.get(int(mentioned["id"]))
                if found is not None:
                    mentioned["member"] = found.payload(with_user=False)
        message["guild_id"] = str(guild.id)
        if member is not None:
            message["member"] = member.payload(with_user=False)
        return message

    async def send_message_create(
        self,
        content: str,
        *,
        channel: FakeChannel | None = None,
        author: FakeUser | None = None,
        mention_bot: bool = False,
        reply_to: dict[str, Any] | None = None,
        timeout: float = 5.0,
    ) -> dict[str, Any]:
        """A user (or another bot: ``author=add_user(..., bot=True)``) posts ``content`` in
        ``channel`` (a thread too). The message is kept (threads can start from it) and
        dispatched as MESSAGE_CREATE when the session's intents ask for it: without
        GUILD_MESSAGES it is not sent, and without MESSAGE_CONTENT its ``content``,
        ``embeds``, ``attachments`` and ``components`` are empty unless it mentions the bot.
        Returns the message as stored."""
        message = self.message_payload(
            content, channel=channel, author=author, mention_bot=mention_bot, reply_to=reply_to
        )
        found = self.find_channel(message["channel_id"])
        assert found is not None
        with self._lock:
            found[1].messages.append(message)
        await self.wait_for_ready(1, timeout)
        with self._lock:
            intents = self._session.intents if self._session else 0
        if not intents & INTENT_GUILD_MESSAGES:
            return message
        sent = dict(message)
        mentioned = any(int(m["id"]) == self.bot.id for m in message["mentions"])
        if (
            not intents & INTENT_MESSAGE_CONTENT
            and not mentioned
            and int(message["author"]["id"]) != self.bot.id
        ):
            sent.update(content="", embeds=[], attachments=[], components=[])
        await self.dispatch("MESSAGE_CREATE", sent, timeout)
        return message

    # -- payload builders --

    def _message(
        self,
        channel: FakeChannel,
        author: FakeUser,
        body: Mapping[str, Any],
        *,
        files: Sequence[UploadedFile] = (),
        reply_to: dict[str, Any] | None = None,
        webhook_id: int | None = None,
        interaction: FakeInteraction | None = None,
        flags: int = 0,
        message_id: int | None = None,
    ) -> dict[str, Any]:
        """A message object as REST returns it. Call with the lock held."""
        guild = self.guilds[channel.guild_id]
        content = str(body.get("content") or "")
        mentions = []
        for user_id in dict.fromkeys(int(m) for m in re.findall(r"<@!?(\d+)>", content)):
            user = self.users.get(user_id)
            if user is not None:
                mentions.append(user.payload())
        role_mentions = [r for r in re.findall(r"<@&(\d+)>", content) if int(r) in guild.roles]
        allowed = body.get("allowed_mentions")
        parse = ["everyone", "users", "roles"] if allowed is None else allowed.get("parse", [])
        everyone = (
            ("@everyone" in content or "@here" in content)
            and "everyone" in parse
            and bool(compute_permissions(guild, author.id, channel) & MENTION_EVERYONE)
        )
        reference = body.get("message_reference") or (
            {"message_id": reply_to["id"], "channel_id": reply_to["channel_id"]}
            if reply_to
            else None
        )
        message: dict[str, Any] = {
            "id": str(message_id or self.snowflake()),
            "channel_id": str(channel.id),
            "author": author.payload(),
            "content": content,
            "timestamp": _iso_now(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "mention_everyone": everyone,
            "mentions": mentions,
            "mention_roles": role_mentions,
            "attachments": [_attachment(self.snowflake(), f) for f in files],
            "embeds": [{"type": "rich", **e} for e in body.get("embeds") or []],
            "pinned": False,
            "type": 0,
            "flags": int(body.get("flags") or 0) | flags,
            "components": list(body.get("components") or []),
        }
        if reference:
            message["type"] = 19
            message["message_reference"] = {
                "type": 0,
                "message_id": str(reference["message_id"]),
                "channel_id": str(reference.get("channel_id", channel.id)),
                "guild_id": str(guild.id),
            }
        if webhook_id is not None:
            message["webhook_id"] = str(webhook_id)
            message["application_id"] = str(self.application_id)
        if interaction is not None:
            data = interaction.payload["data"]
            message["type"] = 20
            message["interaction_metadata"] = {
                "id": interaction.id,
                "type": interaction.type,
                "user": interaction.payload["member"]["user"],
                "authorizing_integration_owners": interaction.payload[
                    "authorizing_integration_owners"
                ],
                "name": data["name"],
                "command_type": data.get("type", 1),
            }
        if channel.is_thread:
            message["position"] = len(channel.messages)
        return message

    def _ready(self, session: _Session) -> dict[str, Any]:
        with self._lock:
            guilds = [{"id": str(g), "unavailable": True} for g in self.guilds]
        return {
            "v": API_VERSION,
            "user_settings": {},
            "user": {**self.bot.payload(), "verified": True, "mfa_enabled": False, "email": None},
            "guilds": guilds,
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["rotterdam", "london"],
            "auth": {},
            "_trace": ['["gateway-prd-fake-1",{"micros":1000}]'],
        }

    def guild_create(self, guild: FakeGuild) -> dict[str, Any]:
        """GUILD_CREATE ``d`` as a bot without the members intent gets it."""
        with self._lock:
            members = list(guild.members.values())
            return {
                "id": str(guild.id),
                "name": guild.name,
                "icon": None,
                "splash": None,
                "discovery_splash": None,
                "owner_id": str(guild.owner_id),
                "afk_channel_id": None,
                "afk_timeout": 300,
                "verification_level": 1,
                "default_message_notifications": 1,
                "explicit_content_filter": 2,
                "roles": [r.payload() for r in guild.roles.values()],
                "emojis": [],
                "features": [],
                "mfa_level": 0,
                "application_id": None,
                "system_channel_id": str(next(iter(guild.channels))) if guild.channels else None,
                "system_channel_flags": 0,
                "rules_channel_id": None,
                "max_members": 500000,
                "vanity_url_code": None,
                "description": None,
                "banner": None,
                "premium_tier": 0,
                "premium_subscription_count": 0,
                "preferred_locale": guild.preferred_locale,
                "public_updates_channel_id": None,
                "nsfw_level": 0,
                "stickers": [],
                "premium_progress_bar_enabled": False,
                "safety_alerts_channel_id": None,
                "joined_at": "2025-01-06T09:00:00.000000+00:00",
                "large": False,
                "unavailable": False,
                "member_count": len(members),
                "voice_states": [],
                "members": [m.payload() for m in members],
                "channels": [c.payload() for c in guild.text_channels()],
                "threads": [t.payload() for t in guild.threads() if not t.archived],
                "presences": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
                "lazy": True,
            }

    def _application(self) -> dict[str, Any]:
        return {
            "id": str(self.application_id),
            "name": self.bot.username,
            "icon": None,
            "description": "Keeps channels briefed on developing news stories.",
            "summary": "",
            "type": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "verify_key": "f" * 64,
            "flags": 0,
            "owner": self.owner.payload(),
            "team": None,
            "hook": True,
            "interactions_endpoint_url": None,
            "redirect_uris": [],
            "approximate_guild_count": len(self.guilds),
            "bot": self.bot.payload(),
        }

    # -- lifecycle --

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", f"/api/v{API_VERSION}/{{tail:.*}}", self._rest)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/gateway-resume", self._gateway)

    async def close_connections(self) -> None:
        with self._lock:
            live = list(self._live)
        for connection in live:
            await connection.ws.close(code=1001)

    # -- REST --

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        route, params = _route(request.method, path)
        body: Any = None
        files: list[UploadedFile] = []
        if request.can_read_body:
            if request.content_type.startswith("multipart/"):
                body, files = await _read_multipart(request)
            else:
                raw = await request.read()
                if raw:
                    try:
                        body = json.loads(raw)
                    except json.JSONDecodeError:
                        body = raw.decode(errors="replace")
        call = RestCall(
            request.method,
            path,
            route,
            params,
            dict(request.query),
            dict(request.headers),
            body,
            files,
            time.monotonic(),
        )
        posting = route == "POST /channels/{channel_id}/messages"
        sent = body if isinstance(body, dict) else {}
        staged = {"channel_id": params.get("channel_id", ""), **sent} if posting else {}
        if posting and not await self._at_stage("before_store", staged):
            call.status = 0  # lost before Discord answered
            with self._lock:
                self.calls.append(call)
            self._changed()
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)  # never reaches the closed connection
        status, headers, response = await self._answer(call)
        call.status, call.response = status, response
        with self._lock:
            self.calls.append(call)
        self._changed()
        stored = posting and status == 200
        if stored:
            await self._at_stage("after_store", staged)
        if status == 204:
            return web.Response(status=204, headers=headers)
        # Exactly "application/json", as Discord sends it: discord.py decodes nothing else.
        answer = web.Response(
            body=json.dumps(response).encode(),
            status=status,
            headers={**headers, "Content-Type": "application/json"},
        )
        if stored and self._staged("after_response"):
            await answer.prepare(request)
            await answer.write_eof()
            await self._at_stage("after_response", staged)
        return answer

    async def _answer(self, call: RestCall) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            failure = None
            for key in (call.route, f"{call.method} {call.path}"):
                queued = self._failures.get(key)
                if queued:
                    failure = queued.popleft()
                    break
        if failure is not None:
            return failure.status, failure.headers, failure.body
        if not call.route:
            return 404, {}, {"message": "404: Not Found", "code": 0}
        if call.route not in _WEBHOOK_ROUTES and call.token != self.bot_token:
            return 401, {}, {"message": "401: Unauthorized", "code": 0}
        handler = _HANDLERS[call.route]
        headers = {
            "X-RateLimit-Limit": "50",
            "X-RateLimit-Remaining": "49",
            "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
            "X-RateLimit-Reset-After": "1.000",
            "X-RateLimit-Bucket": _bucket(call.route),
        }
        try:
            with self._lock:
                status, response = handler(self, call)
        except DiscordError as exc:
            return exc.status, {}, exc.body()
        return status, headers, response

    # route handlers: called with the lock held; return (status, body)

    def _get_gateway(self, call: RestCall) -> tuple[int, Any]:
        return 200, {"url": self.gateway_url}

    def _get_gateway_bot(self, call: RestCall) -> tuple[int, Any]:
        return 200, {
            "url": self.gateway_url,
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 14400000,
                "max_concurrency": 1,
            },
        }

    def _get_me(self, call: RestCall) -> tuple[int, Any]:
        return 200, {**self.bot.payload(), "verified": True, "mfa_enabled": False, "email": None}

    def _get_user(self, call: RestCall) -> tuple[int, Any]:
        user = self.users.get(_int(call.params["user_id"]))
        if user is None:
            raise DiscordError(404, 10013, "Unknown User")
        return 200, user.payload()

    def _get_application(self, call: RestCall) -> tuple[int, Any]:
        return 200, self._application()

    def _command_scope(self, call: RestCall) -> int | None:
        if call.params["application_id"] != str(self.application_id):
            raise DiscordError(403, 50001, "Missing Access")
        if "guild_id" not in call.params:
            return None
        guild_id = _int(call.params["guild_id"])
        if guild_id not in self.guilds:
            raise DiscordError(403, 50001, "Missing Access")  # the bot is not in it
        return guild_id

    def _get_commands(self, call: RestCall) -> tuple[int, Any]:
        return 200, list(self.commands.get(self._command_scope(call), []))

    def _put_commands(self, call: RestCall) -> tuple[int, Any]:
        scope = self._command_scope(call)
        if not isinstance(call.json, list):
            raise form_error(
                {
                    "_errors": [
                        {
                            "code": "LIST_TYPE_CONVERT",
                            "message": "Only iterables may be used in a ListType",
                        }
                    ]
                }
            )
        old = {(c["name"], c.get("type", 1)): c for c in self.commands.get(scope, [])}
        echoed = []
        for index, command in enumerate(call.json):
            _validate_command(command, index)
            kind = int(command.get("type", 1))
            previous = old.get((command["name"], kind))
            saved: dict[str, Any] = {
                "id": previous["id"] if previous else str(self.snowflake()),
                "application_id": str(self.application_id),
                "version": str(self.snowflake()),
                "type": kind,
                "name": command["name"],
                "name_localizations": command.get("name_localizations"),
                "description": command.get("description", ""),
                "description_localizations": command.get("description_localizations"),
                "default_member_permissions": command.get("default_member_permissions"),
                "nsfw": bool(command.get("nsfw", False)),
                "contexts": command.get("contexts"),
                "integration_types": command.get("integration_types", [0]),
            }
            if command.get("options"):
                saved["options"] = command["options"]
            if scope is None:
                saved["dm_permission"] = command.get("dm_permission", True)
            else:
                saved["guild_id"] = str(scope)
            echoed.append(saved)
        self.commands[scope] = echoed
        return 200, echoed

    def _interaction(self, interaction_id: str, token: str) -> FakeInteraction | None:
        found = self.interactions.get(interaction_id)
        return found if found is not None and found.token == token else None

    def _callback(self, call: RestCall) -> tuple[int, Any]:
        interaction_id = call.params["interaction_id"]
        body = call.json if isinstance(call.json, dict) else {}
        kind = int(body.get("type", 0))
        data = body.get("data") or {}
        now = time.monotonic()
        interaction = self._interaction(interaction_id, call.params["interaction_token"])
        record = InteractionCallback(
            interaction_id,
            kind,
            data,
            now,
            now - interaction.sent_at if interaction else None,
        )
        self.callbacks.append(record)
        try:
            response = self._accept_callback(interaction, record, call)
        except DiscordError as exc:
            record.status, record.code = exc.status, exc.code
            raise
        record.status = 200 if response is not None else 204
        return record.status, response

    def _accept_callback(
        self, interaction: FakeInteraction | None, record: InteractionCallback, call: RestCall
    ) -> dict[str, Any] | None:
        late = (
            interaction is not None
            and self.callback_deadline is not None
            and record.after is not None
            and record.after > self.callback_deadline
        )
        if interaction is None or interaction.expired or late:
            raise DiscordError(404, 10062, "Unknown interaction")
        if interaction.callback is not None:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        if record.type not in _CALLBACKS_ALLOWED.get(interaction.type, frozenset()):
            raise form_error(
                {
                    "type": {
                        "_errors": [
                            {
                                "code": "INTERACTION_CALLBACK_TYPE_INVALID",
                                "message": "Invalid interaction callback type.",
                            }
                        ]
                    }
                }
            )
        channel = self._channel_of(interaction)
        resource: dict[str, Any] = {"type": record.type}
        if record.type == 4:
            validate_message(record.data, files=len(call.files))
            interaction.original = self._message(
                channel,
                self.bot,
                record.data,
                files=call.files,
                webhook_id=self.application_id,
                interaction=interaction,
            )
            resource["message"] = interaction.original
        elif record.type == 5:
            flags = LOADING | (int(record.data.get("flags") or 0) & EPHEMERAL)
            interaction.original = self._message(
                channel,
                self.bot,
                {},
                webhook_id=self.application_id,
                interaction=interaction,
                flags=flags,
            )
            resource["message"] = interaction.original
        elif record.type == 8:
            choices = record.data.get("choices")
            if not isinstance(choices, list) or len(choices) > MAX_CHOICES:
                raise form_error({"data": {"choices": _max_length(MAX_CHOICES)}})
        interaction.callback = record
        if interaction.original is not None and not interaction.original["flags"] & EPHEMERAL:
            channel.messages.append(interaction.original)
        if not _truthy(call.query.get("with_response")):
            return None
        original = interaction.original
        shown: dict[str, Any] = {"id": interaction.id, "type": interaction.type}
        if original is not None:
            shown["response_message_id"] = original["id"]
            shown["response_message_loading"] = bool(original["flags"] & LOADING)
            shown["response_message_ephemeral"] = bool(original["flags"] & EPHEMERAL)
        answer: dict[str, Any] = {"interaction": shown}
        if "message" in resource:
            answer["resource"] = resource
        return answer

    def _channel_of(self, interaction: FakeInteraction) -> FakeChannel:
        found = self.find_channel(interaction.channel_id)
        assert found is not None
        return found[1]

    def _webhook_interaction(self, call: RestCall) -> FakeInteraction:
        token = call.params["interaction_token"]
        found = next((i for i in self.interactions.values() if i.token == token), None)
        if call.params["application_id"] != str(self.application_id) or found is None:
            raise DiscordError(404, 10015, "Unknown Webhook")
        if found.expired:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        if found.callback is None:
            raise DiscordError(404, 10015, "Unknown Webhook")  # not acknowledged yet
        return found

    def _followup(self, call: RestCall) -> tuple[int, Any]:
        interaction = self._webhook_interaction(call)
        body = call.json if isinstance(call.json, dict) else {}
        validate_message(body, files=len(call.files))
        channel = self._channel_of(interaction)
        original = interaction.original
        if original is not None and original["flags"] & LOADING and not interaction.followups:
            # The first follow-up after a thinking defer becomes the original response,
            # ephemeral as the defer was.
            ephemeral = original["flags"] & EPHEMERAL
            message = self._message(
                channel,
                self.bot,
                body,
                files=call.files,
                webhook_id=self.application_id,
                interaction=interaction,
                flags=ephemeral,
                message_id=int(original["id"]),
            )
            original.clear()
            original.update(message)
        else:
            message = self._message(
                channel,
                self.bot,
                body,
                files=call.files,
                webhook_id=self.application_id,
                interaction=interaction,
            )
            if not message["flags"] & EPHEMERAL:
                channel.messages.append(message)
        interaction.followups.append(message)
        if _truthy(call.query.get("wait")):
            return 200, message
        return 204, None

    def _webhook_message(self, call: RestCall) -> tuple[FakeInteraction, dict[str, Any]]:
        interaction = self._webhook_interaction(call)
        message_id = call.params["message_id"]
        if message_id == "@original":
            message = interaction.original
        else:
            message = next((m for m in interaction.followups if m["id"] == message_id), None)
        if message is None:
            raise DiscordError(404, 10008, "Unknown Message")
        return interaction, message

    def _get_webhook_message(self, call: RestCall) -> tuple[int, Any]:
        return 200, self._webhook_message(call)[1]

    def _edit_webhook_message(self, call: RestCall) -> tuple[int, Any]:
        _, message = self._webhook_message(call)
        body = call.json if isinstance(call.json, dict) else {}
        merged = {**message, **{k: v for k, v in body.items() if k != "flags"}}
        validate_message(merged, files=len(call.files) + len(message["attachments"]))
        if "content" in body:
            message["content"] = str(body["content"] or "")
        if "embeds" in body:
            message["embeds"] = [{"type": "rich", **e} for e in body["embeds"] or []]
        if "components" in body:
            message["components"] = list(body["components"] or [])
        message["flags"] &= ~LOADING
        message["edited_timestamp"] = _iso_now()
        return 200, message

    def _delete_webhook_message(self, call: RestCall) -> tuple[int, Any]:
        interaction, message = self._webhook_message(call)
        channel = self._channel_of(interaction)
        channel.messages[:] = [m for m in channel.messages if m["id"] != message["id"]]
        return 204, None

    def _visible_channel(self, call: RestCall) -> tuple[FakeGuild, FakeChannel]:
        found = self.find_channel(_int(call.params["channel_id"]))
        if found is None:
            raise DiscordError(404, 10003, "Unknown Channel")
        guild, channel = found
        if not compute_permissions(guild, self.bot.id, channel) & VIEW_CHANNEL:
            raise DiscordError(403, 50001, "Missing Access")
        return guild, channel

    def _get_channel(self, call: RestCall) -> tuple[int, Any]:
        return 200, self._visible_channel(call)[1].payload()

    def _post_message(self, call: RestCall) -> tuple[int, Any]:
        guild, channel = self._visible_channel(call)
        perms = compute_permissions(guild, self.bot.id, channel)
        needed = SEND_MESSAGES_IN_THREADS if channel.is_thread else SEND_MESSAGES
        if not perms & needed or (channel.is_thread and channel.locked):
            raise DiscordError(403, 50013, "Missing Permissions")
        if channel.is_thread and channel.archived:
            channel.archived = False  # sending unarchives an unlocked thread
        body = call.json if isinstance(call.json, dict) else {}
        validate_message(body, files=len(call.files))
        nonce = body.get("nonce")
        if nonce is not None:
            nonce = str(nonce)
            if len(nonce) > MAX_NONCE:
                raise form_error({"nonce": _max_length(MAX_NONCE)})
            earlier = self._nonces.get((channel.id, self.bot.id, nonce))
            if (
                earlier is not None
                and _truthy(body.get("enforce_nonce"))
                and time.monotonic() - earlier[1] < self.nonce_window
            ):
                same = next((m for m in channel.messages if m["id"] == earlier[0]), None)
                if same is not None:  # Discord answers with it and creates nothing
                    return 200, {**same, "nonce": nonce}
        reference = body.get("message_reference")
        if reference and not any(
            m["id"] == str(reference.get("message_id")) for m in channel.messages
        ):
            if reference.get("fail_if_not_exists", True):
                raise form_error(
                    {
                        "message_reference": {
                            "_errors": [
                                {"code": "REPLIES_UNKNOWN_MESSAGE", "message": "Unknown message"}
                            ]
                        }
                    }
                )
            body = {k: v for k, v in body.items() if k != "message_reference"}
        message = self._message(channel, self.bot, body, files=call.files)
        if not perms & EMBED_LINKS:
            message["embeds"] = []  # Discord drops them silently
        channel.messages.append(message)
        if nonce is None:
            return 200, message
        self._nonces[(channel.id, self.bot.id, nonce)] = (message["id"], time.monotonic())
        return 200, {**message, "nonce": nonce}  # the create answer has it, fetches do not

    def _get_messages(self, call: RestCall) -> tuple[int, Any]:
        """A page of a channel's messages, newest first, as Discord gives them: the newest
        ``limit`` (1-100, default 50) before ``before`` (or of all), or with ``after`` the
        ``limit`` messages right after it (still newest first: page on from the first's
        id). Without Read Message History the page is empty."""
        guild, channel = self._visible_channel(call)
        if not compute_permissions(guild, self.bot.id, channel) & READ_MESSAGE_HISTORY:
            return 200, []
        limit = _int(call.query.get("limit") or "50")
        if not 1 <= limit <= MAX_MESSAGES_PAGE:
            raise form_error(
                {
                    "limit": {
                        "_errors": [
                            {
                                "code": "NUMBER_TYPE_MAX",
                                "message": f"int value should be <= {MAX_MESSAGES_PAGE}.",
                            }
                        ]
                    }
                }
            )
        messages = sorted(channel.messages, key=lambda m: int(m["id"]))  # oldest first
        if "after" in call.query:
            after = _int(call.query["after"])
            page = [m for m in messages if int(m["id"]) > after][:limit]
        else:
            if "before" in call.query:
                before = _int(call.query["before"])
                messages = [m for m in messages if int(m["id"]) < before]
            page = messages[-limit:]
        return 200, [dict(m) for m in reversed(page)]

    def _get_message(self, call: RestCall) -> tuple[int, Any]:
        _, channel = self._visible_channel(call)
        found = next((m for m in channel.messages if m["id"] == call.params["message_id"]), None)
        if found is None:
            raise DiscordError(404, 10008, "Unknown Message")
        return 200, found

    def _edit_message(self, call: RestCall) -> tuple[int, Any]:
        _, channel = self._visible_channel(call)
        found = next((m for m in channel.messages if m["id"] == call.params["message_id"]), None)
        if found is None:
            raise DiscordError(404, 10008, "Unknown Message")
        if found["author"]["id"] != str(self.bot.id):
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        body = call.json if isinstance(call.json, dict) else {}
        validate_message({**found, **body})
        for key in ("content", "embeds", "components"):
            if key in body:
                found[key] = (
                    body[key]
                    if key != "embeds"
                    else [{"type": "rich", **e} for e in body[key] or []]
                )
        found["edited_timestamp"] = _iso_now()
        return 200, found

    def _thread_name(self, body: Mapping[str, Any]) -> str:
        name = str(body.get("name") or "")
        if not name:
            raise form_error(
                {
                    "name": {
                        "_errors": [
                            {"code": "BASE_TYPE_REQUIRED", "message": "This field is required"}
                        ]
                    }
                }
            )
        if len(name) > MAX_THREAD_NAME:
            raise form_error({"name": _max_length(MAX_THREAD_NAME)})
        return name

    def _start_thread(
        self,
        guild: FakeGuild,
        parent: FakeChannel,
        name: str,
        kind: int,
        body: Mapping[str, Any],
        thread_id: int | None = None,
    ) -> dict[str, Any]:
        if parent.is_thread:
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        needed = CREATE_PRIVATE_THREADS if kind == PRIVATE_THREAD else CREATE_PUBLIC_THREADS
        if not compute_permissions(guild, self.bot.id, parent) & needed:
            raise DiscordError(403, 50013, "Missing Permissions")
        thread = self.add_thread(
            parent, name, owner=self.bot, private=kind == PRIVATE_THREAD, thread_id=thread_id
        )
        thread.auto_archive_duration = int(body.get("auto_archive_duration") or 1440)
        payload = thread.payload()
        member = {
            "id": str(thread.id),
            "user_id": str(self.bot.id),
            "join_timestamp": thread.created_at,
            "flags": 1,
        }
        payload["member"] = member
        if self._session is None or self._loop is None:
            return payload  # no gateway session to tell
        task = self._loop.create_task(
            self._dispatch("THREAD_CREATE", {**payload, "newly_created": True})
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return payload

    def _post_message_thread(self, call: RestCall) -> tuple[int, Any]:
        guild, channel = self._visible_channel(call)
        message_id = call.params["message_id"]
        message = next((m for m in channel.messages if m["id"] == message_id), None)
        if message is None:
            raise DiscordError(404, 10008, "Unknown Message")
        if any(t.id == int(message_id) for t in guild.threads()):
            raise DiscordError(400, 160004, "A thread has already been created for this message")
        body = call.json if isinstance(call.json, dict) else {}
        name = self._thread_name(body)
        # A thread started from a message has the message's id.
        payload = self._start_thread(guild, channel, name, PUBLIC_THREAD, body, int(message_id))
        message["thread"] = payload
        message["flags"] = int(message.get("flags", 0)) | (1 << 5)  # HAS_THREAD
        return 201, payload

    def _post_thread(self, call: RestCall) -> tuple[int, Any]:
        guild, channel = self._visible_channel(call)
        body = call.json if isinstance(call.json, dict) else {}
        name = self._thread_name(body)
        kind = int(body.get("type") or PRIVATE_THREAD)
        if kind not in (PUBLIC_THREAD, PRIVATE_THREAD):
            raise form_error(
                {
                    "type": {
                        "_errors": [
                            {
                                "code": "BASE_TYPE_CHOICES",
                                "message": "Value must be one of {11, 12}.",
                            }
                        ]
                    }
                }
            )
        return 201, self._start_thread(guild, channel, name, kind, body)

    def _typing(self, call: RestCall) -> tuple[int, Any]:
        self._visible_channel(call)
        return 204, None

    def _get_member(self, call: RestCall) -> tuple[int, Any]:
        guild = self.guilds.get(_int(call.params["guild_id"]))
        if guild is None:
            raise DiscordError(404, 10004, "Unknown Guild")
        member = guild.members.get(_int(call.params["user_id"]))
        if member is None:
            raise DiscordError(404, 10007, "Unknown Member")
        return 200, member.payload()

    # -- the gateway --

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        compress = query.get("compress")
        if query.get("encoding", "json") != "json" or compress not in (None, "zlib-stream"):
            # zstd-stream would need a zstd module here too; discord.py asks for it only when
            # it has one (zstandard, or compression.zstd on 3.14).
            return web.Response(status=400, text=f"unsupported gateway options {query}")
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        with self._lock:
            record = GatewayConnection(
                len(self.connections) + 1, request.path, query, time.monotonic()
            )
            self.connections.append(record)
        connection = _Connection(record, ws, zlib.compressobj() if compress else None)
        with self._lock:
            self._live.append(connection)
        self._changed()
        try:
            await connection.send(
                {
                    "op": 10,
                    "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS, "_trace": []},
                    "s": None,
                    "t": None,
                }
            )
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    continue
                await self._on_frame(connection, str(frame.data))
        finally:
            with self._lock:
                if connection in self._live:
                    self._live.remove(connection)
                record.closed_at = time.monotonic()
                if record.close_code is None:
                    record.close_code = ws.close_code
                if self._session is not None and self._session.connection is connection:
                    self._session.connection = None
            self._changed()
        return ws

    async def _on_frame(self, connection: _Connection, text: str) -> None:
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            await self._refuse(connection, 4002, "Error while decoding payload.")
            return
        op, d = message.get("op"), message.get("d")
        with self._lock:
            self.received.append(GatewayFrame(connection.record.number, op, d, time.monotonic()))
        self._changed()
        if op == 1:
            await connection.send({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            await self._identify(connection, d or {})
        elif op == 6:
            await self._resume(connection, d or {})
        elif op not in (3, 4, 8):  # presence, voice state, request members: recorded only
            await self._refuse(connection, 4001, "Unknown opcode.")

    async def _refuse(self, connection: _Connection, code: int, reason: str) -> None:
        connection.record.close_code = code
        await connection.ws.close(code=code, message=reason.encode())

    async def _identify(self, connection: _Connection, d: Mapping[str, Any]) -> None:
        if d.get("token") != self.bot_token:
            await self._refuse(connection, 4004, "Authentication failed.")
            return
        intents = int(d.get("intents") or 0)
        if intents & PRIVILEGED_INTENTS & ~self.privileged_intents:
            await self._refuse(connection, 4014, "Disallowed intent(s).")
            return
        session = _Session(secrets.token_hex(16), intents)
        with self._lock:
            self._session = session
            session.connection = connection
        await self._dispatch("READY", self._ready(session))
        for guild in list(self.guilds.values()):
            await self._dispatch("GUILD_CREATE", self.guild_create(guild))
        with self._lock:
            connection.record.identified = True
        self._changed()

    async def _resume(self, connection: _Connection, d: Mapping[str, Any]) -> None:
        with self._lock:
            session = self._session
        if d.get("token") != self.bot_token:
            await self._refuse(connection, 4004, "Authentication failed.")
            return
        if session is None or d.get("session_id") != session.id:
            await connection.send({"op": 9, "d": False, "s": None, "t": None})
            return
        last = int(d.get("seq") or 0)
        with self._lock:
            missed = [e for e in session.log if e.s > last]
            session.connection = connection
        for event in missed:
            event.connection = connection.record.number
            await connection.send({"op": 0, "t": event.t, "s": event.s, "d": event.d})
        await self._dispatch("RESUMED", {"_trace": ['["gateway-prd-fake-1",{"micros":500}]']})
        with self._lock:
            connection.record.resumed = True
        self._changed()


_HANDLERS: dict[str, Callable[[FakeDiscord, RestCall], tuple[int, Any]]] = {
    "GET /gateway": FakeDiscord._get_gateway,
    "GET /gateway/bot": FakeDiscord._get_gateway_bot,
    "GET /users/@me": FakeDiscord._get_me,
    "GET /users/{user_id}": FakeDiscord._get_user,
    "GET /oauth2/applications/@me": FakeDiscord._get_application,
    "GET /applications/{application_id}/commands": FakeDiscord._get_commands,
    "PUT /applications/{application_id}/commands": FakeDiscord._put_commands,
    "GET /applications/{application_id}/guilds/{guild_id}/commands": FakeDiscord._get_commands,
    "PUT /applications/{application_id}/guilds/{guild_id}/commands": FakeDiscord._put_commands,
    "POST /interactions/{interaction_id}/{interaction_token}/callback": FakeDiscord._callback,
    "POST /webhooks/{application_id}/{interaction_token}": FakeDiscord._followup,
    "GET /webhooks/{application_id}/{interaction_token}/messages/{message_id}": (
        FakeDiscord._get_webhook_message
    ),
    "PATCH /webhooks/{application_id}/{interaction_token}/messages/{message_id}": (
        FakeDiscord._edit_webhook_message
    ),
    "DELETE /webhooks/{application_id}/{interaction_token}/messages/{message_id}": (
        FakeDiscord._delete_webhook_message
    ),
    "GET /channels/{channel_id}": FakeDiscord._get_channel,
    "GET /channels/{channel_id}/messages": FakeDiscord._get_messages,
    "POST /channels/{channel_id}/messages": FakeDiscord._post_message,
    "GET /channels/{channel_id}/messages/{message_id}": FakeDiscord._get_message,
    "PATCH /channels/{channel_id}/messages/{message_id}": FakeDiscord._edit_message,
    "POST /channels/{channel_id}/messages/{message_id}/threads": FakeDiscord._post_message_thread,
    "POST /channels/{channel_id}/threads": FakeDiscord._post_thread,
    "POST /channels/{channel_id}/typing": FakeDiscord._typing,
    "GET /guilds/{guild_id}/members/{user_id}": FakeDiscord._get_member,
}
assert set(_HANDLERS) == set(ROUTES)


# -- helpers --


def _route(method: str, path: str) -> tuple[str, dict[str, str]]:
    """The template in ``ROUTES`` that ``method path`` matches, and its parameters."""
    parts = path.strip("/").split("/")
    for route in ROUTES:
        route_method, template = route.split(" ", 1)
        pattern = template.strip("/").split("/")
        if route_method != method or len(pattern) != len(parts):
            continue
        params: dict[str, str] = {}
        for want, got in zip(pattern, parts, strict=True):
            if want.startswith("{"):
                params[want.strip("{}")] = got
            elif want != got:
                break
        else:
            return route, params
    return "", {}


def _matches(route: str, call: RestCall) -> bool:
    return route in (call.route, f"{call.method} {call.path}")


def _bucket(route: str) -> str:
    return base64.b32encode(route.encode()).decode()[:32].lower()


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise form_error(
            {
                "_errors": [
                    {"code": "NUMBER_TYPE_COERCE", "message": f'Value "{value}" is not snowflake.'}
                ]
            }
        ) from None


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("1", "true")


def _iso_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")


def _interaction_token(interaction_id: str) -> str:
    prefix = base64.urlsafe_b64encode(f"interaction:{interaction_id}:".encode()).decode()
    return prefix.rstrip("=") + secrets.token_urlsafe(96)


def _options(options: Mapping[str, Any] | Sequence[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Discord option objects from ``{name: value}`` (str 3, int 4, bool 5, float 10)."""
    if options is None:
        return []
    if not isinstance(options, Mapping):
        return [dict(o) for o in options]
    built = []
    for name, value in options.items():
        if isinstance(value, bool):
            kind = 5
        elif isinstance(value, int):
            kind = 4
        elif isinstance(value, float):
            kind = 10
        else:
            kind = 3
        built.append({"name": name, "type": kind, "value": value})
    return built


def _validate_command(command: Mapping[str, Any], index: int) -> None:
    at = [str(index)]
    name = command.get("name")
    if not isinstance(name, str) or not _COMMAND_NAME.match(name) or name != name.lower():
        raise form_error(
            _nest(
                [*at, "name"],
                {
                    "_errors": [
                        {
                            "code": "APPLICATION_COMMAND_INVALID_NAME",
                            "message": "Command name is invalid",
                        }
                    ]
                },
            )
        )
    if int(command.get("type", 1)) == 1:
        description = command.get("description")
        if not isinstance(description, str) or not 1 <= len(description) <= 100:
            raise form_error(_nest([*at, "description"], _max_length(100)))
    options = command.get("options") or []
    if len(options) > 25:
        raise form_error(_nest([*at, "options"], _max_length(25)))
    for number, option in enumerate(options):
        if len(option.get("choices") or []) > MAX_CHOICES:
            raise form_error(
                _nest([*at, "options", str(number), "choices"], _max_length(MAX_CHOICES))
            )


def _attachment(attachment_id: int, upload: UploadedFile) -> dict[str, Any]:
    return {
        "id": str(attachment_id),
        "filename": upload.filename,
        "size": len(upload.data),
        "url": f"https://cdn.discordapp.com/attachments/{attachment_id}/{upload.filename}",
        "proxy_url": f"https://media.discordapp.net/attachments/{attachment_id}/{upload.filename}",
        "content_type": upload.content_type,
    }


async def _read_multipart(request: web.Request) -> tuple[Any, list[UploadedFile]]:
    """``payload_json`` decoded, and the ``files[n]`` parts."""
    body: Any = None
    files: list[UploadedFile] = []
    reader = await request.multipart()
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            continue
        data = await part.read(decode=False)
        name = part.name or ""
        if name == "payload_json":
            body = json.loads(data)
        else:
            files.append(
                UploadedFile(
                    name,
                    part.filename or name,
                    part.headers.get("Content-Type", "application/octet-stream"),
                    bytes(data),
                )
            )
    return body, files


# -- connecting the real discord.py --


@contextlib.contextmanager
def pointed_at(fake: FakeDiscord) -> Iterator[None]:
    """Point discord.py's REST base at the fake for the block, restoring it after.

    Both are class attributes: ``discord.http.Route.BASE`` and
    ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` (set to the fake's gateway, which
    ``connected()`` replaces with what ``GET /gateway/bot`` says)."""
    import discord.gateway
    import discord.http
    import yarl

    base = discord.http.Route.BASE
    gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway


@contextlib.asynccontextmanager
async def connected(
    fake: FakeDiscord,
    client: discord.Client,
    *,
    token: str | None = None,
    timeout: float = 5.0,
) -> AsyncIterator[discord.Client]:
    """Log ``client`` in at the fake, connect it to the gateway ``GET /gateway/bot`` names
    and wait until it is ready with every guild available; close it after the block.

    ``Client.connect`` dials ``DiscordWebSocket.DEFAULT_GATEWAY`` (only the auto-sharded
    client asks ``/gateway/bot``), so that class attribute is set from the answer, as a
    bot that honours ``/gateway/bot`` would, and restored after."""
    import discord.gateway
    import yarl

    with pointed_at(fake):
        try:
            await client.login(token or fake.bot_token)
        except BaseException:
            await client.close()
            raise
        _, url, _ = await client.http.get_bot_gateway()
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        available: set[int] = set()
        wanted = set(fake.guilds)

        def all_available(guild: discord.Guild) -> bool:
            available.add(guild.id)
            return wanted <= available

        # One listener for every guild_available (GUILD_CREATE before or after READY).
        guilds = asyncio.ensure_future(client.wait_for("guild_available", check=all_available))
        task = asyncio.create_task(client.connect(reconnect=True))
        try:
            waiting: asyncio.Future[Any] = asyncio.gather(client.wait_until_ready(), guilds)
            done, _ = await asyncio.wait(
                {waiting, task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if task in done:
                waiting.cancel()
                task.result()  # raises what connect() raised
                raise RuntimeError("discord.Client.connect() returned before the client was ready")
            if waiting not in done:
                waiting.cancel()
                raise TimeoutError(f"discord.py not ready within {timeout}s; {fake._seen()}")
            yield client
        finally:
            await client.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, timeout)


@pytest.fixture
def fake_discord() -> Iterator[FakeDiscord]:
    """A started ``FakeDiscord`` (its own thread, so sync and async tests can both use it)."""
    with FakeDiscord() as fake:
        yield fake
