"""Edit one item inside a posted digest message (pure): its blurb, its category. No I/O.

An item is the run of blocks `render.item_blocks` made: its section, context lines, then the
actions block whose block_id is `vote:<item id>`. Everything outside that run stays as it was,
except the two category headings' counts when an item moves. An edit that would break Slack's
limits is refused (`EditRefused`), never sent.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass

from digestbot.slack.escape import clean_inline, clip, slack_len
from digestbot.slack.render import SECTION_LIMIT, Block, block_chars

MAX_BLOCKS = 50  # Slack's limit per message
EDIT_MAX_CHARS = 12_000  # serialized blocks after an edit; Slack answers msg_blocks_too_long at ~13k
RELABEL_PREFIX = "fixcat:"
_COUNT = re.compile(r"\((\d+)件")


class EditRefused(Exception):
    """The edit cannot be made (the item is not in the message, or the result would not fit)."""


@dataclass(frozen=True)
class Span:
    start: int  # the item's section
    end: int  # its actions block (inclusive)


def item_block_id(item_id: str) -> str:
    return f"vote:{item_id}"[:255]


def _text(block: Block) -> str:
    text = block.get("text")
    return str(text.get("text") or "") if isinstance(text, dict) else ""


def find_item(blocks: list[Block], item_id: str) -> Span | None:
    """The item's blocks: from its section to its actions block (only context lines between)."""
    wanted = item_block_id(item_id)
    for end, block in enumerate(blocks):
        if block.get("type") == "actions" and block.get("block_id") == wanted:
            start = end - 1
            while start >= 0 and blocks[start].get("type") == "context":
                start -= 1
            if start >= 0 and blocks[start].get("type") == "section":
                return Span(start, end)
            return None
    return None


def _is_heading(block: Block) -> bool:
    text = _text(block)
    return block.get("type") == "section" and text.startswith("*") and not text.startswith("*<")


def heading_prefix(emoji: str, name: str) -> str:
    """How `render._heading` starts a category's heading."""
    return f"*{clean_inline(emoji)} {clean_inline(name)} ("


def _checked(blocks: list[Block]) -> list[Block]:
    if len(blocks) > MAX_BLOCKS or block_chars(blocks) > EDIT_MAX_CHARS:
        raise EditRefused("the message would exceed Slack's limits")
    return blocks


def replace_section(blocks: list[Block], item_id: str, text: str) -> list[Block]:
    """The message with the item's section text replaced by `text` (mrkdwn from `render.item_text`)."""
    span = find_item(blocks, item_id)
    if span is None:
        raise EditRefused("the item is not in this message")
    if slack_len(text) > SECTION_LIMIT:
        raise EditRefused("the item's text would exceed Slack's section limit")
    edited = copy.deepcopy(blocks)
    edited[span.start]["text"] = {"type": "mrkdwn", "text": text}
    return _checked(edited)


def _retag_votes(actions: Block, category: str) -> None:
    """The 👍/👎 values name the category the item is shown under: the corrected one from now on."""
    for element in actions.get("elements") or []:
        if element.get("type") != "button":
            continue
        try:
            value = json.loads(str(element.get("value") or ""))
        except ValueError:
            continue
        if isinstance(value, dict):
            value["category"] = category
            element["value"] = json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _bump(block: Block, delta: int) -> None:
    text = _text(block)
    match = _COUNT.search(text)
    if match:
        count = max(0, int(match.group(1)) + delta)
        block["text"] = {**block["text"], "text": f"{text[: match.start(1)]}{count}{text[match.end(1) :]}"}


def _heading_before(blocks: list[Block], index: int) -> int | None:
    for at in range(index - 1, -1, -1):
        if blocks[at].get("type") != "section":
            if blocks[at].get("type") in ("divider", "header"):
                return None
            continue
        if _is_heading(blocks[at]):
            return at
    return None


def _end_of_section(blocks: list[Block], heading: int) -> int:
    """The index just after the last item under the heading at `heading`."""
    at = heading + 1
    while at < len(blocks) and blocks[at].get("type") == "section" and not _is_heading(blocks[at]):
        end = at + 1
        while end < len(blocks) and blocks[end].get("type") == "context":
            end += 1
        if end < len(blocks) and str(blocks[end].get("block_id") or "").startswith("vote:"):
            at = end + 1
        else:
            break
    return at


def move_or_relabel(
    blocks: list[Block], item_id: str, *, category: str, emoji: str, name: str
) -> tuple[list[Block], bool]:
    """Move the item under the category's heading if it is in this message (True), otherwise mark
    it in place 「🏷️ → name」 (False)."""
    span = find_item(blocks, item_id)
    if span is None:
        raise EditRefused("the item is not in this message")
    edited = copy.deepcopy(blocks)
    _retag_votes(edited[span.end], category)
    relabel_id = f"{RELABEL_PREFIX}{item_id}"[:255]
    group = [b for b in edited[span.start : span.end + 1] if b.get("block_id") != relabel_id]
    prefix = heading_prefix(emoji, name)
    target = next((i for i, b in enumerate(edited) if _is_heading(b) and _text(b).startswith(prefix)), None)
    source = _heading_before(edited, span.start)
    if target is not None and target != source:
        if source is not None:
            _bump(edited[source], -1)
        _bump(edited[target], +1)
        rest = edited[: span.start] + edited[span.end + 1 :]
        target = target if target < span.start else target - (span.end + 1 - span.start)
        at = _end_of_section(rest, target)
        return _checked(rest[:at] + group + rest[at:]), True
    if target is not None:  # already under the right heading
        return _checked(edited[: span.start] + group + edited[span.end + 1 :]), True
    line = {
        "type": "context",
        "block_id": relabel_id,
        "elements": [{"type": "mrkdwn", "text": clip(f"🏷️ カテゴリ修正 → {emoji} {name}", 300, inline=True)}],
    }
    group.insert(len(group) - 1, line)
    return _checked(edited[: span.start] + group + edited[span.end + 1 :]), False
