"""The 「👀 <@U…>」 line under an item that matches members' follows. Pure: no I/O.

The mention is built here from stored, validated user ids only (`follows.valid_user_id`), never
from item text (which is escaped, so a `<@U123>` in a title stays text). Bounds:

* per item, at most `max_mentions_per_item` names, then 「ほかN人」;
* per message, at most `max_mentions_per_message` distinct people are pinged (one person on
  several items of a message is one notification); past that, the others are counted in
  「ほかN人」. The packer places blocks first with the per-item form (the longest), then
  `spend_mentions` rewrites each message's lines within its budget, choosing among the names
  already placed: a line only loses mentions (each longer than the 「ほかN人」 it may gain), so
  Slack's limits still hold.

With `mention = false` nobody is pinged: the stored display names are shown as plain, escaped text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from digestbot.config_schema import FollowConfig
from digestbot.follows import Audience, Follower, valid_user_id
from digestbot.slack.escape import clip

Block = dict[str, Any]

BLOCK_PREFIX = "follow:"
NAME_LIMIT = 40


def block_id(item_id: str) -> str:
    return f"{BLOCK_PREFIX}{item_id}"[:255]


def line_text(followers: Sequence[Follower], *, shown: int, mention: bool) -> str:
    """`👀 <@U1> <@U2> ほか3人` (mention) or `👀 alice・bob ほか3人` (names; escaped)."""
    named = list(followers[:shown])
    if mention:
        parts = " ".join(f"<@{f.user_id}>" for f in named if valid_user_id(f.user_id))
    else:
        parts = "・".join(clip(f.name or "（名前なし）", NAME_LIMIT, inline=True) for f in named)
    rest = len(followers) - len(named)
    more = f"ほか{rest}人" if rest > 0 else ""
    return "👀 " + " ".join(p for p in (parts, more) if p)


def follow_block(item_id: str, followers: Sequence[Follower], config: FollowConfig) -> Block:
    """The item's line with its per-item cap (rewritten per message by `spend_mentions`)."""
    text = line_text(followers, shown=config.max_mentions_per_item, mention=config.mention)
    return {"type": "context", "block_id": block_id(item_id), "elements": [{"type": "mrkdwn", "text": text}]}


def spend_mentions(blocks: list[Block], audience: Audience, config: FollowConfig) -> None:
    """Rewrite one message's 👀 lines so it pings at most `max_mentions_per_message` people."""
    if not config.mention:
        return
    by_block = {block_id(item_id): followers for item_id, followers in audience.items()}
    pinged: set[str] = set()
    for block in blocks:
        followers = by_block.get(str(block.get("block_id", "")))
        if block.get("type") != "context" or followers is None:
            continue
        chosen: list[Follower] = []
        for follower in followers[: config.max_mentions_per_item]:  # a subset of the placed line
            if follower.user_id in pinged or len(pinged) < config.max_mentions_per_message:
                pinged.add(follower.user_id)
                chosen.append(follower)
        others = [f for f in followers if f not in chosen]
        text = line_text([*chosen, *others], shown=len(chosen), mention=True)
        block["elements"] = [{"type": "mrkdwn", "text": text}]
