"""`make bench`: a realistic week through the real pipeline against local fakes; JSON + tables.

Runs, each in its own process (wall time and peak RSS are the bot's own):
1. ours      `run_digest` on the week, shipped configuration (cost ladder on), fresh store;
2. re-run    the same week again on the same store (everything should come from the caches);
3. naive     one call per agent per item (no prefilter, classifier batch 1, no shortlist, no cache):
             timed at the configured latency on a 1-in-N sample, extrapolated to the week;
4. ladder    the cost ladder rung by rung (naive first) and knobs around the shipped setting, on the
             whole week against a zero-latency copy of the model: exact calls, tokens and digests
             (the naive rung is what naive would post), not times;
5. eval      `digestbot eval` on the labeled dev set with the simulated model, ours vs naive;
6. ingest    10,000 arXiv entries: parse, normalize, deduplicate, store vs raw lxml parse;
7. cost ladder  calls per item of ours (and naive) at 0.3x, 1x and 10x the week, and the three peers'
             strategies side by side on the 1x week (`benchmarks/cost_ladder.py`, `peers.py`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import cost_ladder, report
from benchmarks.eval_compare import compare, run_eval
from benchmarks.fakes import Fakes, Tally
from benchmarks.knobs import ROOT, Knobs, naive_overrides, ours_overrides, write_agents, write_config
from benchmarks.ladder import run_ladder
from benchmarks.proc import base_env, child, say, window_spec
from benchmarks.tables import render
from benchmarks.week import Week, arxiv_week, build_week
from digestbot.agents.llm import price_of
from digestbot.settings import Settings, load_settings
from digestbot.testing.arxiv_server import FakeArxivServer

RESULTS = ROOT / "benchmarks" / "results"


def run_week(knobs: Knobs, base: Settings, week: Week, tmp: Path) -> dict[str, Any]:
    """Runs 1–4 and 6 against one set of fakes; the raw results and the server-side tallies."""
    env0 = base_env()
    ours_cfg = write_config(tmp / "config-ours", ours_overrides(knobs))
    naive_cfg = write_config(tmp / "config-naive", naive_overrides(knobs))
    naive_agents = write_agents(tmp / "agents-naive", classifier_batch=1, draft_batch=1)
    raw: dict[str, Any] = {}
    tallies: dict[str, Tally] = {}
    arxiv_requests: dict[str, int] = {}
    with Fakes(
        week,
        base.categories,
        qiita_tags=base.app.sources.qiita.tags,
        zenn_topics=base.app.sources.zenn.topics,
        latency_median=knobs.latency_median,
        latency_p95=knobs.latency_p95,
        requests_per_minute=knobs.requests_per_minute,
        seed=knobs.seed,
    ) as world:
        ours_env = {
            **env0,
            **world.env(
                config_dir=ours_cfg, agents_dir=ROOT / "agents", data_dir=tmp / "data-ours", model=knobs.model
            ),
        }
        naive_env = {
            **env0,
            **world.env(
                config_dir=naive_cfg, agents_dir=naive_agents, data_dir=tmp / "data-naive", model=knobs.model
            ),
        }
        plan: list[tuple[str, dict[str, str], dict[str, Any]]] = [
            ("ours", ours_env, {"kind": "digest"}),
            ("rerun", ours_env, {"kind": "digest"}),
            ("naive", naive_env, {"kind": "naive", "every": knobs.naive_sample}),
        ]
        for name, env, spec in plan:
            before, requests = world.snapshot(), world.arxiv_requests()
            say(f"{name}: running")
            raw[name] = child(name, tmp, env, **spec, **window_spec(week))
            tallies[name] = world.snapshot().minus(before)
            arxiv_requests[name] = world.arxiv_requests() - requests
            say(
                f"{name}: {raw[name].get('wall_seconds') or raw[name].get('pipeline_seconds')} s, "
                f"{sum(tallies[name].calls.values())} LLM answers"
            )
        price = price_of(base.app.llm.prices, knobs.model)
        ladder = run_ladder(
            knobs,
            base.categories,
            week,
            tmp,
            naive_env,
            price,
            on_result=lambda key, result: raw.update({f"ladder_{key}": result}),
        )
        say("eval: ours and naive")
        evals = {
            "ours": run_eval(
                {**ours_env, "DIGESTBOT_DATA_DIR": str(tmp / "eval-ours")},
                tmp / "eval-ours.json",
                world.snapshot,
            ),
            "naive": run_eval(
                {**naive_env, "DIGESTBOT_DATA_DIR": str(tmp / "eval-naive")},
                tmp / "eval-naive.json",
                world.snapshot,
            ),
        }
    return {
        "raw": raw,
        "tallies": tallies,
        "arxiv_requests": arxiv_requests,
        "evals": evals,
        "ladder": ladder,
    }


def run_ingest(knobs: Knobs, week: Week, tmp: Path) -> dict[str, Any]:
    entries, _, notes = arxiv_week(knobs.ingest_entries, week.window, seed=knobs.seed + 2)
    with FakeArxivServer(entries) as server:
        say(f"ingest: {len(entries)} arXiv entries")
        result = child(
            "ingest",
            tmp,
            base_env(),
            kind="ingest",
            api_url=server.url,
            data_dir=str(tmp / "data-ingest"),
            **window_spec(week),
        )
    return {**result, "served": notes}


def summarize(knobs: Knobs, base: Settings, week: Week, runs: dict[str, Any]) -> dict[str, Any]:
    raw, tallies, requests = runs["raw"], runs["tallies"], runs["arxiv_requests"]
    price = price_of(base.app.llm.prices, knobs.model)
    table: dict[str, dict[str, Any]] = {}
    for name in ("ours", "rerun"):
        r = raw[name]
        table[name] = report.numbers(
            knobs,
            wall=r["wall_seconds"],
            usage=r["stats"]["usage"],
            tally=tallies[name],
            price=price,
            fetched=r["items"],
            posted=len(r["posted"]),
            arxiv_requests=requests[name],
            peak_rss_mb=r["peak_rss_mb"],
        ).to_dict()
        table[name]["breakdown"] = report.breakdown(r)
    sample, full = raw["naive"], raw["ladder_naive"]
    naive_row = next(row for row in runs["ladder"] if row["key"] == "naive")
    scale = sample["items_in_window"] / max(1, sample["items"])
    mean = statistics.fmean(tallies["naive"].latencies) if tallies["naive"].latencies else 0.0
    table["naive"] = report.numbers(
        knobs,
        wall=sample["fetch_seconds"] + sample["pipeline_seconds"] * scale,
        usage=full["usage"],
        tally=Tally({}, naive_row["cjk_input"], naive_row["cjk_output"]),
        price=price,
        fetched=full["items_in_window"],
        posted=len(full["posted"]),
        arxiv_requests=requests["naive"],
        peak_rss_mb=full["peak_rss_mb"],
        mean_latency=mean,
    ).to_dict()
    table["naive"]["extrapolated"] = True
    ours, naive = table["ours"], table["naive"]
    ratios = {
        "calls": ours["llm_calls"] / naive["llm_calls"],
        "tokens": (ours["input_tokens"] + ours["output_tokens"])
        / (naive["input_tokens"] + naive["output_tokens"]),
        "wall": ours["wall_seconds"] / naive["wall_seconds"],
    }
    sampled_calls = sample["usage"]["llm_calls"] * scale
    return {
        "table": table,
        "ratios": {k: round(v, 4) for k, v in ratios.items()},
        "naive_sample": {
            "every": knobs.naive_sample,
            "items": sample["items"],
            "scale": round(scale, 3),
            "calls_extrapolated": round(sampled_calls),
            "calls_exact": full["usage"]["llm_calls"],
            "pipeline_seconds": sample["pipeline_seconds"],
            "fetch_seconds": sample["fetch_seconds"],
        },
        "quality": report.digest_quality(week, raw["ours"], full),
        "ladder": runs["ladder"],
        "eval": {**runs["evals"], "comparison": compare(runs["evals"]["ours"], runs["evals"]["naive"])},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="a tenth of the week (a smoke test, not results)"
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help="where the JSON goes (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    knobs = Knobs()
    if args.quick:
        knobs = replace(
            knobs,
            arxiv_entries=300,
            qiita_items=30,
            zenn_articles=20,
            naive_sample=3,
            ingest_entries=2000,
            latency_median=0.2,
            latency_p95=0.75,
        )
    base = load_settings(ROOT / "config", {})
    started = time.perf_counter()
    load_start = [round(x, 2) for x in os.getloadavg()]
    week = build_week(
        arxiv=knobs.arxiv_entries,
        qiita=knobs.qiita_items,
        zenn=knobs.zenn_articles,
        seed=knobs.seed,
        qiita_tags=base.app.sources.qiita.tags,
        zenn_topics=base.app.sources.zenn.topics,
    )
    with tempfile.TemporaryDirectory(prefix="digestbot-bench-") as folder:
        tmp = Path(folder)
        runs = run_week(knobs, base, week, tmp)
        ingest = run_ingest(knobs, week, tmp)
    summary = summarize(knobs, base, week, runs)
    result = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "commit": report.commit(),
        "machine": report.machine(),
        "knobs": asdict(knobs),
        "week": {
            **week.notes,
            "llm_papers": len(week.llm_ids),
            "mean_abstract_chars": round(sum(len(e["summary"]) for e in week.arxiv) / len(week.arxiv)),
        },
        "summary": summary,
        "targets": report.targets(summary, ingest),
        "ingest": ingest,
        "raw": {
            name: {k: v for k, v in r.items() if k not in ("kept", "summarized")}
            for name, r in runs["raw"].items()
        },
        "llm_server": {
            name: {**asdict(t), "latencies": len(t.latencies)} for name, t in runs["tallies"].items()
        },
        "shipped": {
            "sources.arxiv.page_size": base.app.sources.arxiv.page_size,
            "sources.arxiv.delay_seconds": base.app.sources.arxiv.delay_seconds,
            "llm.max_concurrency": base.app.llm.max_concurrency,
            "llm.requests_per_second": base.app.llm.requests_per_second,
        },
        "bench_seconds": round(time.perf_counter() - started, 1),
        "load_average": {"start": load_start, "end": [round(x, 2) for x in os.getloadavg()]},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    name = "quick.json" if args.quick else "week.json"
    (args.out / name).write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    markdown = render(result)
    (args.out / name.replace(".json", ".md")).write_text(markdown + "\n", encoding="utf-8")
    print(markdown)
    say(f"done in {result['bench_seconds']} s; results in {args.out / name}")
    say("cost ladder at 0.3x / 1x / 10x and the peers (benchmarks/cost_ladder.py)")
    sizes = ["--scales", "0.1", "--naive-scales", "0.1", "--no-peers"] if args.quick else []
    return cost_ladder.main([*sizes, "--out", str(args.out / ("quick" if args.quick else ""))])


if __name__ == "__main__":
    raise SystemExit(main())
