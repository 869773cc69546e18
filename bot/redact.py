"""Credentials out of text meant for a person, a log or the store: ``redact(text)``.

One pure function, applied at every boundary where a message leaves briefbot's hands: the
messages of ``BriefbotError`` and ``SourceError`` (so LLM, source, store and configuration
errors are redacted when they are made), the notes of a briefing before it is saved or
rendered, every log record (``bot.adapters.console.setup_logging`` installs
``RedactingFilter``), and the CLI's error boundary.

What it hides, each replaced by ``***``:

- the userinfo of a URL: its password (``https://user:pass@host/`` ->
  ``https://user:***@host/``), or all of it when it is a long user name alone, likely a
  token (``https://ghp_0123...@host`` -> ``https://***@host``), and a ``user:pass@host``
  without a scheme;
- the value of an ``Authorization`` header, and any ``Bearer``/``Basic``/``Token`` value;
- secret-looking query parameters (``?api_key=``, ``token=``, ``password=`` ...);
- OpenAI keys (``sk-...``, ``sk-proj-...``), Slack tokens (``xoxb-``, ``xoxp-``, ``xoxa-``,
  ``xoxr-``, ``xapp-`` ...) and Discord bot tokens (three base64url parts joined by dots).

It never raises and leaves text without credentials unchanged.
"""

from __future__ import annotations

import logging
import re

__all__ = ["REDACTED", "RedactingFilter", "redact"]

REDACTED = "***"

_B64URL = r"[A-Za-z0-9_-]"
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # URL userinfo with a password: scheme://user:pass@host -> scheme://user:***@host; the
    # user name names the account (SQLAlchemy shows it too). Greedy up to the last "@" of
    # the authority, so a password with a raw "@" goes too.
    (
        re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s?#\"'<>:@]*:)[^/\s?#\"'<>]*@"),
        rf"\g<1>{REDACTED}@",
    ),
    # URL userinfo without a password that is long enough to be a token (scheme://token@host);
    # a short user name alone (postgresql://briefbot@db) stays.
    (
        re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s?#\"'<>:@]{16,}@"),
        rf"\g<1>{REDACTED}@",
    ),
    # Userinfo without a scheme, as in a DSN written "user:pass@host/db".
    (
        re.compile(r"(?<![\w/.%+-])[A-Za-z0-9._%+-]+:[^\s@/:\"'<>]+@(?=[A-Za-z0-9[])"),
        f"{REDACTED}@",
    ),
    # An Authorization header in any spelling: "Authorization: Bearer x", '"authorization": "x"'.
    (
        re.compile(
            r"(\b(?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?)"
            r"(?:(?:bearer|basic|token|digest)\s+)?[^\s\"',;}]+",
            re.IGNORECASE,
        ),
        rf"\g<1>{REDACTED}",
    ),
    # A bearer (or basic) credential anywhere else.
    (
        re.compile(r"\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{6,}", re.IGNORECASE),
        rf"\g<1>\g<2>{REDACTED}",
    ),
    # Secret-looking query parameters and key=value pairs.
    (
        re.compile(
            r"\b((?:api[_-]?key|access[_-]?token|auth[_-]?token|token|secret|password|passwd)"
            r"\s*=\s*)[^\s&#\"',;]+",
            re.IGNORECASE,
        ),
        rf"\g<1>{REDACTED}",
    ),
    # OpenAI API keys: sk-..., sk-proj-..., sk-svcacct-..., sk-admin-...
    (re.compile(rf"\bsk-{_B64URL}{{8,}}"), REDACTED),
    # Slack tokens: xoxb- (bot), xoxp- (user), xoxa-, xoxr- (refresh), xoxe-, xapp- (app).
    (re.compile(r"\bxox[a-z]-[A-Za-z0-9-]{4,}|\bxapp-[A-Za-z0-9-]{4,}"), REDACTED),
    # Discord bot tokens (and JWTs): three base64url parts separated by dots.
    (
        re.compile(rf"(?<![\w.-]){_B64URL}{{20,}}\.{_B64URL}{{6,}}\.{_B64URL}{{20,}}(?![\w-])"),
        REDACTED,
    ),
)


def redact(text: str) -> str:
    """``text`` with every credential it carries replaced by ``***`` (see the module doc)."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Redacts a record's message, arguments and traceback before any handler formats it.

    The message is formatted here (``record.getMessage()``) and the traceback, if any, is
    turned into redacted text appended to it, so no handler sees the raw values.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and record.exc_info[0] is not None:
            trace = logging.Formatter().formatException(record.exc_info)
            message = f"{message}\n{trace}"
            record.exc_info = None
            record.exc_text = None
        if record.stack_info:
            message = f"{message}\n{record.stack_info}"
            record.stack_info = None
        record.msg = redact(message)
        record.args = None
        return True
