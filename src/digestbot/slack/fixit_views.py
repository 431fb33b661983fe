"""The modals of 要約を直す / カテゴリを直す (pure), and the target they carry in private_metadata.

Slack's limits hold by construction: title, submit and close <= 24 characters, private_metadata
<= 3000, a select's options <= 100 with text <= 75 and value <= 150. `private_metadata` is read
back strictly (`parse_target`): the fields we wrote, in the shapes we wrote, or nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from digestbot.settings import Category
from digestbot.slack.render import Block

BLURB_VIEW = "digest_fix_blurb"  # callback_id of the modals (slack/fixit.py listens for them)
CATEGORY_VIEW = "digest_fix_category"
NOTE_BLOCK = NOTE_ACTION = "note"
CATEGORY_BLOCK = CATEGORY_ACTION = "category"
MAX_METADATA = 3000
MAX_OPTIONS = 100
TITLE_CHARS = 150  # the item's title shown in the modal
_CHANNEL = re.compile(r"^[CGD][A-Z0-9]{2,30}$")
_TS = re.compile(r"^\d{1,12}\.\d{1,9}$")
MAX_ITEM_ID = 250


@dataclass(frozen=True)
class Target:
    """The item of one posted message a fix is for."""

    channel: str
    ts: str
    thread_ts: str  # the parent's ts when the message is a thread reply, else ""
    item_id: str

    def metadata(self) -> str:
        data = {"c": self.channel, "t": self.ts, "h": self.thread_ts, "i": self.item_id}
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        if len(text) > MAX_METADATA:
            raise ValueError("private_metadata too long")
        return text


def valid_target(channel: Any, ts: Any, thread_ts: Any, item_id: Any) -> Target | None:
    """A `Target` when every field has the shape Slack and the renderer give it, else None."""
    if not (isinstance(channel, str) and _CHANNEL.match(channel)):
        return None
    if not (isinstance(ts, str) and _TS.match(ts)):
        return None
    if not (isinstance(thread_ts, str) and (thread_ts == "" or _TS.match(thread_ts))):
        return None
    if not (isinstance(item_id, str) and 0 < len(item_id) <= MAX_ITEM_ID and item_id.isprintable()):
        return None
    return Target(channel, ts, thread_ts if thread_ts != ts else "", item_id)


def parse_target(metadata: Any) -> Target | None:
    if not isinstance(metadata, str) or len(metadata) > MAX_METADATA:
        return None
    try:
        data = json.loads(metadata)
    except ValueError:
        return None
    if not isinstance(data, dict) or set(data) != {"c", "t", "h", "i"}:
        return None
    return valid_target(data["c"], data["t"], data["h"], data["i"])


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": text if len(text) <= limit else text[: limit - 1] + "…"}


def _modal(callback_id: str, title: str, submit: str, target: Target, blocks: list[Block]) -> Block:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": _plain(title, 24),
        "submit": _plain(submit, 24),
        "close": _plain("やめる", 24),
        "private_metadata": target.metadata(),
        "blocks": blocks,
    }


def _about(title: str) -> Block:
    return {"type": "context", "elements": [_plain(f"対象: {' '.join(title.split())}", TITLE_CHARS + 10)]}


def blurb_modal(target: Target, title: str, *, max_chars: int) -> Block:
    """A short note on what is wrong with the blurb; the summarizer re-writes it with the note."""
    element = {
        "type": "plain_text_input",
        "action_id": NOTE_ACTION,
        "multiline": True,
        "max_length": max_chars,
        "placeholder": _plain("例: 手法ではなく評価結果が主な貢献です", 150),
    }
    note = {
        "type": "input",
        "block_id": NOTE_BLOCK,
        "label": _plain("紹介文のどこが違いますか（短いメモ）", 2000),
        "element": element,
    }
    hint = _plain(
        "メモは要約を書き直すときの参考にします。新しい紹介文はチェックを通った場合だけ反映されます。", 2000
    )
    blocks = [_about(title[:TITLE_CHARS]), note, {"type": "context", "elements": [hint]}]
    return _modal(BLURB_VIEW, "要約を直す", "書き直す", target, blocks)


def category_modal(target: Target, title: str, categories: Sequence[Category], current: str) -> Block:
    """The configured categories (all but the current one) in a static_select."""
    options = [
        {"text": _plain(f"{c.emoji} {c.name}", 75), "value": c.id}
        for c in categories
        if c.id != current and len(c.id) <= 150
    ][:MAX_OPTIONS]
    select = {
        "type": "static_select",
        "action_id": CATEGORY_ACTION,
        "placeholder": _plain("正しいカテゴリ", 150),
        "options": options,
    }
    choice = {
        "type": "input",
        "block_id": CATEGORY_BLOCK,
        "label": _plain("正しいカテゴリ", 2000),
        "element": select,
    }
    return _modal(CATEGORY_VIEW, "カテゴリを直す", "直す", target, [_about(title[:TITLE_CHARS]), choice])


def submitted(view: Any, block_id: str, action_id: str) -> str:
    """A value the user entered or chose ("" when missing or not a string)."""
    try:
        state = view["state"]["values"][block_id][action_id]
    except (KeyError, TypeError):
        return ""
    value = state.get("value") if state.get("type") != "static_select" else None
    if value is None and isinstance(state.get("selected_option"), dict):
        value = state["selected_option"].get("value")
    return value if isinstance(value, str) else ""
