"""`/digest watch` (`/digest 注目`): the watchlist (`[watch]`), answered to the asker only.

The entries come from the team's own config, but they are still escaped (`clean_inline`): a
keyword such as `<!channel>` is shown, never sent as a mention. Bounded: at most `LIMIT` entries
per kind, then 「…ほかN件」, so the answer stays far below Slack's limits however long the list.
"""

from __future__ import annotations

from collections.abc import Sequence

from digestbot.config_schema import WatchConfig
from digestbot.settings import Settings
from digestbot.slack.escape import clip
from digestbot.slack.ondemand import Call

LIMIT = 10  # entries shown per kind: 4 kinds × 10 × ~65 characters keeps the answer under 3,000
ENTRY_CHARS = 60

EMPTY = (
    "📌 注目リストは空です。`config/digestbot.toml` の `[watch]` に著者（`authors`）・arXiv ID"
    "（`arxiv_ids`）・キーワード（`keywords`）・Qiita/Zennのユーザー（`users`）を書くと、"
    "一致した項目がカテゴリや件数の上限に関係なくダイジェストの先頭「📌 注目」に載ります。"
)


def _kind(label: str, values: Sequence[str], *, prefix: str = "") -> list[str]:
    if not values:
        return []
    shown = "、".join(f"`{prefix}{clip(v.strip(), ENTRY_CHARS, inline=True)}`" for v in values[:LIMIT])
    more = f" …ほか{len(values) - LIMIT}件" if len(values) > LIMIT else ""
    return [f"• {label}（{len(values)}）: {shown}{more}"]


def watch_text(config: WatchConfig) -> str:
    """The reply in mrkdwn: one line per kind of entry, then how matching works."""
    users = [u.strip().lstrip("@＠") for u in config.users]
    lines = [
        *_kind("著者", config.authors),
        *_kind("arXiv", config.arxiv_ids),
        *_kind("キーワード", config.keywords),
        *_kind("ユーザー", users, prefix="@"),
    ]
    if not lines:
        return EMPTY
    return "\n".join(
        [
            "*📌 注目リスト*（`config/digestbot.toml` の `[watch]`）",
            *lines,
            f"一致した項目はダイジェストの先頭「📌 注目」に、カテゴリや件数の上限と関係なく載ります"
            f"（最大{config.max_items}件）。名前とIDは大文字小文字・全角半角・アクセント記号を区別せず、"
            "キーワードは単語単位で一致します（`RAG` は `fragment` に一致しません）。",
        ]
    )


async def show_watch(call: Call, settings: Settings, words: Sequence[str]) -> None:
    """Answer with the watchlist (only the asker sees it)."""
    await call.ack(text=watch_text(settings.app.watch))
