"""A feed's bytes as UTF-8 before feedparser sees them, so one bad byte cannot garble the whole feed.

feedparser decodes a whole document with one charset: when a UTF-8 feed holds a single invalid byte
(one article's title cut mid-character), it falls back to another charset and every entry comes out
as mojibake (「LLMアプリの監視入門」 -> 「LLMă‚˘ăƒ—…」). Here a feed that is UTF-8 (declared in the
Content-Type or the XML declaration, or by XML's default) is decoded with `errors="replace"`: the bad
bytes become U+FFFD in the one place they were and every other entry stays intact. Feeds in another
declared charset (Shift_JIS…) are left to feedparser.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

REPLACEMENT = "\ufffd"
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([\w.:-]+)[\"']", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class FeedBody:
    """The bytes to parse and how many invalid UTF-8 sequences were replaced (0: the body as received)."""

    content: bytes
    replaced: int = 0


def declared_charset(content: bytes, content_type: str) -> str:
    """The charset the HTTP header or the XML declaration names; UTF-8 (XML's default) when neither."""
    header = _CHARSET.search(content_type)
    declaration = _XML_DECLARATION.match(content[:512])
    name = header.group(1) if header else declaration.group(1).decode("ascii") if declaration else "utf-8"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return name.lower()


def utf8_feed_body(content: bytes, content_type: str) -> FeedBody:
    """A UTF-8 feed with its invalid byte sequences replaced by U+FFFD; any other body unchanged."""
    if declared_charset(content, content_type) not in ("utf-8", "utf-8-sig"):
        return FeedBody(content)
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        text = content.decode("utf-8", errors="replace")
        replaced = text.count(REPLACEMENT) - content.count(REPLACEMENT.encode())
        return FeedBody(text.encode("utf-8"), replaced)
    return FeedBody(content)


def replaced_warning(count: int, entries: Sequence[Mapping[str, Any]]) -> str:
    """The warning for a UTF-8 feed with invalid bytes, naming the entries they were in."""
    spoiled = [
        e for e in entries if any(REPLACEMENT in str(e.get(k, "")) for k in ("title", "summary", "link"))
    ]
    names = ", ".join(f"「{str(e.get('title', ''))[:60]}」" for e in spoiled[:3]) or "the feed's header"
    more = f" and {len(spoiled) - 3} more" if len(spoiled) > 3 else ""
    where = f"{names}{more}"
    return f"{count} invalid UTF-8 byte sequence(s) shown as U+FFFD in {where}; the other entries are intact"
