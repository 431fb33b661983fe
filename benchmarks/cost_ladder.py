"""Calls per item at 0.3×, 1× and 10× the week, and the peers side by side on the 1× week.

`python -m benchmarks.cost_ladder [--scales 0.3,1,10] [--peers] [--out DIR]` (also run by `make bench`).
Every run is the real bot (or a peer's strategy on our agents) in a child process, through
init_chat_model + the openai SDK over HTTP to a zero-latency copy of the simulated model: calls,
tokens and digests are exact and do not depend on latency. Wall times in the peer table are *computed
from the latency model* (median 0.8 s, p95 3 s, mean 1.105 s; 8 calls at once, 10 requests/s):
max(calls × 1.105 s ÷ 8, calls ÷ 10/s), the LLM part only, the same formula for every row.
The server's own count of answers is recorded next to the client's for every run.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks.fakes import QIITA_TOKEN, CountingModel
from benchmarks.knobs import (
    ROOT,
    Knobs,
    fast_overrides,
    naive_overrides,
    ours_overrides,
    write_agents,
    write_config,
)
from benchmarks.peers import PEERS, STRATEGIES
from benchmarks.proc import base_env, child, say, window_spec
from benchmarks.week import Week, build_week
from digestbot.agents.llm import price_of
from digestbot.settings import Settings, load_settings
from digestbot.testing.arxiv_server import FakeArxivServer
from digestbot.testing.feed_server import FeedServer
from digestbot.testing.openai_server import OpenAIServer
from digestbot.testing.simulated_llm import SimulatedLLM

RESULTS = ROOT / "benchmarks" / "results"
MEAN_LATENCY = 1.105  # seconds: lognormal with median 0.8 s and p95 3 s
CONCURRENCY, RATE = 8, 10.0


def modelled_wall(calls: int) -> float:
    return round(max(calls * MEAN_LATENCY / CONCURRENCY, calls / RATE), 1)


def scaled_week(base: Settings, knobs: Knobs, scale: float) -> Week:
    return build_week(
        arxiv=round(knobs.arxiv_entries * scale),
        qiita=round(knobs.qiita_items * scale),
        zenn=round(knobs.zenn_articles * scale),
        seed=knobs.seed,
        qiita_tags=base.app.sources.qiita.tags,
        zenn_topics=base.app.sources.zenn.topics,
    )


def _fast(knobs: Knobs, entries: int) -> dict[str, Any]:
    return {**ours_overrides(knobs), **fast_overrides(entries)}


def run_one(
    name: str,
    week: Week,
    base: Settings,
    tmp: Path,
    overrides: Mapping[str, Any],
    agents: Path,
    spec: Mapping[str, Any],
) -> dict[str, Any]:
    """One child run against fresh zero-latency fakes serving `week`; its result plus the server's tally."""
    counting = CountingModel(SimulatedLLM({c.id: c.keywords for c in base.categories}))
    feeds = FeedServer(qiita_token=QIITA_TOKEN)
    feeds.publish_qiita(week.qiita, tags=base.app.sources.qiita.tags)
    feeds.publish_zenn(week.zenn, topics=base.app.sources.zenn.topics)
    config = write_config(tmp / f"config-{name}", overrides)
    with FakeArxivServer(week.arxiv) as arxiv, feeds, OpenAIServer(counting) as llm:
        env = {
            **base_env(),
            "DIGESTBOT_CONFIG_DIR": str(config),
            "DIGESTBOT_AGENTS_DIR": str(agents),
            "DIGESTBOT_DATA_DIR": str(tmp / f"data-{name}"),
            "DIGESTBOT_ARXIV_API_URL": arxiv.url,
            "DIGESTBOT_QIITA_BASE_URL": feeds.base_url,
            "DIGESTBOT_ZENN_BASE_URL": feeds.base_url,
            "DIGESTBOT_LLM_MODEL": "openai:gpt-4o-mini",
            "DIGESTBOT_LLM_BASE_URL": llm.base_url,
            "DIGESTBOT_LLM_API_KEY": "sk-bench",
            "QIITA_TOKEN": QIITA_TOKEN,
        }
        say(f"cost ladder {name}: running")
        started = time.perf_counter()
        result = child(name, tmp, env, **spec, **window_spec(week))
        result["bench_seconds"] = round(time.perf_counter() - started, 1)
        served = len(llm.completions)
    result["served_calls"] = served
    result["cjk_tokens"] = [counting.cjk_input, counting.cjk_output]
    say(f"cost ladder {name}: {result['usage']['llm_calls']} calls (server {served})")
    return result


def _row(name: str, result: Mapping[str, Any], naive_posted: set[str] | None) -> dict[str, Any]:
    usage = result["usage"]
    posted = list(result["posted"])
    calls = usage["llm_calls"]
    fetched = result["items_in_window"]
    overlap = len(set(posted) & naive_posted) / len(naive_posted) if naive_posted else None
    return {
        "run": name,
        "fetched": fetched,
        "posted": len(posted),
        "llm_calls": calls,
        "served_calls": result["served_calls"],
        "calls_by_agent": {
            k: (v["calls"] if isinstance(v, dict) else v) for k, v in usage["per_agent"].items()
        },
        "calls_per_fetched_item": round(calls / fetched, 4),
        "calls_per_posted_item": round(calls / len(posted), 2) if posted else None,
        "input_tokens": usage["input_tokens"],
        "output_tokens": usage["output_tokens"],
        "cost_usd": round(usage["cost_usd"], 4),
        "wall_modelled_seconds": modelled_wall(calls),
        "naive_posts_kept": None if overlap is None else round(overlap, 3),
        "drops": result.get("drops", {}),
        "bench_seconds": result["bench_seconds"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scales", default="0.3,1,10", help="sizes of the week for ours (default %(default)s)"
    )
    parser.add_argument("--naive-scales", default="0.3,1", help="sizes at which naive runs too (%(default)s)")
    parser.add_argument("--peers", action=argparse.BooleanOptionalAction, default=True, help="the peer table")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    knobs = Knobs()
    base = load_settings(ROOT / "config", {})
    import tempfile

    from benchmarks.report import commit

    out_file = args.out / "cost_ladder.json"
    saved: dict[str, Any] = json.loads(out_file.read_text("utf-8")) if out_file.is_file() else {}
    scales = [float(s) for s in args.scales.split(",") if s]
    naive_scales = {float(s) for s in args.naive_scales.split(",") if s}
    naive_agents_name = "agents-naive"
    rows: dict[str, Any] = dict(saved.get("scales", {}))
    peers: list[dict[str, Any]] = list(saved.get("peers", []))
    with tempfile.TemporaryDirectory(prefix="digestbot-ladder-") as folder:
        tmp = Path(folder)
        naive_agents = write_agents(tmp / naive_agents_name, classifier_batch=1, draft_batch=1)
        for scale in scales:
            week = scaled_week(base, knobs, scale)
            fast = _fast(knobs, len(week.arxiv))
            label = f"{scale:g}x"
            naive_posted: set[str] | None = None
            entry: dict[str, Any] = {}
            if scale in naive_scales:
                naive = run_one(
                    f"naive-{label}",
                    week,
                    base,
                    tmp,
                    {**fast, **{k: v for k, v in naive_overrides(knobs).items() if k.startswith("pipeline")}},
                    naive_agents,
                    {"kind": "naive", "every": 1},
                )
                naive_posted = set(naive["posted"])
                entry["naive"] = _row(f"naive {label}", naive, None)
            ours = run_one(
                f"ours-{label}", week, base, tmp, fast, ROOT / "agents", {"kind": "naive", "every": 1}
            )
            entry["ours"] = _row(f"ours {label}", ours, naive_posted)
            entry["ours"]["posted_ids"] = ours["posted"]
            if naive_posted is not None:
                entry["naive"]["posted_ids"] = sorted(naive_posted)
            rows[label] = entry
            if scale == 1 and args.peers:
                peers = []
                for strategy in STRATEGIES:
                    result = run_one(
                        f"peer-{strategy}",
                        week,
                        base,
                        tmp,
                        fast,
                        ROOT / "agents",
                        {"kind": "peer", "strategy": strategy},
                    )
                    row = _row(PEERS[strategy], result, naive_posted)
                    peers.append(row)
    price = price_of(base.app.llm.prices, knobs.model)
    result = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": commit(),
        "price": None if price is None else [price.input, price.output],
        "scales": rows,
        "peers": peers,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(render(result))
    return 0


def render(result: Mapping[str, Any]) -> str:
    """The two markdown tables: calls per item by size of the week, and the peers side by side."""
    lines = [
        "| week | run | fetched | posted | LLM calls (server) | calls / fetched item | calls / posted item "
        "| tokens in / out | cost USD | naive's posts kept |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, entry in result["scales"].items():
        for r in entry.values():
            kept = "" if r["naive_posts_kept"] is None else f"{r['naive_posts_kept']:.0%}"
            lines.append(
                f"| {label} | {r['run'].split()[0]} | {r['fetched']:,} | {r['posted']} | {r['llm_calls']:,} "
                f"({r['served_calls']:,}) | {r['calls_per_fetched_item']} | {r['calls_per_posted_item']} "
                f"| {r['input_tokens']:,} / {r['output_tokens']:,} | {r['cost_usd']} | {kept} |"
            )
    one = result["scales"].get("1x", {})
    table = [one[k] for k in ("ours", "naive") if k in one] + list(result["peers"])
    lines += [
        "",
        "| strategy (1× week) | LLM calls (server) | tokens in / out | cost USD | wall, latency model (s) "
        "| posted | naive's posts kept |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in table:
        kept = "" if r["naive_posts_kept"] is None else f"{r['naive_posts_kept']:.0%}"
        lines.append(
            f"| {r['run']} | {r['llm_calls']:,} ({r['served_calls']:,}) | {r['input_tokens']:,} / "
            f"{r['output_tokens']:,} | {r['cost_usd']} | {r['wall_modelled_seconds']:,} "
            f"| {r['posted']:,} | {kept} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
