"""The price table: exact names, dated snapshots, overrides, and unknown models."""

from __future__ import annotations

import pytest

from bot.summarize.pricing import PRICES, Price, resolve_price, table_price


@pytest.mark.parametrize(
    ("model", "price"),
    [
        ("gpt-4.1-mini", Price(0.40, 1.60)),
        ("gpt-4o-mini", Price(0.15, 0.60)),
        ("gpt-4o", Price(2.50, 10.00)),
        ("gpt-5.4-nano", Price(0.20, 1.25)),
        ("o4-mini", Price(1.10, 4.40)),
    ],
)
def test_a_table_model_is_priced_by_its_exact_name(model: str, price: Price) -> None:
    assert table_price(model) == price


@pytest.mark.parametrize(
    ("snapshot", "alias"),
    [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-5-2025-08-07", "gpt-5"),
    ],
)
def test_a_dated_snapshot_is_priced_as_its_model(snapshot: str, alias: str) -> None:
    assert table_price(snapshot) == PRICES[alias]


def test_a_snapshot_with_a_price_of_its_own_is_not_priced_as_its_alias() -> None:
    assert table_price("gpt-4o-2024-05-13") == Price(5.00, 15.00)
    assert table_price("gpt-4o-2024-05-13") != table_price("gpt-4o")


def test_names_match_whatever_their_case_and_surrounding_spaces() -> None:
    assert table_price(" GPT-4o-Mini ") == PRICES["gpt-4o-mini"]


@pytest.mark.parametrize(
    "model",
    [
        "llama3.1:8b",  # Ollama
        "Qwen/Qwen2.5-7B-Instruct",  # vLLM
        "gpt-4o-mini-search-preview",  # a longer name is another model, not a snapshot
        "gpt-4o-mini-0718",  # not a dated snapshot
        "openai/gpt-4o-mini",  # a router's name: its own prices
        "gpt-4",  # a prefix of table models, not in the table itself
        "",
    ],
)
def test_a_model_not_in_the_table_has_no_price(model: str) -> None:
    assert table_price(model) is None
    assert resolve_price(model) is None


def test_cost_is_tokens_times_the_price_per_million() -> None:
    assert Price(0.15, 0.60).cost_usd(1_000_000, 0) == 0.15
    assert Price(0.15, 0.60).cost_usd(1200, 150) == pytest.approx(0.00027, rel=1e-12)
    assert Price(0.15, 0.60).cost_usd(0, 0) == 0.0


def test_without_overrides_the_table_price_applies() -> None:
    assert resolve_price("gpt-4o-mini-2024-07-18") == Price(0.15, 0.60)


def test_overrides_win_over_the_table() -> None:
    assert resolve_price("gpt-4o-mini", input_override=1.0, output_override=2.0) == Price(1.0, 2.0)


def test_one_override_replaces_only_its_own_side() -> None:
    assert resolve_price("gpt-4o-mini", output_override=0.5) == Price(0.15, 0.5)
    assert resolve_price("gpt-4o-mini", input_override=0.0) == Price(0.0, 0.60)


def test_overrides_price_a_model_the_table_does_not_know() -> None:
    assert resolve_price("llama3.1:8b", input_override=0.0, output_override=0.0) == Price(0, 0)


def test_one_override_is_not_enough_for_an_unknown_model() -> None:
    assert resolve_price("llama3.1:8b", input_override=0.0) is None
    assert resolve_price("llama3.1:8b", output_override=0.0) is None


def test_every_table_price_is_a_positive_rate_with_output_dearer_than_input() -> None:
    for model, price in PRICES.items():
        assert model == model.strip().lower()
        assert 0 < price.input_per_mtok < price.output_per_mtok, model
