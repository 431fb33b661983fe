"""Slack lines for article <-> paper links (see `links.py`): 解説記事 and 元論文 under an entry, and
the 「今週の解説記事」 section. Every title is escaped and clipped; each line has a fixed budget, so
an entry's section stays under Slack's 3000 characters by construction."""

from __future__ import annotations

from typing import Any

from digestbot.domain import Digest, DigestEntry, LinkedItem
from digestbot.slack.escape import clip, link, slack_len

LINK_TITLE_LIMIT = 150
ENTRY_BUDGET = 1_400  # link lines under one entry (the entry's section holds <= 2900)
SECTION_BUDGET = 2_900  # the 「今週の解説記事」 section (Slack: <= 3000)
SOURCE_LABELS = {"arxiv": "arXiv", "qiita": "Qiita", "zenn": "Zenn"}
SECTION_TITLE = "📝 今週の解説記事"


def period_label(period: str) -> str:
    """`2026-11-09..2026-11-15` -> `11/9–11/15` (anything else: as it is, escaped by the caller)."""
    first, sep, last = period.partition("..")
    try:
        (_, m1, d1), (_, m2, d2) = (tuple(int(p) for p in day.split("-")) for day in (first, last))
    except ValueError:
        return period
    return f"{m1}/{d1}–{m2}/{d2}" if sep else period


def article_badge(article: LinkedItem) -> str:
    """`（Zenn, ♥ 42）`."""
    label = SOURCE_LABELS.get(article.source, clip(article.source, 20, inline=True))
    likes = f", ♥ {article.likes:,}" if article.likes is not None else ""
    return f"（{label}{likes}）"


def _title(linked: LinkedItem) -> str:
    return link(linked.url, clip(linked.title.strip() or linked.url, LINK_TITLE_LIMIT, inline=True))


def earlier_digest(paper: LinkedItem) -> str:
    """`（11/9–11/15 のダイジェストで紹介）`, the period linked to the posted digest when known."""
    if not paper.digest_period:
        return ""
    label = clip(period_label(paper.digest_period), 40, inline=True)
    shown = (
        link(paper.digest_permalink, f"{label} のダイジェスト")
        if paper.digest_permalink
        else f"{label} のダイジェスト"
    )
    return f"（{shown}で紹介）"


def entry_link_lines(entry: DigestEntry) -> list[str]:
    """`📝 解説記事: <url|title>（Zenn, ♥ 42）` / `📄 元論文: <url|title>（… のダイジェストで紹介）`."""
    lines = [f"📝 解説記事: {_title(a)}{article_badge(a)}" for a in entry.explainers]
    lines += [f"📄 元論文: {_title(p)}{earlier_digest(p)}" for p in entry.papers]
    return fitting(lines, ENTRY_BUDGET)


def explained_blocks(digest: Digest) -> list[dict[str, Any]]:
    """The 「今週の解説記事」 heading and one section of lines (empty when there is nothing)."""
    if not digest.explained:
        return []
    lines = fitting(
        [
            f"• {_title(e.article)}{article_badge(e.article)}\n"
            f"　→ 元論文: {_title(e.paper)}{earlier_digest(e.paper)}"
            for e in digest.explained
        ],
        SECTION_BUDGET,
    )
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{SECTION_TITLE} ({len(lines)}件)*"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}},
    ]


def fitting(lines: list[str], budget: int) -> list[str]:
    """The first whole lines whose total (with newlines) stays within `budget` UTF-16 units: a
    line is never cut, so no link is broken."""
    kept: list[str] = []
    used = 0
    for line in lines:
        used += slack_len(line) + 1
        if used > budget:
            break
        kept.append(line)
    return kept
