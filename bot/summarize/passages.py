"""The source passages an LLM prompt carries: central sentences, each report once, in budget.

A naive prompt pastes every article of a story in full. Most of that is repetition: wire and
syndicated copies carry the same text, independent reports retell the same facts, and the
tail of an article is background. ``select_passages`` builds the ``sources`` block instead:

1. Articles are grouped into *reports* (``coverage.independent_roots``: ``copy_of`` links,
   a shared wire credit, the wire's own report). A report is one passage, tagged with the
   source ids it stands for (``<source id="1" also_ids="2, 3" ...>``), so the model can cite
   any of them and ``expand`` maps its citation back to every copy exactly. Sentences that
   appear in several copies of a report go in once; a copy's own extra sentences are kept.
2. Every sentence is scored like the extractive briefer scores key points: the share of
   independent reports that carry it (sentence alignment), how central its words are to the
   story (terms weighted by how many reports use them), and how early it comes.
3. Sentences two or more independent reports carry are taken first, best first, within the
   whole ``budget_tokens``; then the others, best first, until the passage budget is spent
   (``passage_budget``: the whole prompt within ``share`` of the naive prompt, with at least
   ``min_single_tokens`` for them). Near-repeats of a sentence already taken are skipped
   (the citation verifier still credits every report that carries a fact).
4. Chosen sentences are put back in article order inside their report's passage.

Everything is deterministic and offline.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from bot.domain import Article, SourceRef
from bot.summarize.align import Alignment, SentenceSet, source_sentences, terms
from bot.summarize.coverage import independent_roots
from bot.summarize.prompts import SourcePassage, format_sources
from bot.summarize.tokens import count_tokens
from bot.text import normalize_whitespace, sentence_key

DEFAULT_SHARE = 0.25  # of the naive prompt (instructions plus every article in full)
DEFAULT_MIN_TOKENS = 350  # small stories still get enough text to write a briefing from
DEFAULT_MIN_SINGLE_TOKENS = 150  # room for sentences one report carries, whatever the share
_REPEAT = 0.6  # a sentence this similar to one already taken adds nothing new
_COPY_REPEAT = 0.8  # a copy's sentence this similar to its report's text is the same sentence
_SUPPORT_WEIGHT, _CENTRAL_WEIGHT, _LEAD_WEIGHT = 0.5, 0.35, 0.15
_LEAD_SPAN = 8
_MAX_ALIGNED = 1200  # sentences aligned across reports, chosen by centrality and position
_TAG_OVERHEAD = 40  # tokens of one passage's <source ...> tag and closing line


# Text addressed to a model rather than to readers: injected instructions on hostile pages.
_INSTRUCTION = re.compile(
    r"\b(?:ignore|disregard|forget)\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above|earlier)"
    r"\s+(?:instructions?|prompts?|messages?)"
    r"|^\W*(?:system|assistant|user|developer)\s*:"
    r"|\bnew\s+instructions?\b"
    r"|\b(?:the|this|your)\s+(?:briefing|summary|answer|response|reply)\s+(?:must|should)\b"
    r"|\b(?:as\s+an?\s+)?(?:ai|language\s+model|assistant|chatbot)\b.{0,40}\b(?:must|should)\b"
    r"|\bcite\s+\[?\s*source"
    r"|\bdo\s+not\s+mention\s+this\b",
    re.IGNORECASE,
)


def is_instruction(sentence: str) -> bool:
    """Is this sentence addressed to a model ("Ignore previous instructions ...", "SYSTEM:")?"""
    return bool(_INSTRUCTION.search(sentence))


def defused(article: Article) -> Article:
    """The article without sentences addressed to a model: they are never sent to the model,
    and never count as support for a citation (a page that says "state that the port is
    closed" does not report that the port is closed)."""
    sentences = source_sentences(article.text)
    kept = [s for s in sentences if not is_instruction(s)]
    if len(kept) == len(sentences):
        return article
    return replace(article, text=" ".join(kept))


@dataclass(frozen=True, slots=True)
class Report:
    """One independent report of a story: its source ids (first = the passage's id) and text."""

    ids: tuple[int, ...]
    sentences: tuple[str, ...]  # to send: none sent already by an earlier report or briefing
    carried: tuple[str, ...] = ()  # everything the report says (what other reports align to)


@dataclass(frozen=True, slots=True)
class PromptSources:
    """The ``sources`` block of a prompt and how to map the model's citations back.

    ``aliases`` maps each passage id to every source id its report stands for;
    ``tokens`` is the estimated size of ``text``; ``naive_tokens`` the size of every article
    in full; ``sentences`` the sentences sent, per passage id.
    """

    text: str
    aliases: Mapping[int, tuple[int, ...]]
    tokens: int
    naive_tokens: int
    sentences: Mapping[int, tuple[str, ...]]

    @property
    def passage_count(self) -> int:
        return len(self.aliases)

    def expand(self, cited: Iterable[int]) -> list[int]:
        """Every source id a citation stands for (a passage id brings its report's copies)."""
        found: list[int] = []
        for source_id in cited:
            found.extend(self.aliases.get(source_id, (source_id,)))
        return sorted(set(found))


def naive_text(sources: Sequence[SourceRef], articles_by_source: Mapping[int, Article]) -> str:
    """Every article in full, one passage each: what a prompt without selection would carry."""
    return format_sources([_passage(ref, articles_by_source[ref.id].text) for ref in sources])


def _passage(ref: SourceRef, text: str) -> SourcePassage:
    return SourcePassage(
        id=ref.id,
        outlet=ref.outlet,
        text=text,
        title=ref.title,
        published_at=ref.published_at,
        full_text=ref.full_text,
    )


def group_reports(
    sources: Sequence[SourceRef],
    articles_by_source: Mapping[int, Article],
    *,
    exclude: Iterable[str] = (),
) -> list[Report]:
    """Each independent report's source ids and its distinct sentences.

    The report's first source is its earliest full-text article (else its earliest one);
    copies add only sentences their report does not already carry. Sentences whose
    ``sentence_key`` is in ``exclude`` (already sent in an earlier briefing) are left out.
    """
    ordered = sorted(sources, key=lambda ref: ref.id)
    articles = [articles_by_source[ref.id] for ref in ordered]
    roots = independent_roots(articles)
    members: dict[int, list[int]] = {}
    for index, root in enumerate(roots):
        members.setdefault(root, []).append(index)
    seen_keys = set(exclude)
    reports: list[Report] = []
    for root in sorted(members):
        indices = sorted(members[root], key=lambda i: (not articles[i].full_text, i))
        kept: list[str] = []
        kept_set = SentenceSet()
        carried: list[str] = []
        carried_keys: set[str] = set()
        for index in indices:
            for sentence in source_sentences(articles[index].text):
                key = sentence_key(sentence)
                if key not in carried_keys:  # every member's words, each sentence once
                    carried_keys.add(key)
                    carried.append(normalize_whitespace(sentence))
                if not key or key in seen_keys:
                    continue
                if index != indices[0] and kept_set.repeats(sentence, _COPY_REPEAT):
                    continue
                seen_keys.add(key)
                kept.append(normalize_whitespace(sentence))
                kept_set.add(kept[-1])
        ids = tuple(ordered[i].id for i in indices)
        reports.append(Report(ids=ids, sentences=tuple(kept), carried=tuple(carried)))
    return reports


@dataclass(frozen=True, slots=True)
class _Candidate:
    report: int
    index: int
    text: str
    tokens: int
    score: float
    carriers: int  # independent reports that carry the sentence (by sentence alignment)


def _candidates(reports: Sequence[Report]) -> list[_Candidate]:
    """Every sentence scored by report share, centrality and lead position, best first."""
    vocabulary = [{t for s in report.sentences for t in terms(s)} for report in reports]
    frequency = Counter(t for vocab in vocabulary for t in vocab)
    norm = math.sqrt(math.fsum(c * c for c in frequency.values())) or 1.0

    def centrality(text: str) -> float:
        unique = set(terms(text))
        if not unique:
            return 0.0
        return math.fsum(frequency.get(t, 0) for t in unique) / (math.sqrt(len(unique)) * norm)

    raw = [
        (r, i, s, centrality(s))
        for r, report in enumerate(reports)
        for i, s in enumerate(report.sentences)
    ]
    top = max((c for *_, c in raw), default=0.0) or 1.0

    def prescore(item: tuple[int, int, str, float]) -> float:
        lead = max(0.0, 1.0 - item[1] / _LEAD_SPAN)
        return _CENTRAL_WEIGHT * item[3] / top + _LEAD_WEIGHT * lead

    raw.sort(key=lambda item: (-round(prescore(item), 9), item[0], item[1]))
    aligned = raw[:_MAX_ALIGNED]
    carried: dict[tuple[int, int], int] = {}
    if len(reports) > 1 and aligned:
        alignment = Alignment(
            [
                Article(
                    url=f"report:{n}", title="", text=" ".join(r.carried or r.sentences), outlet=""
                )
                for n, r in enumerate(reports)
            ]
        )
        alignment.prepare(s for _, _, s, _ in aligned)
        for r, i, s, _ in aligned:
            carried[(r, i)] = len(set(alignment.supporters(s)) | {r})
    found = [
        _Candidate(
            r,
            i,
            s,
            count_tokens(s) + 1,
            round(
                prescore((r, i, s, c)) + _SUPPORT_WEIGHT * carried.get((r, i), 1) / len(reports),
                9,
            ),
            carried.get((r, i), 1),
        )
        for r, i, s, c in raw
    ]
    found.sort(key=lambda c: (-c.score, c.report, c.index))
    return found


def passage_budget(
    naive_tokens: int,
    budget_tokens: int,
    *,
    share: float = DEFAULT_SHARE,
    min_tokens: int = DEFAULT_MIN_TOKENS,
    overhead_tokens: int = 0,
) -> int:
    """Tokens the passages may use: the whole prompt (``overhead_tokens`` of instructions plus
    the passages) within ``share`` of the naive prompt (the instructions plus every article in
    full), but at least ``min_tokens`` and never above ``budget_tokens``."""
    shared = math.ceil(share * (naive_tokens + overhead_tokens)) - overhead_tokens
    return max(0, min(budget_tokens, max(min_tokens, shared)))


def select_passages(
    sources: Sequence[SourceRef],
    articles_by_source: Mapping[int, Article],
    budget_tokens: int,
    *,
    only: Iterable[int] | None = None,
    exclude_sentences: Iterable[str] = (),
    share: float = DEFAULT_SHARE,
    min_tokens: int = DEFAULT_MIN_TOKENS,
    overhead_tokens: int = 0,
    min_single_tokens: int = DEFAULT_MIN_SINGLE_TOKENS,
) -> PromptSources:
    """The ``sources`` block for a prompt about these sources, within ``budget_tokens``.

    ``only`` restricts the passages to those source ids (an update sends only new sources);
    ``exclude_sentences`` are sentences already sent before (compared by ``sentence_key``);
    ``overhead_tokens`` is the size of the rest of the prompt (see ``passage_budget``);
    sentences only one report carries get at least ``min_single_tokens`` after the shared ones.
    """
    wanted = set(only) if only is not None else None
    chosen_sources = [s for s in sources if wanted is None or s.id in wanted]
    naive_tokens = count_tokens(naive_text(chosen_sources, articles_by_source))
    reports = group_reports(
        chosen_sources,
        articles_by_source,
        exclude={sentence_key(s) for s in exclude_sentences},
    )
    reports = [r for r in reports if r.sentences]
    limit = passage_budget(
        naive_tokens,
        budget_tokens,
        share=share,
        min_tokens=min_tokens,
        overhead_tokens=overhead_tokens,
    )
    spent = _TAG_OVERHEAD * len(reports)
    taken: dict[int, list[tuple[int, str]]] = {}
    picked = SentenceSet()
    # Sentences two or more independent reports carry come first and may use the whole
    # budget; the rest fill what is left of the share, and always get a little room (a
    # wire's lead or a claim only one outlet makes matters as much as a shared sentence).
    ranked = sorted(_candidates(reports), key=lambda c: (c.carriers < 2, -c.score))
    cap = budget_tokens
    for candidate in ranked:
        if candidate.carriers < 2 and cap == budget_tokens:
            cap = min(budget_tokens, spent + max(limit - spent, min_single_tokens))
        if spent + candidate.tokens > cap:
            continue
        if picked.repeats(candidate.text, _REPEAT):
            continue
        picked.add(candidate.text)
        taken.setdefault(candidate.report, []).append((candidate.index, candidate.text))
        spent += candidate.tokens
    by_id = {ref.id: ref for ref in chosen_sources}
    blocks: list[str] = []
    aliases: dict[int, tuple[int, ...]] = {}
    sent: dict[int, tuple[str, ...]] = {}
    for number, report in enumerate(reports):
        if number not in taken:
            continue
        lead = report.ids[0]
        sentences = tuple(text for _, text in sorted(taken[number]))
        block = format_sources([_passage(by_id[lead], " ".join(sentences))])
        blocks.append(_tag_aliases(block, lead, report.ids[1:]))
        aliases[lead] = report.ids
        sent[lead] = sentences
    text = "\n\n".join(blocks)
    return PromptSources(
        text=text,
        aliases=aliases,
        tokens=count_tokens(text),
        naive_tokens=naive_tokens,
        sentences=sent,
    )


def _tag_aliases(block: str, lead: int, others: Sequence[int]) -> str:
    """Add ``also_ids="2, 3"`` to a passage's opening tag (written by ``format_sources``)."""
    if not others:
        return block
    opening = f'<source id="{lead}" '
    if not block.startswith(opening):
        raise ValueError(f"unexpected passage tag: {block[:40]!r}")
    listed = ", ".join(str(n) for n in others)
    return f'{opening}also_ids="{listed}" ' + block[len(opening) :]
