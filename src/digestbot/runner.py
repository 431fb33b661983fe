"""`run_digest`: the one entry point the CLI, the demo, the scheduler and `/digest` all call.

fetch what is new → load the window's items from the store → run the agent graph → write the
digest files → (unless dry run) deliver to Slack.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig
from sqlalchemy import Engine

from digestbot.agents.base import Agents, UsageReport
from digestbot.agents.cached import CachedAgents
from digestbot.digest_markdown import to_markdown
from digestbot.domain import Digest, Item, SourceCount, SourceName, Window
from digestbot.graph.builder import build_graph
from digestbot.graph.context import ProgressFn, RunContext, _no_progress
from digestbot.graph.state import ItemResult, RunState
from digestbot.ingest import IngestReport
from digestbot.links import LinkIndex, window_links
from digestbot.run_health import alert_admin, needed_help, stage_warnings
from digestbot.selection import lag_window, select_items
from digestbot.settings import ConfigError, Settings
from digestbot.taste import Tuner, run_tuner
from digestbot.watch_pipeline import watch_stats

if TYPE_CHECKING:
    from digestbot.warmup import WarmupStats


class RunError(Exception):
    """The whole run failed (nothing to publish); the message says why and what to do."""


@dataclass
class RunOutcome:
    digest: Digest
    results: list[ItemResult]
    prefilter_dropped: dict[str, int]
    usage: UsageReport
    items_in_window: int
    ingest: IngestReport | None = None  # when the run fetched
    outputs: dict[str, Path] = field(default_factory=dict)
    delivery: Any = None  # DeliveryResult when the run posted
    seconds: float = 0.0
    trends_note: str = ""  # why the trends section has no 考察 (run report only, never the digest)
    warmup: WarmupStats | None = None  # what was embedded during the fetch (warmup.py)

    def stats(self) -> dict[str, Any]:
        status = Counter(r.get("status", "") for r in self.results)
        total = self.usage.total
        return {
            "items_in_window": self.items_in_window,
            "prefilter_dropped": self.prefilter_dropped,
            "kept": status["kept"],
            "dropped": status["dropped"],
            "dropped_by": dict(
                Counter(
                    drop_stage(r.get("detail", ""), r.get("stage", ""))
                    for r in self.results
                    if r.get("status") == "dropped"
                )
            ),
            "failed": status["failed"],
            "posted_entries": self.digest.entry_count,
            "failures": [
                {"item_id": r["item_id"], "stage": r.get("stage", ""), "detail": r.get("detail", "")}
                for r in self.results
                if r.get("status") == "failed"
            ],
            "left_out": dict(Counter(left.status for left in self.digest.left_out)),
            "incidents": [incident.as_dict() for incident in self.usage.incidents],
            "needed_help": needed_help(self.usage),
            "warnings": self.warnings(),
            "flagged": flagged_items(self.results),
            "watched": watch_stats(self.digest),
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
            **({"trends_note": self.trends_note} if self.trends_note else {}),
        }

    def warnings(self) -> list[str]:
        """Stages where more than 20 % of the items needed a repair, a retry, "other" or were held back."""
        return stage_warnings(self.usage)


def flagged_items(results: Sequence[ItemResult]) -> list[dict[str, str]]:
    """Items whose text reads as a prompt injection (never copied into a blurb), with why."""
    return [
        {"item_id": r["item_id"], "reason": "; ".join(r["flags"])[:300]} for r in results if r.get("flags")
    ]


def drop_stage(detail: str, stage: str = "") -> str:
    """Which rung of the pipeline dropped an item: classifier, shortlist or judge."""
    if stage:
        return stage
    if detail.startswith("not shortlisted"):
        return "shortlist"
    if detail.startswith("classifier"):
        return "classifier"
    return "judge"


def prompt_context_hash(settings: Settings) -> str:
    """What the prompts see besides the item: the team's interests and the category list."""
    seen = {
        "interests": settings.app.pipeline.prefilter.interests,
        "categories": [(c.id, c.name) for c in settings.categories],
    }
    return hashlib.sha256(json.dumps(seen, ensure_ascii=False).encode()).hexdigest()[:16]


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
    links: LinkIndex | None = None,
    taste: Tuner | None = None,
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
        links=links,
        taste=taste,
    )
    app = build_graph().compile()
    config: RunnableConfig = {"max_concurrency": settings.app.llm.max_concurrency, "recursion_limit": 10_000}
    initial: RunState = {"window": window, "items": list(items), "results": []}
    state = await app.ainvoke(initial, config, context=ctx)
    return state["digest"], list(state.get("results", [])), dict(state.get("prefilter_dropped", {}))


def default_out_dir(settings: Settings, window: Window) -> Path:
    zone = settings.app.general.timezone
    label = window.label(zone).replace("/", "-").replace("–", "_")
    return settings.data_dir / "digests" / f"{window.start:%Y}-{label}"


def write_outputs(
    outcome: RunOutcome, out_dir: Path, *, blocks: list[dict[str, Any]] | None = None
) -> dict[str, Path]:
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


SOURCE_LABEL = {"arxiv": "arXiv", "qiita": "Qiita", "zenn": "Zenn"}


def ingest_notes(report: IngestReport) -> tuple[dict[str, SourceCount], tuple[str, ...]]:
    """Per-source failure flags and digest notes: a failed source is said in the digest, not hidden."""
    fetched: dict[str, SourceCount] = {}
    notes: list[str] = []
    for row in report.rows:
        name = str(row.source)
        fetched[name] = SourceCount(failed=row.failed, cut_off=row.cut_off)
        label = SOURCE_LABEL.get(name, name)
        if row.cut_off:
            notes.append(
                f"{label}: 該当{row.fetched + row.cut_off:,}件のうち{row.fetched:,}件だけ取得しました"
                "（取得件数の上限。設定 sources.arxiv.max_results）"
            )
        if row.failed:
            cause = (row.failure or "").removeprefix(f"{name}: ")[:160]
            notes.append(f"{label}: 取得に失敗しました（{cause}）。前回までに保存した分で作成しています")
        elif row.errors:
            notes.append(f"{label}: 一部の取得に失敗しました（{row.errors[0][:160]}）")
    return fetched, tuple(notes)


def check_not_all_failed(results: Sequence[ItemResult]) -> None:
    """Raise rather than post a hollow digest when the model is down or misconfigured.

    That is: every item failed, or nothing was kept and every item that got past the classifier
    failed in the summarizer or judge (the classifier's own drops do not show a working model).
    """
    failed = [r for r in results if r.get("status") == "failed"]
    if not failed or any(r.get("status") == "kept" or "verdict" in r for r in results):
        return
    late = [r for r in failed if r.get("detail", "").startswith(("summarizer:", "judge:"))]
    if not late and len(failed) < len(results):
        return
    if len(failed) == len(results):
        scope = f"all {len(failed)} items failed in the agents"
    else:
        dropped = len(results) - len(failed)
        scope = f"all {len(late)} items that reached the summarizer failed ({dropped} dropped before it)"
    raise RunError(
        f"{scope}, nothing was posted. First error: {(late or failed)[0].get('detail', '')}. "
        "Check the LLM settings ([llm] in config/digestbot.toml, the API key) "
        "or run without a model (offline mode)."
    )


@contextmanager
def store_errors() -> Iterator[None]:
    """The database failing mid-run (PostgreSQL gone, SQLite locked or full) -> one-line StoreError."""
    from sqlalchemy.exc import SQLAlchemyError

    from digestbot.store.schema import StoreError, error_line

    try:
        yield
    except SQLAlchemyError as exc:
        raise StoreError(f"the store failed during the run: {error_line(exc)}") from exc


@contextmanager
def posting_guard(
    settings: Settings, engine: Engine, window: Window, *, force: bool, dry_run: bool
) -> Iterator[None]:
    """One process per (channel, period) from "posted yet?" (before the agents) to the record;
    a future period is refused. A dry run posts nothing and needs no guard."""
    from digestbot.delivery import check_not_posted, period_key
    from digestbot.posting_guard import check_not_future, posting_lease

    if dry_run:
        yield
        return
    tz = settings.app.general.timezone
    check_not_future(window, datetime.now(UTC), tz)
    with posting_lease(engine, settings.app.slack.channel, period_key(window, tz)):
        if not force:
            check_not_posted(settings, engine, window)
        yield


def run_digest(
    settings: Settings,
    window: Window,
    *,
    fetch: bool = True,
    source_names: Sequence[SourceName] | None = None,
    dry_run: bool = True,
    force: bool = False,
    only_category: str | None = None,
    agents: Agents | None = None,
    out_dir: Path | None = None,
    on_progress: ProgressFn = _no_progress,
    on_fetch_progress: Callable[[Any], None] | None = None,
    on_items: Callable[[int], None] | None = None,
    save_as_latest: bool = True,
) -> RunOutcome:
    """Fetch → pipeline → files → (unless `dry_run`) Slack. Raises RunError/ConfigError/StoreError loudly.

    `save_as_latest=False` (on-demand `/digest` runs) keeps `latest.json`, the digest that
    `digestbot post --last` and `preview` use, pointing at the scheduled digest.
    """
    from digestbot.agents.factory import agents_for_run
    from digestbot.digest_json import save_latest
    from digestbot.store import ItemStore, ResultCache
    from digestbot.warmup import fetch_and_warm

    started = time.monotonic()
    with (
        store_errors(),
        ItemStore(settings.store_url) as store,
        posting_guard(settings, store.engine, window, force=force, dry_run=dry_run),
    ):
        base_agents = agents or agents_for_run(settings, store.engine)  # + the team's votes, corrections
        report, warmed = None, None
        fetched: dict[str, SourceCount] = {}
        notes: tuple[str, ...] = ()
        if fetch:
            report, warmed = fetch_and_warm(
                settings,
                store,
                lag_window(settings, window),
                base_agents,
                names=source_names,
                only_category=only_category,
                on_progress=on_fetch_progress,
            )
            fetched, notes = ingest_notes(report)
        items = select_items(settings, store, window, source_names)
        if on_items is not None:
            on_items(len(items))
        cached = CachedAgents(base_agents, ResultCache(store.engine), context=prompt_context_hash(settings))
        digest, results, dropped = asyncio.run(
            run_pipeline(
                settings,
                window,
                items,
                cached,
                fetched=fetched,
                notes=notes,
                only_category=only_category,
                on_progress=on_progress,
                links=window_links(settings, store.engine, window, items),
                taste=run_tuner(store.engine, settings.app.feedback),
            )
        )
        trends_note = ""
        if settings.app.trends.enabled and only_category is None:
            from digestbot.trends_insight import attach_trends

            digest, trends_note = attach_trends(digest, settings, store.engine, base_agents, cached)
        outcome = RunOutcome(
            digest=digest,
            results=results,
            prefilter_dropped=dropped,
            usage=base_agents.usage,
            items_in_window=len(items),
            ingest=report,
            warmup=warmed,
            seconds=time.monotonic() - started,
            trends_note=trends_note,
        )
        check_not_all_failed(results)
        blocks = None
        if dry_run:
            from digestbot.delivery_plan import period_key
            from digestbot.follow_dm import follow_audience
            from digestbot.slack.render import render_digest

            tz = settings.app.general.timezone
            messages = render_digest(
                digest,
                tz=tz,
                votes=settings.app.feedback.buttons,
                fixes=settings.app.corrections.enabled,
                reasons=settings.app.slack.show_reason,
                audience=follow_audience(digest, settings, store.engine, period_key(window, tz)),
                follow=settings.app.follow,
            )
            blocks = [dict(message) for message in messages]
        target = out_dir or default_out_dir(settings, window)
        try:
            outcome.outputs = write_outputs(outcome, target, blocks=blocks)
            if save_as_latest:
                save_latest(digest, settings, outcome.stats())
        except OSError as exc:  # a full disk or a read-only data dir: say so before posting anything
            raise RunError(
                f"cannot write the digest files in {target}: {exc.strerror or exc}; nothing was posted. "
                "Free some space (or set general.data_dir) and run again: the agents' results are cached"
            ) from exc
        if not dry_run:
            _deliver(outcome, settings, store.engine, window, force=force)
    return outcome


def _deliver(outcome: RunOutcome, settings: Settings, engine: Any, window: Window, *, force: bool) -> None:
    """Post the digest, then tell the admin channel about stages that needed too much help."""
    from digestbot.delivery import deliver

    outcome.delivery = deliver(outcome.digest, settings, engine, force=force)
    alert_admin(settings, window, outcome.warnings())


__all__ = ["ConfigError", "RunError", "RunOutcome", "run_digest", "run_pipeline", "write_outputs"]
