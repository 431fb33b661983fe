"""Text helpers shared by the offline agents and the prefilter: term matching and sentence splitting.

A `TermMatcher` compiles a list of terms (English keywords, Japanese words) into regexes shaped as
a character trie, so a scan costs about the same however many terms there are. Matching is
case-insensitive; ASCII terms match whole words only (``RAG`` does not match inside ``storage``),
accept an ``s``/``es`` plural and treat a space, a hyphen or nothing between words alike
(``long context`` = ``long-context``, ``fine-tuning`` = ``finetuning``). Japanese terms match as
substrings. Overlaps resolve to the longest term (``scaling law`` wins over ``law``).
A text is scanned once for the ASCII terms and, only if it has non-ASCII characters, once more
for the others.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

_SEPARATOR = r"[\s\-]?"
_WORD_PART = re.compile(r"[\s\-]+")
_ASCII_ALNUM = re.compile(r"[a-z0-9]")


def normalize(text: str) -> str:
    """NFKC (full-width letters and digits become ASCII) and lower case: the form every match runs on."""
    return unicodedata.normalize("NFKC", text).lower()


def term_key(term: str) -> str:
    """A term's identity: normalized, spaces and hyphens removed (``Long-Context`` -> ``longcontext``)."""
    return _WORD_PART.sub("", normalize(term).strip())


def _fragments(term: str) -> list[str]:
    """A term as regex fragments, one per character; a run of spaces/hyphens becomes an optional separator."""
    out: list[str] = []
    for part in _WORD_PART.split(normalize(term).strip()):
        if not part:
            continue
        if out:
            out.append(_SEPARATOR)
        out.extend(re.escape(ch) for ch in part)
    return out


def _trie_regex(terms: Iterable[str]) -> str:
    """One regex alternation for many terms, shaped as a trie (a position tries only matching branches)."""
    trie: dict[str, Any] = {}
    for term in terms:
        node = trie
        for fragment in _fragments(term):
            node = node.setdefault(fragment, {})
        node[""] = {}  # end of a term
    return _render(trie)


def _render(node: dict[str, Any]) -> str:
    ends = "" in node
    branches = [fragment + _render(child) for fragment, child in sorted(node.items()) if fragment]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if ends:
        return f"(?:{body})?" if len(branches) == 1 and len(body) > 1 else f"{body}?"
    return body


class TermMatcher:
    """Finds which of a fixed set of terms occur in a text. Build once, reuse for every item."""

    def __init__(self, terms: Iterable[str]) -> None:
        self.terms: dict[str, str] = {}  # key -> the term as first written (for reasons and rationales)
        for term in terms:
            key = term_key(term)
            if key and key not in self.terms:
                self.terms[key] = term.strip()
        ascii_terms = [t for k, t in self.terms.items() if _ASCII_ALNUM.match(k)]
        other_terms = [t for k, t in self.terms.items() if not _ASCII_ALNUM.match(k)]
        # Two patterns, not one alternation: a pattern mixing both loses the regex engine's
        # first-character scan and runs about five times slower on 3,000 abstracts.
        self._ascii = (
            re.compile(rf"(?<![a-z0-9])(?:{_trie_regex(ascii_terms)})(?:e?s)?(?![a-z0-9])")
            if ascii_terms
            else None
        )
        self._other = re.compile(_trie_regex(other_terms)) if other_terms else None

    def __len__(self) -> int:
        return len(self.terms)

    def keys(self, normalized_text: str) -> Iterator[str]:
        """The key of every term occurrence; the text must come from `normalize()`."""
        if self._ascii is not None:
            for match in self._ascii.finditer(normalized_text):
                key = _WORD_PART.sub("", match.group(0))
                if key in self.terms:
                    yield key
                elif key.endswith("es") and key[:-2] in self.terms:
                    yield key[:-2]
                elif key.endswith("s") and key[:-1] in self.terms:
                    yield key[:-1]
        if self._other is not None and not normalized_text.isascii():
            for match in self._other.finditer(normalized_text):
                yield _WORD_PART.sub("", match.group(0))


# --- sentences -----------------------------------------------------------------------------------

_JA_SENTENCE_END = re.compile(r"(?<=[。！？!?])|\n+")


def japanese_sentences(text: str) -> list[str]:
    """Split Japanese text after 。！？ and at line breaks; empty pieces are dropped."""
    return [s.strip() for s in _JA_SENTENCE_END.split(text) if s and s.strip()]


_EN_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[\"'])")
_ABBREVIATION = re.compile(r"\b(?:e\.g|i\.e|et al|vs|cf|etc|Fig|Eq|Sec|No)\.$")


def english_sentences(text: str) -> list[str]:
    """Split English prose at ``. `` followed by a capital, without splitting after e.g./i.e./et al."""
    out: list[str] = []
    for piece in _EN_SENTENCE_END.split(" ".join(text.split())):
        if out and _ABBREVIATION.search(out[-1]):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return [s for s in out if s]
