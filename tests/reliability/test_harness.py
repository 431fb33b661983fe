"""The harness's own checker: `unsafe_parts` must flag every injected markup form and nothing of ours
(a checker that misses a form would let a hostile-input row pass on a broken build)."""

from __future__ import annotations

import pytest

from digestbot.slack.escape import clean, link
from reliability.harness import unsafe_parts

INJECTED = [
    "<https://evil.example/phish|click here>",
    "<https://evil.example|click>",
    "<http://arxiv.org/abs/1|plain http>",
    "<https://arxiv.org.evil.example/x|look-alike host>",
    "<!channel>",
    "<!here>",
    "<@U123>",
    "<#C999|general>",
    "<script>",
    "@channel",
    "@here全員",
    "@channelです",
    "@everyone_all",
    "お知らせ@HERE",
    "\u202e",
    "\u200b",
]
OURS = [
    link("https://arxiv.org/abs/2601.00001", "LLM retrieval"),
    link("https://qiita.example/someone/items/abc", "LLMでRAGを作ってみた"),
    link("https://zenn.dev/someone/articles/x", "監視入門"),
    link("https://example.slack.com/archives/C1/p1", "2026-01-05〜"),
    "＠channel ＠here全員 &lt;!channel&gt; &lt;https://evil.example/phish|click&gt;",
]


@pytest.mark.parametrize("markup", INJECTED)
def test_the_checker_flags_every_injected_form(markup: str) -> None:
    """Raw injected links (with or without a path), mentions, glued broadcasts and bidi are found."""
    assert [] != unsafe_parts(f"記事 {markup} です")


@pytest.mark.parametrize("text", OURS)
def test_the_checker_accepts_our_links_and_escaped_text(text: str) -> None:
    """Our own item links and escaped or defanged text are not flagged."""
    assert [] == unsafe_parts(text)


@pytest.mark.parametrize("markup", INJECTED)
def test_what_clean_returns_passes_the_checker(markup: str) -> None:
    """Every injected form, once cleaned as the digest does, is inert."""
    assert [] == unsafe_parts(clean(f"記事 {markup} です"))
