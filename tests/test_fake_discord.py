"""The fake Discord (tests/fakes/discord.py) as the real discord.py 2.7 sees it."""

from __future__ import annotations

import asyncio
from typing import Any

import discord
import discord.gateway
import discord.http
import pytest
from discord import app_commands

from tests.fakes.discord import (
    EPHEMERAL,
    LOADING,
    SEND_MESSAGES,
    FakeDiscord,
    connected,
    overwrite,
    pointed_at,
)

# Short: connected() waits for every guild itself, so this only trims the wait after the last.
READY_TIMEOUT = 0.05


def _client(**options: Any) -> discord.Client:
    return discord.Client(
        intents=discord.Intents.default(), guild_ready_timeout=READY_TIMEOUT, **options
    )


def _brief_tree(client: discord.Client, fake: FakeDiscord) -> app_commands.CommandTree:
    """``/brief topic`` (defers, then follows up with an embed) with autocomplete on topic,
    and ``/topics add name`` in a group."""
    tree = app_commands.CommandTree(client)
    guild = discord.Object(fake.guild.id)

    @tree.command(name="brief", description="Brief this channel on a topic", guild=guild)
    @app_commands.describe(topic="The story to brief on")
    async def brief(interaction: discord.Interaction, topic: str) -> None:
        await interaction.response.defer(thinking=True)
        embed = discord.Embed(title=f"Briefing: {topic}", description="• Talks stall [1][2]")
        embed.add_field(name="Sources", value="[1] Meridian Wire\n[2] The Coastal Ledger")
        await interaction.followup.send(embed=embed)

    @brief.autocomplete("topic")
    async def topics(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        known = ["port strike", "port tariffs", "rail strike"]
        return [app_commands.Choice(name=t, value=t) for t in known if t.startswith(current)]

    group = app_commands.Group(
        name="topics", description="Tracked topics", guild_ids=[fake.guild.id]
    )

    @group.command(name="add", description="Track a topic")
    async def add(interaction: discord.Interaction, name: str) -> None:
        await interaction.response.send_message(f"Tracking {name}", ephemeral=True)

    tree.add_command(group)
    return tree


@pytest.fixture(autouse=True)
def _restore_discord_globals() -> Any:
    """Route.BASE and DEFAULT_GATEWAY are class attributes: each test leaves them as found."""
    base = discord.http.Route.BASE
    gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    yield
    after = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    assert after == (base, gateway)


# -- connecting --


async def test_client_logs_in_identifies_and_sees_the_guild_with_channels_roles_and_permissions(
    fake_discord: FakeDiscord,
) -> None:
    client = _client()

    async with connected(fake_discord, client):
        assert client.user is not None
        assert client.user.id == fake_discord.bot.id
        assert client.application_id == fake_discord.application_id
        guild = client.get_guild(fake_discord.guild.id)
        assert guild is not None
        assert guild.name == "Briefbot Test"
        general = guild.get_channel(fake_discord.channel.id)
        announcements = guild.get_channel(fake_discord.read_only.id)
        assert isinstance(general, discord.TextChannel)
        assert isinstance(announcements, discord.TextChannel)
        assert general.permissions_for(guild.me).send_messages
        assert not announcements.permissions_for(guild.me).send_messages
        assert guild.me.guild_permissions.manage_threads
        assert not guild.me.guild_permissions.administrator

    [login] = fake_discord.calls_to("GET /users/@me")
    assert login.headers["Authorization"] == f"Bot {fake_discord.bot_token}"
    assert fake_discord.calls_to("GET /oauth2/applications/@me")
    assert fake_discord.calls_to("GET /gateway/bot")
    [identify] = fake_discord.identifies
    assert identify.d["token"] == fake_discord.bot_token
    assert identify.d["intents"] == discord.Intents.default().value
    [connection] = fake_discord.connections
    assert connection.path == "/gateway"
    assert connection.query == {"v": "10", "encoding": "json", "compress": "zlib-stream"}
    await fake_discord.wait_for_disconnect()  # client.close()
    assert connection.close_code is not None


# -- application commands --


async def test_commands_sync_to_the_guild_with_the_tree_s_payload_echoed_with_ids(
    fake_discord: FakeDiscord,
) -> None:
    client = _client()
    tree = _brief_tree(client, fake_discord)

    async with connected(fake_discord, client):
        synced = await tree.sync(guild=discord.Object(fake_discord.guild.id))

    [put] = fake_discord.calls_to("PUT /applications/{application_id}/guilds/{guild_id}/commands")
    assert put.params == {
        "application_id": str(fake_discord.application_id),
        "guild_id": str(fake_discord.guild.id),
    }
    by_name = {c["name"]: c for c in put.json}
    assert set(by_name) == {"brief", "topics"}
    [topic] = by_name["brief"]["options"]
    assert topic == {**topic, "name": "topic", "type": 3, "required": True, "autocomplete": True}
    [add] = by_name["topics"]["options"]
    assert add["type"] == 1
    assert add["name"] == "add"
    assert {c.name for c in synced} == {"brief", "topics"}
    assert all(c.id and c.guild_id == fake_discord.guild.id for c in synced)


async def test_slash_command_defers_thinking_then_follows_up_with_an_embed(
    fake_discord: FakeDiscord,
) -> None:
    client = _client()
    tree = _brief_tree(client, fake_discord)

    async with connected(fake_discord, client):
        await tree.sync(guild=discord.Object(fake_discord.guild.id))
        interaction = await fake_discord.send_interaction("brief", {"topic": "port strike"})
        callback = await fake_discord.wait_for_callback(interaction.id)
        [followup] = await fake_discord.wait_for_followup(interaction.id)

    assert callback.type == 5
    assert callback.ok
    assert callback.after is not None
    [embed] = followup["embeds"]
    assert embed["title"] == "Briefing: port strike"
    assert embed["fields"][0]["name"] == "Sources"
    # The first follow-up after a thinking defer replaces the "thinking" message.
    assert interaction.original is not None
    assert interaction.original["id"] == followup["id"]
    assert not interaction.original["flags"] & LOADING
    [post] = fake_discord.calls_to("POST /webhooks/{application_id}/{interaction_token}")
    assert post.query["wait"] == "1"
    assert fake_discord.messages(fake_discord.channel.id)[-1]["embeds"] == [embed]


async def test_a_second_response_to_one_interaction_is_refused_with_40060(
    fake_discord: FakeDiscord,
) -> None:
    client = _client()
    tree = app_commands.CommandTree(client)
    errors: list[discord.HTTPException] = []
    handled = asyncio.Event()

    @tree.command(
        name="ping", description="Answer twice", guild=discord.Object(fake_discord.guild.id)
    )
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        try:
            await interaction.client.http.request(  # the same callback again, as a raw request
                discord.http.Route(
                    "POST",
                    "/interactions/{interaction_id}/{token}/callback",
                    interaction_id=interaction.id,
                    token=interaction.token,
                ),
                json={"type": 4, "data": {"content": "pong"}},
            )
        except discord.HTTPException as exc:
            errors.append(exc)
        finally:
            handled.set()

    async with connected(fake_discord, client):
        await tree.sync(guild=discord.Object(fake_discord.guild.id))
        interaction = await fake_discord.send_interaction("ping")
        await asyncio.wait_for(handled.wait(), 5)
        first = await fake_discord.wait_for_callback(interaction.id)
        second = await fake_discord.wait_for_callback(interaction.id, count=2)

    assert (first.type, first.status) == (5, 200)
    assert (second.status, second.code) == (400, 40060)
    [error] = errors
    assert error.code == 40060
    assert error.text == "Interaction has already been acknowledged."


async def test_expired_interaction_answers_unknown_interaction_10062(
    fake_discord: FakeDiscord,
) -> None:
    client = _client()
    tree = app_commands.CommandTree(client)
    errors: list[discord.HTTPException] = []
    go = asyncio.Event()
    handled = asyncio.Event()

    @tree.command(name="slow", description="Too late", guild=discord.Object(fake_discord.guild.id))
    async def slow(interaction: discord.Interaction) -> None:
        await go.wait()
        try:
            await interaction.response.send_message("done")
        except discord.NotFound as exc:
            errors.append(exc)
        finally:
            handled.set()

    async with connected(fake_discord, client):
        await tree.sync(guild=discord.Object(fake_discord.guild.id))
        interaction = await fake_discord.send_interaction("slow")
        fake_discord.expire(interaction.id)
        go.set()
        await asyncio.wait_for(handled.wait(), 5)
        callback = await fake_discord.wait_for_callback(interaction.id)

    assert (callback.status, callback.code) == (404, 10062)
    [error] = errors
    assert error.code == 10062


async def test_autocomplete_is_answered_with_choices_callback_type_8(
    fake_discord: FakeDiscord,
) -> None:
    client = _client()
    tree = _brief_tree(client, fake_discord)

    async with connected(fake_discord, client):
        await tree.sync(guild=discord.Object(fake_discord.guild.id))
        interaction = await fake_discord.send_autocomplete("brief", "topic", "port")
        callback = await fake_discord.wait_for_callback(interaction.id)

    assert callback.type == 8
    assert callback.data["choices"] == [
        {"name": "port strike", "value": "port strike"},
        {"name": "port tariffs", "value": "port tariffs"},
    ]
    [option] = interaction.payload["data"]["options"]
    assert option["focused"] is True


async def test_subcommand_in_a_group_answers_ephemerally_with_the_member_s_permissions(
    fake_discord: FakeDiscord,
) -> None:
    client = _client()
    tree = _brief_tree(client, fake_discord)
    seen: list[discord.Permissions] = []

    @client.event
    async def on_interaction(interaction: discord.Interaction) -> None:
        assert isinstance(interaction.user, discord.Member)
        seen.append(interaction.user.guild_permissions)

    async with connected(fake_discord, client):
        await tree.sync(guild=discord.Object(fake_discord.guild.id))
        interaction = await fake_discord.send_interaction(
            "topics", {"name": "rail strike"}, subcommand="add", user=fake_discord.moderator_user
        )
        callback = await fake_discord.wait_for_callback(interaction.id)

    assert callback.type == 4
    assert callback.data["content"] == "Tracking rail strike"
    assert callback.data["flags"] & EPHEMERAL
    [permissions] = seen
    assert permissions.manage_guild
    assert not permissions.administrator
    assert int(interaction.payload["member"]["permissions"]) & SEND_MESSAGES


async def test_original_response_then_a_thread_on_it(fake_discord: FakeDiscord) -> None:
    client = _client()
    tree = app_commands.CommandTree(client)
    threads: list[discord.Thread] = []
    handled = asyncio.Event()

    @tree.command(
        name="story", description="Open a thread", guild=discord.Object(fake_discord.guild.id)
    )
    async def story(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("Port strike: the briefing")
        message = await interaction.original_response()
        threads.append(await message.create_thread(name="Port strike follow-ups"))
        handled.set()

    async with connected(fake_discord, client):
        await tree.sync(guild=discord.Object(fake_discord.guild.id))
        interaction = await fake_discord.send_interaction("story")
        await asyncio.wait_for(handled.wait(), 5)
        [created] = fake_discord.calls_to(
            "POST /channels/{channel_id}/messages/{message_id}/threads"
        )

    assert interaction.original is not None
    [get] = fake_discord.calls_to(
        "GET /webhooks/{application_id}/{interaction_token}/messages/{message_id}"
    )
    assert get.params["message_id"] == "@original"
    assert created.params == {
        "channel_id": str(fake_discord.channel.id),
        "message_id": interaction.original["id"],
    }
    assert created.json["name"] == "Port strike follow-ups"
    [thread] = threads
    assert thread.id == int(interaction.original["id"])  # a thread has its starter's id
    assert thread.parent_id == fake_discord.channel.id
    assert thread.type is discord.ChannelType.public_thread


# -- messages --


async def test_a_message_mentioning_the_bot_reaches_on_message(fake_discord: FakeDiscord) -> None:
    client = _client()
    received: asyncio.Queue[discord.Message] = asyncio.Queue()

    @client.event
    async def on_message(message: discord.Message) -> None:
        await received.put(message)

    thread = fake_discord.add_thread(fake_discord.channel, "Port strike follow-ups")
    async with connected(fake_discord, client):
        await fake_discord.send_message_create(
            "what did the union say?", mention_bot=True, channel=thread
        )
        await fake_discord.send_message_create("unrelated chatter", channel=thread)
        mention = await asyncio.wait_for(received.get(), 5)
        chatter = await asyncio.wait_for(received.get(), 5)

    assert client.user is not None
    assert client.user in mention.mentions
    assert mention.content == f"<@{fake_discord.bot.id}> what did the union say?"
    assert isinstance(mention.channel, discord.Thread)
    assert mention.channel.id == thread.id
    assert not mention.author.bot
    # Without the message content intent, Discord blanks messages that do not mention the bot.
    assert chatter.content == ""


async def test_missing_permissions_on_send_raise_forbidden_with_the_code(
    fake_discord: FakeDiscord,
) -> None:
    client = _client()

    async with connected(fake_discord, client):
        read_only = client.get_channel(fake_discord.read_only.id)
        general = client.get_channel(fake_discord.channel.id)
        assert isinstance(read_only, discord.TextChannel)
        assert isinstance(general, discord.TextChannel)
        with pytest.raises(discord.Forbidden) as refused:
            await read_only.send("briefing")
        fake_discord.forbid_next("POST /channels/{channel_id}/messages", code=50001)
        with pytest.raises(discord.Forbidden) as scripted:
            await general.send("briefing")
        with pytest.raises(discord.HTTPException) as too_long:
            await general.send(embed=discord.Embed(description="x" * 4097))
        sent = await general.send("briefing", embed=discord.Embed(title="Port strike"))

    assert (refused.value.status, refused.value.code) == (403, 50013)
    assert (scripted.value.status, scripted.value.code) == (403, 50001)
    assert (too_long.value.status, too_long.value.code) == (400, 50035)
    assert "embeds.0.description" in too_long.value.text
    [posted] = fake_discord.posted(fake_discord.channel.id)
    assert posted["id"] == str(sent.id)
    assert posted["embeds"][0]["title"] == "Port strike"


async def test_a_429_is_retried_after_retry_after(fake_discord: FakeDiscord) -> None:
    client = _client()
    fake_discord.rate_limit_next("POST /channels/{channel_id}/messages", retry_after=0.2)

    async with connected(fake_discord, client):
        general = client.get_channel(fake_discord.channel.id)
        assert isinstance(general, discord.TextChannel)
        sent = await general.send("briefing")

    limited, accepted = fake_discord.calls_to("POST /channels/{channel_id}/messages")
    assert limited.status == 429
    assert limited.response["retry_after"] == 0.2
    assert accepted.status == 200
    assert accepted.at - limited.at >= 0.2
    assert accepted.response["id"] == str(sent.id)


# -- the gateway --


async def test_reconnect_op_7_leads_to_resume_with_missed_events_replayed(
    fake_discord: FakeDiscord,
) -> None:
    client = _client()
    received: asyncio.Queue[discord.Message] = asyncio.Queue()

    @client.event
    async def on_message(message: discord.Message) -> None:
        await received.put(message)

    async with connected(fake_discord, client):
        session = fake_discord.session_id
        await fake_discord.send_reconnect()
        await fake_discord.wait_for_resume()
        await fake_discord.send_message_create("after the resume", mention_bot=True)
        message = await asyncio.wait_for(received.get(), 5)

    [resume] = fake_discord.resumes
    assert resume.d["session_id"] == session
    assert resume.d["token"] == fake_discord.bot_token
    assert resume.d["seq"] == 2  # READY and one GUILD_CREATE
    first, second = fake_discord.connections[:2]
    assert first.path == "/gateway"
    assert second.path == "/gateway-resume"  # READY's resume_gateway_url
    assert len(fake_discord.identifies) == 1
    assert message.content.endswith("after the resume")


async def test_a_dropped_connection_resumes_and_gets_what_it_missed(
    fake_discord: FakeDiscord,
) -> None:
    client = _client()
    received: asyncio.Queue[discord.Message] = asyncio.Queue()

    @client.event
    async def on_message(message: discord.Message) -> None:
        await received.put(message)

    async with connected(fake_discord, client):
        await fake_discord.drop_connection(4000)
        await fake_discord.wait_for_disconnect()
        await fake_discord.send_message_create("while you were away", mention_bot=True)
        await fake_discord.wait_for_resume()
        message = await asyncio.wait_for(received.get(), 5)

    assert fake_discord.connections[0].close_code == 4000
    assert message.content.endswith("while you were away")
    assert len(fake_discord.identifies) == 1


def test_pointed_at_sets_and_restores_discord_s_class_attributes() -> None:
    with FakeDiscord() as fake:
        base = discord.http.Route.BASE
        with pointed_at(fake):
            assert (
                discord.http.Route.BASE,
                str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY),
            ) == (
                fake.api_url,
                fake.gateway_url,
            )
        assert base in (discord.http.Route.BASE,)


async def test_a_channel_overwrite_for_the_bot_role_is_applied(fake_discord: FakeDiscord) -> None:
    quiet = fake_discord.add_channel(
        fake_discord.guild,
        "quiet",
        overwrites=[overwrite(fake_discord.bot_role().id, deny=SEND_MESSAGES)],
    )
    client = _client()

    async with connected(fake_discord, client):
        channel = client.get_channel(quiet.id)
        assert isinstance(channel, discord.TextChannel)
        assert not channel.permissions_for(channel.guild.me).send_messages
        with pytest.raises(discord.Forbidden):
            await channel.send("briefing")


# -- nonces, listing messages and crash hooks (REST only: a logged-in client) --


def _post_route(channel_id: int) -> discord.http.Route:
    return discord.http.Route("POST", "/channels/{channel_id}/messages", channel_id=channel_id)


async def test_discord_py_sends_enforce_nonce_and_a_repeat_returns_the_first_message(
    fake_discord: FakeDiscord,
) -> None:
    client = _client()
    with pointed_at(fake_discord):
        await client.login(fake_discord.bot_token)
        try:
            channel = fake_discord.channel.id

            def send(content: str, nonce: str) -> Any:
                params = discord.http.handle_message_parameters(content=content, nonce=nonce)
                return client.http.send_message(channel, params=params)

            first = await send("digest", "a" * 25)
            again = await send("digest, retried", "a" * 25)
            other = await send("another digest", "b" * 25)
            plain = await client.http.request(
                _post_route(channel), json={"content": "x", "nonce": "b" * 25}
            )
            with pytest.raises(discord.HTTPException) as raised:
                await send("too long a nonce", "c" * 26)
        finally:
            await client.close()

    call = fake_discord.calls_to("POST /channels/{channel_id}/messages")[0]
    assert (call.json["nonce"], call.json["enforce_nonce"]) == ("a" * 25, True)
    assert again["id"] == first["id"]
    assert again["content"] == "digest"  # the earlier message, as Discord answers
    assert first["nonce"] == "a" * 25
    assert other["id"] != first["id"]
    assert plain["id"] != other["id"]  # without enforce_nonce a nonce dedupes nothing
    assert [m["content"] for m in fake_discord.messages(channel)] == [
        "digest",
        "another digest",
        "x",
    ]
    assert [m["content"] for m in fake_discord.posted(channel)] == ["digest", "another digest", "x"]
    assert (raised.value.status, raised.value.code) == (400, 50035)


async def test_channel_messages_page_newest_first_with_before_after_and_limit(
    fake_discord: FakeDiscord,
) -> None:
    client = _client()
    with pointed_at(fake_discord):
        await client.login(fake_discord.bot_token)
        try:
            channel = fake_discord.channel.id
            ids = [
                int(
                    (await client.http.request(_post_route(channel), json={"content": f"m{n}"}))[
                        "id"
                    ]
                )
                for n in range(5)
            ]
            newest = await client.http.logs_from(channel, 2)
            before = await client.http.logs_from(channel, 2, before=ids[3])
            after = await client.http.logs_from(channel, 2, after=ids[0])
            everything = await client.http.logs_from(channel, 100)
            with pytest.raises(discord.HTTPException) as raised:
                await client.http.logs_from(channel, 101)
        finally:
            await client.close()

    def contents(page: list[Any]) -> list[str]:
        return [m["content"] for m in page]

    assert contents(newest) == ["m4", "m3"]
    assert contents(before) == ["m2", "m1"]
    assert contents(after) == ["m2", "m1"]  # the two right after m0, newest first
    assert contents(everything) == ["m4", "m3", "m2", "m1", "m0"]
    assert raised.value.code == 50035


async def test_a_discord_post_held_after_store_is_stored_but_unanswered_until_released(
    fake_discord: FakeDiscord,
) -> None:
    client = _client()
    seen: list[dict[str, Any]] = []
    fake_discord.on_post(seen.append, stage="before_store")
    fake_discord.hold_posts("after_store")
    with pointed_at(fake_discord):
        await client.login(fake_discord.bot_token)
        try:
            posting = asyncio.ensure_future(
                client.http.request(_post_route(fake_discord.channel.id), json={"content": "held"})
            )
            [held] = await fake_discord.wait_for_held(1)

            assert held["content"] == "held"
            assert held["channel_id"] == str(fake_discord.channel.id)
            assert [m["content"] for m in fake_discord.messages(fake_discord.channel.id)] == [
                "held"
            ]
            assert not posting.done()
            fake_discord.release()
            message = await posting
        finally:
            await client.close()

    assert message["content"] == "held"
    assert [p["content"] for p in seen] == ["held"]
