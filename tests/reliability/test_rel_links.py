"""Hostile titles in linked articles and papers (links.py): escaped, defanged and within Slack's limits."""

from __future__ import annotations

import json

from digestbot.slack.escape import slack_len
from digestbot.slack.render import SECTION_LIMIT, render_digest
from support.links_digest import linked_digest


def test_linked_titles_are_escaped_and_limits_hold_in_slack() -> None:
    """Hostile linked titles reach Slack escaped and defanged; an entry with many links and a full
    今週の解説記事 stay under 3000 characters per section."""
    messages = render_digest(linked_digest())
    text = json.dumps(messages, ensure_ascii=False)
    sections = [b["text"]["text"] for m in messages for b in m["blocks"] if b["type"] == "section"]
    assert "解説記事: <https://zenn.dev/x/articles/h|&lt;!channel&gt; ＠here &amp; &lt;b&gt;" in text
    assert "（Zenn, ♥ 42）" in text and "元論文: " in text and "11/9–11/15 のダイジェスト" in text
    assert "📝 今週の解説記事" in text
    assert "<!channel>" not in text and "@here" not in text and "<b>" not in text
    assert max(slack_len(s) for s in sections) <= SECTION_LIMIT
