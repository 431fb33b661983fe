"""The 👀 line in the rendered digest: caps per item and per message, names without pinging."""

from __future__ import annotations

import json
import re
from dataclasses import replace

from digestbot.config_schema import FollowConfig
from digestbot.domain import Digest
from digestbot.follows import Follower
from digestbot.slack.follow_blocks import line_text
from digestbot.slack.render import MAX_BLOCKS, block_chars, render_digest
from support.sample_digest import representative_digest

MENTION = re.compile(r"<@([^>]*)>")


def followers(count: int, start: int = 0) -> tuple[Follower, ...]:
    return tuple(Follower(f"U{n:08d}", f"member{n}") for n in range(start, start + count))


def item_ids(digest: Digest) -> list[str]:
    return [e.item.id for s in digest.sections for e in s.entries]


def lines(messages: list[object]) -> list[str]:
    found = []
    for message in messages:
        for block in message["blocks"]:  # type: ignore[index]
            if str(block.get("block_id", "")).startswith("follow:"):
                found.append(block["elements"][0]["text"])
    return found


def test_per_item_cap_counts_the_rest() -> None:
    """7 followers, 5 per item: five mentions then 「ほか2人」."""
    digest = representative_digest()
    first = item_ids(digest)[0]
    messages = render_digest(digest, audience={first: followers(7)}, follow=FollowConfig())
    [line] = lines(messages)
    assert 5 == len(MENTION.findall(line))
    assert line.endswith("ほか2人")


def test_per_message_cap_counts_distinct_people() -> None:
    """At most `max_mentions_per_message` people are pinged per message; one person twice costs once."""
    digest = representative_digest()
    ids = item_ids(digest)
    config = FollowConfig(max_mentions_per_message=3, max_mentions_per_item=2)
    audience = {ids[0]: followers(2), ids[1]: followers(2), ids[2]: followers(3, start=2)}
    messages = render_digest(digest, audience=audience, follow=config)
    first, second, third = lines(messages)[:3]
    assert ["U00000000", "U00000001"] == MENTION.findall(first) == MENTION.findall(second)
    assert ["U00000002"] == MENTION.findall(third)
    assert third.endswith("ほか2人")
    for message in messages:
        assert len(set(MENTION.findall(json.dumps(message["blocks"])))) <= 3


def test_mention_off_shows_escaped_names_and_pings_nobody() -> None:
    """`mention = false`: names as text (escaped, broadcasts defanged), never `<@`."""
    digest = representative_digest()
    first = item_ids(digest)[0]
    hostile = (Follower("U00000001", "<@U999> @here"), Follower("U00000002", "bob"))
    messages = render_digest(digest, audience={first: hostile}, follow=FollowConfig(mention=False))
    assert ["👀 &lt;@U999&gt; ＠here・bob"] == lines(messages)
    assert "<@" not in json.dumps(messages, ensure_ascii=False)


def test_an_invalid_stored_id_is_never_a_mention() -> None:
    """A follower id that is not a Slack user id is left out of the line (no `<@…>` built from it)."""
    hostile = [Follower("U0A", "a"), Follower("U0B> <!channel", "b")]
    assert "👀 <@U0A> ほか1人" == line_text(hostile, shown=1, mention=True)
    assert "👀 <@U0A>" == line_text(
        [Follower("U0A", "a"), Follower("<!channel>", "b")], shown=2, mention=True
    )


def test_limits_hold_with_many_followers_on_every_item() -> None:
    """Every item followed by 30 people with long ids: still within Slack's block and size limits."""
    digest = representative_digest()
    many = tuple(Follower(f"U{n:030d}", f"m{n}") for n in range(30))
    sections = tuple(replace(s, entries=s.entries * 4, total=len(s.entries) * 4) for s in digest.sections)
    digest = replace(digest, sections=sections)
    audience = dict.fromkeys(item_ids(digest), many)
    config = FollowConfig(max_mentions_per_item=20, max_mentions_per_message=50)
    for message in render_digest(digest, audience=audience, follow=config):
        assert len(message["blocks"]) <= MAX_BLOCKS + 1
        assert block_chars(message["blocks"]) <= 11_000
