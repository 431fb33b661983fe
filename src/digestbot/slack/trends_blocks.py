"""The digest's trends section as Block Kit (pure): counts against earlier weeks, terms, the 考察.

*📈 今週の傾向*（前4週との比較）
🔎 RAG/ロングコンテキスト 5件（前4週平均 2.5件 ↑2.5）
...
🔺 増えている語: RAG（2件）・KVキャッシュ（2件）
💬 今週はRAGの採用が…研究[1]や…事例[2]が目立った。     ([n] links to the cited item)
"""

from __future__ import annotations

import re
from typing import Any

from digestbot.domain import Digest, Trends
from digestbot.slack.escape import clean_inline, clip, link
from digestbot.trends import describe

Block = dict[str, Any]

SECTION_LIMIT = 2_900
CONTEXT_LIMIT = 1_900
_MARKER = re.compile(r"\[(\d{1,2})\]")


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def heading(trends: Trends) -> str:
    weeks = trends.weeks_compared
    compared = f"（前{weeks}週との比較）" if weeks else "（比較できる過去の週はまだありません）"
    return f"*📈 今週の傾向*{compared}"


def count_lines(trends: Trends) -> list[str]:
    return [
        f"{clean_inline(t.emoji)} {clean_inline(t.name)} {describe(t, trends.weeks_compared)}"
        for t in trends.categories
    ]


def terms_line(trends: Trends) -> str:
    if not trends.rising:
        return ""
    label = "🔺 増えている語" if trends.weeks_compared else "📝 今週多い語"
    terms = "・".join(f"{clean_inline(t.term)}（{t.count}件）" for t in trends.rising)
    return f"{label}: {terms}"


def insight_text(trends: Trends, digest: Digest) -> str:
    """The 考察, escaped, each `[n]` linked to the n-th cited item (plain when that item is not shown)."""
    urls = {e.item.id: e.item.url for s in digest.sections for e in s.entries}

    def cite(match: re.Match[str]) -> str:
        number = int(match.group(1))
        item_id = trends.cited[number - 1] if 0 < number <= len(trends.cited) else None
        url = urls.get(item_id or "")
        return link(url, f"[{number}]") if url else f"[{number}]"

    body = clip(trends.insight, SECTION_LIMIT - 200)
    return "💬 " + _MARKER.sub(cite, body)


def trends_blocks(trends: Trends, digest: Digest) -> list[Block]:
    """Heading and counts, the terms line, the 考察 (when there is one), then a divider."""
    lines = [heading(trends), *count_lines(trends)]
    blocks = [_section(clip("\n".join(lines), SECTION_LIMIT))]
    if terms := terms_line(trends):
        blocks.append(_context(clip(terms, CONTEXT_LIMIT)))
    if trends.insight.strip():
        blocks.append(_section(insight_text(trends, digest)))
    blocks.append({"type": "divider"})
    return blocks
