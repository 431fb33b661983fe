"""A digest whose links carry hostile titles, five links under one entry and twenty
「今週の解説記事」 (tests of links.py, its JSON and its Slack limits)."""

from __future__ import annotations

from dataclasses import replace

from digestbot.domain import Digest, ExplainedPaper, LinkedItem
from support.sample_digest import representative_digest

HOSTILE = "<!channel> @here & <b>悪意</b> *太字* " + "長" * 400


def linked_digest() -> Digest:
    base = representative_digest()
    section = base.sections[0]
    article = LinkedItem("zenn:h", "zenn", HOSTILE, "https://zenn.dev/x/articles/h", 42)
    paper = LinkedItem(
        "arxiv:2611.00002",
        "arxiv",
        HOSTILE,
        "https://arxiv.org/abs/2611.00002",
        None,
        "title",
        "2026-11-09..2026-11-15",
        "https://example.slack.com/archives/C1/p1",
    )
    first = replace(section.entries[0], explainers=(article,) * 5, papers=(paper,) * 5)
    linked = replace(section, entries=(first, *section.entries[1:]))
    explained = (ExplainedPaper(paper, article),) * 20
    return replace(base, sections=(linked, *base.sections[1:]), explained=explained)
