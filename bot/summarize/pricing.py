"""What a model's tokens cost: a table of OpenAI list prices, looked up offline.

``table_price(model)`` is the price of ``model`` in US dollars per million input (prompt) and
output (completion) tokens, or ``None`` when the table does not know the model. A name
matches exactly (case and surrounding spaces aside) or, failing that, as a dated snapshot of a
model in the table: ``gpt-4o-mini-2024-07-18`` is priced as ``gpt-4o-mini``. A snapshot that
was priced differently from its alias has a row of its own (``gpt-4o-2024-05-13``), and exact
rows win. Nothing else is guessed: ``gpt-4o-mini-search`` or ``llama3.1:8b`` have no price.

``resolve_price(model, input_override=..., output_override=...)`` applies the
``BRIEFBOT_PRICE_PROMPT_PER_MTOK`` / ``BRIEFBOT_PRICE_COMPLETION_PER_MTOK`` overrides: each one
set replaces its side of the table price; when a side is still unknown the whole price is
(``None``), so a local model behind ``OPENAI_BASE_URL`` gets an unknown cost, never a made-up
one. Reasoning tokens are billed as output tokens and are part of ``completion_tokens``.

The prices are OpenAI's Standard tier for short prompts (briefbot's prompts stay far below
the long-context thresholds), without cached-input, Batch or Flex discounts. OpenAI's pricing
page (https://developers.openai.com/api/docs/pricing) could not be read directly; every row
below was checked on 2026-11-30 against at least two independent copies of it that agree:

- https://raw.githubusercontent.com/api-evangelist/openai/refs/heads/main/plans/openai-plans-pricing.yml
  (read from OpenAI's page 2026-05-04: gpt-5.5, gpt-5.4, -mini, -nano)
- https://tokenmix.ai/blog/openai-api-cost-2026-gpt-5-5-5-4-nano-batch (2026-06-04) and
  https://www.morphllm.com/openai-api-pricing (June 2026): gpt-5.5, gpt-5.4, -mini, -nano
- https://docs.laozhang.ai/en/announcements/gpt-5-6-pricing-2026-07.md (verified 2026-08-01)
  and https://github.com/SergeevDmitry/llm-kit/releases/tag/usage-tab%401.3.0 (2026-10-03):
  gpt-5.6-luna and gpt-5.6-terra after OpenAI's cut of 2026-07-30
- https://benchlm.ai/blog/posts/openai-api-pricing and
  https://nicolalazzari.ai/articles/openai-api-pricing-explained-2026: gpt-5.2, gpt-5.1
- https://deploybase.ai/articles/openai-pricing (March 2026) and
  https://chatgptpricing-akr.pages.dev/api-pricing: gpt-5, gpt-5-mini, gpt-4.1 family,
  gpt-4o, gpt-4o-mini, o3, o4-mini; https://cloudprice.net/models/openrouter/openai/gpt-5-nano
- https://hex.pm/packages/openai_responses/0.4.1/files/lib/responses/pricing.ex (from
  platform.openai.com/docs/pricing, 2025-06-03): the gpt-4.1 and gpt-4o rows, and the
  gpt-4o-2024-05-13 snapshot

Left out because the sources disagree or only one was found: gpt-5.6-sol (a temporary
promotion), gpt-6-astra, o3-mini, and the -pro models (Responses API only). Older models that
OpenAI's page no longer lists keep their last listed price, which OpenAI still bills. Prices
change: set the two overrides when the table is out of date, and update the table with its
sources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per million input (prompt) and output (completion) tokens."""

    input_per_mtok: float
    output_per_mtok: float

    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        """What ``prompt_tokens`` in and ``completion_tokens`` out cost at this price."""
        return (
            prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok
        ) / 1_000_000


PRICES: dict[str, Price] = {
    # GPT-5.6 (prices cut on 2026-07-30)
    "gpt-5.6-terra": Price(2.00, 12.00),
    "gpt-5.6-luna": Price(0.20, 1.20),
    # GPT-5.5 and GPT-5.4
    "gpt-5.5": Price(5.00, 30.00),
    "gpt-5.4": Price(2.50, 15.00),
    "gpt-5.4-mini": Price(0.75, 4.50),
    "gpt-5.4-nano": Price(0.20, 1.25),
    # GPT-5.2, GPT-5.1, GPT-5
    "gpt-5.2": Price(1.75, 14.00),
    "gpt-5.1": Price(1.25, 10.00),
    "gpt-5": Price(1.25, 10.00),
    "gpt-5-mini": Price(0.25, 2.00),
    "gpt-5-nano": Price(0.05, 0.40),
    # GPT-4.1
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    # GPT-4o (the first snapshot kept its launch price)
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-2024-05-13": Price(5.00, 15.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    # Reasoning models
    "o3": Price(2.00, 8.00),
    "o4-mini": Price(1.10, 4.40),
}

_SNAPSHOT = re.compile(r"^(?P<alias>.+)-\d{4}-\d{2}-\d{2}$")


def table_price(model: str) -> Price | None:
    """The listed price of ``model`` or of the model it is a dated snapshot of; else None."""
    name = model.strip().lower()
    price = PRICES.get(name)
    if price is not None:
        return price
    snapshot = _SNAPSHOT.match(name)
    return PRICES.get(snapshot.group("alias")) if snapshot else None


def resolve_price(
    model: str,
    *,
    input_override: float | None = None,
    output_override: float | None = None,
) -> Price | None:
    """The price to charge ``model``'s tokens at: each override that is set, else the table's
    price for that side; ``None`` (unknown) when a side has neither."""
    listed = table_price(model)
    input_per_mtok = input_override
    if input_per_mtok is None and listed is not None:
        input_per_mtok = listed.input_per_mtok
    output_per_mtok = output_override
    if output_per_mtok is None and listed is not None:
        output_per_mtok = listed.output_per_mtok
    if input_per_mtok is None or output_per_mtok is None:
        return None
    return Price(input_per_mtok, output_per_mtok)
