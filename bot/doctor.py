"""``briefbot doctor``: checks of a deployment, each saying what is wrong and how to fix it.

Every check gives a ``Check``: a name, a status (``ok``, ``warn``, ``fail``), a one-line
detail and the sentence that fixes it. The checks only look: the database is opened but never
migrated, feeds are fetched once and nothing is stored. Details and fixes are redacted
(``bot.redact``), so no credential reaches the output.

Composition-level, like ``bot.app`` (it may use the app's wiring); the platform SDKs are
imported only when their token is set.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from bot.config import Settings, load_topics
from bot.domain import BriefingMode, Topic
from bot.errors import BriefbotError, ConfigError
from bot.redact import redact

Status = Literal["ok", "warn", "fail"]
SOURCE_CHECK_CONCURRENCY = 8


@dataclass(frozen=True)
class Check:
    """One check's result; ``fix`` is empty when there is nothing to do."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def __post_init__(self) -> None:
        for attr in ("name", "detail", "fix"):
            object.__setattr__(self, attr, redact(getattr(self, attr)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def failed(checks: list[Check]) -> bool:
    return any(check.status == "fail" for check in checks)


async def run_checks(load: Callable[[], Settings]) -> list[Check]:
    """Every check, in order; ``load`` reads the settings (a ``ConfigError`` is a failed
    check and the rest are skipped, as they all need the settings)."""
    try:
        settings = load()
    except ConfigError as exc:
        return [Check("settings", "fail", str(exc), "Fix the setting named above (.env.example).")]
    checks = [Check("settings", "ok", "settings load")]
    checks.append(check_data_dir(settings))
    database = await asyncio.to_thread(check_database, settings)
    checks.append(database)
    prompts = check_prompts(settings)
    checks.append(prompts)
    checks.append(await check_model(settings, prompts_ok=prompts.status == "ok"))
    if settings.slack_bot_token is not None or settings.slack_app_token is not None:
        checks.append(await check_slack(settings))
    if settings.discord_bot_token is not None:
        checks.append(await check_discord(settings))
    if database.status == "ok":
        checks.append(await asyncio.to_thread(check_deliveries, settings))
    checks.extend(
        await check_sources(
            settings, database_ok=database.status == "ok", note=database.status == "fail"
        )
    )
    return checks


# -- storage ------------------------------------------------------------------------------------


def check_data_dir(settings: Settings) -> Check:
    directory = settings.data_dir
    name = "data dir"
    if not directory.exists():
        return Check(name, "ok", f"{directory} does not exist yet; briefbot creates it")
    if not directory.is_dir():
        return Check(
            name, "fail", f"{directory} is not a directory", "Point BRIEFBOT_DATA_DIR at a folder."
        )
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        return Check(
            name,
            "fail",
            f"cannot write to {directory}: {exc.strerror or exc}",
            "Make BRIEFBOT_DATA_DIR writable by this user, or point it elsewhere.",
        )
    return Check(name, "ok", f"{directory} is writable")


def check_database(settings: Settings) -> Check:
    """Opens the database and compares its schema revision with this briefbot's newest."""
    from bot.store.engine import create_store_engine, describe, parse_url
    from bot.store.migrate import current_revision, head_revision, is_known_revision

    name = "database"
    url = settings.resolved_database_url
    if settings.database_url is None:
        path = settings.data_dir / "briefbot.sqlite3"
        if not path.exists():
            return Check(name, "warn", f"no database yet at {path}", _MIGRATE_FIX)
    try:
        engine = create_store_engine(url)
    except BriefbotError as exc:
        return Check(name, "fail", str(exc), "Fix DATABASE_URL (or unset it to use SQLite).")
    where = describe(parse_url(url))
    try:
        current = current_revision(engine)
    except BriefbotError as exc:
        return Check(
            name,
            "fail",
            str(exc),
            "Check DATABASE_URL and that the database server is running and reachable.",
        )
    finally:
        engine.dispose()
    head = head_revision()
    if current == head:
        return Check(name, "ok", f"{where} at the newest schema ({head})")
    if current is None:
        return Check(name, "warn", f"{where} is empty: it needs migrating", _MIGRATE_FIX)
    if not is_known_revision(current):
        return Check(
            name,
            "fail",
            f"{where} is at schema {current}, which this briefbot does not know (newest: "
            f"{head}); a newer briefbot wrote it",
            "Upgrade briefbot, or point DATABASE_URL / BRIEFBOT_DATA_DIR at another database.",
        )
    return Check(
        name, "warn", f"{where} is at schema {current}: it needs migrating to {head}", _MIGRATE_FIX
    )


def check_deliveries(settings: Settings) -> Check:
    """Digests and live updates of the last day that failed, and deliveries a crash left
    unfinished that no scheduler has recovered (read only, on a migrated database)."""
    from bot.config import parse_duration
    from bot.domain import utcnow
    from bot.store.database import Database
    from bot.store.deliveries import DeliveryRepository
    from bot.store.engine import create_store_engine

    name = "deliveries"
    engine = create_store_engine(settings.resolved_database_url)
    try:
        now = utcnow()
        repository = DeliveryRepository(Database(engine))
        failed, _ = repository.problems(now - timedelta(days=1))
        _, stuck = repository.problems(now - parse_duration(settings.digest_grace))
    except BriefbotError as exc:
        return Check(name, "fail", str(exc), "Check DATABASE_URL and the database server.")
    finally:
        engine.dispose()
    if stuck:
        oldest = stuck[0]
        return Check(
            name,
            "warn",
            f"{len(stuck)} delivery(ies) left unfinished since {oldest.claimed_at:%Y-%m-%d %H:%M} "
            f"UTC ({oldest.slot_key})",
            "Run briefbot run with BRIEFBOT_SCHEDULER on: the scheduler's leader recovers them "
            "(looking each up on its platform before posting).",
        )
    if failed:
        latest = failed[0]
        return Check(
            name,
            "warn",
            f"{len(failed)} delivery(ies) failed in the last day; the latest ({latest.slot_key}): "
            f"{latest.error}",
            "Fix what the error names (e.g. invite the bot to the channel); the next slot is "
            "delivered as usual.",
        )
    return Check(name, "ok", "no delivery failed in the last day, none left unfinished")


_MIGRATE_FIX = "Run any briefbot command (e.g. briefbot stories): it migrates the database."


# -- prompts and the model ---------------------------------------------------------------------


def check_prompts(settings: Settings) -> Check:
    from bot.summarize.prompts import load_prompts

    directory = settings.resolved_prompts_dir
    try:
        load_prompts(directory)
    except BriefbotError as exc:
        return Check(
            "prompts",
            "fail",
            str(exc),
            "Fix the prompt file named above, or unset BRIEFBOT_PROMPTS_DIR for the shipped ones.",
        )
    return Check("prompts", "ok", f"prompts in {directory} load")


async def check_model(settings: Settings, *, prompts_ok: bool = True) -> Check:
    """Asks the model server for its models (no tokens spent) when LLM mode would be used."""
    from bot.app import resolve_mode

    name = "model"
    try:
        mode = resolve_mode(settings)
    except ConfigError as exc:
        return Check(name, "fail", str(exc), "Set OPENAI_API_KEY or OPENAI_BASE_URL.")
    if mode is BriefingMode.EXTRACTIVE:
        return Check(name, "ok", "extractive mode: no model needed")
    if not prompts_ok:
        return Check(name, "warn", "not checked: the prompts do not load", "Fix the prompts first.")
    from bot.errors import LLMConnectionError, LLMError, LLMRequestError, LLMTimeout
    from bot.llm.client import LLMClient

    client = LLMClient(settings)
    try:
        models = await client.list_models()
    except LLMRequestError as exc:
        if exc.status in (401, 403):
            fix = "Check OPENAI_API_KEY: the model server refused it."
        elif exc.status == 404:
            fix = "Check OPENAI_BASE_URL; an OpenAI-compatible API usually ends in /v1."
        else:
            fix = "See the server's message above."
        return Check(name, "fail", str(exc), fix)
    except (LLMConnectionError, LLMTimeout) as exc:
        return Check(
            name,
            "fail",
            str(exc),
            f"Check OPENAI_BASE_URL ({client.base_url}) and that the model server is running.",
        )
    except LLMError as exc:
        return Check(name, "fail", str(exc), "Check OPENAI_BASE_URL and OPENAI_API_KEY.")
    finally:
        await client.close()
    if models and settings.model not in models:
        return Check(
            name,
            "warn",
            f"{client.base_url} answers, but does not list model {settings.model}",
            f"Set BRIEFBOT_MODEL to one the server offers (e.g. {models[0]}).",
        )
    return Check(name, "ok", f"{client.base_url} answers; model {settings.model}")


# -- chat platforms ----------------------------------------------------------------------------


async def check_slack(settings: Settings) -> Check:
    """``auth.test`` with the bot token."""
    name = "slack"
    if settings.slack_bot_token is None or not settings.slack_bot_token.get_secret_value():
        return Check(name, "fail", "SLACK_APP_TOKEN is set without SLACK_BOT_TOKEN", _SLACK_FIX)
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    client = AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url
    )
    try:
        reply = await client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else None
        return Check(name, "fail", f"auth.test failed: {error or exc}", _SLACK_FIX)
    except Exception as exc:  # aiohttp's connection errors, timeouts
        return Check(
            name,
            "fail",
            f"cannot reach {settings.slack_api_url}: {type(exc).__name__}: {exc}",
            "Check the network, or BRIEFBOT_SLACK_API_URL.",
        )
    detail = f"team {reply.get('team')}, bot user {reply.get('user')} ({reply.get('user_id')})"
    if not settings.slack_configured:
        return Check(
            name,
            "warn",
            f"{detail}; but neither SLACK_APP_TOKEN nor SLACK_SIGNING_SECRET is set",
            "Set SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode).",
        )
    return Check(name, "ok", detail)


_SLACK_FIX = (
    "Set SLACK_BOT_TOKEN to the app's current Bot User OAuth Token (xoxb-...), reinstalling "
    "the app if it was revoked."
)


async def check_discord(settings: Settings) -> Check:
    """``GET /users/@me`` with the bot token."""
    import httpx2

    name = "discord"
    token = settings.discord_bot_token.get_secret_value() if settings.discord_bot_token else ""
    url = f"{settings.discord_api_url.rstrip('/')}/users/@me"
    try:
        async with httpx2.AsyncClient(timeout=10.0) as client:
            response = await client.get(url, headers={"Authorization": f"Bot {token}"})
    except httpx2.HTTPError as exc:
        return Check(
            name,
            "fail",
            f"cannot reach {url}: {type(exc).__name__}: {exc}",
            "Check the network, or BRIEFBOT_DISCORD_API_URL.",
        )
    if response.status_code == 401:
        return Check(
            name,
            "fail",
            "GET /users/@me: 401 Unauthorized: the token was refused",
            "Set DISCORD_BOT_TOKEN to the bot's current token (Developer Portal > Bot).",
        )
    if response.status_code != 200:
        return Check(
            name,
            "fail",
            f"GET /users/@me: HTTP {response.status_code}: {response.text[:200]}",
            "Check BRIEFBOT_DISCORD_API_URL and DISCORD_BOT_TOKEN.",
        )
    user = response.json()
    return Check(name, "ok", f"bot user {user.get('username')} ({user.get('id')})")


# -- sources -----------------------------------------------------------------------------------


async def check_sources(
    settings: Settings, *, database_ok: bool, note: bool = False
) -> list[Check]:
    """Fetches each tracked topic's sources once (no full texts, nothing stored); ``note``
    says that chat-added sources are left out when the database cannot be read."""
    try:
        topics = await _topics(settings, database_ok=database_ok)
    except BriefbotError as exc:
        return [Check("topics", "fail", str(exc), "Fix the topics file (BRIEFBOT_TOPICS_FILE).")]
    notes = (
        [Check("topics", "warn", "sources added from chat are not checked: no usable database")]
        if note and not database_ok
        else []
    )
    if not topics:
        checks = [Check("topics", "ok", f"no topics in {settings.resolved_topics_file}")]
        return [*checks, *notes]
    quick = settings.model_copy(update={"fetch_full_text": False})
    limit = asyncio.Semaphore(SOURCE_CHECK_CONCURRENCY)

    async def bounded(call: Awaitable[Check]) -> Check:
        async with limit:
            return await call

    jobs: list[Awaitable[Check]] = []
    for topic in topics.values():
        if not topic.sources:
            jobs.append(_done(_discovery_check(topic)))
        for spec in topic.sources:
            jobs.append(bounded(check_source(quick, topic, spec)))
    checks = list(await asyncio.gather(*jobs))
    return [*checks, *notes]


async def _done(check: Check) -> Check:
    return check


def _discovery_check(topic: Topic) -> Check:
    return Check(
        f"topic {topic.name}",
        "ok",
        "no sources: searched on GDELT and Google News (not checked here)",
    )


def _exists(spec: str) -> bool:
    return Path(os.path.expanduser(spec)).exists()


async def check_source(settings: Settings, topic: Topic, spec: str) -> Check:
    from bot.sources.gather import gather

    name = f"source {topic.name}: {spec}"
    is_url = spec.startswith(("http://", "https://"))
    if not is_url and not await asyncio.to_thread(_exists, spec):
        return Check(
            name, "fail", f"{spec} does not exist", "Fix the path in the topics file, or remove it."
        )
    untrusted = [spec] if spec in topic.chat_sources else []
    try:
        result = await gather([spec], settings, untrusted=untrusted)
    except BriefbotError as exc:
        return Check(name, "fail", str(exc), _SOURCE_FIX)
    if result.errors:
        return Check(name, "fail", "; ".join(e.error for e in result.errors), _SOURCE_FIX)
    count = len(result.articles)
    if count == 0:
        return Check(name, "warn", "reachable, but has no articles", _SOURCE_FIX)
    return Check(name, "ok", f"{count} articles")


_SOURCE_FIX = (
    "Fix the source's URL or path, or remove it: briefbot topics add NAME --source ... "
    "(or `sources remove` from chat)."
)


async def _topics(settings: Settings, *, database_ok: bool) -> dict[str, Topic]:
    if not database_ok:
        return await asyncio.to_thread(load_topics, settings.resolved_topics_file)
    from bot.app import build_service

    async with build_service(settings, force_llm=False) as service:  # at head: no migration
        return await service.topics()
