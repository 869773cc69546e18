"""Text helpers whose outputs are stored or compared across runs: they must not drift."""

from __future__ import annotations

import hashlib
import unicodedata

import pytest

from bot.text import analyze, fold, text_hash, words

TEXTS = [
    "Dockworkers at the Port of Halvern walked out on Monday. “We will not accept this,” said "
    "Mr. Brenn. The U.S. ambassador was not available.\n\nA second paragraph… with 1,400 members.",
    "Crème brûlée at the Café Noël: naïve coöperation ﬁnally reached Ｔｏｋｙｏ.",
    "Η ΟΔΟΣ έκλεισε. Улица закрыта! 道路は閉鎖された。",
    "(Meridian Wire) — HALVERN, Norveth: ports closed.Next line without a space. e.g. this",
    "   ",
    "",
]


@pytest.mark.parametrize("text", TEXTS)
def test_text_hash_is_sha256_of_the_folded_words(text: str) -> None:
    # Stored content hashes depend on this definition: changing it orphans every stored hash.
    expected = hashlib.sha256(" ".join(words(text)).encode("utf-8")).hexdigest()
    assert text_hash(text) == expected
    assert analyze(text).words == words(text)


@pytest.mark.parametrize("text", TEXTS)
def test_fold_strips_accents_unifies_quotes_and_lowercases(text: str) -> None:
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    expected = (
        stripped.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"').lower()
    )
    assert fold(text) == expected


def test_exact_copies_with_other_spacing_and_case_hash_alike() -> None:
    assert text_hash("The port  is OPEN.\n\nShips wait.") == text_hash(
        "the port is open. ships wait."
    )
    assert text_hash("The port is open.") != text_hash("The port is closed.")
