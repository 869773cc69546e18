"""HTML to plain text: feed summaries (fragments) and whole article pages.

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


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment (a feed summary): tags dropped, entities decoded,
    block elements and ``<br>`` become paragraph breaks, scripts and styles removed."""
    if not fragment.strip():
        return ""
    if "<" not in fragment and "&" not in fragment:
        return _clean(fragment)
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return _clean(re.sub(r"<[^>]*>", " ", fragment))
    for bad in root.xpath("|".join(f".//{tag}" for tag in _DROP_TAGS)):
        bad.drop_tree()
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        tag = element.tag.lower()
        if tag == "br":
            element.tail = "\n\n" + (element.tail or "")
        elif tag in _BLOCK_TAGS:
            element.text = "\n\n" + (element.text or "")
            element.tail = "\n\n" + (element.tail or "")
    return _clean(str(root.text_content()))


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
    return PageContent(_clean("\n\n".join(paragraphs)), title or None, site_name, language)
