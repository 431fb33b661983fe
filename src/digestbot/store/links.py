"""Article -> paper mentions (`article_links`), and the queries the digest's links are made from.

One row per (Qiita/Zenn article, stored arXiv paper it names), with the facts the attachment rule
of `links.py` needs: whether the article's title names the paper, and how many distinct papers the
article names in all. The rule itself is applied in the query (`attached`), so changing
`[links] max_papers` needs no re-linking. Rows are recomputed for the articles of every run's
window (and the weeks before it), so a paper fetched after its article is still found.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Column, Engine, Index, Integer, String, Table, delete, func, or_, select
from sqlalchemy.orm import aliased

from digestbot.store.digests import digest_posts, ensure_table
from digestbot.store.schema import UtcDateTime, items, metadata, write_transaction

article_links = Table(
    "article_links",
    metadata,
    Column("article_id", String(200), primary_key=True),
    Column("paper_id", String(200), primary_key=True),
    Column("how", String(20), nullable=False),  # "arxiv_id" (an id or arXiv URL) or "title"
    Column("in_title", Boolean, nullable=False),  # the article's title names the paper
    Column("papers_named", Integer, nullable=False),  # distinct papers the article names in all
    Column("article_published", UtcDateTime, nullable=False),
    Column("linked_at", UtcDateTime, nullable=False),
    Index("ix_article_links_paper", "paper_id"),
)


@dataclass(frozen=True, slots=True)
class Mention:
    article_id: str
    paper_id: str
    how: str
    in_title: bool
    papers_named: int


@dataclass(frozen=True, slots=True)
class LinkRow:
    """One attached link with both sides' display fields (from `items`)."""

    article_id: str
    article_source: str
    article_title: str
    article_url: str
    article_likes: int | None
    article_published: datetime
    paper_id: str
    paper_title: str
    paper_url: str
    how: str


def paper_titles(engine: Engine, *, since: datetime, min_chars: int) -> list[tuple[str, str]]:
    """(id, normalized title) of the arXiv papers published since `since` whose key is long enough."""
    query = select(items.c.id, items.c.norm_title).where(
        (items.c.source == "arxiv")
        & (items.c.published >= since)
        & (func.length(items.c.norm_title) >= min_chars)
    )
    with engine.connect() as conn:
        return [(row.id, row.norm_title) for row in conn.execute(query)]


def stored_papers(engine: Engine, paper_ids: Iterable[str]) -> set[str]:
    """The ids among `paper_ids` that are stored arXiv papers."""
    wanted = sorted(set(paper_ids))
    found: set[str] = set()
    with engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            query = select(items.c.id).where((items.c.source == "arxiv") & items.c.id.in_(chunk))
            found.update(conn.execute(query).scalars())
    return found


def replace_mentions(
    engine: Engine,
    articles: Sequence[tuple[str, datetime]],
    mentions: Sequence[Mention],
    *,
    now: datetime,
) -> None:
    """Swap the rows of these (article id, published) for `mentions`, in one transaction."""
    published = dict(articles)
    ids = list(published)
    with write_transaction(engine) as conn:
        for start in range(0, len(ids), 500):
            conn.execute(
                delete(article_links).where(article_links.c.article_id.in_(ids[start : start + 500]))
            )
        if mentions:
            rows = [
                {
                    "article_id": m.article_id,
                    "paper_id": m.paper_id,
                    "how": m.how,
                    "in_title": m.in_title,
                    "papers_named": m.papers_named,
                    "article_published": published[m.article_id],
                    "linked_at": now,
                }
                for m in mentions
            ]
            conn.execute(article_links.insert(), rows)


def _likes(data: Any) -> int | None:
    likes = (data or {}).get("popularity", {}).get("likes")
    return likes if isinstance(likes, int) else None


def attached(
    engine: Engine,
    *,
    paper_ids: Iterable[str] = (),
    article_ids: Iterable[str] = (),
    max_papers: int,
    before: datetime,
) -> list[LinkRow]:
    """Links that pass the attachment rule, for these papers or these articles (articles published
    before `before`); most-liked article first, then the oldest link."""
    papers, articles = sorted(set(paper_ids)), sorted(set(article_ids))
    if not papers and not articles:
        return []
    article, paper = aliased(items), aliased(items)
    links = article_links
    query = (
        select(
            links.c.article_id,
            article.c.source,
            article.c.title,
            article.c.url,
            article.c.data,
            links.c.article_published,
            links.c.paper_id,
            paper.c.title.label("paper_title"),
            paper.c.url.label("paper_url"),
            links.c.how,
        )
        .join(article, article.c.id == links.c.article_id)
        .join(paper, paper.c.id == links.c.paper_id)
        .where(
            or_(links.c.in_title, links.c.papers_named <= max_papers),
            links.c.article_published < before,
            or_(links.c.paper_id.in_(papers), links.c.article_id.in_(articles)),
        )
    )
    with engine.connect() as conn:
        rows = [
            LinkRow(
                article_id=row.article_id,
                article_source=row.source,
                article_title=row.title,
                article_url=row.url,
                article_likes=_likes(row.data),
                article_published=row.article_published,
                paper_id=row.paper_id,
                paper_title=row.paper_title,
                paper_url=row.paper_url,
                how=row.how,
            )
            for row in conn.execute(query)
        ]
    return sorted(
        rows, key=lambda r: (-(r.article_likes or 0), r.article_published, r.article_id, r.paper_id)
    )


def earlier_digests(
    engine: Engine, paper_ids: Iterable[str], *, other_than: str
) -> dict[str, tuple[str, str]]:
    """paper id -> (period, permalink or "") of the latest posted weekly digest (not `other_than`,
    not an on-demand one) that showed it."""
    wanted = set(paper_ids)
    if not wanted:
        return {}
    ensure_table(engine)
    query = (
        select(digest_posts.c.period, digest_posts.c.permalink, digest_posts.c.item_ids)
        .where(
            (digest_posts.c.status == "posted")
            & (digest_posts.c.period != other_than)
            & ~digest_posts.c.period.contains("#")
        )
        .order_by(digest_posts.c.period)
    )
    found: dict[str, tuple[str, str]] = {}
    with engine.connect() as conn:
        for period, permalink, ids in conn.execute(query):
            for item_id in set(ids or ()) & wanted:
                found[item_id] = (period, permalink or "")  # later periods overwrite earlier ones
    return found
