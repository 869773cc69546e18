"""HTML to plain text: feed summaries (fragments) and whole article pages.

Article text is kept as readers see it, sentence by sentence (``bot.text.split_sentences``
ends a sentence at every paragraph break):

- sub-headings (``h1``-``h6``) that are not sentences themselves, figure and table
  captions, and run-in heads (``<p><strong>Direct warning</strong> According to ...``)
  are left out, so no heading runs into the sentence after it;
- a URL standing in the prose, as the visible text of a link or typed out, goes with
  its parenthetical ("(see www.example.org/x)") or its preposition ("published at
  https://..."), so removing it leaves a sentence, not "details at and more"; a link with
  words for its text keeps its words.

Both paths only parse: nothing here fetches, follows a link, loads a
stylesheet or runs a script. lxml's HTML parser has no network access and
entity expansion is bounded; trafilatura works on the parsed tree. The input
size is bounded by the fetcher's body cap, and pages with more than
``MAX_TREE_ELEMENTS`` elements are refused before trafilatura sees them.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass

import lxml.html
import trafilatura
from lxml import etree

from bot.errors import SourceFormatError
from bot.sources.charset import decode_html
from bot.sources.labels import primary_language

log = logging.getLogger(__name__)

MAX_TREE_ELEMENTS = 200_000
"""Pages with more elements than this are not extracted (hostile or broken markup)."""

_BLOCK_TAGS = frozenset(
    """address article aside blockquote dd div dl dt figcaption figure footer h1 h2 h3 h4 h5 h6
    header hr li main nav ol p pre section table tbody td th thead tr ul""".split()
)
_DROP_TAGS = ("script", "style", "noscript", "template", "iframe", "object", "embed", "svg")
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_CAPTION_TAGS = ("figcaption", "caption")
_RUN_IN_PARENTS = frozenset({"p", "div", "li"})
_RUN_IN_TAGS = frozenset({"strong", "b"})
_RUN_IN_MAX_WORDS = 8
_SENTENCE_END = re.compile(r"[.!][\"'”’)\]]*$")
_URL_TEXT = r"(?:https?://|www\.)[^\s<>\"'()]*[^\s<>\"'().,;:!?]"
_URL_PARENTHETICAL = re.compile(rf"\s*\([^()]*{_URL_TEXT}[^()]*\)")
_URL_PHRASE = re.compile(rf"(\S+)\s+(?:at|on|via|from)\s+{_URL_TEXT}", re.IGNORECASE)
_COPULAS = frozenset({"is", "are", "was", "were", "be", "been", "being", "remains", "stays"})
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([.,;:!?])")


def _clean(text: str) -> str:
    """Drop control characters, collapse spaces, keep paragraph breaks as blank lines."""
    text = "".join(
        ch for ch in text if ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cf", "Co")
    )
    paragraphs = []
    for block in _BLANK_LINES.split(text):
        lines = [_SPACES.sub(" ", line).strip() for line in block.split("\n")]
        joined = " ".join(line for line in lines if line)
        if joined:
            paragraphs.append(joined)
    return "\n\n".join(paragraphs)


def _without_url_phrase(match: re.Match[str]) -> str:
    before = match.group(1)
    if before.casefold() in _COPULAS:  # "details are at URL": nothing is left to say
        return match.group(0)
    return before


def without_urls(paragraph: str) -> str:
    """``paragraph`` without the URLs in its prose, and without what only pointed at them:
    a parenthetical holding a URL, or the preposition before one ("published at URL").
    A URL the sentence cannot do without ("details are at URL", "visit URL") is left:
    removing it would leave a fragment."""
    if "://" not in paragraph and "www." not in paragraph:
        return paragraph
    text = _URL_PARENTHETICAL.sub("", paragraph)
    text = _URL_PHRASE.sub(_without_url_phrase, text)
    return _SPACE_BEFORE_PUNCTUATION.sub(r"\1", text).strip()


def _run_in_heads(root: lxml.html.HtmlElement) -> list[lxml.html.HtmlElement]:
    """Bold run-in heads: ``<p><strong>Direct warning</strong> According to ...</p>``.

    A bold first child of a paragraph, a few words without closing punctuation or a
    parenthesis, followed by a new sentence (a capital letter) or a line break.
    Datelines ("LONDON (Reuters) -") and lead-ins ("Update:") do not qualify.
    """
    heads = []
    for parent in root.iter(*_RUN_IN_PARENTS):
        if (parent.text or "").strip() or not len(parent):
            continue
        first = parent[0]
        if not isinstance(first.tag, str) or first.tag.lower() not in _RUN_IN_TAGS:
            continue
        head = _clean(str(first.text_content()))
        after = (first.tail or "").strip()
        follows = first.getnext()
        new_line = not after and follows is not None and follows.tag == "br"
        if (
            head
            and len(head.split()) <= _RUN_IN_MAX_WORDS
            and head[-1].isalnum()
            and "(" not in head
            and (after[:1].isupper() or new_line)
        ):
            heads.append(first)
    return heads


def _set_apart(root: lxml.html.HtmlElement) -> set[str]:
    """Remove run-in heads from ``root``; return the texts (cleaned, case-folded) of its
    headings that are not sentences and of its captions, which are no part of the prose."""
    apart: set[str] = set()
    for element in root.iter(*_HEADING_TAGS, *_CAPTION_TAGS):
        text = _clean(str(element.text_content()))
        if text and (element.tag in _CAPTION_TAGS or not _SENTENCE_END.search(text)):
            apart.add(text.casefold())
    for head in _run_in_heads(root):
        _drop_keeping_tail(head)
    return apart


def _drop_keeping_tail(element: lxml.html.HtmlElement) -> None:
    tail = (element.tail or "").lstrip()
    element.tail = tail
    element.drop_tree()  # lxml keeps the tail text in the parent


def _prose(paragraphs: list[str], apart: set[str]) -> str:
    kept = [without_urls(_clean(p)) for p in paragraphs if _clean(p).casefold() not in apart]
    return "\n\n".join(p for p in kept if p)


def html_to_text(fragment: str, *, prose: bool = False) -> str:
    """Plain text of an HTML fragment (a feed summary): tags dropped, entities decoded,
    block elements and ``<br>`` become paragraph breaks, scripts and styles removed.

    ``prose`` is for article text (not titles or names): headings, captions and URLs are
    kept out of its sentences as the module docstring says."""
    if not fragment.strip():
        return ""
    if "<" not in fragment and "&" not in fragment:
        return _prose(_clean(fragment).split("\n\n"), set()) if prose else _clean(fragment)
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return _clean(re.sub(r"<[^>]*>", " ", fragment))
    for bad in root.xpath("|".join(f".//{tag}" for tag in _DROP_TAGS)):
        bad.drop_tree()
    apart = _set_apart(root) if prose else set()
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        tag = element.tag.lower()
        if tag == "br":
            element.tail = "\n\n" + (element.tail or "")
        elif tag in _BLOCK_TAGS:
            element.text = "\n\n" + (element.text or "")
            element.tail = "\n\n" + (element.tail or "")
    text = _clean(str(root.text_content()))
    if not prose:
        return text
    return _prose(text.split("\n\n"), apart) or text  # a fragment that is only a heading


@dataclass(frozen=True, slots=True)
class PageContent:
    """What an article page gave: its main text and the metadata we use."""

    text: str
    title: str | None
    site_name: str | None
    language: str | None


def _meta(tree: lxml.html.HtmlElement, *names: str) -> str | None:
    for name in names:
        for value in tree.xpath(
            "//meta[@property=$n or @name=$n]/@content", n=name
        ):  # attribute lookups only: no XPath built from page content
            text = _clean(str(value))
            if text:
                return text
    return None


def extract_page(body: bytes, *, url: str, content_type: str, charset: str | None) -> PageContent:
    """Extract the main text of an article page; raise ``SourceFormatError`` if there is none."""
    if content_type and content_type not in _HTML_TYPES:
        raise SourceFormatError(url, f"the page is not HTML (content type {content_type})")
    markup = decode_html(body, charset)
    if not markup.strip():
        raise SourceFormatError(url, "the page is empty")
    try:
        tree = lxml.html.document_fromstring(markup)
    except (etree.ParserError, ValueError) as exc:
        raise SourceFormatError(url, f"the page could not be parsed as HTML ({exc})") from None
    elements = sum(1 for _ in tree.iter())
    if elements > MAX_TREE_ELEMENTS:
        raise SourceFormatError(
            url, f"the page has {elements} HTML elements, over the limit of {MAX_TREE_ELEMENTS}"
        )
    site_name = _meta(tree, "og:site_name", "application-name")
    title = _meta(tree, "og:title")
    if title is None:
        found = tree.findtext(".//title")
        title = _clean(found) if found else None
    headlines = {_clean(str(h.text_content())).casefold() for h in tree.iter("h1")}
    headlines.add((title or "").casefold())
    apart = _set_apart(tree)
    language = primary_language(tree.get("lang") or _meta(tree, "og:locale", "language"))
    text = trafilatura.extract(
        tree,
        url=url,
        output_format="txt",
        include_comments=False,
        include_tables=False,
        include_images=False,
        include_links=False,
        favor_precision=True,
    )
    if not text or not text.strip():
        raise SourceFormatError(url, "no article text could be extracted from the page")
    paragraphs = [line for line in text.splitlines() if line.strip()]
    if paragraphs and _clean(paragraphs[0]).casefold() in headlines:
        paragraphs = paragraphs[1:]  # the headline repeated as the first line
    return PageContent(_prose(paragraphs, apart), title or None, site_name, language)
