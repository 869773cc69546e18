"""Settings and the topics file: the only module that reads the environment.

``Settings`` is read once from environment variables and ``.env`` (see
``.env.example`` for every key). ``load_settings`` turns pydantic's
validation errors into a ``ConfigError`` that names the variable and the fix. Every
number has an upper bound (nothing overflows later), an empty value (``KEY=``) means
unset, and an unknown ``BRIEFBOT_*`` key is logged as a warning naming the closest one.
Files that cannot be read or written (the topics file, ``.env``) raise ``ConfigError``
naming the path.

Topics live in a TOML file whose path is the ``BRIEFBOT_TOPICS_FILE`` setting::

    [topics.ukraine]
    query = "ukraine OR kyiv OR zelensky"   # optional; defaults to the topic's words
    sources = ["https://example.org/world.rss", "./local/feed.xml"]
    discovery = true                         # also ask GDELT / Google News (needs internet)

Names are normalised by ``topic_key``: two tables that are one topic under it are refused.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import json
import logging
import os
import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import tomli_w
from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from bot.domain import MAX_POINTS, Topic, topic_key
from bot.errors import ConfigError

__all__ = [
    "MAX_DURATION",
    "Settings",
    "Topic",
    "load_settings",
    "load_topics",
    "parse_duration",
    "save_topics",
    "setting_keys",
]

log = logging.getLogger(__name__)

DiscoveryName = Literal["gdelt", "googlenews"]
_DEFAULT_DISCOVERY: tuple[DiscoveryName, ...] = ("gdelt", "googlenews")


# The largest daily token budget accepted: far above any real spend, and within a
# 64-bit database integer.
MAX_TOKEN_BUDGET = 10**12


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "briefbot"


class Settings(BaseSettings):
    """Every setting of briefbot. Environment variables win over ``.env``."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        # ``KEY=`` (as in .env.example) means unset: the default, or None for optional keys.
        env_ignore_empty=True,
        # nan and inf pass no bound check that means anything; refuse them outright.
        allow_inf_nan=False,
    )

    data_dir: Path = Field(default_factory=default_data_dir, alias="BRIEFBOT_DATA_DIR")
    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    topics_file: Path | None = Field(default=None, alias="BRIEFBOT_TOPICS_FILE")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="WARNING", alias="BRIEFBOT_LOG_LEVEL"
    )

    # Fetching
    http_timeout: float = Field(default=15.0, gt=0, le=600, alias="BRIEFBOT_HTTP_TIMEOUT")
    max_body_bytes: int = Field(
        default=5_000_000, gt=0, le=1_000_000_000, alias="BRIEFBOT_MAX_BODY_BYTES"
    )
    max_redirects: int = Field(default=5, ge=0, le=20, alias="BRIEFBOT_MAX_REDIRECTS")
    fetch_concurrency: int = Field(default=8, ge=1, le=64, alias="BRIEFBOT_FETCH_CONCURRENCY")
    fetch_full_text: bool = Field(default=True, alias="BRIEFBOT_FETCH_FULL_TEXT")
    user_agent: str = Field(
        default="briefbot/0.1 (+https://github.com/briefbot/briefbot)",
        alias="BRIEFBOT_USER_AGENT",
    )

    # Keyless discovery (used for topics with discovery on, or with no sources at all)
    discovery: Annotated[list[DiscoveryName], NoDecode] = Field(
        default_factory=lambda: list(_DEFAULT_DISCOVERY), alias="BRIEFBOT_DISCOVERY"
    )
    gdelt_url: str = Field(
        default="https://api.gdeltproject.org/api/v2/doc/doc", alias="BRIEFBOT_GDELT_URL"
    )
    google_news_url: str = Field(
        default="https://news.google.com/rss/search", alias="BRIEFBOT_GOOGLE_NEWS_URL"
    )

    # Stories and briefings
    since: str = Field(default="48h", alias="BRIEFBOT_SINCE")
    # At most MAX_DURATION (defined below with parse_duration), like every window.
    story_window_days: float = Field(
        default=7.0, gt=0, le=36500, alias="BRIEFBOT_STORY_WINDOW_DAYS"
    )
    max_stories: int = Field(default=5, ge=1, le=50, alias="BRIEFBOT_MAX_STORIES")
    max_points: int = Field(default=MAX_POINTS, ge=1, le=20, alias="BRIEFBOT_MAX_POINTS")
    brief_concurrency: int = Field(default=4, ge=1, le=32, alias="BRIEFBOT_BRIEF_CONCURRENCY")
    gather_max_age: str = Field(default="10m", alias="BRIEFBOT_GATHER_MAX_AGE")
    ingest_batch_size: int = Field(default=500, ge=1, le=5000, alias="BRIEFBOT_INGEST_BATCH_SIZE")

    # Summarizer: an OpenAI-compatible LLM, or the offline extractive briefer
    mode: Literal["auto", "llm", "extractive"] = Field(default="auto", alias="BRIEFBOT_MODE")
    openai_api_key: SecretStr | None = Field(default=None, alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(default=None, alias="OPENAI_BASE_URL")
    model: str = Field(default="gpt-4.1-mini", alias="BRIEFBOT_MODEL")
    llm_timeout: float = Field(default=60.0, gt=0, le=3600, alias="BRIEFBOT_LLM_TIMEOUT")
    llm_connect_timeout: float = Field(
        default=5.0, gt=0, le=300, alias="BRIEFBOT_LLM_CONNECT_TIMEOUT"
    )
    llm_max_retries: int = Field(default=2, ge=0, le=10, alias="BRIEFBOT_LLM_MAX_RETRIES")
    structured_output: Literal["auto", "json_schema", "json_object"] = Field(
        default="auto", alias="BRIEFBOT_STRUCTURED_OUTPUT"
    )
    # Unset: not sent (the server's default; OpenAI's reasoning models accept no other).
    llm_temperature: float | None = Field(
        default=None, ge=0, le=2, alias="BRIEFBOT_LLM_TEMPERATURE"
    )
    prompt_token_budget: int = Field(
        default=6000, ge=500, le=1_000_000, alias="BRIEFBOT_PROMPT_TOKEN_BUDGET"
    )
    max_completion_tokens: int = Field(
        default=1200, ge=100, le=200_000, alias="BRIEFBOT_MAX_COMPLETION_TOKENS"
    )
    prompts_dir: Path | None = Field(default=None, alias="BRIEFBOT_PROMPTS_DIR")
    # Overrides of the price table (bot.summarize.pricing), US dollars per million tokens
    price_prompt_per_mtok: float | None = Field(
        default=None, ge=0, le=1000, alias="BRIEFBOT_PRICE_PROMPT_PER_MTOK"
    )
    price_completion_per_mtok: float | None = Field(
        default=None, ge=0, le=1000, alias="BRIEFBOT_PRICE_COMPLETION_PER_MTOK"
    )
    daily_token_budget: int | None = Field(
        default=None, ge=1, le=MAX_TOKEN_BUDGET, alias="BRIEFBOT_DAILY_TOKEN_BUDGET"
    )
    channel_daily_token_budget: int | None = Field(
        default=None, ge=1, le=MAX_TOKEN_BUDGET, alias="BRIEFBOT_CHANNEL_DAILY_TOKEN_BUDGET"
    )

    # Chat
    timezone: str = Field(default="UTC", alias="BRIEFBOT_TIMEZONE")
    allow_private_sources: bool = Field(default=False, alias="BRIEFBOT_ALLOW_PRIVATE_SOURCES")
    chat_concurrency: int = Field(default=8, ge=1, le=256, alias="BRIEFBOT_CHAT_CONCURRENCY")
    shutdown_grace: float = Field(default=20.0, ge=0, le=600, alias="BRIEFBOT_SHUTDOWN_GRACE")
    # Scheduler: polling, digests, live updates (bot.scheduler)
    scheduler: bool = Field(default=True, alias="BRIEFBOT_SCHEDULER")
    poll_interval: str = Field(default="15m", alias="BRIEFBOT_POLL_INTERVAL")
    poll_max_backoff: str = Field(default="6h", alias="BRIEFBOT_POLL_MAX_BACKOFF")
    poll_concurrency: int = Field(default=4, ge=1, le=64, alias="BRIEFBOT_POLL_CONCURRENCY")
    host_delay: float = Field(default=1.0, ge=0, le=60, alias="BRIEFBOT_HOST_DELAY")
    digest_grace: str = Field(default="2h", alias="BRIEFBOT_DIGEST_GRACE")
    delivery_concurrency: int = Field(
        default=16, ge=1, le=256, alias="BRIEFBOT_DELIVERY_CONCURRENCY"
    )
    live_update_interval: str = Field(default="1h", alias="BRIEFBOT_LIVE_UPDATE_INTERVAL")
    leader_retry: float = Field(default=5.0, ge=0.1, le=300, alias="BRIEFBOT_LEADER_RETRY")
    subscription_sync: float = Field(
        default=15.0, ge=0.1, le=3600, alias="BRIEFBOT_SUBSCRIPTION_SYNC"
    )
    # Slack
    slack_bot_token: SecretStr | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_app_token: SecretStr | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_api_url: str = Field(default="https://slack.com/api/", alias="BRIEFBOT_SLACK_API_URL")
    slack_port: int = Field(default=3000, ge=1, le=65535, alias="BRIEFBOT_SLACK_PORT")
    slack_host: str = Field(default="0.0.0.0", alias="BRIEFBOT_SLACK_HOST")  # noqa: S104
    slack_managers: Annotated[list[str], NoDecode] = Field(
        default_factory=list, alias="BRIEFBOT_SLACK_MANAGERS"
    )

    @field_validator("discovery", mode="before")
    @classmethod
    def _split_discovery(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if value.startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip() and part != "none"]
        return value

    # Discord
    discord_bot_token: SecretStr | None = Field(default=None, alias="DISCORD_BOT_TOKEN")
    discord_api_url: str = Field(
        default="https://discord.com/api/v10", alias="BRIEFBOT_DISCORD_API_URL"
    )
    discord_manager_roles: Annotated[list[str], NoDecode] = Field(
        default_factory=list, alias="BRIEFBOT_DISCORD_MANAGER_ROLES"
    )
    discord_global_commands: bool = Field(default=False, alias="BRIEFBOT_DISCORD_GLOBAL_COMMANDS")

    @field_validator("slack_managers", "discord_manager_roles", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        return check_zone(value)

    @field_validator("slack_api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        return _http_url(value).rstrip("/") + "/"

    @field_validator("discord_api_url")
    @classmethod
    def _check_discord_url(cls, value: str) -> str:
        return _http_url(value).rstrip("/")

    @field_validator(
        "since",
        "gather_max_age",
        "poll_interval",
        "poll_max_backoff",
        "digest_grace",
        "live_update_interval",
    )
    @classmethod
    def _check_since(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'briefbot.sqlite3'}"

    @property
    def resolved_topics_file(self) -> Path:
        return self.topics_file or (self.data_dir / "topics.toml")

    @property
    def resolved_prompts_dir(self) -> Path:
        return self.prompts_dir or Path(__file__).resolve().parent.parent / "prompts"

    @property
    def slack_configured(self) -> bool:
        """True when Slack can be served: a bot token and an app token or signing secret."""
        return _set(self.slack_bot_token) and (
            _set(self.slack_app_token) or _set(self.slack_signing_secret)
        )

    @property
    def discord_configured(self) -> bool:
        return _set(self.discord_bot_token)

    @property
    def llm_configured(self) -> bool:
        """True when an API key or a base URL (a local server needs no key) is set."""
        return bool(self.openai_api_key and self.openai_api_key.get_secret_value()) or bool(
            self.openai_base_url
        )


def _http_url(value: str) -> str:
    value = value.strip()
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


def _set(secret: SecretStr | None) -> bool:
    return bool(secret and secret.get_secret_value().strip())


def check_zone(name: str) -> str:
    """``name`` as an IANA time zone (``Europe/Kyiv``), or ``ValueError`` naming the fix."""
    cleaned = name.strip()
    if cleaned.upper() == "UTC":
        return "UTC"
    try:
        ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError):
        close = sorted(z for z in available_timezones() if z.lower() == cleaned.lower())
        hint = f" Did you mean {close[0]}?" if close else ""
        raise ValueError(
            f"{name!r} is not an IANA time zone; use one like Europe/London or "
            f"America/New_York.{hint}"
        ) from None
    return cleaned


_FIXES: dict[str, str] = {
    "BRIEFBOT_HTTP_TIMEOUT": "a number of seconds greater than 0 and at most 600, e.g. 15",
    "BRIEFBOT_MAX_BODY_BYTES": "a whole number of bytes from 1 to 1000000000, e.g. 5000000",
    "BRIEFBOT_MAX_REDIRECTS": "a whole number from 0 to 20",
    "BRIEFBOT_FETCH_CONCURRENCY": "a whole number from 1 to 64",
    "BRIEFBOT_FETCH_FULL_TEXT": "true or false",
    "BRIEFBOT_DISCOVERY": "a comma-separated list of gdelt, googlenews (or 'none')",
    "BRIEFBOT_SINCE": "a duration such as 90m, 48h or 7d",
    "BRIEFBOT_STORY_WINDOW_DAYS": "a number of days greater than 0 and at most 36500, e.g. 7",
    "BRIEFBOT_MAX_STORIES": "a whole number from 1 to 50",
    "BRIEFBOT_MAX_POINTS": "a whole number of key points per story from 1 to 20, e.g. 6",
    "BRIEFBOT_BRIEF_CONCURRENCY": "a whole number of stories briefed at once, from 1 to 32",
    "BRIEFBOT_GATHER_MAX_AGE": "a duration such as 10m or 1h (0m gathers on every briefing)",
    "BRIEFBOT_INGEST_BATCH_SIZE": "a whole number of articles per write, from 1 to 5000",
    "BRIEFBOT_TIMEZONE": "an IANA time zone such as Europe/London or UTC",
    "BRIEFBOT_ALLOW_PRIVATE_SOURCES": "true or false",
    "BRIEFBOT_CHAT_CONCURRENCY": "a whole number of chat requests served at once, 1 to 256",
    "BRIEFBOT_SHUTDOWN_GRACE": "a number of seconds from 0 to 600, e.g. 20",
    "BRIEFBOT_SCHEDULER": "true or false",
    "BRIEFBOT_POLL_INTERVAL": "a duration such as 5m, 15m or 2h",
    "BRIEFBOT_POLL_MAX_BACKOFF": "a duration such as 1h or 6h",
    "BRIEFBOT_POLL_CONCURRENCY": "a whole number of sources polled at once, 1 to 64",
    "BRIEFBOT_HOST_DELAY": "a number of seconds between requests to one host, 0 to 60",
    "BRIEFBOT_DIGEST_GRACE": "a duration such as 30m or 2h",
    "BRIEFBOT_DELIVERY_CONCURRENCY": "a whole number of digests delivered at once, 1 to 256",
    "BRIEFBOT_LIVE_UPDATE_INTERVAL": "a duration such as 30m or 1h",
    "BRIEFBOT_LEADER_RETRY": "a number of seconds from 0.1 to 300, e.g. 5",
    "BRIEFBOT_SUBSCRIPTION_SYNC": "a number of seconds from 0.1 to 3600, e.g. 15",
    "BRIEFBOT_SLACK_API_URL": "the Slack Web API base URL, https://slack.com/api/ by default",
    "BRIEFBOT_SLACK_PORT": "a TCP port from 1 to 65535, e.g. 3000",
    "BRIEFBOT_DISCORD_API_URL": "the Discord REST base URL, https://discord.com/api/v10 by default",
    "BRIEFBOT_DISCORD_GLOBAL_COMMANDS": "true or false",
    "BRIEFBOT_LOG_LEVEL": "one of DEBUG, INFO, WARNING, ERROR",
    "BRIEFBOT_MODE": "auto (LLM when OPENAI_API_KEY or OPENAI_BASE_URL is set), llm or extractive",
    "BRIEFBOT_LLM_TIMEOUT": "a number of seconds greater than 0 and at most 3600, e.g. 60",
    "BRIEFBOT_LLM_TEMPERATURE": "a number from 0 to 2, e.g. 0 for repeatable answers, or "
    "leave it unset for the server's default",
    "BRIEFBOT_LLM_CONNECT_TIMEOUT": "a number of seconds greater than 0 and at most 300, e.g. 5",
    "BRIEFBOT_LLM_MAX_RETRIES": "a whole number from 0 to 10",
    "BRIEFBOT_STRUCTURED_OUTPUT": "auto, json_schema or json_object",
    "BRIEFBOT_PROMPT_TOKEN_BUDGET": "a whole number of tokens from 500 to 1000000, e.g. 6000",
    "BRIEFBOT_MAX_COMPLETION_TOKENS": "a whole number of tokens from 100 to 200000, e.g. 1200",
    "BRIEFBOT_PRICE_PROMPT_PER_MTOK": "US dollars per million prompt tokens from 0 to 1000, "
    "e.g. 0.40, or unset",
    "BRIEFBOT_PRICE_COMPLETION_PER_MTOK": "US dollars per million completion tokens from 0 to "
    "1000, e.g. 1.60, or unset",
    "BRIEFBOT_DAILY_TOKEN_BUDGET": "a whole number of tokens per day from 1 to 1000000000000, "
    "or leave it unset",
    "BRIEFBOT_CHANNEL_DAILY_TOKEN_BUDGET": "a whole number of tokens per channel per day from 1 "
    "to 1000000000000, or unset",
}


# Variables with our prefix that other parts of the repository read; not settings.
_NOT_SETTINGS = frozenset({"BRIEFBOT_BENCH_DATA"})


def setting_keys() -> list[str]:
    """Every key ``Settings`` reads, as spelled in the environment and ``.env``."""
    return [field.alias or name.upper() for name, field in Settings.model_fields.items()]


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment and ``.env``; raise ``ConfigError`` naming the fix.

    An unknown ``BRIEFBOT_*`` key (a typo such as ``BRIEFBOT_MAX_STORYS``) is logged as a
    warning naming the closest known key, since pydantic would ignore it silently.
    """
    env_file = Path(str(Settings.model_config.get("env_file") or ".env"))
    try:
        if env_file.exists() and not env_file.is_file():
            raise IsADirectoryError(errno.EISDIR, "it is not a regular file", str(env_file))
        _warn_unknown_keys(env_file)
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = str(err["loc"][0]) if err["loc"] else "?"
            fix = _FIXES.get(key, "see .env.example for the accepted values")
            got = err.get("input")
            problems.append(f"{key}: {err['msg']} (got {got!r}). Set it to {fix}.")
        raise ConfigError("Invalid setting. " + " ".join(problems)) from None
    except SettingsError as exc:
        raise ConfigError(
            f"Invalid setting: {exc}. See .env.example for the accepted values."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"Cannot read the settings file {env_file.resolve()}: {_reason(exc)}. Make it a "
            "readable UTF-8 text file of KEY=value lines (see .env.example), or remove it."
        ) from None


def _warn_unknown_keys(env_file: Path) -> None:
    known = setting_keys()
    found: dict[str, str] = {}
    if env_file.is_file():
        for key in dotenv_values(env_file, encoding="utf-8"):
            found[key.upper()] = str(env_file)
    for key in os.environ:
        found[key.upper()] = "the environment"
    for key, where in sorted(found.items()):
        if not key.startswith("BRIEFBOT_") or key in known or key in _NOT_SETTINGS:
            continue
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {close[0]}?" if close else "see .env.example for every key."
        log.warning("Unknown setting %s in %s is ignored; %s", key, where, hint)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_UNIT_SECONDS = {"m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
# The longest duration accepted (100 years): far back enough for "everything", and "now"
# minus it stays a valid date.
MAX_DURATION = timedelta(days=36500)


def parse_duration(text: str) -> timedelta:
    """Parse ``90m``, ``48h``, ``7d`` or ``2w`` into a timedelta of at most ``MAX_DURATION``."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration; use a number and m, h, d or w, e.g. 48h")
    amount, unit = float(match.group(1)), match.group(2).lower()
    if amount * _UNIT_SECONDS[unit] > MAX_DURATION.total_seconds():  # also inf
        raise ValueError(
            f"{text.strip()!r} is too long; the longest allowed is {MAX_DURATION.days}d (100 years)"
        )
    return timedelta(**{_UNITS[unit]: amount})


_TOPIC_KEYS = ("query", "sources", "discovery")


def load_topics(path: Path) -> dict[str, Topic]:
    """Read the topics file; a missing file means no topics. Raises ``ConfigError``.

    An unknown top-level table (``[topic.x]`` for ``[topics.x]``) is logged as a warning;
    two topics whose names differ only in case or spacing are refused.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except IsADirectoryError:
        raise ConfigError(
            f"Topics file {path} is a directory, not a file. Point BRIEFBOT_TOPICS_FILE at a "
            "TOML file, or move the directory away."
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"Cannot read the topics file {path}: {_reason(exc)}. Make it readable "
            "(e.g. chmod u+r) or point BRIEFBOT_TOPICS_FILE at another file."
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"Topics file {path} is not UTF-8 text: {exc}. Save it as UTF-8 or point "
            "BRIEFBOT_TOPICS_FILE at another file."
        ) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"Topics file {path} is not valid TOML: {exc}. Fix the file or point "
            "BRIEFBOT_TOPICS_FILE at another one."
        ) from None
    for name in raw:
        if name != "topics":
            close = difflib.get_close_matches(name, ["topics"], n=1)
            hint = f"did you mean [{close[0]}.NAME]?" if close else "topics are [topics.NAME]."
            log.warning("Topics file %s: unknown table [%s] is ignored; %s", path, name, hint)
    table = raw.get("topics", {})
    if not isinstance(table, dict):
        raise ConfigError(f"Topics file {path}: 'topics' must be a table like [topics.NAME].")
    topics: dict[str, Topic] = {}
    spelled: dict[str, str] = {}
    for name, entry in table.items():
        where = f"Topics file {path}, [topics.{name}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: must be a table with query/sources/discovery keys.")
        unknown = set(entry) - set(_TOPIC_KEYS)
        if unknown:
            hints = []
            for key in sorted(unknown):
                close = difflib.get_close_matches(key, _TOPIC_KEYS, n=1)
                hints.append(f"{key} (did you mean {close[0]}?)" if close else key)
            raise ConfigError(
                f"{where}: unknown key(s) {', '.join(hints)}; "
                "allowed are query, sources, discovery."
            )
        query = entry.get("query", "")
        sources = entry.get("sources", [])
        discovery = entry.get("discovery", False)
        if not isinstance(query, str):
            raise ConfigError(f'{where}: query must be a string, e.g. query = "ukraine OR kyiv".')
        if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            raise ConfigError(f'{where}: sources must be a list of URLs or paths, e.g. ["a.rss"].')
        if not isinstance(discovery, bool):
            raise ConfigError(f"{where}: discovery must be true or false.")
        key = topic_key(name)
        if not key:
            raise ConfigError(f"Topics file {path}: a topic name must not be empty.")
        if key in spelled:
            raise ConfigError(
                f"Topics file {path}: [topics.{spelled[key]}] and [topics.{name}] are the same "
                f"topic ({key!r}: names ignore case and spacing). Merge them into one table."
            )
        spelled[key] = name
        topics[key] = Topic(key, query, list(sources), discovery)
    return topics


def save_topics(path: Path, topics: dict[str, Topic]) -> None:
    """Write the topics file atomically (a crash leaves the previous file intact).

    Raises ``ConfigError`` naming the path when it cannot be written (a read-only data
    directory, a directory where the file should be).
    """
    data: dict[str, Any] = {"topics": {}}
    for name in sorted(topics):
        topic = topics[name]
        entry: dict[str, Any] = {"sources": topic.sources, "discovery": topic.discovery}
        if topic.query:
            entry["query"] = topic.query
        data["topics"][name] = entry
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(tomli_w.dumps(data), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        failed = exc.filename or path
        raise ConfigError(
            f"Cannot write the topics file {path} ({failed}: {_reason(exc)}). Make "
            f"{path.parent} a writable directory, or point BRIEFBOT_TOPICS_FILE at a file "
            "in one."
        ) from None
