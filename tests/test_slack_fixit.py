"""要約を直す / カテゴリを直す through Bolt and the local Slack server: signed requests, modals, updates."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from digestbot.feedback import hash_user
from digestbot.slack.render import FIX_BLURB, FIX_CATEGORY, render_digest
from digestbot.store.corrections import blurb_history, latest_category_corrections
from digestbot.store.schema import open_engine
from digestbot.testing.slack_interactive import signed, submission
from support.fixit_bot import (
    CHANNEL,
    GOOD,
    GOOD_OTHER,
    ITEM,
    OTHER,
    SECRET,
    FixBot,
    fix_bot,
    item_section,
    scripted,
)
from support.sample_digest import large_digest, representative_digest

BAD = "検索精度を87%改善したと主張する手法。"  # 87% is nowhere in the source: the number guard fails


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[FixBot]:
    with fix_bot(tmp_path) as running:
        yield running


async def test_fix_blurb_updates_the_message_in_place_and_records_it(bot: FixBot) -> None:
    """要約を直す: a modal, an ack before the work, one chat.update of that item's section only, a record."""
    view = await bot.open_modal(FIX_BLURB)
    assert view is not None
    status = await bot.submit(view, {"note": "NIAHの数値より手法の説明を"})
    pending = (bot.services.tasks.pending, len(bot.slack.calls("chat.update")))  # acked, work still to run
    await bot.join()
    after = bot.message()
    changed = [
        i for i, (a, b) in enumerate(zip(bot.posted["blocks"], after["blocks"], strict=True)) if a != b
    ]
    rows = blurb_history(open_engine(bot.settings.store_url))
    assert (200, (1, 0), 1) == (status, pending, len(bot.slack.calls("chat.update")))
    assert [changed[0]] == changed and GOOD in item_section(after, ITEM)
    assert [("applied", GOOD, "NIAHの数値より手法の説明を", hash_user("T0DIGEST", "U1"))] == [
        (r.status, r.new_blurb, r.note, r.user_hash) for r in rows
    ]
    assert rows[0].old_blurb.startswith("100万トークン級")
    assert bot.slack.ephemeral(CHANNEL)[-1]["text"].startswith("✏️ 要約を書き直しました")


async def test_a_second_fix_starts_from_the_corrected_blurb(bot: FixBot) -> None:
    """The next 要約を直す of the item records the blurb the first one put there as the old one."""
    for note in ("手法を", "もっと短く"):
        view = await bot.open_modal(FIX_BLURB)
        assert view is not None
        await bot.submit(view, {"note": note})
        await bot.join()
    rows = blurb_history(open_engine(bot.settings.store_url))
    assert ["applied", "unchanged"] == [r.status for r in rows]
    assert GOOD == rows[1].old_blurb


async def test_a_rewrite_that_fails_a_guard_leaves_the_message_unchanged(bot: FixBot) -> None:
    """A new blurb with a number not in the source: no chat.update, an ephemeral reason, a rejected row."""
    bot.use(scripted({"blurb": BAD}))
    view = await bot.open_modal(FIX_BLURB)
    assert view is not None
    await bot.submit(view, {"note": "数値を入れて"})
    await bot.join()
    answer = bot.slack.ephemeral(CHANNEL)[-1]
    assert ([], bot.posted["blocks"]) == (bot.slack.calls("chat.update"), bot.message()["blocks"])
    assert ("U1", True) == (answer["user"], "チェックを通りませんでした" in answer["text"])
    assert "原文にない数値" in answer["text"]  # the guard's own Japanese line, not its English reason
    assert ["rejected"] == [r.status for r in blurb_history(open_engine(bot.settings.store_url))]


async def test_two_fixes_of_one_message_at_once_keep_both(bot: FixBot) -> None:
    """Two submissions on one message, run concurrently: serialized per message, neither update lost."""
    first = await bot.open_modal(FIX_BLURB)
    second = await bot.open_modal(FIX_BLURB, item=OTHER)
    assert first is not None and second is not None
    await asyncio.gather(bot.submit(first, {"note": "手法を"}), bot.submit(second, {"note": "要点を"}))
    await bot.join()
    after = bot.message()
    assert (True, True) == (GOOD in item_section(after, ITEM), GOOD_OTHER in item_section(after, OTHER))


async def test_fix_category_moves_the_item_and_stores_the_correction(bot: FixBot) -> None:
    """カテゴリを直す to a category shown in the message: the item moves under it, counts follow, a row."""
    view = await bot.open_modal(FIX_CATEGORY)
    assert view is not None
    await bot.submit(view, {"category": "efficiency"})
    await bot.join()
    blocks = bot.message()["blocks"]
    texts = [str((b.get("text") or {}).get("text") or "") for b in blocks]
    heading = next(i for i, t in enumerate(texts) if t.startswith("*⚡ 計算量削減 (3件)"))
    moved = next(i for i, b in enumerate(blocks) if b.get("block_id") == f"vote:{ITEM}")
    votes = {json.loads(e["value"])["category"] for e in blocks[moved]["elements"] if e["type"] == "button"}
    rag_count = any(t.startswith("*🔎 RAG") and "(1件" in t for t in texts)
    stored = latest_category_corrections(open_engine(bot.settings.store_url))
    assert (True, True, {"efficiency"}, len(bot.posted["blocks"])) == (
        heading < moved,
        rag_count,
        votes,
        len(blocks),
    )
    assert [(ITEM, "rag", "efficiency", hash_user("T0DIGEST", "U1"))] == [
        (c.item_id, c.old_category, c.new_category, c.user_hash) for c in stored
    ]


async def test_fix_category_to_one_not_in_the_message_relabels_in_place(bot: FixBot) -> None:
    """A category with no heading in this message: the item stays, a 🏷️ line says where it belongs."""
    view = await bot.open_modal(FIX_CATEGORY)
    assert view is not None
    await bot.submit(view, {"category": "agents"})
    await bot.join()
    blocks = bot.message()["blocks"]
    index = next(i for i, b in enumerate(blocks) if b.get("block_id") == f"vote:{ITEM}")
    assert blocks[index - 1]["elements"][0]["text"].startswith("🏷️ カテゴリ修正 → ")
    assert len(bot.posted["blocks"]) + 1 == len(blocks)


async def test_a_non_member_is_refused_at_the_menu_and_on_submit(bot: FixBot) -> None:
    """U9 is not in the channel (members paged over several pages): no modal, an ephemeral refusal;
    a submission in U9's name changes and stores nothing."""
    view = await bot.open_modal(FIX_BLURB, user="U9")
    member_view = await bot.open_modal(FIX_BLURB, user="U5")  # on the last page
    assert member_view is not None
    await bot.submit(member_view, {"note": "手法を"}, user="U9")
    await bot.join()
    refusal = "この操作はダイジェストのチャンネルのメンバー"
    assert (None, []) == (view, bot.slack.calls("chat.update"))
    assert bot.slack.responses("U9")[0]["text"].startswith(refusal)
    assert bot.slack.ephemeral(CHANNEL)[-1]["text"].startswith(refusal)
    assert [] == blurb_history(open_engine(bot.settings.store_url))
    assert 3 == len(bot.slack.calls("conversations.members"))  # 5 members, 2 a page; then cached


async def test_an_item_in_a_thread_reply_is_fixed_in_that_reply(tmp_path: Path) -> None:
    """A digest in two messages: a fix of an item in part 2 re-reads the thread and updates part 2 only."""
    with fix_bot(tmp_path, digest=large_digest(categories=2, per_category=15)) as bot:
        reply = bot.slack.messages(CHANNEL)[1]
        item = next(b["block_id"] for b in reply["blocks"] if str(b.get("block_id")).startswith("vote:"))
        bot.posted = reply
        view = await bot.open_modal(FIX_BLURB, item=item.removeprefix("vote:"))
        assert view is not None
        await bot.submit(view, {"note": "要点を"})
        await bot.join()
        updated = [c.body["ts"] for c in bot.slack.calls("chat.update")]
        assert ([reply["ts"]], True) == (
            updated,
            GOOD_OTHER in item_section(bot.slack.messages(CHANNEL)[1], item[5:]),
        )
        assert 1 <= len(bot.slack.calls("conversations.replies"))


async def test_allowed_users_may_fix_without_being_members(tmp_path: Path) -> None:
    """`[corrections] allowed_users`: U9 is not in the channel but gets the modal."""
    with fix_bot(tmp_path, corrections={"allowed_users": ("U9",)}) as bot:
        assert await bot.open_modal(FIX_CATEGORY, user="U9") is not None
        assert [] == bot.slack.calls("conversations.members")


async def test_with_corrections_disabled_there_is_no_menu_and_the_actions_are_refused(tmp_path: Path) -> None:
    """`[corrections] enabled = false`: the posted digest has no ⋮; a forged action is answered, no modal."""
    with fix_bot(tmp_path, corrections={"enabled": False}) as bot:
        menus = [
            e
            for b in bot.posted["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["type"] == "overflow"
        ]
        bot.posted = {**bot.posted, "blocks": render_digest(representative_digest(), fixes=True)[0]["blocks"]}
        assert ([], None) == (menus, await bot.open_modal(FIX_BLURB))
        assert bot.slack.responses("U1")[0]["text"].startswith("ダイジェストの修正は無効")


def test_manifest_declares_what_fixes_need() -> None:
    """Interactivity (menu, modals) and the scopes for conversations.members, history and chat.update."""
    manifest = yaml.safe_load(
        (Path(__file__).parents[1] / "slack" / "manifest.yml").read_text(encoding="utf-8")
    )
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert {"chat:write", "channels:read", "groups:read", "channels:history", "groups:history"} <= scopes


async def test_an_empty_note_or_unreadable_metadata_keeps_the_modal_open_with_an_error(bot: FixBot) -> None:
    """A blank note, or private_metadata not in our shape: Slack gets response_action=errors, no work runs."""
    view = await bot.open_modal(FIX_BLURB)
    assert view is not None
    tampered = {**view, "private_metadata": json.dumps({"c": "C0DIGEST01", "t": "1", "h": "", "i": "x"})}
    answers = []
    for shown, note in ((view, " \u200b "), (tampered, "手法を")):
        response = await bot.app.async_dispatch(signed(submission(shown, {"note": note}, user="U1"), SECRET))
        answers.append(json.loads(response.body)["response_action"])
    assert (["errors", "errors"], 0) == (answers, bot.services.tasks.pending)
    assert [] == bot.slack.calls("chat.update")
