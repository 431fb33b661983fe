"""One measured run in its own process: `python -m benchmarks.scenario SPEC.json`.

The spec says which run (`digest`: the real `run_digest`; `naive`: the same fetch, then the graph on
a deterministic 1-in-N sample of the items with no result cache; `ingest`: parse/normalize/store
speed) and where to write the JSON result. Configuration comes from the environment, as for a user.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import resource
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from digestbot.domain import Digest, Window
from digestbot.graph.state import ItemResult
from digestbot.ingest import IngestReport


class Stages:
    """First and last time (seconds since start) each progress stage was reported."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.seen: dict[str, list[float]] = {}

    def __call__(self, stage: str, done: int) -> None:
        now = round(time.perf_counter() - self.start, 3)
        span = self.seen.setdefault(stage, [now, now])
        span[1] = now


class NoStore:
    """A result store that remembers nothing: every agent call is made."""

    def get(self, key: str) -> Any | None:
        return None

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        return {}

    def put(self, key: str, value: Any) -> None:
        """Forget it."""

    def put_many(self, values: Mapping[str, Any]) -> None:
        """Forget them."""


class EmbeddingsOnly(NoStore):
    """Remembers item embeddings only (in a store shared by the ladder's runs), never an LLM answer."""

    def __init__(self, url: str) -> None:
        from digestbot.store.cache import ResultCache

        self.cache = ResultCache(url)

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        wanted = [key for key in keys if key.startswith("embedding:")]
        return dict(self.cache.get_many(wanted)) if wanted else {}

    def put_many(self, values: Mapping[str, Any]) -> None:
        kept = {key: value for key, value in values.items() if key.startswith("embedding:")}
        if kept:
            self.cache.put_many(kept)


def in_sample(item_id: str, every: int) -> bool:
    return int(hashlib.sha256(item_id.encode()).hexdigest()[:8], 16) % every == 0


def _process() -> dict[str, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
    }


def _ingest(report: IngestReport | None) -> list[dict[str, Any]]:
    rows = report.rows if report else []
    return [
        {
            "source": str(r.source),
            "fetched": r.fetched,
            "new": r.new,
            "updated": r.updated,
            "duplicates": r.duplicates,
            "seconds": round(r.duration, 3),
            "warnings": r.warnings,
            "errors": r.errors,
            "failure": r.failure,
        }
        for r in rows
    ]


def _drop_reason(detail: str) -> str:
    if detail.startswith("prerank:"):
        return "prerank"
    if detail.startswith("not shortlisted"):
        return "shortlist"
    if detail.startswith("classifier: relevance"):
        return "relevance_gate"
    if detail.startswith("classifier: fits no category"):
        return "off_topic"
    return "judge"


def _outcome(digest: Digest, results: list[ItemResult], items: int) -> dict[str, Any]:
    status = Counter(r.get("status", "") for r in results)
    drops = Counter(_drop_reason(r.get("detail", "")) for r in results if r.get("status") == "dropped")
    posted = [entry.item.id for section in digest.sections for entry in section.entries]
    return {
        "items": items,
        "status": dict(status),
        "drops": dict(drops),
        "posted": posted,
        "kept": sorted(r["item_id"] for r in results if r.get("status") == "kept"),
        "summarized": sorted(r["item_id"] for r in results if r.get("blurb")),
        "posted_categories": dict(Counter(e.category for s in digest.sections for e in s.entries)),
        "revisions": sum(r.get("revisions", 0) for r in results),
    }


def run_digest_scenario(window: Window) -> dict[str, Any]:
    from digestbot.runner import run_digest
    from digestbot.settings import load_settings

    settings = load_settings()
    stages = Stages()
    started = time.perf_counter()
    outcome = run_digest(
        settings,
        window,
        fetch=True,
        dry_run=True,
        on_progress=stages,
        on_fetch_progress=lambda row: stages("fetch", row.fetched),
    )
    wall = time.perf_counter() - started
    warm = outcome.warmup
    return {
        "wall_seconds": round(wall, 3),
        "stats": outcome.stats(),
        "ingest": _ingest(outcome.ingest),
        "stages": stages.seen,
        "warmup": {k: round(v, 3) if isinstance(v, float) else v for k, v in vars(warm).items()}
        if warm
        else None,
        **_outcome(outcome.digest, outcome.results, outcome.items_in_window),
        **_process(),
    }


def run_naive_scenario(window: Window, every: int, embeddings: str | None = None) -> dict[str, Any]:
    from digestbot.agents.cached import CachedAgents
    from digestbot.agents.factory import build_agents
    from digestbot.ingest import fetch_window
    from digestbot.runner import prompt_context_hash, run_pipeline
    from digestbot.settings import load_settings
    from digestbot.store import ItemStore

    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with ItemStore(settings.store_url) as store:
        report = fetch_window(settings, store, window)
        items = store.items_in_window(window)
    fetch_seconds = time.perf_counter() - started
    sample = [item for item in items if in_sample(item.id, every)]
    inner = build_agents(settings)
    memory = EmbeddingsOnly(embeddings) if embeddings else NoStore()
    agents = CachedAgents(inner, memory, context=prompt_context_hash(settings))
    stages = Stages()
    begun = time.perf_counter()
    digest, results, dropped = asyncio.run(run_pipeline(settings, window, sample, agents, on_progress=stages))
    pipeline_seconds = time.perf_counter() - begun
    total = inner.usage.total
    return {
        "fetch_seconds": round(fetch_seconds, 3),
        "pipeline_seconds": round(pipeline_seconds, 3),
        "every": every,
        "items_in_window": len(items),
        "prefilter_dropped": dropped,
        "usage": {
            "llm_calls": total.calls,
            "input_tokens": total.input_tokens,
            "output_tokens": total.output_tokens,
            "cost_usd": round(total.cost_usd, 6),
            "per_agent": {n: vars(u) for n, u in inner.usage.per_agent.items()},
        },
        "ingest": _ingest(report),
        "stages": stages.seen,
        **_outcome(digest, results, len(sample)),
        **_process(),
    }


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    window = Window(datetime.fromisoformat(spec["start"]), datetime.fromisoformat(spec["end"]))
    if spec["kind"] == "digest":
        result = run_digest_scenario(window)
    elif spec["kind"] == "naive":
        result = run_naive_scenario(window, int(spec["every"]), spec.get("embeddings"))
    elif spec["kind"] == "peer":
        from benchmarks.peers import run_peer_scenario

        result = run_peer_scenario(window, spec["strategy"], Path(spec["out"]).parent)
    else:
        from benchmarks.ingest_speed import measure

        result = measure(window, spec["api_url"], spec["data_dir"])
    Path(spec["out"]).write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
