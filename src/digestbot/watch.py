"""The watchlist (`[watch]` in `config/digestbot.toml`): which items go to the 注目 section.

Matching runs on a folded form of both sides (`fold`): Unicode NFKC (full-width ＧＰＴ = GPT,
half-width ｶﾀｶﾅ = カタカナ, the ideographic space = a space), case folded, accents stripped (José =
Jose, Łukasz = Lukasz, Ø = O, ß = ss). Hiragana and katakana stay different letters (さとう ≠ サトウ).

- **arXiv ids**: exact, version dropped (`arXiv:2401.10491v2` = `2401.10491`): the paper itself,
  and a Qiita/Zenn article that names the paper's id or URL.
- **Authors**: exact full names. Spaces and the punctuation inside names (`.`, `-`, `'`, `・`) are
  ignored, so 山田 太郎 = 山田太郎 and Jean-Pierre = Jean Pierre, and the order of the words is free
  (Taro Yamada = Yamada Taro, as romanized Japanese names come both ways). A family name alone
  matches nobody (`Bengio` ≠ `Yoshua Bengio`): that would pin every namesake.
- **Users**: a Qiita/Zenn user name, exact (`@` optional): the user in the article's URL
  (`qiita.com/<user>/items/…`, `zenn.dev/<user>/articles/…`) or the author name the feed gives.
- **Keywords**: a word or phrase, word-bounded, in the title, the text and the tags. Spaces and
  hyphens between words are alike (`long context` = `long-context`), no plural is added. Bounded
  means: where the phrase starts or ends with a letter or digit of a Latin-type script, the text
  must not continue with one (`RAG` matches 「RAGの評価」 and `RAG-based`, never `fragment` or
  `RAGs`); where it starts or ends with katakana, the text must not continue with katakana
  (`ラグ` never matches 「フラグ」); at a kanji or hiragana edge there is no boundary to find
  without a dictionary, so the phrase matches inside a compound (`推論` matches 「推論モデル」 and
  「類推論」: write the longer word to be stricter).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from digestbot.config_schema import WatchConfig
from digestbot.domain import Item, SourceName, WatchMatch

KIND_ORDER = ("arxiv_id", "author", "user", "keyword")  # the 注目 section lists stronger matches first

# Letters NFD does not decompose into a base letter and a combining mark.
_LETTERS = str.maketrans(
    {"ł": "l", "ø": "o", "đ": "d", "ð": "d", "þ": "th", "ß": "ss", "æ": "ae", "œ": "oe", "ı": "i", "ħ": "h"}
)
_NAME_PUNCT = re.compile(r"[\s.,'’‘`\-‐‑–・･·]+")
_SEPARATOR = re.compile(r"[\s_\-‐‑]+")
_PROFILE_PATHS = {SourceName.QIITA: "items", SourceName.ZENN: "articles"}


def fold(text: str) -> str:
    """NFKC, case folded, accents stripped: the form both sides of every match are compared in."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_LETTERS)
    decomposed = unicodedata.normalize("NFD", folded)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", stripped)


def name_keys(name: str) -> tuple[str, str]:
    """(the name without spaces or punctuation, its words sorted): two names match when either agrees."""
    words = [w for w in _NAME_PUNCT.split(fold(name)) if w]
    return "".join(words), " ".join(sorted(words))


def user_key(user: str) -> str:
    return "".join(_NAME_PUNCT.split(fold(user.strip().lstrip("@＠"))))


def _script(ch: str) -> str:
    """The boundary class of one character: "latin" (letters/digits outside CJK), "katakana", or ""."""
    if "\u30a0" <= ch <= "\u30ff" or "\u31f0" <= ch <= "\u31ff":
        return "" if ch in "・゠" else "katakana"
    if not ch.isalnum():
        return ""
    name = unicodedata.name(ch, "")
    if name.startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "IDEOGRAPHIC")):
        return ""
    return "latin"


@dataclass(frozen=True)
class Phrase:
    """One keyword, compiled: the folded words joined by "any spaces or hyphens"."""

    term: str
    pattern: re.Pattern[str]

    @classmethod
    def of(cls, term: str, *, plural: bool = False) -> Phrase:
        """`plural`: a Latin last word also matches with `s`/`es` (`agent` in `agents`)."""
        words = [w for w in _SEPARATOR.split(fold(term).strip()) if w]
        body = r"[\s_\-‐‑]*".join(re.escape(w) for w in words)
        if plural and body and words[-1][-1].isascii() and words[-1][-1].isalpha():
            body += r"(?:e?s)?"
        return cls(term.strip(), re.compile(body or r"(?!)"))  # nothing but hyphens: matches nothing

    def found_in(self, text: str) -> bool:
        """`text` is folded. True when the phrase occurs with a boundary at both ends (module doc)."""
        for match in self.pattern.finditer(text):
            start, end = match.start(), match.end()
            head, tail = text[start], text[end - 1]
            before = text[start - 1] if start else ""
            after = text[end] if end < len(text) else ""
            if _glued(head, before) or _glued(tail, after):
                continue
            return True
        return False


def _glued(edge: str, neighbour: str) -> bool:
    """Whether `neighbour` continues the word that `edge` (the phrase's first/last character) is in."""
    script = _script(edge)
    return bool(script) and bool(neighbour) and _script(neighbour) == script


def arxiv_key(value: str) -> str:
    """`arXiv:2401.10491v2` -> `2401.10491` (the config validator has already checked it is one id)."""
    from digestbot.sources.text import find_arxiv_ids

    found = find_arxiv_ids(value)
    return found[0] if found else fold(value).strip()


def item_user(item: Item) -> str:
    """The Qiita/Zenn user in the article's URL (`qiita.com/<user>/items/…`), folded; "" otherwise."""
    marker = _PROFILE_PATHS.get(item.source)
    if marker is None:
        return ""
    parts = [p for p in urlsplit(item.url).path.split("/") if p]
    return user_key(parts[0]) if len(parts) >= 3 and parts[1] == marker else ""


class Watchlist:
    """`[watch]` compiled once; `matches(item)` says what an item matched (empty: not watched)."""

    def __init__(self, config: WatchConfig) -> None:
        self.config = config
        self._ids = {arxiv_key(v): v for v in config.arxiv_ids}
        self._authors: dict[str, str] = {}
        for name in config.authors:
            for key in name_keys(name):
                self._authors.setdefault(key, name.strip())
        self._users = {user_key(u): u.strip() for u in config.users}
        self._phrases = [Phrase.of(term) for term in dict.fromkeys(config.keywords)]

    def __bool__(self) -> bool:
        return bool(self._ids or self._authors or self._users or self._phrases)

    def matches(self, item: Item) -> tuple[WatchMatch, ...]:
        found = dict.fromkeys(self._find(item))  # each configured entry once, in KIND_ORDER
        return tuple(found)

    def _find(self, item: Item) -> Iterator[WatchMatch]:
        own_id = item.id.removeprefix("arxiv:") if item.source == SourceName.ARXIV else None
        for key in (own_id, *item.mentioned_arxiv_ids):
            if key is not None and key in self._ids:
                yield WatchMatch("arxiv_id", key)
        for author in item.authors:
            for key in name_keys(author):
                if key in self._authors:
                    yield WatchMatch("author", self._authors[key])
                    break
        if item.source != SourceName.ARXIV and self._users:
            candidates = [item_user(item), *(user_key(a) for a in item.authors)]
            for key in candidates:
                if key and key in self._users:
                    yield WatchMatch("user", self._users[key])
        if self._phrases:
            text = fold(f"{item.title}\n{item.text}\n{' / '.join(item.tags)}")
            for phrase in self._phrases:
                if phrase.found_in(text):
                    yield WatchMatch("keyword", phrase.term)

    def find(self, items: Iterable[Item]) -> dict[str, tuple[WatchMatch, ...]]:
        """item id -> what it matched, for the watched items only."""
        if not self:
            return {}
        return {item.id: found for item in items if (found := self.matches(item))}


@lru_cache(maxsize=8)
def watchlist(config: WatchConfig) -> Watchlist:
    """The compiled watchlist for a configuration (compiled once per configuration)."""
    return Watchlist(config)


def strength(matches: Iterable[WatchMatch]) -> int:
    """0 = an arXiv id, 1 = an author, 2 = a user, 3 = a keyword only (the 注目 section's order)."""
    return min((KIND_ORDER.index(m.kind) for m in matches if m.kind in KIND_ORDER), default=len(KIND_ORDER))


def describe(config: WatchConfig) -> list[tuple[str, str, str]]:
    """(label, the entry as configured, what it is compared as) for `/digest watch` and the CLI."""
    rows: list[tuple[str, str, str]] = []
    rows += [("arXiv", v, arxiv_key(v)) for v in config.arxiv_ids]
    rows += [("著者", v, " / ".join(dict.fromkeys(name_keys(v)))) for v in config.authors]
    rows += [("ユーザー", v, user_key(v)) for v in config.users]
    rows += [("キーワード", v, " ".join(_SEPARATOR.split(fold(v).strip()))) for v in config.keywords]
    return rows
