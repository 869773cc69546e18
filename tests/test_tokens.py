"""Offline token estimates, checked against counts from the real o200k_base tokenizer.

The reference counts were measured once, offline, with the ``bpe-openai`` package (which bundles
the o200k_base vocabulary) on the fixture texts below; see ``bot.summarize.tokens``.
"""

from __future__ import annotations

import pytest

from bot.summarize.prompts import ChatMessage
from bot.summarize.tokens import (
    MESSAGE_OVERHEAD,
    REPLY_PRIMING,
    count_message_tokens,
    count_tokens,
)
from tests.fakes.summarize import HARBOR_TEXT, STADIUM_TEXT, TRAM_TEXT, VALLEY_TEXT, WIRE_TEXT

CHINESE = (
    "周一，港口工人因工资和自动化问题谈判破裂而举行罢工，导致该国第二繁忙的集装箱码头停止运营。"
)
RUSSIAN = (
    "Президент заявил во вторник, что правительство выделит дополнительные средства на "
    "восстановление инфраструктуры в пострадавших от наводнения регионах."
)
GERMAN = (
    "Die Gewerkschaft kündigte am Montag einen unbefristeten Streik im Hamburger Hafen an, "
    "nachdem die Tarifverhandlungen über Lohnerhöhungen und Automatisierung gescheitert waren."
)


@pytest.mark.parametrize(
    ("text", "o200k", "tolerance"),
    [
        (WIRE_TEXT, 212, 0.08),
        (HARBOR_TEXT, 168, 0.08),
        (VALLEY_TEXT, 146, 0.08),
        (TRAM_TEXT, 95, 0.08),
        (STADIUM_TEXT, 70, 0.08),
        (CHINESE, 38, 0.2),
        (RUSSIAN, 30, 0.2),
        (GERMAN, 40, 0.25),
    ],
    ids=["wire", "harbor", "valley", "tram", "stadium", "chinese", "russian", "german"],
)
def test_estimate_is_close_to_the_real_tokenizer(text: str, o200k: int, tolerance: float) -> None:
    assert count_tokens(text) == pytest.approx(o200k, rel=tolerance)


def test_estimate_over_a_whole_story_is_within_five_percent() -> None:
    story = "\n\n".join([WIRE_TEXT, HARBOR_TEXT, VALLEY_TEXT, TRAM_TEXT, STADIUM_TEXT])
    assert count_tokens(story) == pytest.approx(692, rel=0.05)  # o200k_base: 692


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 0),
        ("Hello", 1),
        ("1234567", 3),  # digits go in groups of three, as in the real tokenizers
        ("3,200 workers, 14 ships, 4% over 2 years", 16),
    ],
)
def test_small_texts_are_counted_like_the_real_tokenizer(text: str, tokens: int) -> None:
    assert count_tokens(text) == tokens


def test_rare_and_shouting_words_cost_more_than_common_ones() -> None:
    assert count_tokens(" the") == 1
    assert count_tokens(" internationalization") > count_tokens(" international")
    assert count_tokens("HALVERN") > count_tokens("Halvern")
    assert count_tokens(" port's") == count_tokens(" port") + 1


def test_chat_messages_add_the_framing_tokens() -> None:
    messages: list[ChatMessage] = [
        {"role": "system", "content": "You brief readers on a developing story."},
        {"role": "user", "content": WIRE_TEXT},
    ]
    expected = REPLY_PRIMING + sum(
        MESSAGE_OVERHEAD + count_tokens(m["role"]) + count_tokens(m["content"]) for m in messages
    )
    assert count_message_tokens(messages) == expected
    assert count_message_tokens([{"role": "user", "content": "Hello"}]) == 8  # 3 + 1 + 1 + 3
    assert count_message_tokens([{"role": "user", "content": "Hello", "name": "ana"}]) == 10
