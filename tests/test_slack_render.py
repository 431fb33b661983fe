"""Digest -> Block Kit messages: the layout (golden), Slack's limits by construction, splitting."""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digestbot.domain import Digest, DigestSection, Popularity, SourceCount, SourceName
from digestbot.graph.nodes.compose import build_sections
from digestbot.settings import Category
from digestbot.slack.render import SlackMessage, block_chars, render_digest
from digestbot.testing.slack_validation import validate_message
from support.sample_digest import (
    WINDOW,
    large_digest,
    make_entry,
    make_item,
    representative_digest,
    trends_digest,
)

GOLDEN = Path(__file__).parent / "golden" / "slack_blocks_representative.json"
GOLDEN_TRENDS = Path(__file__).parent / "golden" / "slack_blocks_trends.json"


def texts(message: SlackMessage) -> list[str]:
    """Every text string in a message's blocks (a button's label included)."""
    found: list[str] = []
    for block in message["blocks"]:
        for obj in [block.get("text"), *block.get("elements", [])]:
            if isinstance(obj, dict):
                value = obj["text"]
                found.append(value["text"] if isinstance(value, dict) else value)
    return found


def digest_with(entries: list[tuple[str, str, str]], *, offline: bool = False) -> Digest:
    """A one-category digest from (title, url, blurb) triples."""
    items = tuple(
        make_entry(make_item(f"arxiv:2611.{n:05d}", title, url=url), "rag", blurb)
        for n, (title, url, blurb) in enumerate(entries)
    )
    section = DigestSection("rag", "RAG/ロングコンテキスト", "🔎", items, total=len(items))
    return Digest(
        WINDOW,
        "📚 LLMリサーチダイジェスト",
        (section,),
        {"arxiv": SourceCount(10, len(items))},
        offline,
        WINDOW.end,
    )


def test_representative_digest_matches_the_golden_blocks() -> None:
    """The layout of a typical digest is exactly the reviewed one (UPDATE_GOLDEN=1 rewrites it)."""
    actual = render_digest(representative_digest())
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(actual, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert expected == actual


def test_trends_digest_matches_the_golden_blocks() -> None:
    """The trends section's layout is exactly the reviewed one (UPDATE_GOLDEN=1 rewrites it)."""
    actual = render_digest(trends_digest())
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN_TRENDS.write_text(json.dumps(actual, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    expected = json.loads(GOLDEN_TRENDS.read_text(encoding="utf-8"))
    assert expected == actual


def test_trends_come_right_after_the_summary_before_the_categories() -> None:
    """Header, summary context, notes, divider, then the trends heading."""
    blocks = render_digest(trends_digest())[0]["blocks"]
    assert blocks[4]["text"]["text"].startswith("*📈 今週の傾向*（前4週との比較）\n")


def test_each_item_has_vote_buttons_naming_the_item_and_category() -> None:
    """An actions block follows each item: 👍 and 👎 whose value carries the item id and category."""
    blocks = render_digest(representative_digest())[0]["blocks"]
    actions = [b for b in blocks if b["type"] == "actions"]
    first = actions[0]["elements"]
    expected = [("digest_vote_up", "👍"), ("digest_vote_down", "👎")]
    assert expected == [(e["action_id"], e["text"]["text"]) for e in first]
    assert {"item": "arxiv:2611.01234", "category": "rag"} == json.loads(first[0]["value"])
    assert 5 == len(actions)


def test_vote_buttons_can_be_turned_off() -> None:
    """`votes=False` renders no actions blocks."""
    blocks = render_digest(representative_digest(), votes=False)[0]["blocks"]
    assert [] == [b for b in blocks if b["type"] == "actions"]


def test_an_item_and_its_buttons_are_never_split_across_messages() -> None:
    """In a split digest every actions block directly follows its item's section."""
    for message in render_digest(large_digest(categories=2, per_category=30)):
        blocks = message["blocks"]
        for index, block in enumerate(blocks):
            if block["type"] == "actions":
                item_id = block["block_id"].removeprefix("vote:").removeprefix("arxiv:")
                assert item_id in blocks[index - 1]["text"]["text"]


def test_header_carries_title_and_period() -> None:
    """The header is the title plus the Japanese-style period label."""
    header = render_digest(representative_digest())[0]["blocks"][0]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "📚 LLMリサーチダイジェスト 11/16–11/22", "emoji": True},
    }


def test_context_line_counts_sources_kept_items_and_offline_mode() -> None:
    """Per-source counts, how many the judge kept (and how many are shown), and offline mode."""
    context = render_digest(representative_digest())[0]["blocks"][1]["elements"][0]["text"]
    expected = (
        "📥 収集 arXiv 182件 ・ Qiita 46件 ・ Zenn 31件 ｜ ✅ 採用 8件（掲載 5件）"
        " ｜ 🔌 オフラインモード（LLM未使用）"
    )
    assert expected == context


def test_failed_source_is_named_in_the_context_line() -> None:
    """A source that failed shows as 取得失敗 rather than 0件."""
    digest = replace(
        representative_digest(), sources={"arxiv": SourceCount(5, 2), "qiita": SourceCount(failed=True)}
    )
    context = render_digest(digest)[0]["blocks"][1]["elements"][0]["text"]
    assert context.startswith("📥 収集 arXiv 5件 ・ Qiita 取得失敗 ｜")


def test_item_shows_link_badge_date_popularity_and_blurb() -> None:
    """A Qiita item: linked bold title, source badge, date, likes and stocks, then the blurb."""
    item = make_item(
        "qiita:abc", "RAG入門 & 実践", source=SourceName.QIITA, popularity=Popularity(likes=12, stocks=3)
    )
    digest = digest_with([])
    section = DigestSection("rag", "RAG", "🔎", (make_entry(item, "rag", "要約です。"),), total=1)
    message = render_digest(replace(digest, sections=(section,)))[0]
    expected = (
        "*<https://qiita.example/example/items/abc|RAG入門 &amp; 実践>*\n"
        "`Qiita` ・ 11/18 ・ いいね 12 ・ ストック 3\n要約です。"
    )
    assert expected == message["blocks"][4]["text"]["text"]


def test_item_with_a_non_http_url_is_not_linked() -> None:
    """Only the item's own http(s) URL becomes a link."""
    message = render_digest(digest_with([("Title", "javascript:alert(1)", "blurb")]))[0]
    assert message["blocks"][4]["text"]["text"].startswith("*Title*\n")


def test_empty_digest_says_there_is_nothing_new() -> None:
    """No entries: one message with a plain notice instead of categories."""
    messages = render_digest(digest_with([]))
    expected = ["今回は条件に合う新着記事がありませんでした。"]
    assert expected == [t for t in texts(messages[0]) if "新着" in t]


def test_long_digest_continues_in_labelled_replies_split_between_items() -> None:
    """Every item appears once, in order; messages are labelled (k/N) and all pass Slack's checks."""
    digest = large_digest(categories=3, per_category=25)
    messages = render_digest(digest)
    links = [re.findall(r"<https://arxiv\.example/abs/([^|]+)\|", t) for m in messages for t in texts(m)]
    expected = [e.item.id.removeprefix("arxiv:") for s in digest.sections for e in s.entries]
    assert expected == [found for group in links for found in group]
    total = len(messages)
    assert total > 1
    assert messages[0]["blocks"][0]["text"]["text"].endswith(f"(1/{total})")
    assert [m["blocks"][0]["elements"][0]["text"] for m in messages[1:]] == [
        f"*📚 LLMリサーチダイジェスト 11/16–11/22 ({k}/{total})*" for k in range(2, total + 1)
    ]
    assert [validate_message(dict(m)) for m in messages] == [None] * total


def test_a_category_too_long_for_one_message_repeats_its_heading_as_continued() -> None:
    """A split category's heading reappears in the next message marked 続き."""
    messages = render_digest(large_digest(categories=1, per_category=60))
    headings = [t for m in messages for t in texts(m) if t.startswith("*📄 カテゴリ0")]
    assert headings[0] == "*📄 カテゴリ0 (60件)*"
    assert set(headings[1:]) == {"*📄 カテゴリ0 (60件・続き)*"}


def test_an_over_long_blurb_is_truncated_with_an_ellipsis() -> None:
    """A 10,000-character blurb is cut so the section stays under 3000 characters."""
    message = render_digest(digest_with([("T", "https://a.example/1", "長" * 10_000)]))[0]
    text = message["blocks"][4]["text"]["text"]
    assert (len(text) <= 3000, text.endswith("…")) == (True, True)


TITLES = st.text(min_size=0, max_size=400) | st.sampled_from(
    ["<!channel>", "<@U1>", "<https://x.example|y>", "&&&"]
)
BLURBS = st.text(min_size=0, max_size=3500) | st.sampled_from(
    ["@here <!everyone>", "a > b & c < d", "🙂" * 2000]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(TITLES, BLURBS), min_size=0, max_size=70))
def test_any_titles_and_blurbs_stay_within_slack_limits_and_inject_nothing(
    pairs: list[tuple[str, str]],
) -> None:
    """Every message fits Slack's limits and only our own links appear in angle brackets."""
    urls = [f"https://arxiv.example/abs/2611.{n:05d}" for n in range(len(pairs))]
    messages = render_digest(digest_with([(t, u, b) for (t, b), u in zip(pairs, urls, strict=True)]))
    for message in messages:
        assert validate_message(dict(message)) is None
        assert len(message["blocks"]) <= 50
        assert block_chars(message["blocks"]) <= 13_000
        header = message["blocks"][0]
        if header["type"] == "header":
            assert len(header["text"]["text"]) <= 150
        for text in [message["text"], *texts(message)]:
            assert len(text) <= 3000
            for token in re.findall(r"<([^>]*)>", text):
                assert token.split("|", 1)[0] in urls
            assert re.search(r"@(channel|here|everyone)\b", text, re.IGNORECASE) is None


def test_categories_the_total_cap_cut_whole_are_named_with_their_counts() -> None:
    """A category with nothing shown still appears: 「他に サーベイ 3件・その他 5件」 and how to see it."""
    digest = digest_with([("Shown", "https://arxiv.org/abs/1", "紹介。")])
    survey = DigestSection("survey", "サーベイ", "📚", (), total=3)
    other = DigestSection("other", "その他", "🧩", (), total=5)
    digest = replace(digest, sections=(*digest.sections, survey, other))
    line = [t for m in render_digest(digest) for t in texts(m) if t.startswith("✂️")]
    expected = [
        "✂️ 他に サーベイ 3件・その他 5件"
        "（掲載上限のため省略。`/digest survey` のようにカテゴリを指定すると表示できます）"
    ]
    assert expected == line


def test_nothing_capped_means_no_capped_line() -> None:
    """Every kept entry shown: no ✂️ line."""
    digest = digest_with([("Shown", "https://arxiv.org/abs/1", "紹介。")])
    assert not [t for m in render_digest(digest) for t in texts(m) if t.startswith("✂️")]


def test_classifier_reason_is_a_small_escaped_context_line_only_when_asked() -> None:
    """`reasons=True` adds the reason under the item (escaped, broadcasts defanged); off by default."""
    digest = digest_with([("Shown", "https://arxiv.org/abs/1", "紹介。")])
    entry = replace(digest.sections[0].entries[0], reason="<!channel> RAGが主題 & 実装")
    digest = replace(digest, sections=(replace(digest.sections[0], entries=(entry,)),))
    with_reason = [
        b
        for m in render_digest(digest, reasons=True)
        for b in m["blocks"]
        if "分類の理由" in json.dumps(b, ensure_ascii=False)
    ]
    expected = [
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": "🏷️ 分類の理由: &lt;!channel&gt; RAGが主題 &amp; 実装"}],
        }
    ]
    assert expected == with_reason
    assert "分類の理由" not in json.dumps(render_digest(digest), ensure_ascii=False)
    for message in render_digest(digest, reasons=True):
        validate_message(message)


def test_a_category_the_total_cap_cut_whole_is_named_in_the_post() -> None:
    """build_sections with total_cap 1 leaves 'agents' with nothing shown: the post still names it."""
    cats = (
        Category(id="rag", name="RAG", description="r", cap=3),
        Category(id="agents", name="エージェント", description="a", cap=3),
    )
    best = make_entry(make_item("arxiv:2611.00001", "Best"), "rag", "紹介。")
    weaker = [
        replace(make_entry(make_item(f"arxiv:2611.0000{n}", "W"), "agents", "紹介。"), rank=-1.0)
        for n in (2, 3)
    ]
    digest = replace(
        digest_with([]), sections=build_sections([replace(best, rank=9.0), *weaker], cats, total_cap=1)
    )
    posted = [t for m in render_digest(digest) for t in texts(m) if t.startswith("✂️")]
    assert 1 == len(posted) and posted[0].startswith("✂️ 他に エージェント 2件（")
