"""Turn fetched bytes into text without mojibake.

Feeds and pages often lie about their encoding: a Latin-1 feed declared (or
served) as UTF-8, or no charset at all. The order tried:

1. a byte-order mark;
2. the declared encodings (HTTP ``Content-Type`` charset, then the XML
   declaration or the HTML ``<meta>`` charset), each only if the bytes decode
   strictly with it - except that bytes which are valid UTF-8 and contain
   non-ASCII characters are read as UTF-8 even when a single-byte encoding is
   declared (the chance of Latin-1 text being valid multi-byte UTF-8 is nil),
   and a UTF-16/32 label on bytes without NULs is ignored;
3. UTF-8 (the XML default);
4. charset-normalizer's guess among its least chaotic decodings, preferring
   Windows-1252 among them (Western European news is the common case, and
   cp1250 would turn "ñ" into "ń");
5. Windows-1252 with replacement characters, so decoding never fails.

``ISO-8859-1`` and ``US-ASCII`` labels are read as Windows-1252, as browsers do.
"""

from __future__ import annotations

import codecs
import logging
import re

from charset_normalizer import from_bytes

log = logging.getLogger(__name__)

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")
_XML_DECLARATION_TEXT = re.compile(r"^(\s*<\?xml[^>]*?encoding\s*=\s*)([\"'])[^\"']*\2")
_META_CHARSET = re.compile(rb"<meta[^>]+?charset\s*=\s*[\"']?\s*([A-Za-z0-9._:-]+)", re.IGNORECASE)
_WINDOWS_1252_ALIASES = {"iso8859-1", "latin-1", "us-ascii", "ascii", "cp819"}
_SNIFF_BYTES = 4096


def _codec_name(label: str | None) -> str | None:
    """Python's codec name for an encoding label, or ``None`` if unknown."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name
    except LookupError:
        return None
    return "cp1252" if name in _WINDOWS_1252_ALIASES else name


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _is_single_byte(codec: str) -> bool:
    """True for one-byte-per-character encodings (cp1252, ISO-8859-x, KOI8-R, ...)."""
    if codec.startswith("utf"):
        return False
    high = bytes(range(0x80, 0x100))
    return len(high.decode(codec, errors="replace")) == len(high)


def _guess(data: bytes) -> str | None:
    """charset-normalizer's guess: the least chaotic decodings, cp1252 first among them.

    Its own ranking trusts "coherence", which on short, mostly ASCII news text
    can favour a DOS code page (cp775 turns "è" into "Ķ"); the chaos measure
    (how much the decoded text looks like noise) is the safer first key.
    """
    matches = list(from_bytes(data))
    if not matches:
        return None
    lowest = min(match.chaos for match in matches)
    calm = [match for match in matches if match.chaos <= lowest + 0.001]
    for match in calm:
        if "cp1252" in match.could_be_from_charset:
            return "cp1252"
    return str(max(calm, key=lambda match: match.coherence).encoding)


def declared_xml_encoding(data: bytes) -> str | None:
    match = _XML_DECLARATION.match(data[:_SNIFF_BYTES])
    return match.group(1).decode("ascii") if match else None


def declared_html_encoding(data: bytes) -> str | None:
    match = _META_CHARSET.search(data[:_SNIFF_BYTES])
    return match.group(1).decode("ascii") if match else None


def decode(data: bytes, declared: list[str | None]) -> str:
    """Decode ``data`` trying the BOM, the ``declared`` labels in order, UTF-8, then a guess."""
    for bom, bom_codec in _BOMS:
        if data.startswith(bom):
            text = _strict(data[len(bom) :], bom_codec)
            if text is not None:
                return text
    utf8 = _strict(data, "utf-8")
    for label in declared:
        codec = _codec_name(label)
        if codec is None:
            continue
        if utf8 is not None and not utf8.isascii() and _is_single_byte(codec):
            return utf8
        if codec.startswith(("utf-16", "utf-32")) and b"\x00" not in data[:_SNIFF_BYTES]:
            continue  # markup in UTF-16/32 is full of NUL bytes; this label is wrong
        text = _strict(data, codec)
        if text is not None:
            return text
        log.debug("bytes do not decode as declared %s; trying the next candidate", label)
    if utf8 is not None:
        return utf8
    guess = _guess(data)
    if guess is not None:
        text = _strict(data, guess)
        if text is not None:
            return text
    return data.decode("cp1252", errors="replace")


def decode_xml(data: bytes, header_charset: str | None) -> str:
    """Decode a feed: HTTP charset, then the XML declaration, then the fallbacks."""
    return decode(data, [header_charset, declared_xml_encoding(data)])


def decode_html(data: bytes, header_charset: str | None) -> str:
    """Decode a page: HTTP charset, then ``<meta charset>``, then the fallbacks."""
    return decode(data, [header_charset, declared_html_encoding(data)])


def as_utf8_xml(text: str) -> bytes:
    """UTF-8 bytes of an XML document whose declaration (if any) now says UTF-8."""
    return _XML_DECLARATION_TEXT.sub(r"\1\2utf-8\2", text.lstrip("\ufeff"), count=1).encode("utf-8")
