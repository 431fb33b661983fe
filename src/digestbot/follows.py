"""Follow topics: what `/digest follow` words mean, and which digest items match whose follows.

Pure functions and frozen values (the store is `store/follows.py`, the Slack side `slack/follow_command.py`).

* A word is a category when it is a category id or name from `config/categories.toml`
  (`category:<id>` forces it and must name one; `kw:<word>` forces a keyword), else a keyword.
  Multi-word keywords are quoted: `"multi agent"` or 「マルチ エージェント」.
* Keywords are normalized: NFKC (full-width `ＲＡＧ` and half-width `ｶﾀｶﾅ` become `RAG`, `カタカナ`),
  case-folded, spaces collapsed; 2 to `max_keyword_chars` characters.
* A keyword matches an item's title, tags or blurb (what the digest shows, so every 👀 can be
  explained by the reader) with the watchlist's matcher (`watch.Phrase`: folded case, width and
  accents; bounded Latin and katakana edges; words across spaces, `-` and `_`), plus a plural
  `s`/`es` (`agent` matches `agents`; `rag` never matches `storage`). Japanese has no spaces between
  words, so a kanji or hiragana edge is not bounded (`蒸留` matches `知識蒸留`); that is why a keyword
  has at least 2 characters.
* A category follow matches an item shown under that category or classified into it as secondary.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from digestbot.config_schema import Category, FollowConfig
from digestbot.domain import Digest, DigestEntry
from digestbot.watch import Phrase, fold

MIN_KEYWORD_CHARS = 2
MAX_WORDS = 30  # words read from one command (the follow limit bounds what is stored)
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,31}$")
_SPACES = re.compile(r"\s+")
_TOKEN = re.compile(r'"([^"]*)"|「([^」]*)」|(\S+)')
_CATEGORY_PREFIXES = ("category:", "cat:", "カテゴリ:")
_KEYWORD_PREFIXES = ("keyword:", "kw:", "キーワード:")
DM_ON, DM_OFF = "--dm", "--no-dm"

Kind = Literal["category", "keyword"]
ProblemKind = Literal["unknown_category", "too_short", "too_long", "too_many_words", "unknown_option"]


def valid_user_id(user_id: str) -> bool:
    """A Slack user id (`U…`/`W…`): the only thing a 👀 mention is ever built from."""
    return bool(_USER_ID.match(user_id))


def normalize(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed: the form keywords are stored and matched in."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


@dataclass(frozen=True, slots=True)
class Topic:
    """One thing a member follows: a category id, or a normalized keyword."""

    kind: Kind
    value: str


@dataclass(frozen=True, slots=True)
class Member:
    """A member who used `/digest follow` (stored by `store/follows.py`)."""

    user_id: str
    display_name: str
    dm: bool
    topics: tuple[Topic, ...]  # in the order they were followed


@dataclass(frozen=True, slots=True)
class Problem:
    kind: ProblemKind
    word: str  # as the member wrote it (escape before echoing)


@dataclass(frozen=True, slots=True)
class Request:
    """What the words of `/digest follow …` or `/digest unfollow …` ask for."""

    topics: tuple[Topic, ...] = ()
    dm: bool | None = None  # --dm / --no-dm
    everything: bool = False  # `unfollow all`
    problems: tuple[Problem, ...] = field(default=())


def _words(text: str) -> list[str]:
    return [
        next(g for g in m.groups() if g is not None) for m in _TOKEN.finditer(text.replace("\u3000", " "))
    ]


def _category(word: str, categories: Sequence[Category]) -> Category | None:
    folded = normalize(word)
    return next((c for c in categories if folded in (c.id, normalize(c.name))), None)


def parse_request(text: str, categories: Sequence[Category], config: FollowConfig) -> Request:
    """The topics and options in the command's text (after `follow`/`unfollow`)."""
    words = _words(text)
    problems: list[Problem] = []
    if len(words) > MAX_WORDS:
        problems.append(Problem("too_many_words", str(len(words))))
        words = words[:MAX_WORDS]
    topics: list[Topic] = []
    dm: bool | None = None
    everything = False
    for raw in words:
        word = unicodedata.normalize("NFKC", raw).strip()
        folded = word.casefold()
        if folded in (DM_ON, DM_OFF):
            dm = folded == DM_ON
            continue
        if folded.startswith("--"):
            problems.append(Problem("unknown_option", raw))
            continue
        if folded in ("all", "すべて", "全部"):
            everything = True
            continue
        forced = next((p for p in _CATEGORY_PREFIXES if folded.startswith(p)), None)
        if forced is not None:
            found = _category(word[len(forced) :], categories)
            if found is None:
                problems.append(Problem("unknown_category", raw))
            else:
                topics.append(Topic("category", found.id))
            continue
        keyword_prefix = next((p for p in _KEYWORD_PREFIXES if folded.startswith(p)), None)
        found = None if keyword_prefix else _category(word, categories)
        if found is not None:
            topics.append(Topic("category", found.id))
            continue
        keyword = normalize(word[len(keyword_prefix or "") :])
        if len(keyword) < MIN_KEYWORD_CHARS:
            problems.append(Problem("too_short", raw))
        elif len(keyword) > config.max_keyword_chars:
            problems.append(Problem("too_long", raw))
        else:
            topics.append(Topic("keyword", keyword))
    return Request(tuple(dict.fromkeys(topics)), dm, everything, tuple(problems))


def keyword_matches(keyword: str, text: str) -> bool:
    """Whether `keyword` occurs in `text` (folded by `entry_text`), bounded as the module doc says."""
    return Phrase.of(keyword, plural=True).found_in(text)


def entry_text(entry: DigestEntry) -> str:
    """What a keyword is matched against: the title, the tags and the blurb, folded like the watchlist."""
    item = entry.item
    return fold(" ".join([item.title, *item.tags, entry.blurb]))


def matched_topics(
    entry: DigestEntry, topics: Sequence[Topic], *, text: str | None = None
) -> tuple[Topic, ...]:
    """The member's topics that this item matches, in the member's order."""
    shown = entry_text(entry) if text is None else text
    categories = {entry.category, *entry.secondary}
    return tuple(
        topic
        for topic in topics
        if (topic.value in categories if topic.kind == "category" else keyword_matches(topic.value, shown))
    )


@dataclass(frozen=True, slots=True)
class Follower:
    """One member an item is for: the stored user id (validated) and display name."""

    user_id: str
    name: str


Audience = Mapping[str, tuple[Follower, ...]]  # item id -> who follows it, by user id


def audience(digest: Digest, members: Sequence[Member]) -> dict[str, tuple[Follower, ...]]:
    """For each shown item, the members whose follows it matches (members with a malformed id are
    left out: a mention is built from a validated id or not at all)."""
    valid = [m for m in members if valid_user_id(m.user_id) and m.topics]
    found: dict[str, tuple[Follower, ...]] = {}
    for section in digest.sections:
        for entry in section.entries:
            text = entry_text(entry)
            who = tuple(
                Follower(m.user_id, m.display_name)
                for m in sorted(valid, key=lambda m: m.user_id)
                if matched_topics(entry, m.topics, text=text)
            )
            if who:
                found[entry.item.id] = who
    return found


def member_entries(digest: Digest, member: Member, limit: int) -> list[tuple[DigestEntry, tuple[Topic, ...]]]:
    """The member's matching items in digest order (at most `limit`), with the topics they match."""
    picked: list[tuple[DigestEntry, tuple[Topic, ...]]] = []
    for section in digest.sections:
        for entry in section.entries:
            topics = matched_topics(entry, member.topics)
            if topics and len(picked) < limit:
                picked.append((entry, topics))
    return picked


def topic_label(topic: Topic, categories: Mapping[str, Category]) -> str:
    """`RAG/ロングコンテキスト` for a category, `「量子化」` for a keyword (raw text, not escaped)."""
    if topic.kind == "category":
        category = categories.get(topic.value)
        return category.name if category is not None else topic.value
    return f"「{topic.value}」"
