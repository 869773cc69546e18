"""``bot.redact``: credentials never reach a person, a log or the store through a message."""

from __future__ import annotations

import logging
import sys

import pytest

from bot.domain import SourceError
from bot.errors import LLMConnectionError, LLMRequestError, SourceHTTPError, StoreError
from bot.redact import RedactingFilter, redact

DISCORD = "MTA5ODc2NTQzMjEwOTg3NjU0Mw.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        pytest.param("http://user:s3cret@host/v1", "s3cret", id="url-userinfo"),
        pytest.param("https://ghp_0123456789abcdefghijkl@host/x", "ghp_", id="url-token-only"),
        pytest.param("postgresql+psycopg://bb:p@ss@db:5432/x", "p@ss", id="dsn-password-with-@"),
        pytest.param("DATABASE_URL 'bb:hunter2@db/x' is bad", "hunter2", id="no-scheme"),
        pytest.param("Authorization: Bearer abc.def-ghi", "abc.def-ghi", id="authorization"),
        pytest.param('{"authorization": "Basic dXNlcjpwYXNz"}', "dXNlcjpwYXNz", id="json-header"),
        pytest.param("sent bearer eyJhbGciOiJI and failed", "eyJhbGciOiJI", id="bearer"),
        pytest.param("GET /search?q=x&api_key=k123456 failed", "k123456", id="query-api-key"),
        pytest.param("key sk-abcdefghijklmnop123 rejected", "abcdefghijklmnop123", id="openai"),
        pytest.param("key sk-proj-AbC_dEf-123456789 rejected", "AbC_dEf-123456789", id="proj"),
        pytest.param("xoxb-123456789012-1234567890123-AbCdEf", "AbCdEf", id="slack-bot"),
        pytest.param("xapp-1-A0123456789-1234567890-abcdef", "abcdef", id="slack-app"),
        pytest.param("tokens xoxp-1-2-3-abcd, xoxa-2-abcd, xoxr-9-abcd", "abcd", id="slack-others"),
        pytest.param(f"bot token {DISCORD}.", DISCORD, id="discord"),
    ],
)
def test_every_kind_of_credential_is_replaced(text: str, secret: str) -> None:
    redacted = redact(text)
    assert secret not in redacted
    assert "***" in redacted


@pytest.mark.parametrize(
    "text",
    [
        "HTTP 404 from https://news.example/feed.xml",
        "use postgresql+psycopg://briefbot@db/briefbot",
        "the daily token budget is used up (1,200 of 1,000 tokens)",
        "max_tokens=300 and tokens=5 are settings, not secrets",
        "see www.example.com/a.b.c and task-id 1.2.3",
        "the sky-blue report, sk-1 is short",
        "write to desk@news.example at 10:30@ the latest",
    ],
)
def test_text_without_credentials_is_unchanged(text: str) -> None:
    assert redact(text) == text


def test_error_messages_are_redacted_when_the_error_is_made() -> None:
    refused = LLMRequestError(401, "refused: Authorization: Bearer sk-SENTINELsecret123")
    assert "SENTINEL" not in str(refused)
    gone = LLMConnectionError("http://u:SENTINELPASS@127.0.0.1:9/v1", "connection refused")
    assert "SENTINELPASS" not in str(gone)
    assert "SENTINELPASS" not in gone.base_url
    http = SourceHTTPError("https://u:SENTINELPASS@news.example/feed.xml", 404)
    assert "SENTINELPASS" not in str(http)
    assert "SENTINELPASS" not in http.source
    assert "SENTINELPASS" not in str(StoreError("Cannot open postgresql://u:SENTINELPASS@db/x"))
    entry = SourceError("https://u:SENTINELPASS@news.example/f", "echo xoxb-1234-SENTINEL")
    assert "SENTINEL" not in entry.source + entry.error
    assert entry.source == "https://u:***@news.example/f"


def test_log_records_are_redacted_arguments_and_traceback_included() -> None:
    try:
        raise RuntimeError("server said Authorization: Bearer sk-SENTINELtraceback1")
    except RuntimeError:
        record = logging.LogRecord(
            "bot", logging.ERROR, __file__, 1, "fetching %s", ("http://u:SENTINEL@h/",), None
        )
        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    text = logging.Formatter().format(record)
    assert "SENTINEL" not in text
    assert "fetching http://u:***@h/" in text
    assert "RuntimeError" in text
