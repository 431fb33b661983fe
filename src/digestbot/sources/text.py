"""Pure text helpers applied to every fetched item: HTML/Markdown to text, language, arXiv ids, titles.

Entity decoding, decided per source (see data-sources.md §3-4). Each text is decoded exactly once:
- Qiita tag feed `<content type="html">`: the raw XML holds `-&amp;gt;`. The XML parser (feedparser)
  removes the XML layer, leaving HTML (`-&gt;`); `strip_html` removes the HTML layer (`->`).
  Decoding again would turn an article's literal `&amp;` into `&`.
- Qiita API `body`: Markdown, where entities are HTML entities; `markdown_to_text` decodes once.
- Zenn RSS `<description>`: CDATA, so the XML layer is the only one; the text is used as is
  (no `html.unescape`). Titles of both feeds are plain text after XML parsing.
"""

from __future__ import annotations

import html
import re
import unicodedata
from html.parser import HTMLParser

_BLOCK_WORDS = (
    "address article aside blockquote br dd div dl dt figcaption figure footer h1 h2 h3 h4 h5 h6 header "
    "hr li main nav ol p pre section table tbody td tfoot th thead tr ul"
)
_BLOCK_TAGS = frozenset(_BLOCK_WORDS.split())
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template"})
_WS = re.compile(r"\s+")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def strip_html(markup: str) -> str:
    """Text of an HTML fragment: tags removed, block elements become spaces, scripts/styles dropped.

    Entities are decoded once as part of parsing HTML. Whitespace is collapsed.
    """
    if "<" not in markup and "&" not in markup:
        return collapse_ws(markup)
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return collapse_ws("".join(parser.parts))


def decode_entities_once(text: str) -> str:
    """`html.unescape` exactly once: `&amp;gt;` becomes `&gt;`, not `>`."""
    return html.unescape(text)


def collapse_ws(text: str) -> str:
    """Runs of whitespace (including newlines and the ideographic space) become one space."""
    return _WS.sub(" ", text).strip()


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a space when one is near, ending in `…` when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.8:
        cut = cut[:space]
    return cut.rstrip() + "…"


_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_LINE_MARKERS = re.compile(r"^[ \t]*(?:#{1,6}[ \t]+|>[ \t]?|[-*+][ \t]+|\d+\.[ \t]+|:::[^\n]*)", re.MULTILINE)
_INLINE_WORDS = (
    "a abbr b big cite code del details em font i img ins kbd mark q s small span strong sub summary sup u"
)
_HTML_NAMES = "|".join(sorted(_BLOCK_TAGS | _SKIP_TAGS | frozenset(_INLINE_WORDS.split())))
# A `<` that does not open a complete known tag (`<br>`, `<a href="…">`, `</p>`) or a comment is text.
_NOT_A_TAG = re.compile(rf"<(?!/?(?:{_HTML_NAMES})(?:\s[^<>]*)?/?>|!--)", re.IGNORECASE)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_EMPHASIS = re.compile(r"(\*\*|__|~~|\*|`)")
_TABLE_RULE = re.compile(r"^[ \t]*\|?[ \t]*:?-{3,}.*$", re.MULTILINE)


def markdown_to_text(markdown: str) -> str:
    """Plain text of a Markdown body (Qiita `body`): code blocks dropped, link text kept, markers removed."""
    text = _FENCE.sub(" ", markdown)
    text = _INLINE_CODE.sub(lambda m: html.escape(m.group(1)), text)  # `Array<String>` is not a tag
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _TABLE_RULE.sub(" ", text)
    text = _LINE_MARKERS.sub("", text)
    text = _EMPHASIS.sub("", text).replace("|", " ")
    return strip_html(_NOT_A_TAG.sub("&lt;", text))  # `List<T>` in prose is text, `<br>` is markup


def _is_kana(char: str) -> bool:
    code = ord(char)
    return 0x3040 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF or 0xFF66 <= code <= 0xFF9F


def _is_japanese(char: str) -> bool:
    code = ord(char)
    return (
        _is_kana(char)  # hiragana, katakana (with ー), phonetic extensions, half-width katakana
        or 0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0x3400 <= code <= 0x4DBF  # extension A
        or 0xF900 <= code <= 0xFAFF  # compatibility ideographs
        or 0x3005 <= code <= 0x3007  # 々 〆 〇
    )


def japanese_ratio(text: str) -> float:
    """Share of kana/kanji among the letters of `text` (digits, punctuation, spaces ignored); 0.0 if none."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if _is_japanese(c)) / len(letters)


def detect_language(text: str) -> str:
    """`ja` or `en`, from the share of kana/kanji among letters.

    Japanese tech prose carries many Latin terms ("LangChainでRAGを作る" is 0.25, "Fine-tuning Llama 3
    with LoRA の実践" 0.12), so 10% is enough when kana are present; without kana (an English title
    quoting "(日本)") it takes 30%.
    """
    ratio = japanese_ratio(text)
    if ratio >= 0.3:
        return "ja"
    return "ja" if ratio >= 0.1 and any(_is_kana(c) for c in text) else "en"


_ARCHIVE_WORDS = (  # arXiv's archive names, as used in old-style ids
    "acc-phys adap-org alg-geom ao-sci astro-ph atom-ph bayes-an chao-dyn chem-ph cmp-lg comp-gas cond-mat "
    "cs dg-ga funct-an gr-qc hep-ex hep-lat hep-ph hep-th math math-ph mtrl-th nlin nucl-ex nucl-th "
    "patt-sol physics plasm-ph q-alg q-bio q-fin quant-ph solv-int stat supr-con"
)
_OLD_ARCHIVES = _ARCHIVE_WORDS.split()
_ARXIV_ID = re.compile(
    r"(?:(?<=arxiv\.)|(?<![\w.\-]))"  # DOI form 10.48550/arXiv.2401.10491, or a clean left boundary
    r"(?:(?P<new>(?P<yymm>\d{4})\.(?P<num>\d{4,5}))"
    rf"|(?P<arch>{'|'.join(re.escape(a) for a in sorted(_OLD_ARCHIVES, key=len, reverse=True))})"
    r"(?:\.[A-Z]{2})?/(?P<old>\d{7}))"
    r"(?:v\d+)?(?!\d|\.\d|-)",
    re.IGNORECASE,
)


def _valid_new(yymm: str, num: str) -> bool:
    year, month = int(yymm[:2]), int(yymm[2:])
    if not 1 <= month <= 12 or year < 7 or yymm < "0704":
        return False
    return yymm <= "1412" if len(num) == 4 else yymm >= "1501"


def _valid_old(number: str) -> bool:
    year, month = int(number[:2]), int(number[2:4])
    return 1 <= month <= 12 and (year >= 91 or year <= 7)


def find_arxiv_ids(text: str) -> tuple[str, ...]:
    """arXiv ids mentioned in `text`, versions stripped, in order of first mention.

    Finds `2401.10491`, `arXiv:2401.10491v2`, `arxiv.org/abs/…` and `/pdf/….pdf` links, the DOI form
    `arXiv.2401.10491`, and old-style `cs/0601001` (subject class dropped: `math.GT/0309136` →
    `math/0309136`). Checks the yymm part, so version numbers and dates (`1.2345`, `2023.1215`) are ignored.
    """
    found: dict[str, None] = {}
    for match in _ARXIV_ID.finditer(text):
        if match.group("new"):
            if _valid_new(match.group("yymm"), match.group("num")):
                found.setdefault(match.group("new"), None)
        elif _valid_old(match.group("old")):
            found.setdefault(f"{match.group('arch').lower()}/{match.group('old')}", None)
    return tuple(found)


def normalize_title(title: str) -> str:
    """Key for cross-source dedup: NFKC, casefold, only letters and digits kept."""
    folded = unicodedata.normalize("NFKC", title).casefold()
    return "".join(c for c in folded if unicodedata.category(c)[0] in "LNM")


def merge_tags(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    """Union in order, comparing case-insensitively (`LLM` from a feed, `llm` from an API: one tag)."""
    merged: dict[str, str] = {}
    for tag in first + second:
        merged.setdefault(tag.casefold(), tag)
    return tuple(merged.values())
