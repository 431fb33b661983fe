"""`/digest search <words>`: past digest items answered to the asker, with links to their digests."""

from __future__ import annotations

from collections.abc import Sequence

from digestbot.search import SearchHit, search
from digestbot.settings import Settings
from digestbot.slack.escape import clean_inline, clip, link
from digestbot.slack.ondemand import Call

LIMIT = 8
USAGE = "検索する語を続けて書いてください（例: `/digest search RAG 評価`）。"


def answer_text(query: str, hits: Sequence[SearchHit]) -> str:
    """The reply in mrkdwn: one line per item, with the digests it appeared in."""
    shown = clean_inline(query)
    if not hits:
        return f"🔎 「{shown}」に合う過去のダイジェスト記事は見つかりませんでした。"
    lines = [f"🔎 「{shown}」の検索結果（{len(hits)}件）"]
    for hit in hits:
        title = link(hit.url, clip(hit.title, 150, inline=True))
        digests = "・".join(
            link(seen.permalink, seen.period) if seen.permalink else clean_inline(seen.period)
            for seen in hit.appearances[:3]
        )
        lines.append(f"• *{title}* `{clean_inline(hit.category_name)}` ー {digests}")
    return "\n".join(lines)  # each part is already escaped; 8 lines of <= ~400 characters


async def search_archive(call: Call, settings: Settings, words: Sequence[str]) -> None:
    """Answer with the matching items (only the asker sees it)."""
    if not words:
        await call.ack(text=USAGE)
        return
    query = " ".join(words)
    engine = await call.services.blocking(call.services.engine, settings.store_url)
    hits = await call.services.blocking(search, engine, query, limit=LIMIT)
    await call.ack(text=answer_text(query, hits))
