"""Digest -> Slack messages (Block Kit), within Slack's limits by construction. Pure: no I/O.

Layout (Japanese UI): a header with the period, a context line with counts per source, the
number the judge kept and "offline mode"; the 注目 section (watched items, `watch_pipeline.py`) with
what each matched under it; per category a bold heading and one section per item
(linked title, source badge with date and popularity, the Japanese blurb) followed by its 👍/👎
buttons; for a weekly digest the trends section after the header (see `trends_blocks.py`); a footer
saying how to ask for a digest on demand. A digest that does not fit one message continues in thread replies,
split only between categories or items, each labelled (k/N).
"""

from __future__ import annotations

import json
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from digestbot.config_schema import FollowConfig
from digestbot.domain import Digest, DigestEntry, DigestSection, Popularity
from digestbot.follows import Audience
from digestbot.slack.escape import clean_inline, clip, link, slack_len
from digestbot.slack.follow_blocks import follow_block, spend_mentions
from digestbot.slack.links_blocks import entry_link_lines, explained_blocks
from digestbot.slack.trends_blocks import trends_blocks

Block = dict[str, Any]

MAX_BLOCKS = 45  # Slack allows 50 per message; keep a margin
MAX_MESSAGE_CHARS = 11_000  # serialized blocks; Slack answers msg_blocks_too_long at ~13k (undocumented)
SECTION_LIMIT = 2_900  # Slack: section text <= 3000
HEADER_LIMIT = 150  # Slack: header plain_text <= 150
CONTEXT_LIMIT = 1_900
TITLE_LIMIT = 300
TEXT_LIMIT = 3_000  # the notification fallback; Slack truncates `text` at 40k
_LABEL_RESERVE = 400  # room kept in every message for the "(k/N)" label added after packing

SOURCE_LABELS = {"arxiv": "arXiv", "qiita": "Qiita", "zenn": "Zenn"}
ONDEMAND_COMMAND = "/digest"
VOTE_UP = "digest_vote_up"  # action_id of the 👍 button (Bolt listens for it: slack/feedback.py)
VOTE_DOWN = "digest_vote_down"
FIX_ACTION = "digest_fix"  # action_id of the overflow menu 要約を直す/カテゴリを直す (slack/fixit.py)
FIX_BLURB, FIX_CATEGORY = "fix_blurb", "fix_category"  # the menu's option values


class SlackMessage(TypedDict):
    """One chat.postMessage payload: the notification fallback and the blocks."""

    text: str
    blocks: list[Block]


def block_chars(blocks: list[Block]) -> int:
    """Size of the blocks as Slack receives them (compact JSON, UTF-16 units)."""
    return slack_len(json.dumps(blocks, ensure_ascii=False, separators=(",", ":")))


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _section(text: str) -> Block:
    return {"type": "section", "text": _mrkdwn(text)}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [_mrkdwn(text)]}


def _divider() -> Block:
    return {"type": "divider"}


def _header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


def period_title(digest: Digest, tz: str) -> str:
    """`📚 LLMリサーチダイジェスト 11/16–11/22` (raw text, not escaped)."""
    label = digest.window.label(tz)
    return digest.title if label in digest.title else f"{digest.title} {label}"


def _popularity(pop: Popularity) -> list[str]:
    named = (("いいね", pop.likes), ("ストック", pop.stocks), ("ブックマーク", pop.bookmarks))
    return [f"{name} {value:,}" for name, value in named if value is not None]


def item_text(entry: DigestEntry, tz: str) -> str:
    """`*<url|title>*` / `` `Qiita` ・ 11/18 ・ いいね 34 `` / blurb, at most SECTION_LIMIT."""
    item = entry.item
    title = clip(item.title.strip() or item.url, TITLE_LIMIT, inline=True)
    head = f"*{link(item.url, title)}*"
    published = item.published.astimezone(ZoneInfo(tz))
    badge = f"`{SOURCE_LABELS.get(item.source, clean_inline(str(item.source)))}`"
    meta = " ・ ".join([badge, f"{published.month}/{published.day}", *_popularity(item.popularity)])
    links = "\n".join(entry_link_lines(entry))
    budget = SECTION_LIMIT - slack_len(head) - slack_len(meta) - slack_len(links) - 3
    blurb = clip(entry.blurb, budget)
    return "\n".join(part for part in (head, meta, blurb, links) if part)


def vote_value(entry: DigestEntry) -> str:
    """The buttons' `value`: the item and the category it was shown under (JSON, < 2000 chars)."""
    data = {"item": entry.item.id, "category": entry.category}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def fix_menu() -> Block:
    """The overflow menu 要約を直す / カテゴリを直す (the item is the actions block's block_id)."""

    def option(label: str, value: str) -> Block:
        return {"text": {"type": "plain_text", "text": label, "emoji": True}, "value": value}

    options = [option("要約を直す", FIX_BLURB), option("カテゴリを直す", FIX_CATEGORY)]
    return {"type": "overflow", "action_id": FIX_ACTION, "options": options}


def vote_buttons(entry: DigestEntry, *, votes: bool = True, fixes: bool = False) -> Block:
    """An actions block with 👍 and 👎 (`votes`) and the fix menu (`fixes`) for one item (block_id
    names the item; <= 255 chars)."""

    def button(action_id: str, label: str) -> Block:
        text = {"type": "plain_text", "text": label, "emoji": True}
        return {"type": "button", "action_id": action_id, "text": text, "value": vote_value(entry)}

    elements = [button(VOTE_UP, "👍"), button(VOTE_DOWN, "👎")] if votes else []
    return {
        "type": "actions",
        "block_id": f"vote:{entry.item.id}"[:255],
        "elements": [*elements, fix_menu()] if fixes else elements,
    }


REASON_LIMIT = 200


WATCH_LIMIT = 300


def watch_line(entry: DigestEntry) -> str:
    """`🔎 著者: Łukasz Kaiser ・ キーワード: RAG`: what a 注目 entry matched ("" for other entries)."""
    if not entry.watch:
        return ""
    return "🔎 " + clip(" ・ ".join(m.label for m in entry.watch), WATCH_LIMIT, inline=True)


def item_blocks(
    entry: DigestEntry,
    tz: str,
    *,
    votes: bool,
    reasons: bool = False,
    extra: tuple[Block, ...] = (),
    fixes: bool = False,
) -> list[Block]:
    """The item's section, what it matched (注目), its classifier reason as a small context line
    (`reasons`), `extra` lines (the 👀 line), its buttons and fix menu (`fixes`)."""
    blocks = [_section(item_text(entry, tz))]
    if line := watch_line(entry):
        blocks.append(_context(line))
    if reasons and entry.reason.strip():
        blocks.append(_context(f"🏷️ 分類の理由: {clip(entry.reason, REASON_LIMIT, inline=True)}"))
    blocks.extend(extra)
    actions = votes or fixes
    return [*blocks, vote_buttons(entry, votes=votes, fixes=fixes)] if actions else blocks


def capped_line(digest: Digest) -> str:
    """`他に サーベイ 3件・その他 5件` for what the caps kept out of the post ("" when nothing; raw text)."""
    hidden = [s for s in digest.sections if s.hidden > 0 and not s.is_watch]
    if not hidden:
        return ""
    counts = "・".join(f"{s.name} {s.hidden}件" for s in hidden)
    command = f"{ONDEMAND_COMMAND} {hidden[0].category}"
    return f"✂️ 他に {counts}（掲載上限のため省略。`{command}` のようにカテゴリを指定すると表示できます）"


def _heading(section: DigestSection, *, continued: bool = False) -> Block:
    count = f"{len(section.entries)}件・続き" if continued else f"{len(section.entries)}件"
    text = f"*{clean_inline(section.emoji)} {clean_inline(section.name)} ({count})*"
    if section.is_watch and section.hidden > 0 and not continued:
        over = "`[watch] max_items` を超えた分"
        text += f"　他{section.hidden}件（{over}。`{ONDEMAND_COMMAND} watch` で条件を確認）"
    elif section.hidden > 0 and not continued:
        command = f"{ONDEMAND_COMMAND} {clean_inline(section.category)}"
        text += f"　ほか{section.hidden}件は `{command}` で表示"
    return _section(text)


def _summary_line(digest: Digest) -> str:
    order = [*SOURCE_LABELS, *sorted(set(digest.sources) - set(SOURCE_LABELS))]
    parts = []
    for name in order:
        count = digest.sources.get(name)
        if count is None:
            continue
        label = SOURCE_LABELS.get(name, clean_inline(name))
        parts.append(f"{label} 取得失敗" if count.failed else f"{label} {count.fetched:,}件")
    kept = sum(section.total for section in digest.sections)
    line = f"📥 収集 {' ・ '.join(parts) or 'なし'} ｜ ✅ 採用 {kept}件"
    if kept != digest.entry_count:
        line += f"（掲載 {digest.entry_count}件）"
    if digest.offline:
        line += " ｜ 🔌 オフラインモード（LLM未使用）"
    return line


def _intro(digest: Digest) -> list[Block]:
    blocks = [_context(_summary_line(digest))]
    if digest.notes:
        blocks.append(_context(clip("\n".join(f"⚠️ {note}" for note in digest.notes), CONTEXT_LIMIT)))
    blocks.append(_divider())
    return blocks


def _footer() -> list[Block]:
    hint = (
        f"💡 `{ONDEMAND_COMMAND}` でいつでもダイジェストを呼び出せます"
        f"（例: `{ONDEMAND_COMMAND} rag 3d`）・ 🤖 digestbot が自動生成しました"
    )
    return [_divider(), _context(hint)]


class _Packer:
    """Fills messages with whole blocks, never exceeding the block count or size budget."""

    def __init__(self, first: list[Block]) -> None:
        self.parts: list[list[Block]] = [list(first)]

    def fits(self, blocks: list[Block], *, fresh: bool = False) -> bool:
        current = [] if fresh else self.parts[-1]
        return (
            len(current) + len(blocks) + 1 <= MAX_BLOCKS
            and block_chars(current + blocks) + _LABEL_RESERVE <= MAX_MESSAGE_CHARS
        )

    def add(self, blocks: list[Block]) -> None:
        if not self.fits(blocks):
            self.parts.append([])
        self.parts[-1].extend(blocks)

    def add_section(self, section: DigestSection, items: list[list[Block]]) -> None:
        """`items`: each item's blocks (its section and buttons), which are never split apart."""
        whole = [_heading(section), *(block for item in items for block in item)]
        if self.fits(whole) or self.fits(whole, fresh=True):
            self.add(whole)  # a category stays in one message whenever it fits one
            return
        placed = False
        for blocks in items:  # too long for any message: split between items
            group = blocks if placed else [_heading(section), *blocks]
            if not self.fits(group):
                self.parts.append([])
                group = [_heading(section, continued=placed), *blocks]
            self.parts[-1].extend(group)
            placed = True


def render_digest(
    digest: Digest,
    *,
    tz: str = "Asia/Tokyo",
    votes: bool = True,
    reasons: bool = False,
    audience: Audience | None = None,
    follow: FollowConfig | None = None,
    fixes: bool = False,
) -> list[SlackMessage]:
    """The messages to post: the first one top-level, the others as thread replies (k/N).

    `votes` adds the 👍/👎 buttons under each item (`[feedback] buttons` in the config); `reasons`
    the classifier's one-line reason as a context line (`[slack] show_reason`); `audience` (item id
    -> followers, see `follows.py`) the 👀 line under each followed item, bounded by `follow`;
    `fixes` the overflow menu 要約を直す/カテゴリを直す next to the buttons (`[corrections] enabled`).
    """
    packer = _Packer(_intro(digest))
    if digest.trends is not None:
        packer.add(trends_blocks(digest.trends, digest))
    follow = follow or FollowConfig()
    audience = audience or {}
    for section in digest.sections:
        if section.entries:
            per_item = [
                item_blocks(
                    e,
                    tz,
                    votes=votes,
                    reasons=reasons,
                    extra=_followed(e, audience, follow),
                    fixes=fixes,
                )
                for e in section.entries
            ]
            packer.add_section(section, per_item)
    if explained := explained_blocks(digest):
        packer.add(explained)
    if digest.entry_count == 0:
        packer.add([_section("今回は条件に合う新着記事がありませんでした。")])
    if line := capped_line(digest):
        packer.add([_context(clip(line, CONTEXT_LIMIT, inline=True))])
    packer.add(_footer())
    if audience:
        for part in packer.parts:
            spend_mentions(part, audience, follow)
    title = period_title(digest, tz)
    total = len(packer.parts)
    messages = []
    for number, blocks in enumerate(packer.parts, start=1):
        label = f" ({number}/{total})" if total > 1 else ""
        if number == 1:
            head = _header(clip(title, HEADER_LIMIT - len(label), inline=True) + label)
            text = _fallback(digest, title) if total == 1 else _fallback(digest, title, label)
            messages.append(SlackMessage(text=text, blocks=[head, *blocks]))
        else:
            line = clip(title, HEADER_LIMIT, inline=True) + label
            messages.append(SlackMessage(text=line, blocks=[_context(f"*{line}*"), *blocks]))
    return messages


def _followed(entry: DigestEntry, audience: Audience, follow: FollowConfig) -> tuple[Block, ...]:
    followers = audience.get(entry.item.id)
    return (follow_block(entry.item.id, followers, follow),) if followers else ()


def _fallback(digest: Digest, title: str, label: str = "") -> str:
    counts = "、".join(f"{s.name} {len(s.entries)}件" for s in digest.sections if s.entries)
    summary = f"{digest.entry_count}件（{counts}）" if counts else "新着なし"
    return clip(f"{title}{label}: {summary}", TEXT_LIMIT, inline=True)
