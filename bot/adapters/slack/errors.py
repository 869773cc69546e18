"""Slack's Web API errors as the Slack adapter's modules read them."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError

# Errors that mean the token itself is unusable: the operator must act.
TOKEN_ERRORS = frozenset({"invalid_auth", "token_revoked", "account_inactive", "not_authed"})


def slack_error(exc: BaseException) -> str:
    """Slack's error code of a failed Web API call (``not_in_channel``), or ``""``."""
    if isinstance(exc, SlackApiError):
        error = exc.response.get("error") if exc.response is not None else None
        return str(error or "")
    return ""
