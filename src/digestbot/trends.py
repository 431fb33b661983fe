"""The week's trends: kept items per category against the previous weeks, and rising terms.

History is the archive of posted digests (`digest_posts`): each weekly digest (a 6–8 day window)
is one sample, put in the week bucket its window starts in, counted backwards from the current
digest's window. When a week has several digests (a re-post, another channel) the posted one
updated last wins. A week without a digest is "no data" (None), never zero. Category counts are
the judge's kept counts (`DigestSection.total`, before the per-category cap); terms are counted
once per shown item, from its title and tags.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from digestbot.digest_json import digest_from_dict
from digestbot.domain import CategoryTrend, Digest, RisingTerm, Trends, Window
from digestbot.settings import Category
from digestbot.store.digests import digest_posts

WEEK = timedelta(days=7)
MIN_TERM_COUNT = 2  # a term must appear in at least this many items this week
RISE_FACTOR = 1.5  # rising = count >= baseline × 1.5 + 1

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-.][A-Za-z0-9]+)*")
_KATAKANA = re.compile(r"[ァ-ヴー]{3,}")
_KANJI = re.compile(r"[一-龥々]{2,6}")
_ARXIV_CATEGORY = re.compile(r"^[a-z-]+(?:\.[a-z-]+)+$", re.IGNORECASE)
STOPWORDS = frozenset((
    "a", "an", "the", "of", "for", "with", "via", "and", "or", "in", "on", "to", "from", "by", "is", "are",
    "as", "at", "be", "we", "our", "its", "their", "can", "do", "does", "how", "what", "why", "when", "new",
    "into", "over", "under", "vs", "versus", "toward", "towards", "using", "based", "through", "without",
    "beyond", "more", "less", "than", "not", "all", "any", "your", "you", "it", "this", "that", "these",
    "those", "study", "approach", "approaches", "method", "methods", "paper", "analysis", "learning", "data",
    "task", "tasks", "model", "models", "large", "language", "llm", "llms", "framework", "system", "systems",
    "results", "improving", "improve", "improved", "efficient", "effective", "evaluation", "evaluating",
    "case", "part", "ai", "use", "used", "how-to", "guide", "intro", "introduction", "python",
))  # fmt: skip
STOP_JA = frozenset((
    "提案", "手法", "性能", "向上", "実験", "報告", "構築", "分析", "結果", "研究", "論文", "記事", "解説",
    "紹介", "精度", "比較", "改善", "実装", "検証", "方法", "活用", "入門", "基本", "基礎", "利用", "話題",
    "事例", "仕組", "理解", "整理", "作成", "開発", "生成", "言語", "モデル", "大規模言語", "大規模",
    "機械学習", "自然言語処理",
))  # fmt: skip


def is_weekly(window: Window) -> bool:
    """A digest of 6–8 days is a weekly sample (on-demand `3d` digests are not)."""
    return timedelta(days=6) <= window.end - window.start <= timedelta(days=8)


# --- terms -----------------------------------------------------------------------------------------


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def item_terms(title: str, tags: Iterable[str], ignore: frozenset[str] = frozenset()) -> dict[str, str]:
    """The item's terms: normalized key -> the form to show (``rag`` -> ``RAG``)."""
    found: dict[str, str] = {}

    def add(surface: str) -> None:
        key = surface.casefold()
        if key in ignore or key in STOPWORDS or key in STOP_JA or len(key) < 2:
            return
        found.setdefault(key, surface)

    text = _fold(title)
    for raw in tags:
        tag = _fold(raw)
        if tag and not _ARXIV_CATEGORY.match(tag):
            add(tag)
    for word in _WORD.findall(text):
        if len(word) >= 3 or word.isupper():
            add(word)
    for run in (*_KATAKANA.findall(text), *_KANJI.findall(text)):
        add(run)
    return found


# --- one week ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeekSample:
    """What one weekly digest says: kept per category, and how many shown items mention each term."""

    window: Window
    counts: Mapping[str, int]
    terms: Mapping[str, int]
    surfaces: Mapping[str, str]

    @classmethod
    def of(cls, digest: Digest, ignore: frozenset[str] = frozenset()) -> WeekSample:
        counts: Counter[str] = Counter({s.category: s.total for s in digest.sections if not s.is_watch})
        for section in (s for s in digest.sections if s.is_watch):  # 注目 entries count in their category
            counts.update(e.category for e in section.entries)
        terms: Counter[str] = Counter()
        surfaces: dict[str, str] = {}
        for section in digest.sections:
            for entry in section.entries:
                found = item_terms(entry.item.title, entry.item.tags, ignore)
                terms.update(found.keys())
                for key, surface in found.items():
                    surfaces.setdefault(key, surface)
        return cls(digest.window, counts, dict(terms), surfaces)


def week_index(anchor: Window, window: Window) -> int:
    """0 = the anchor's week, 1 = the week before, ... (by where the window starts, ±3.5 days)."""
    return round((anchor.start - window.start) / WEEK)


def archived_digests(engine: Engine, *, since: datetime) -> list[tuple[Digest, str, datetime]]:
    """(digest, status, updated_at) of every archived digest attempted since `since`."""
    query = select(digest_posts.c.digest, digest_posts.c.status, digest_posts.c.updated_at).where(
        digest_posts.c.updated_at >= since
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [(digest_from_dict(row.digest), row.status, row.updated_at) for row in rows if row.digest]


def weekly_history(
    engine: Engine,
    anchor: Window,
    weeks: int,
    *,
    ignore: frozenset[str] = frozenset(),
    current: Digest | None = None,
) -> list[WeekSample | None]:
    """Samples for the anchor's week and the `weeks` before it, newest first (index = weeks back).

    `current` (the digest being made, not archived yet) takes the anchor's week when given.
    """
    best: dict[int, tuple[tuple[int, datetime], Digest]] = {}
    for digest, status, updated in archived_digests(engine, since=anchor.start - (weeks + 2) * WEEK):
        index = week_index(anchor, digest.window)
        if not is_weekly(digest.window) or not 0 <= index <= weeks:
            continue
        rank = (1 if status == "posted" else 0, updated)
        if index not in best or rank > best[index][0]:
            best[index] = (rank, digest)
    samples: list[WeekSample | None] = [None] * (weeks + 1)
    for index, (_, digest) in best.items():
        samples[index] = WeekSample.of(digest, ignore)
    if current is not None:
        samples[0] = WeekSample.of(current, ignore)
    return samples


# --- the trends section ------------------------------------------------------------------------------


def _mean(values: Sequence[int]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def category_trends(
    current: WeekSample, previous: Sequence[WeekSample], categories: Sequence[Category]
) -> tuple[CategoryTrend, ...]:
    """Config order; a category shows when it has items this week or in an earlier week."""
    known = {c.id: c for c in categories}
    ids = [c.id for c in categories] + sorted(
        {cid for s in (current, *previous) for cid in s.counts} - set(known)
    )
    out = []
    for cid in ids:
        count = current.counts.get(cid, 0)
        history = [s.counts.get(cid, 0) for s in previous]
        if count == 0 and not any(history):
            continue
        cat = known.get(cid)
        name, emoji = (cat.name, cat.emoji) if cat else (cid, "📄")
        out.append(CategoryTrend(cid, name, emoji, count, _mean(history)))
    return tuple(out)


def rising_terms(current: WeekSample, previous: Sequence[WeekSample], limit: int) -> tuple[RisingTerm, ...]:
    """Terms in at least 2 items now and clearly above their earlier weekly mean (or, with no
    history, simply the most frequent ones), best first."""
    scored = []
    for key, count in current.terms.items():
        if count < MIN_TERM_COUNT:
            continue
        baseline = _mean([s.terms.get(key, 0) for s in previous])
        if baseline is not None and count < baseline * RISE_FACTOR + 1:
            continue
        score = (count + 1) / ((baseline or 0) + 1)
        scored.append((-score, -count, key, RisingTerm(current.surfaces[key], count, baseline)))
    return tuple(term for *_, term in sorted(scored)[:limit])


def build_trends(
    history: Sequence[WeekSample | None],
    categories: Sequence[Category],
    *,
    compare_weeks: int = 4,
    max_terms: int = 5,
) -> Trends | None:
    """The trends section from `weekly_history(...)` (index 0 = this week); None without this week."""
    current = history[0] if history else None
    if current is None:
        return None
    previous = [s for s in history[1 : compare_weeks + 1] if s is not None]
    return Trends(
        weeks_compared=len(previous),
        categories=category_trends(current, previous, categories),
        rising=rising_terms(current, previous, max_terms),
    )


def ignored_terms(interests: Iterable[str]) -> frozenset[str]:
    """The team's core interests appear everywhere, so they are never "rising"."""
    return frozenset(_fold(term).casefold() for term in interests)


def trends_for(
    digest: Digest,
    engine: Engine,
    categories: Sequence[Category],
    *,
    interests: Iterable[str] = (),
    compare_weeks: int = 4,
    max_terms: int = 5,
) -> Trends | None:
    """The trends section for a digest about to be published (None unless it covers a week)."""
    if not is_weekly(digest.window):
        return None
    ignore = ignored_terms(interests)
    history = weekly_history(engine, digest.window, compare_weeks, ignore=ignore, current=digest)
    return build_trends(history, categories, compare_weeks=compare_weeks, max_terms=max_terms)


def describe(trend: CategoryTrend, weeks: int) -> str:
    """`12件（前4週平均 7.5件 ↑4.5）` for the section and the CLI (`12件` with nothing to compare)."""
    if trend.baseline is None or trend.change is None:
        return f"{trend.count}件"
    change = trend.change
    arrow = "↑" if change > 0 else "↓" if change < 0 else "→"
    amount = f"{abs(change):g}" if change else "±0"
    return f"{trend.count}件（前{weeks}週平均 {trend.baseline:g}件 {arrow}{amount}）"


# --- the chart's table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeeklyCounts:
    """Kept items per category per week, oldest week first; None = no digest that week."""

    weeks: tuple[Window, ...]
    categories: tuple[tuple[str, str], ...]  # (id, name), config order
    counts: Mapping[str, tuple[int | None, ...]]

    def labels(self, tz: str) -> list[str]:
        return [window.label(tz).split("–")[0] for window in self.weeks]


def weekly_counts(
    history: Sequence[WeekSample | None], anchor: Window, categories: Sequence[Category]
) -> WeeklyCounts:
    """The table behind the chart and `digestbot trends` (history as from `weekly_history`)."""
    ordered = list(reversed(history))
    weeks = tuple(
        Window(anchor.start - back * WEEK, anchor.end - back * WEEK) for back in reversed(range(len(history)))
    )
    seen = {cid for s in ordered if s is not None for cid, n in s.counts.items() if n}
    known = [(c.id, c.name) for c in categories if c.id in seen]
    extra = [(cid, cid) for cid in sorted(seen - {c.id for c in categories})]
    cats = tuple(known + extra)
    counts = {cid: tuple(None if s is None else s.counts.get(cid, 0) for s in ordered) for cid, _ in cats}
    return WeeklyCounts(weeks, cats, counts)


def latest_weekly_window(engine: Engine) -> Window | None:
    """The window of the newest archived weekly digest (the anchor for `digestbot trends`)."""
    query = select(digest_posts.c.digest).order_by(digest_posts.c.updated_at.desc())
    with engine.connect() as conn:
        for (data,) in conn.execute(query):
            window = digest_from_dict(data).window if data else None
            if window is not None and is_weekly(window):
                return window
    return None
