"""`run_digest`: the one entry point the CLI, the demo, the scheduler and `/digest` all call.

fetch what is new → load the window's items from the store → run the agent graph → write the
digest files → (unless dry run) deliver to Slack.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from digestbot.agents.base import Agents, UsageReport
from digestbot.agents.cached import CachedAgents
from digestbot.digest_markdown import to_markdown
from digestbot.domain import Digest, Item, SourceCount, Window
from digestbot.graph.builder import build_graph
from digestbot.graph.context import ProgressFn, RunContext, _no_progress
from digestbot.graph.state import ItemResult
from digestbot.settings import ConfigError, Settings


class RunError(Exception):
    """The whole run failed (nothing to publish); the message says why and what to do."""


@dataclass
class RunOutcome:
    digest: Digest
    results: list[ItemResult]
    prefilter_dropped: dict[str, int]
    usage: UsageReport
    items_in_window: int
    ingest: Any = None  # IngestReport when the run fetched
    outputs: dict[str, Path] = field(default_factory=dict)
    delivery: Any = None  # DeliveryResult when the run posted
    seconds: float = 0.0

    def stats(self) -> dict[str, Any]:
        status = Counter(r.get("status", "") for r in self.results)
        total = self.usage.total
        return {
            "items_in_window": self.items_in_window,
            "prefilter_dropped": self.prefilter_dropped,
            "kept": status["kept"],
            "dropped": status["dropped"],
            "failed": status["failed"],
            "posted_entries": self.digest.entry_count,
            "failures": [
                {"item_id": r["item_id"], "detail": r.get("detail", "")} for r in self.results if r.get("status") == "failed"
            ],
            "usage": {
                "model": self.usage.model,
                "per_agent": {name: vars(u) for name, u in self.usage.per_agent.items()},
                "llm_calls": total.calls,
                "input_tokens": total.input_tokens,
                "output_tokens": total.output_tokens,
                "cached_results": total.cached,
                "cost_usd": round(total.cost_usd, 6),
            },
            "seconds": round(self.seconds, 3),
        }


def interests_hash(settings: Settings) -> str:
    return hashlib.sha256(json.dumps(settings.app.pipeline.prefilter.interests).encode()).hexdigest()[:16]


async def run_pipeline(
    settings: Settings,
    window: Window,
    items: Sequence[Item],
    agents: Agents,
    *,
    fetched: dict[str, SourceCount] | None = None,
    notes: tuple[str, ...] = (),
    only_category: str | None = None,
    on_progress: ProgressFn = _no_progress,
) -> tuple[Digest, list[ItemResult], dict[str, int]]:
    """Run the agent graph on already-loaded items. No I/O besides the agents."""
    if only_category is not None:
        settings.category(only_category)  # raises ConfigError naming the known ids
    ctx = RunContext(
        settings=settings,
        agents=agents,
        categories=settings.categories,
        on_progress=on_progress,
        fetched=fetched or {},
        notes=notes,
        only_category=only_category,
    )
    app = build_graph().compile()
    config = {"max_concurrency": settings.app.llm.max_concurrency, "recursion_limit": 10_000}
    state = await app.ainvoke({"window": window, "items": list(items), "results": []}, config, context=ctx)
    return state["digest"], list(state.get("results", [])), dict(state.get("prefilter_dropped", {}))


def default_out_dir(settings: Settings, window: Window) -> Path:
    zone = settings.app.general.timezone
    label = window.label(zone).replace("/", "-").replace("–", "_")
    return settings.data_dir / "digests" / f"{window.start:%Y}-{label}"


def write_outputs(outcome: RunOutcome, out_dir: Path, *, blocks: list[dict[str, Any]] | None = None) -> dict[str, Path]:
    from digestbot.digest_json import digest_to_dict

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "digest.json", "markdown": out_dir / "digest.md"}
    data = digest_to_dict(outcome.digest, stats=outcome.stats())
    paths["json"].write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    paths["markdown"].write_text(to_markdown(outcome.digest), encoding="utf-8")
    if blocks is not None:
        paths["blocks"] = out_dir / "blocks.json"
        paths["blocks"].write_text(json.dumps(blocks, ensure_ascii=False, indent=2), encoding="utf-8")
    return paths


def now_utc() -> datetime:
    return datetime.now(UTC)


def ingest_notes(report: Any) -> tuple[dict[str, SourceCount], tuple[str, ...]]:
    """Turn an IngestReport into per-source failure flags and digest notes (a failed source is said, not hidden)."""
    fetched: dict[str, SourceCount] = {}
    notes: list[str] = []
    for row in getattr(report, "rows", []):
        name = str(row.source)
        failed = bool(row.errors) and row.fetched == 0
        fetched[name] = SourceCount(failed=failed)
        if row.errors:
            label = {"arxiv": "arXiv", "qiita": "Qiita", "zenn": "Zenn"}.get(name, name)
            notes.append(f"{label}: 取得に失敗しました（{row.errors[0][:120]}）")
    return fetched, tuple(notes)


def elapsed_since(start: float) -> float:
    return time.monotonic() - start


__all__ = ["ConfigError", "RunError", "RunOutcome", "run_pipeline", "write_outputs"]
