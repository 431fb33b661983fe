"""Article <-> paper links: a Qiita/Zenn article that explains an arXiv paper sits under that paper.

What an article names: the arXiv ids it mentions (`Item.mentioned_arxiv_ids`: ids, `arxiv.org/abs`
and `/pdf` URLs, the DOI form) and every stored paper whose exact normalized title (NFKC, casefold,
letters and digits only; at least `[links] min_title_chars` long) occurs in its normalized title or
text. Only stored papers are linked (we need the paper's title and URL).

**The attachment rule** (an explainer, not a survey list): an article is attached to a paper when
its *title* names the paper (id, URL or exact title), or when it names at most `[links] max_papers`
(default 3) distinct papers in all, counting ids of papers we never stored. An article explains
one paper, or a few it compares; a list that cites ten papers explains none of them, unless its
title says which one it is about. The facts are stored per (article, paper) in `article_links`
and the rule is applied by the query (`store/links.py`).

In the digest (`apply_links`, called by compose):
- a paper shown this week lists its attached articles as 解説記事 (most liked first, at most
  `per_entry`); an article listed there gives up its own slot, which goes to the next item;
- an article shown on its own lists its papers as 元論文, with the earlier digest that showed one;
- an article of this week whose paper was in an earlier posted digest, and that is shown nowhere
  else, goes to 「今週の解説記事」 (at most `this_week_cap` lines, most liked first).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from digestbot.config_schema import LinksConfig
from digestbot.domain import DigestEntry, DigestSection, ExplainedPaper, Item, LinkedItem, SourceName, Window
from digestbot.settings import Settings
from digestbot.sources.text import find_arxiv_ids, normalize_title
from digestbot.store.links import (
    LinkRow,
    Mention,
    attached,
    earlier_digests,
    paper_titles,
    replace_mentions,
    stored_papers,
)

ARTICLE_SOURCES = (SourceName.QIITA, SourceName.ZENN)


@dataclass(frozen=True)
class LinkIndex:
    """What the store knows about this window's links (built once per run, read by compose)."""

    explainers: Mapping[str, tuple[LinkedItem, ...]] = field(default_factory=dict)  # paper id -> articles
    papers: Mapping[str, tuple[LinkedItem, ...]] = field(default_factory=dict)  # article id -> papers
    fresh: tuple[ExplainedPaper, ...] = ()  # this week's articles on papers of earlier digests
    config: LinksConfig = field(default_factory=LinksConfig)


class TitleIndex:
    """Stored papers' normalized titles, found in a text by their first `width` characters."""

    def __init__(self, titles: Sequence[tuple[str, str]], width: int) -> None:
        self.width = width
        self.ids = {paper_id for paper_id, key in titles if len(key) >= width}
        self._by_prefix: dict[str, list[tuple[str, str]]] = {}
        for paper_id, key in titles:
            if len(key) >= width:
                self._by_prefix.setdefault(key[:width], []).append((paper_id, key))

    def find(self, normalized: str) -> list[str]:
        """Ids of the papers whose whole key occurs in `normalized`, in order of first occurrence."""
        found: dict[str, None] = {}
        if not self._by_prefix:
            return []
        for start in range(len(normalized) - self.width + 1):
            for paper_id, key in self._by_prefix.get(normalized[start : start + self.width], ()):
                if normalized.startswith(key, start):
                    found.setdefault(paper_id, None)
        return list(found)


def mentions_of(article: Item, titles: TitleIndex, stored: set[str]) -> list[Mention]:
    """The stored papers an article names, each with how, whether its title names it, and how many
    distinct papers the article names in all (the survey-list count)."""
    named_ids = [
        f"arxiv:{i}" for i in dict.fromkeys((*find_arxiv_ids(article.title), *article.mentioned_arxiv_ids))
    ]
    title_ids = {f"arxiv:{i}" for i in find_arxiv_ids(article.title)}
    in_title_by_name = titles.find(normalize_title(article.title))
    by_name = [*in_title_by_name, *titles.find(normalize_title(article.text))]
    how = dict.fromkeys(named_ids, "arxiv_id") | {p: "title" for p in by_name if p not in named_ids}
    total = len(how)
    return [
        Mention(
            article_id=article.id,
            paper_id=paper,
            how=kind,
            in_title=paper in title_ids or paper in in_title_by_name,
            papers_named=total,
        )
        for paper, kind in how.items()
        if paper in stored
    ]


def refresh_links(
    engine: Engine, articles: Sequence[Item], config: LinksConfig, *, since: datetime, now: datetime
) -> int:
    """Recompute and store the mentions of these articles (papers matched by title: published since
    `since`); returns how many rows were written."""
    titles = TitleIndex(
        paper_titles(engine, since=since, min_chars=config.min_title_chars), config.min_title_chars
    )
    candidates = {f"arxiv:{i}" for a in articles for i in (*a.mentioned_arxiv_ids, *find_arxiv_ids(a.title))}
    stored = stored_papers(engine, candidates) | titles.ids
    mentions = [m for article in articles for m in mentions_of(article, titles, stored)]
    replace_mentions(engine, [(a.id, a.published) for a in articles], mentions, now=now)
    return len(mentions)


def _article(row: LinkRow) -> LinkedItem:
    return LinkedItem(
        row.article_id, row.article_source, row.article_title, row.article_url, row.article_likes, row.how
    )


def _paper(row: LinkRow, earlier: Mapping[str, tuple[str, str]]) -> LinkedItem:
    period, permalink = earlier.get(row.paper_id, ("", ""))
    return LinkedItem(row.paper_id, "arxiv", row.paper_title, row.paper_url, None, row.how, period, permalink)


def build_index(
    engine: Engine,
    window: Window,
    items: Sequence[Item],
    config: LinksConfig,
    *,
    period: str,
    now: datetime,
) -> LinkIndex:
    """Link the articles of the window (and `article_days` before it), then read the links the
    digest needs: explainers of this window's papers, papers of its articles, earlier digests."""
    from digestbot.store.items import ItemStore

    if not config.enabled:
        return LinkIndex(config=config)
    wide = Window(window.start - timedelta(days=config.article_days), window.end)
    articles = ItemStore(engine).items_in_window(wide, sources=ARTICLE_SOURCES)
    since = window.start - timedelta(days=config.title_days)
    refresh_links(engine, articles, config, since=since, now=now)
    paper_ids = [i.id for i in items if i.source is SourceName.ARXIV]
    this_week = [a.id for a in articles if window.contains(a.published)]
    rows = attached(
        engine, paper_ids=paper_ids, article_ids=this_week, max_papers=config.max_papers, before=window.end
    )
    earlier = earlier_digests(engine, {r.paper_id for r in rows}, other_than=period)
    explainers: dict[str, list[LinkedItem]] = {}
    papers: dict[str, list[LinkedItem]] = {}
    fresh: list[ExplainedPaper] = []
    week = set(this_week)
    for row in rows:
        if row.paper_id in paper_ids:
            explainers.setdefault(row.paper_id, []).append(_article(row))
        if row.article_id in week:
            papers.setdefault(row.article_id, []).append(_paper(row, earlier))
            if row.paper_id in earlier:
                fresh.append(ExplainedPaper(_paper(row, earlier), _article(row)))
    return LinkIndex(
        explainers={k: tuple(v) for k, v in explainers.items()},
        papers={k: tuple(v) for k, v in papers.items()},
        fresh=tuple(fresh),
        config=config,
    )


def window_links(settings: Settings, engine: Engine, window: Window, items: Sequence[Item]) -> LinkIndex:
    """The runner's call: this window's links, derived from the store."""
    from digestbot.delivery_plan import period_key

    period = period_key(window, settings.app.general.timezone)
    return build_index(engine, window, items, settings.app.links, period=period, now=datetime.now(UTC))


BuildSections = Callable[[Sequence[DigestEntry]], tuple[DigestSection, ...]]


def apply_links(
    kept: Sequence[DigestEntry],
    index: LinkIndex,
    build: BuildSections,
    *,
    hidden: AbstractSet[str] = frozenset(),
) -> tuple[tuple[DigestSection, ...], list[DigestEntry], tuple[ExplainedPaper, ...]]:
    """Sections with the links attached, the entries still in their own slot, and 「今週の解説記事」.

    An article shown under a paper leaves its own slot, so the sections are rebuilt until no shown
    paper claims another article (removing entries only frees slots, so it ends). `hidden` are item
    ids never shown as a link (held back, or flagged as a prompt injection).
    """
    per_entry = index.config.per_entry
    explainers = {
        paper: shown[:per_entry]
        for paper, articles in index.explainers.items()
        if (shown := tuple(a for a in articles if a.item_id not in hidden))
    }
    entries = list(kept)
    while True:
        sections = build(entries)
        shown_ids = {e.item.id for s in sections for e in s.entries}
        under = {a.item_id for paper in shown_ids for a in explainers.get(paper, ())}
        if not any(e.item.id in under for e in entries):
            break
        entries = [e for e in entries if e.item.id not in under]

    def decorate(entry: DigestEntry) -> DigestEntry:
        item_id = entry.item.id
        return dataclasses.replace(
            entry,
            explainers=explainers.get(item_id, ()) if item_id in shown_ids else (),
            papers=index.papers.get(item_id, ())[:per_entry],
        )

    linked = tuple(dataclasses.replace(s, entries=tuple(decorate(e) for e in s.entries)) for s in sections)
    seen = shown_ids | under | hidden
    explained: list[ExplainedPaper] = []
    for pair in index.fresh:
        if pair.article.item_id in seen or pair.paper.item_id in shown_ids:
            continue
        explained.append(pair)
        seen.add(pair.article.item_id)
    return linked, entries, tuple(explained[: index.config.this_week_cap])
