"""Make scraped and LLM-written strings safe for Slack mrkdwn, and measure them as Slack does.

Slack treats only `&`, `<` and `>` as control characters; escaping them neutralises injected
mentions (`<!channel>`, `<@U…>`) and links (`<url|text>`). Literal `@channel`/`@here`/`@everyone`
are not linked as long as `link_names`/`parse=full` are never sent, but we defang them anyway
(full-width ＠) so a copy-paste never pings a channel. Slack has no escape for `*`, `_`, `~` or
backticks, so titles lose the one marker that would break our bold (`*` -> `＊`).
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

ELLIPSIS = "…"

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# wherever it stands: Japanese text glues the next word on (`@here全員`, `@channelです`), `_` too
_BROADCAST = re.compile(r"@(?=channel|here|everyone)", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
_URL_SPECIALS = str.maketrans({"|": "%7C", "<": "%3C", ">": "%3E", '"': "%22", "`": "%60"})
# a cut must not leave a joiner or a variation selector dangling at the end
_DANGLING = "\u200d\ufe0e\ufe0f"


def slack_len(text: str) -> int:
    """Length in UTF-16 code units (an emoji counts 2), the conservative reading of Slack's limits."""
    return len(text.encode("utf-16-le")) // 2


def escape(text: str) -> str:
    """Replace Slack's three control characters with their entities."""
    return text.translate(_ESCAPES)


def defang(text: str) -> str:
    """`@channel`, `@here`, `@everyone` -> `＠channel`…, so they can never notify anyone; also glued
    to what follows (`@here全員`, `@everyone_all`): no word boundary is needed to defang them."""
    return _BROADCAST.sub("＠", text)


# bidi embeddings/overrides/isolates and marks (an unclosed U+202E reverses the rest of the line) and
# zero-width spaces; ZWJ/ZWNJ stay (emoji sequences, Persian/Indic text)
_INVISIBLE = frozenset(
    "\u061c\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff"
)


def _printable(text: str) -> str:
    return "".join(
        ch
        for ch in text
        if ch in "\n\t" or (unicodedata.category(ch) not in {"Cc", "Cs"} and ch not in _INVISIBLE)
    )


def clean(text: str) -> str:
    """Scraped or LLM text -> safe mrkdwn: control, bidi and zero-width characters dropped, escaped,
    broadcasts defanged."""
    return defang(escape(_printable(text))).strip()


def clean_inline(text: str) -> str:
    """Like `clean`, on one line (titles, link text): whitespace collapsed, `*` made harmless."""
    return clean(_SPACES.sub(" ", text).replace("*", "＊"))


def clip(text: str, limit: int, *, inline: bool = False) -> str:
    """`clean(text)` cut to at most `limit` UTF-16 units, ending in `…` when cut.

    The raw text is cut before escaping, so a cut never lands inside `&amp;`, `&lt;` or `&gt;`.
    """
    safe = clean_inline if inline else clean
    result = safe(text)
    if slack_len(result) <= limit:
        return result
    low, high = 0, len(text)
    while low < high:  # the longest raw prefix whose cleaned form plus "…" fits
        mid = (low + high + 1) // 2
        if slack_len(safe(text[:mid]).rstrip(_DANGLING) + ELLIPSIS) <= limit:
            low = mid
        else:
            high = mid - 1
    return safe(text[:low]).rstrip(_DANGLING) + ELLIPSIS


def safe_url(url: str) -> str | None:
    """The URL ready for `<url|text>`, or None unless it is an absolute http(s) URL with a host."""
    candidate = url.strip()
    if not candidate or any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in candidate):
        return None
    try:
        parts = urlsplit(candidate)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not host:
        return None
    return escape(candidate.translate(_URL_SPECIALS))


def link(url: str, text: str) -> str:
    """`<url|text>` for a valid http(s) URL, else just the text. `text` must already be clean."""
    target = safe_url(url)
    return f"<{target}|{text}>" if target else text
