"""Offline token counts for prompt budgets: a calibrated estimate of OpenAI's tokenizers.

Why an estimate: the exact tokenizers (tiktoken's ``o200k_base`` / ``cl100k_base``) need their
vocabulary files, which tiktoken downloads on first use. briefbot never lets a token count touch
the network, and this module cannot ask tiktoken where its cache lives without reading the
environment (only ``bot.config`` may), so tiktoken is not used. The budget this feeds
(``BRIEFBOT_PROMPT_TOKEN_BUDGET``) decides how many source passages go into a prompt; the bill
itself comes from the ``usage`` the server returns.

Method. Text is split the way the GPT-4o tokenizer's pre-tokenizer splits it (words with their
leading space or punctuation mark, digit groups of at most three, punctuation runs, newline
runs, other whitespace), and each piece costs what pieces of its kind and length cost on
average with the real tokenizer:

- ASCII words: from a table by case (lower / Capitalised / UPPER), by whether the word follows
  a space, and by length. Common words are one token up to ten letters or so; long, rare and
  all-caps words cost more.
- Digit groups (``\\d{1,3}``): one token each, exactly as the real tokenizers split numbers.
- Punctuation runs: about one token per two characters.
- Words in other scripts: CJK and kana about 0.8 token per character; other scripts (Cyrillic,
  Greek, Arabic, ...) one token per word plus a little per letter.

Calibration: the tables were fitted, and the estimate checked, against exact ``o200k_base``
counts from the ``bpe-openai`` package (it bundles the vocabulary; used offline, once, not a
dependency). Estimate minus real count:

=========================================  =======  =========  =====================
text                                       o200k    estimate   error (vs cl100k)
=========================================  =======  =========  =====================
real English news, 5 reports (held out)    952      942        -1.1% (-2.3%)
test fixture news, 9 articles              1,225    1,187      -3.1% (-3.6%)
briefing JSON output                       480      471        -1.9% (-1.9%)
the four prompts in prompts/               1,487    1,518      +2.1% (+1.7%)
GPL-3 licence text                         7,446    7,602      +2.1% (+2.0%)
Python reference docs (code-heavy prose)   106,185  113,146    +6.6% (+7.1%)
7 news sentences in 7 languages            238      236        -0.8% (-36.7%)
Arabic news (held out)                     146      127        -13.0% (-58.4%)
=========================================  =======  =========  =====================

So expect about ±5% on English news and prose against ``o200k_base`` (GPT-4o, GPT-4.1) and
``cl100k_base`` (GPT-4), and ±20% on other languages against ``o200k_base``; ``cl100k_base``
splits non-Latin scripts much more finely, so there the estimate runs low by a third or more.
Local models (Llama, Qwen, Mistral) use tokenizers of their own, not measured here.

``count_message_tokens`` adds OpenAI's chat framing: 3 tokens per message and 3 to prime the
reply, as in OpenAI's cookbook recipe for counting chat tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# One alternative per kind of piece, in the order the real pre-tokenizer tries them.
_PIECE = re.compile(
    r"""
    (?P<foreign>(?:[^\r\n\w]|_)?(?=[^\W\d_]*[^\x00-\x7f])[^\W\d_]+)    # word with non-ASCII letters
    |(?P<word>(?:[^\r\n\w]|_)?(?:[A-Z]*[a-z]+|[A-Z]+[a-z]*)(?:'(?:s|t|re|ve|m|ll|d))?)
    |(?P<digits>\d{1,3})
    |(?P<punct>\ ?[^\s\w]+[\r\n/]*)
    |(?P<newline>\s*[\r\n]+)
    |(?P<space>\s+)
    """,
    re.VERBOSE,
)

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")

# Mean o200k tokens of an ASCII word by length (index = letters - 1, last entry = per extra
# letter beyond the table), measured on the calibration texts; see the module docstring.
_LOWER_AFTER_SPACE = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.02, 1.04, 1.06, 1.1, 1.2, 1.3, 1.45, 1.6)
_LOWER_BARE = (1.0, 1.0, 1.02, 1.02, 1.06, 1.1, 1.2, 1.35, 1.4, 1.5, 1.65, 1.9, 2.1, 2.3)
_CAPITALISED = (1.0, 1.0, 1.03, 1.08, 1.15, 1.15, 1.35, 1.3, 1.45, 1.6, 1.75, 1.8, 1.9, 2.0)
_UPPER = (1.0, 1.0, 1.3, 1.35, 1.6, 1.6, 1.8, 2.0, 2.2, 2.4, 2.6, 2.8, 3.0, 3.2)
_PER_EXTRA_LETTER = {
    "lower": 0.2,
    "bare": 0.25,
    "capitalised": 0.25,
    "upper": 0.3,
}
_CJK_PER_CHAR = 0.8
_OTHER_SCRIPT_PER_CHAR = 0.12
# A word glued to a quote or mark costs more when the mark rarely merges with letters.
_PREFIX_COST = {'"': 0.8, "'": 0.8, "*": 0.8, "-": 0.4, "/": 0.4, "<": 0.5}
_OTHER_PREFIX_COST = 0.15
_PUNCT_PER_CHAR = 0.5

MESSAGE_OVERHEAD = 3  # <|start|>role ... <|end|> around each chat message
REPLY_PRIMING = 3  # <|start|>assistant<|message|> before the reply


def _table_cost(table: tuple[float, ...], per_extra: float, length: int) -> float:
    if length <= len(table):
        return table[length - 1]
    return table[-1] + per_extra * (length - len(table))


def _word_cost(piece: str) -> float:
    lead_space = piece.startswith(" ")
    letters = piece.lstrip(" ") if lead_space else piece
    prefix = 0.0
    if letters and not letters[0].isalpha():  # a leading quote or bracket joins the word
        prefix = _PREFIX_COST.get(letters[0], _OTHER_PREFIX_COST)
        letters = letters[1:]
    core, apostrophe, _ = letters.partition("'")
    if apostrophe:  # 's 't 're 've 'm 'll 'd are tokens of their own
        prefix += 1.0
    length = len(core)
    if length > 1 and core.isupper():
        return prefix + _table_cost(_UPPER, _PER_EXTRA_LETTER["upper"], length)
    if core[:1].isupper():
        return prefix + _table_cost(_CAPITALISED, _PER_EXTRA_LETTER["capitalised"], length)
    if lead_space:
        return prefix + _table_cost(_LOWER_AFTER_SPACE, _PER_EXTRA_LETTER["lower"], length)
    return prefix + _table_cost(_LOWER_BARE, _PER_EXTRA_LETTER["bare"], length)


def _foreign_cost(piece: str) -> float:
    letters = [ch for ch in piece if ch.isalpha()]
    cjk = sum(1 for ch in letters if _CJK.match(ch))
    ascii_letters = sum(1 for ch in letters if ch.isascii())
    other = len(letters) - cjk - ascii_letters
    if cjk:
        return max(1.0, cjk * _CJK_PER_CHAR + (ascii_letters + other) * _OTHER_SCRIPT_PER_CHAR)
    if ascii_letters >= other:  # a Latin word with accents: a word plus its accented letters
        return _table_cost(_CAPITALISED, _PER_EXTRA_LETTER["capitalised"], len(letters)) + (
            0.5 * other
        )
    return 1.0 + len(letters) * _OTHER_SCRIPT_PER_CHAR


def count_tokens(text: str) -> int:
    """Estimated number of tokens in ``text`` (0 for an empty string)."""
    total = 0.0
    for match in _PIECE.finditer(text):
        kind = match.lastgroup
        piece = match.group()
        if kind == "word":
            total += _word_cost(piece)
        elif kind == "foreign":
            total += _foreign_cost(piece)
        elif kind == "punct":
            total += max(1.0, len(piece.strip()) * _PUNCT_PER_CHAR)
        else:  # digits, newline and space runs are one token each
            total += 1.0
    return round(total)


def count_message_tokens(messages: Iterable[Mapping[str, object]]) -> int:
    """Estimated prompt tokens of chat messages, including the chat framing tokens.

    Each message is a mapping with ``role`` and ``content`` (and optionally ``name``), like
    ``bot.summarize.prompts.ChatMessage``.
    """
    total = REPLY_PRIMING
    for message in messages:
        total += MESSAGE_OVERHEAD
        for key, value in message.items():
            total += count_tokens(str(value))
            if key == "name":
                total += 1
    return total
