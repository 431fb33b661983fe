"""digest.md: outside text is inert (HTML- and Markdown-escaped), links only for http(s) URLs."""

from __future__ import annotations

import dataclasses

from digestbot.digest_markdown import md_link, md_text, to_markdown
from digestbot.domain import Digest, DigestSection
from support.sample_digest import make_entry, make_item, representative_digest

HOSTILE = '<script>alert("x")</script> **bold** [click](https://evil.example) <img src=x onerror=y>'


def hostile_digest() -> Digest:
    base = representative_digest()
    item = make_item("arxiv:2611.06666", HOSTILE, url="https://arxiv.example/abs/2611.06666 (v2)")
    bad_url = make_item("arxiv:2611.06667", "A javascript link", url="javascript:alert(1)")
    section = DigestSection(
        category="rag",
        name="RAG <b>",
        emoji=":mag:",
        entries=(
            make_entry(item, "rag", "要約に<script>も**強調**も`code`も。"),
            make_entry(bad_url, "rag", "要約"),
        ),
        total=2,
    )
    return dataclasses.replace(base, sections=(section,), notes=("<script>note</script>",))


def test_no_raw_html_or_markdown_from_items_reaches_digest_md() -> None:
    """A title, blurb, note or category name with <script>, **, [..](..) or a javascript: URL is text."""
    markdown = to_markdown(hostile_digest())
    assert ([], [], [], 3) == (
        [tag for tag in ("<script", "<img", "<b>", "</script>") if tag in markdown],
        [s for s in ("**bold**", "](https://evil.example)", "**強調**", "javascript:") if s in markdown],
        [line for line in markdown.splitlines() if line.startswith("- [") and " (v2)" in line],
        markdown.count("&lt;script&gt;"),
    )


def test_escaping_keeps_the_text_readable() -> None:
    """Each special character is escaped once; an http(s) URL stays a link with its ( ) encoded."""
    assert (
        "a\\*b\\_c \\[x\\] &lt;p&gt; &amp; C\\+\\+",
        "[t](https://x.example/a%20%28b%29)",
        "t",
    ) == (
        md_text("a*b_c [x] <p> & C++"),
        md_link("t", "https://x.example/a (b)"),
        md_link("t", "javascript:alert(1)"),
    )
