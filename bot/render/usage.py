"""JSON rendering of a usage report (``briefbot usage --format json``): a stable contract.

``to_json_dict`` returns JSON-ready data matching ``usage.schema.json`` (shipped in this
package; ``usage_schema()`` loads it)::

    {
      "by": "day",                          # or "topic", "channel", "model"
      "since": "2026-11-16T09:00:00Z",      # the window, ISO-8601 UTC
      "until": "2026-11-23T09:00:00Z",
      "groups": [                           # sorted by key; none when nothing was briefed
        {"key": "2026-11-23",               # UTC date, topic, channel ("terminal",
                                            # "slack:newsroom") or model ("gpt-4.1-mini",
                                            # "extractive": no model, "unknown": not recorded)
         "briefings": 3, "llm_briefings": 2, "cached_briefings": 1,
         "prompt_tokens": 5200, "completion_tokens": 640, "total_tokens": 5840,
         "cost_usd": 0.003104,              # null: some tokens have no known cost
         "unpriced_tokens": 0}
      ],
      "total": {...},                       # the same fields, without "key"
      "budgets": {
        "day": "2026-11-23",                # today (UTC), when the budgets reset
        "deployment": {"limit": 100000, "spent": 5840, "remaining": 94160,
                       "used_up": false},   # null when BRIEFBOT_DAILY_TOKEN_BUDGET is unset
        "channel": {"limit": 20000,         # null when BRIEFBOT_CHANNEL_DAILY_TOKEN_BUDGET
                    "channels": [           # is unset; each channel used today
                      {"channel": "terminal", "spent": 5840, "remaining": 14160,
                       "used_up": false}]}
      }
    }

Counts are of story briefings (one per story of a topic briefing); see ``bot.usage``.
Costs are US dollars rounded to 8 decimals. Fields may be added; none listed here will be
removed or change meaning.
"""

from __future__ import annotations

from typing import Any

from bot.render.json import bundled_schema, iso
from bot.usage import BudgetUse, UsageReport, UsageTotals

SCHEMA_FILE = "usage.schema.json"


def _cost(value: float | None) -> float | None:
    return None if value is None else round(value, 8)


def totals_dict(totals: UsageTotals) -> dict[str, Any]:
    return {
        "briefings": totals.briefings,
        "llm_briefings": totals.llm_briefings,
        "cached_briefings": totals.cached_briefings,
        "prompt_tokens": totals.prompt_tokens,
        "completion_tokens": totals.completion_tokens,
        "total_tokens": totals.total_tokens,
        "cost_usd": _cost(totals.cost_usd),
        "unpriced_tokens": totals.unpriced_tokens,
    }


def _use(use: BudgetUse) -> dict[str, Any]:
    return {"spent": use.spent, "remaining": use.remaining, "used_up": use.used_up}


def to_json_dict(report: UsageReport) -> dict[str, Any]:
    """The report as JSON-ready data (``json.dumps`` it as is)."""
    deployment = report.deployment_budget
    channel = None
    if report.channel_budget is not None:
        channel = {
            "limit": report.channel_budget,
            "channels": [{"channel": use.scope, **_use(use)} for use in report.channel_budgets],
        }
    return {
        "by": report.by,
        "since": iso(report.since),
        "until": iso(report.until),
        "groups": [{"key": key, **totals_dict(totals)} for key, totals in report.groups],
        "total": totals_dict(report.total),
        "budgets": {
            "day": report.today.isoformat(),
            "deployment": (
                None if deployment is None else {"limit": deployment.limit, **_use(deployment)}
            ),
            "channel": channel,
        },
    }


def usage_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that ``to_json_dict`` output conforms to."""
    return bundled_schema(SCHEMA_FILE)
