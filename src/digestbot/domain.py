"""Frozen domain values shared by every layer: items, time windows, digests."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class SourceName(StrEnum):
    ARXIV = "arxiv"
    QIITA = "qiita"
    ZENN = "zenn"


@dataclass(frozen=True, slots=True)
class Popularity:
    """Engagement counts where the source exposes them (None = unknown, not zero)."""

    likes: int | None = None
    stocks: int | None = None
    bookmarks: int | None = None
    comments: int | None = None

    def score(self) -> int:
        return sum(v for v in (self.likes, self.stocks, self.bookmarks) if v)


@dataclass(frozen=True, slots=True)
class Item:
    """One fetched paper or article, normalized.

    `id` is canonical and source-prefixed: ``arxiv:2401.10491`` (no version),
    ``qiita:<20-hex item id>``, ``zenn:<slug>``.
    """

    id: str
    source: SourceName
    url: str
    title: str
    text: str
    published: datetime
    updated: datetime
    authors: tuple[str, ...] = ()
    language: str = "en"
    tags: tuple[str, ...] = ()
    popularity: Popularity = field(default_factory=Popularity)
    version: int | None = None
    mentioned_arxiv_ids: tuple[str, ...] = ()
    announce_type: str | None = None

    def __post_init__(self) -> None:
        for name in ("published", "updated"):
            value = getattr(self, name)
            if value.tzinfo is None:
                raise ValueError(f"Item.{name} must be timezone-aware, got {value!r}")


_SINCE = re.compile(r"^\s*(\d+)\s*([dhw])\s*$")


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open time window [start, end) in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("Window bounds must be timezone-aware")
        if self.start >= self.end:
            raise ValueError(
                f"Window start {self.start:%Y-%m-%d %H:%M} is not before end {self.end:%Y-%m-%d %H:%M}"
            )

    @classmethod
    def since(cls, spec: str, *, now: datetime | None = None) -> Window:
        """`7d`, `36h`, `2w` back from now."""
        match = _SINCE.match(spec)
        if not match:
            raise ValueError(f"cannot read {spec!r} as a duration: use e.g. 7d, 36h or 2w")
        amount, unit = int(match.group(1)), match.group(2)
        delta = {"h": timedelta(hours=amount), "d": timedelta(days=amount), "w": timedelta(weeks=amount)}[
            unit
        ]
        end = (now or datetime.now(UTC)).astimezone(UTC)
        return cls(end - delta, end)

    @classmethod
    def between(cls, first: date, last: date, tz: str = "Asia/Tokyo") -> Window:
        """Whole local days from `first` to `last` inclusive."""
        zone = ZoneInfo(tz)
        start = datetime.combine(first, time.min, zone).astimezone(UTC)
        end = datetime.combine(last + timedelta(days=1), time.min, zone).astimezone(UTC)
        return cls(start, end)

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def label(self, tz: str = "Asia/Tokyo") -> str:
        """`11/16–11/22` in local time (end is exclusive, so show the day before); a window across a
        new year shows both years (`2025/12/29–2026/1/4`), so the two ends cannot be misread."""
        zone = ZoneInfo(tz)
        first = self.start.astimezone(zone)
        last = (self.end - timedelta(seconds=1)).astimezone(zone)
        if first.year != last.year:
            return f"{first.year}/{first.month}/{first.day}–{last.year}/{last.month}/{last.day}"
        return f"{first.month}/{first.day}–{last.month}/{last.day}"


@dataclass(frozen=True, slots=True)
class Scores:
    """Judge rubric scores, each clamped to 1..5 by code."""

    relevance: int
    significance: int
    faithfulness: int
    japanese: int

    def mean(self) -> float:
        return (self.relevance + self.significance + self.faithfulness + self.japanese) / 4


WATCH_SECTION = "watch"  # the 注目 section's id (a reserved category id; `/digest watch`)
WATCH_LABELS = {"arxiv_id": "arXiv", "author": "著者", "user": "ユーザー", "keyword": "キーワード"}


@dataclass(frozen=True, slots=True)
class WatchMatch:
    """Why an item is in the 注目 section: which `[watch]` entry (as configured) it matched."""

    kind: str  # "arxiv_id" | "author" | "user" | "keyword"
    value: str

    @property
    def label(self) -> str:
        """`著者: Łukasz Kaiser` (raw text, not escaped)."""
        return f"{WATCH_LABELS.get(self.kind, self.kind)}: {self.value}"


@dataclass(frozen=True, slots=True)
class LinkedItem:
    """The other side of an article <-> paper link, as shown under an entry (see `links.py`).

    For a paper: `digest_period`/`digest_permalink` name the earlier posted digest it was in
    ("" = none). `how` says what named the paper in the article: "arxiv_id" (an id or arXiv URL)
    or "title" (its exact normalized title).
    """

    item_id: str
    source: str
    title: str
    url: str
    likes: int | None = None
    how: str = "arxiv_id"
    digest_period: str = ""
    digest_permalink: str = ""


@dataclass(frozen=True, slots=True)
class ExplainedPaper:
    """「今週の解説記事」: a paper of an earlier digest and an article this week that explains it."""

    paper: LinkedItem
    article: LinkedItem


@dataclass(frozen=True, slots=True)
class DigestEntry:
    item: Item
    category: str
    blurb: str
    scores: Scores
    rationale: str = ""
    secondary: tuple[str, ...] = ()
    rank: float = 0.0
    reason: str = ""  # the classifier's one-line reason for the category
    explainers: tuple[LinkedItem, ...] = ()  # a paper's 解説記事 (Qiita/Zenn), best first
    papers: tuple[LinkedItem, ...] = ()  # an article's 元論文 (arXiv papers not shown this week)
    watch: tuple[WatchMatch, ...] = ()  # set for the 注目 section's entries: what they matched
    watch_flag: str = ""  # a watched item the judge would have dropped: why (report and preview only)
    # The learned ranking (`taste.py`): `rank` is then the blend; these keep its parts (None = untuned).
    judge_rank: float | None = None  # the rank from the judge's scores alone
    taste: float | None = None  # the learned chance (0..1) that the team likes it


@dataclass(frozen=True, slots=True)
class LeftOut:
    """An item of the window that is not in the digest: where it stopped and why.

    `status`: "dropped" (a rule or an agent's score), "capped" (kept, but over a category's cap or
    the total cap) or "held_back" (an agent failed on it). `score` is the judge's rank when it was
    judged, else the classifier's relevance (None before the classifier).
    """

    item_id: str
    title: str
    url: str
    status: str
    stage: str  # "prefilter" | "classifier" | "shortlist" | "summarizer" | "judge" | "cap"
    reason: str
    category: str = ""
    rank: int | None = None  # capped: its place in its category (1 = best)
    score: float | None = None


@dataclass(frozen=True, slots=True)
class DigestSection:
    category: str
    name: str
    emoji: str
    entries: tuple[DigestEntry, ...]
    total: int  # entries kept before the per-category cap; total - len(entries) = "他N件"

    @property
    def hidden(self) -> int:
        return self.total - len(self.entries)

    @property
    def is_watch(self) -> bool:
        """The 注目 section (first, outside the caps; its entries keep their own `category`)."""
        return self.category == WATCH_SECTION


@dataclass(frozen=True, slots=True)
class SourceCount:
    fetched: int = 0
    kept: int = 0
    failed: bool = False
    cut_off: int = 0  # entries the source had for the window but did not serve (arXiv's max_results)


@dataclass(frozen=True, slots=True)
class CategoryTrend:
    """One category's kept count this week against the mean of the previous weeks that have a digest."""

    category: str
    name: str
    emoji: str
    count: int
    baseline: float | None  # None = no earlier week to compare with

    @property
    def change(self) -> float | None:
        return None if self.baseline is None else self.count - self.baseline


@dataclass(frozen=True, slots=True)
class RisingTerm:
    """A term in this week's titles and tags: items mentioning it now vs. per earlier week."""

    term: str
    count: int
    baseline: float | None


@dataclass(frozen=True, slots=True)
class Trends:
    """The digest's trends section. `insight` (LLM mode only) cites items as [1], [2]... = `cited`."""

    weeks_compared: int  # earlier weeks that had a digest (0 = nothing to compare with yet)
    categories: tuple[CategoryTrend, ...]
    rising: tuple[RisingTerm, ...] = ()
    insight: str = ""
    cited: tuple[str, ...] = ()  # item ids, in the order of the insight's [n] markers


@dataclass(frozen=True, slots=True)
class TasteRanking:
    """The learned ranking took part: how many votes (on how many items) and how many entries moved."""

    votes: int
    items: int
    weight: float
    moved: int  # kept entries whose place in their category differs from the judge-only order

    def line(self) -> str:
        """The run report's line: `ranking tuned by 40 votes on 38 items (weight 1.0): 5 entries moved`."""
        moved = f"{self.moved} entries moved" if self.moved else "the order did not change"
        return f"ranking tuned by {self.votes} votes on {self.items} items (weight {self.weight:g}): {moved}"


@dataclass(frozen=True, slots=True)
class Digest:
    """What compose produces and what the publishers render."""

    window: Window
    title: str
    sections: tuple[DigestSection, ...]
    sources: dict[str, SourceCount]
    offline: bool
    generated_at: datetime
    notes: tuple[str, ...] = ()  # e.g. "Qiita: fetch failed (timeout)"; shown in the digest
    trends: Trends | None = None
    left_out: tuple[LeftOut, ...] = ()  # every item of the window not posted, named (run report, preview)
    explained: tuple[ExplainedPaper, ...] = ()  # 「今週の解説記事」 for papers of earlier digests
    ranking: TasteRanking | None = None  # set when the learned ranking applied (`taste.py`)

    @property
    def entry_count(self) -> int:
        return sum(len(s.entries) for s in self.sections)
