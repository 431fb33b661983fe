"""Hostile titles in the 注目 (watch) section: escaped, defanged and within Slack's limits."""

from __future__ import annotations

import json
from dataclasses import replace

from digestbot.digest_markdown import to_markdown
from digestbot.domain import WatchMatch
from digestbot.slack.escape import slack_len
from digestbot.slack.render import MAX_BLOCKS, MAX_MESSAGE_CHARS, SECTION_LIMIT, block_chars, render_digest
from digestbot.watch_pipeline import watch_section
from support.sample_digest import make_entry, make_item, representative_digest

HOSTILE = "<!channel> @here 速報 & <b>注目</b> " + "長" * 400


def test_hostile_watched_titles_are_escaped_and_limits_hold_in_slack() -> None:
    """Twelve watched items titled with `<!channel>`, `@here`, `&`, `<b>` and 400 more characters (and
    a keyword label with `<!here>`) reach 注目 escaped and defanged, in Slack and digest.md; every
    section stays <= 2900 characters and every message within the block and size limits."""
    entries = [
        replace(
            make_entry(make_item(f"arxiv:2611.{n:05d}", f"{HOSTILE}{n}"), "rag", "手法を提案。", rank=n),
            watch=(WatchMatch("keyword", "<!here> & RAG"),),
        )
        for n in range(1, 13)
    ]
    section, _ = watch_section(entries, 10)
    assert section is not None
    digest = representative_digest()
    digest = replace(digest, sections=(section, *digest.sections))

    messages = render_digest(digest)
    text = json.dumps(messages, ensure_ascii=False)
    sections = [b["text"]["text"] for m in messages for b in m["blocks"] if b["type"] == "section"]
    assert "&lt;!channel&gt; ＠here 速報 &amp; &lt;b&gt;注目&lt;/b&gt;" in text
    assert "*📌 注目 (10件)*　他2件" in text
    assert "<!channel>" not in text and "<!here>" not in text and "@here" not in text and "<b>" not in text
    assert max(slack_len(s) for s in sections) <= SECTION_LIMIT
    assert all(
        len(m["blocks"]) <= MAX_BLOCKS and block_chars(m["blocks"]) <= MAX_MESSAGE_CHARS for m in messages
    )
    markdown = to_markdown(digest)
    assert "## 📌 注目 (12件)" in markdown
    assert "<!channel>" not in markdown and "<b>" not in markdown
