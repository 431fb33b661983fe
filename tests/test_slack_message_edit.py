"""The fix menu in the rendered digest, and editing one item of a posted message (pure)."""

from __future__ import annotations

import pytest

from digestbot.slack.message_edit import EDIT_MAX_CHARS, EditRefused, move_or_relabel, replace_section
from digestbot.slack.preview import render_preview
from digestbot.slack.render import FIX_ACTION, render_digest
from digestbot.testing.slack_validation import validate_message
from support.sample_digest import representative_digest

ITEM = "arxiv:2611.01234"


def test_the_menu_sits_next_to_the_votes_with_the_same_block_ids_and_within_limits() -> None:
    """fixes=True: every vote block ends with the overflow menu, block_ids unchanged, Slack accepts it."""
    plain = render_digest(representative_digest())
    fixes = render_digest(representative_digest(), fixes=True)
    ids = [[b.get("block_id") for b in m["blocks"]] for m in plain]
    actions = [b for m in fixes for b in m["blocks"] if b["type"] == "actions"]
    assert ids == [[b.get("block_id") for b in m["blocks"]] for m in fixes]
    assert {FIX_ACTION} == {a["elements"][-1]["action_id"] for a in actions}
    assert [None] * len(fixes) == [validate_message(dict(m)) for m in fixes]


def test_the_menu_alone_when_votes_are_off() -> None:
    """votes=False, fixes=True: the actions block holds only the menu."""
    blocks = render_digest(representative_digest(), votes=False, fixes=True)[0]["blocks"]
    assert [("overflow",)] == list(
        {tuple(e["type"] for e in b["elements"]) for b in blocks if b["type"] == "actions"}
    )


def test_replacing_a_section_changes_only_that_block() -> None:
    """The item's section gets the new text; every other block is equal."""
    blocks = render_digest(representative_digest(), fixes=True)[0]["blocks"]
    edited = replace_section(blocks, ITEM, "*new*")
    assert [i for i, (a, b) in enumerate(zip(blocks, edited, strict=True)) if a != b] == [
        next(i for i, b in enumerate(blocks) if b.get("block_id") == f"vote:{ITEM}") - 1
    ]


def test_an_edit_beyond_slacks_limits_or_of_a_missing_item_is_refused() -> None:
    """Too long a section, a message grown past the ceiling, an item not there: EditRefused."""
    blocks = render_digest(representative_digest(), fixes=True)[0]["blocks"]
    padding = [{"type": "context", "elements": [{"type": "mrkdwn", "text": "x" * 2900}]}] * 4
    with pytest.raises(EditRefused):
        replace_section(blocks, ITEM, "x" * 3001)
    with pytest.raises(EditRefused):
        replace_section([*blocks, *padding], ITEM, "*new*")
    with pytest.raises(EditRefused):
        move_or_relabel(blocks, "arxiv:0000.00000", category="rag", emoji="🔎", name="RAG")
    assert EDIT_MAX_CHARS < 13_000


def test_relabelling_twice_keeps_one_line() -> None:
    """A second category fix replaces the 🏷️ line instead of adding another."""
    blocks = render_digest(representative_digest(), fixes=True)[0]["blocks"]
    once, _ = move_or_relabel(blocks, ITEM, category="agents", emoji="🤖", name="エージェント")
    twice, moved = move_or_relabel(once, ITEM, category="safety", emoji="🛡️", name="安全性")
    lines = [b for b in twice if str(b.get("block_id") or "").startswith("fixcat:")]
    assert (False, 1, len(blocks) + 1) == (moved, len(lines), len(twice))
    assert "安全性" in lines[0]["elements"][0]["text"]


def test_the_preview_shows_the_menu_with_its_two_actions() -> None:
    """Each item's ⋮ is drawn in the HTML preview, with 要約を直す / カテゴリを直す beside it."""
    digest = representative_digest()
    page = render_preview(render_digest(digest, fixes=True))
    assert (digest.entry_count, True) == (
        page.count('class="button overflow"'),
        "要約を直す / カテゴリを直す" in page,
    )
