"""A watched item through the real graph: past the prefilter, the shortlist and a dropping judge,
into the 注目 section of the blocks, the Markdown and digest.json, once, escaped."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage

from digestbot.agents.factory import build_agents
from digestbot.digest_json import digest_from_dict, digest_to_dict
from digestbot.digest_markdown import to_markdown
from digestbot.domain import Item, SourceName, Window
from digestbot.runner import run_pipeline
from digestbot.settings import load_settings
from digestbot.slack.render import render_digest
from digestbot.testing.scripted_chat import ScriptedChat

ROOT = Path(__file__).resolve().parents[1]
WINDOW = Window.between(date(2026, 11, 16), date(2026, 11, 22), "Asia/Tokyo")
HOSTILE = "<!channel> Protein folding & <https://evil.example|click> @here"


def _item(n: int, title: str, text: str, authors: tuple[str, ...] = ()) -> Item:
    moment = WINDOW.start + timedelta(hours=3 + n)
    return Item(
        id=f"arxiv:2611.{n:05d}",
        source=SourceName.ARXIV,
        url=f"https://arxiv.org/abs/2611.{n:05d}",
        title=title,
        text=text,
        published=moment,
        updated=moment,
        authors=authors,
    )


def _model() -> ScriptedChat:
    def classify(messages: list[BaseMessage]) -> dict[str, Any]:
        ids = re.findall(r'<item id="([^"]+)">', str(messages[-1].content))
        return {"results": [{"item_id": i, "primary": "rag", "relevance": 1, "reason": "x"} for i in ids]}

    verdict = {"relevance": 1, "significance": 1, "faithfulness": 5, "japanese": 5, "rationale": "無関係"}
    return ScriptedChat(
        replies={
            "ClassificationBatch": [classify] * 5,
            "Blurb": [{"blurb": "タンパク質の折りたたみを予測する手法を提案。"}] * 5,
            "Verdict": [verdict] * 10,
        }
    )


def test_a_watched_author_lands_in_chuumoku_though_every_stage_would_drop_it(tmp_path: Path) -> None:
    """Off-topic (prefilter), relevance 1 (shortlist, judge): still posted first, flagged, once."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "categories.toml").write_text((ROOT / "config/categories.toml").read_text("utf-8"), "utf-8")
    (config / "digestbot.toml").write_text('[watch]\nauthors = ["Lukasz Kaiser"]\n', "utf-8")
    settings = load_settings(
        config,
        {"DIGESTBOT_DATA_DIR": str(tmp_path / "d"), "DIGESTBOT_LLM_MODEL": "openai:gpt-4o-mini"},
        env_file=tmp_path / "no.env",
    )
    items = [
        _item(1, HOSTILE, "We predict protein structures.", ("Łukasz Kaiser",)),
        _item(2, "Crop yields", "We predict wheat harvests."),
    ]
    agents = build_agents(settings, chat_model=_model())
    digest, _, _ = asyncio.run(run_pipeline(settings, WINDOW, items, agents))
    first = digest.sections[0]
    assert ("watch", ["arxiv:2611.00001"]) == (first.category, [e.item.id for e in first.entries])
    assert ["著者: Lukasz Kaiser"] == [m.label for m in first.entries[0].watch]
    assert first.entries[0].watch_flag.startswith("watched: the judge would drop it (relevance 1")
    shown = [e.item.id for s in digest.sections for e in s.entries]
    assert 1 == shown.count("arxiv:2611.00001")
    blocks = json.dumps([m["blocks"] for m in render_digest(digest)], ensure_ascii=False)
    assert "🔎 著者: Lukasz Kaiser" in blocks and "*📌 注目 (1件)*" in blocks
    assert ("<!channel>" not in blocks, "<https://evil" not in blocks) == (True, True)
    markdown = to_markdown(digest)
    assert "## 📌 注目 (1件)" in markdown and "🔎 著者: Lukasz Kaiser" in markdown
    assert digest == digest_from_dict(json.loads(json.dumps(digest_to_dict(digest), ensure_ascii=False)))


def test_the_preview_appendix_shows_matches_and_flags_escaped() -> None:
    """注目 entries are listed with what they matched and the judge's flag, HTML-escaped."""
    from dataclasses import replace

    from digestbot.domain import DigestSection, WatchMatch
    from digestbot.slack.preview_report import appendix_html
    from support.sample_digest import representative_digest

    digest = representative_digest()
    entry = replace(
        digest.sections[0].entries[0],
        item=replace(digest.sections[0].entries[0].item, title="<script>x</script>"),
        watch=(WatchMatch("keyword", "RAG"),),
        watch_flag="watched: the judge would drop it (relevance 1 < 3)",
    )
    watched = replace(digest, sections=(DigestSection("watch", "注目", "📌", (entry,), 1), *digest.sections))
    page = appendix_html(watched)
    assert ("キーワード: RAG" in page, "relevance 1 &lt; 3" in page, "<script>" in page) == (
        True,
        True,
        False,
    )


def test_over_max_items_the_section_says_ta_n_ken_and_names_the_rest_in_left_out() -> None:
    """Stronger matches first; the rest counted (他N件) and listed as capped, never silently lost."""
    from digestbot.domain import DigestEntry, WatchMatch
    from digestbot.slack.commands import SUBCOMMANDS
    from digestbot.slack.watch_command import show_watch
    from digestbot.watch_pipeline import watch_section
    from support.sample_digest import representative_digest

    base = representative_digest().sections[0].entries[0]
    entries = [
        DigestEntry(
            item=_item(n, f"T{n}", "x"),
            category="rag",
            blurb="b",
            scores=base.scores,
            rank=float(n),
            watch=(WatchMatch("author" if n == 1 else "keyword", "k"),),
        )
        for n in range(1, 5)
    ]
    section, left = watch_section(entries, 2)
    assert section is not None
    assert (["arxiv:2611.00001", "arxiv:2611.00004"], 2) == (
        [e.item.id for e in section.entries],
        section.hidden,
    )
    assert [("capped", 3), ("capped", 4)] == [(x.status, x.rank) for x in left]
    heading = json.dumps(render_digest(representative_digest())[0]["blocks"], ensure_ascii=False)
    assert ("注目" not in heading, SUBCOMMANDS["watch"], SUBCOMMANDS["注目"]) == (
        True,
        show_watch,
        show_watch,
    )


def test_a_watched_blurb_failing_a_guard_falls_back_to_the_title_only() -> None:
    """An invented number is never posted: no sentence passes, so the entry keeps its title only."""
    from digestbot.watch_pipeline import safe_blurb

    item = _item(1, "Protein folding", "We predict protein structures.")
    assert ("", "posted the title only (no blurb passed the guards)") == safe_blurb(
        item, "精度が99%向上。", max_chars=120
    )
