"""Markdown tables from a results JSON: `python -m benchmarks.tables benchmarks/results/week.json`."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 1 else f"{value:,.2f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


ROWS = (
    ("wall time (s)", "wall_seconds"),
    ("ideal time (s)", "ideal_seconds"),
    ("wall ÷ ideal", "wall_over_ideal"),
    ("LLM calls", "llm_calls"),
    ("LLM calls per fetched item", "calls_per_fetched_item"),
    ("LLM calls per posted item", "calls_per_posted_item"),
    ("input tokens per posted item", "input_tokens_per_posted_item"),
    ("output tokens per posted item", "output_tokens_per_posted_item"),
    ("cost of the weekly digest (USD, server token count)", "cost_usd"),
    ("cost of the weekly digest (USD, CJK-aware estimate)", "cost_usd_cjk"),
    ("items fetched (unique) / posted", None),
    ("peak RSS (MB)", "peak_rss_mb"),
)


def table(runs: Mapping[str, Mapping[str, Any]], ratios: Mapping[str, float]) -> str:
    """The results table: one column per run, plus ours ÷ naive where the issue asks for it."""
    names = list(runs)
    lines = ["| metric | " + " | ".join(names) + " | ours ÷ naive |", "|---" * (len(names) + 2) + "|"]
    ratio_of = {"wall_seconds": "wall", "llm_calls": "calls"}
    for label, key in ROWS:
        if key is None:
            cells = [f"{r['fetched_items']:,} / {r['posted_items']}" for r in runs.values()]
        else:
            cells = [_fmt(r.get(key, "")) for r in runs.values()]
        ratio = ratios.get(ratio_of.get(key or "", ""), None)
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {'' if ratio is None else f'{ratio:.3f}'} |")
    tokens = ratios.get("tokens")
    lines.append(
        "| input + output tokens | "
        + " | ".join(f"{r['input_tokens'] + r['output_tokens']:,}" for r in runs.values())
        + f" | {tokens:.3f} |"
    )
    return "\n".join(lines)


def breakdown_table(runs: Mapping[str, Mapping[str, Any]]) -> str:
    """Wall, floor and where the wall time went (`report.breakdown`), for the measured digest runs."""
    head = (
        "| run | wall (s) | floor (s) | wall ÷ floor | fetch | embed after the fetch | LLM | other | "
        "embedded during the fetch |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|---|"]
    for name, r in runs.items():
        b = r.get("breakdown")
        if not b:
            continue
        lines.append(
            f"| {name} | {r['wall_seconds']:.1f} | {r['ideal_seconds']:.1f} | {r['wall_over_ideal']:.2f} | "
            f"{b['fetch']:.1f} | {b['embed']:.1f} | {b['llm']:.1f} | {b['other']:.1f} | "
            f"{b['embedded_items']:,} items, {b['embed_overlapped']:.1f} s |"
        )
    return "\n".join(lines)


def targets_table(targets: Sequence[Mapping[str, Any]]) -> str:
    lines = ["| target | measured | met |", "|---|---|---|"]
    lines += [f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else '**no**'} |" for t in targets]
    return "\n".join(lines)


def ladder_table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| rung / variant | knob | LLM calls (classify / summarize / judge) | calls per fetched item | "
        "tokens in / out | cost USD (server / CJK-aware) | naive's posts kept |"
    )
    lines = [head, "|---|---|---|---|---|---|---|"]
    for r in rows:
        by = r["calls_by_agent"]
        calls = f"{r['llm_calls']:,} ({by['classifier']:,} / {by['summarizer']:,} / {by['judge']:,})"
        tokens = f"{r['input_tokens']:,} / {r['output_tokens']:,}"
        costs = f"{r['cost_usd']:.4f} / {r['cost_usd_cjk']:.4f}"
        lines.append(
            f"| {r['rung']} | `{r['knob']}` | {calls} | {r['calls_per_fetched_item']:.3f} | {tokens} | "
            f"{costs} | {r['naive_posts_kept']:.0%} |"
        )
    return "\n".join(lines)


def ingest_table(ingest: Mapping[str, Any]) -> str:
    n = ingest["entries"]
    stages = (
        ("raw XML parse (lxml, the floor)", ingest["raw_parse_seconds"]),
        ("`arxiv` package: feed → Result objects", ingest["feed_parse_seconds"]),
        ("our normalization (`item_from_result`)", ingest["normalize_seconds"]),
        ("our store upsert (dedupe + SQLite)", ingest["store_seconds"]),
        ("whole ingest (HTTP + all of the above)", ingest["ingest_seconds"]),
    )
    lines = ["| stage | seconds | entries/s |", "|---|---|---|"]
    lines += [f"| {name} | {sec:.3f} | {n / sec:,.0f} |" for name, sec in stages]
    return "\n".join(lines)


def eval_table(evals: Mapping[str, Any]) -> str:
    def cells(e: Mapping[str, Any]) -> list[str]:
        return [
            " / ".join(str(v) for v in e["llm_calls"].values()),
            f"{e['accuracy']:.3f}",
            f"{e['macro_f1']:.3f}",
            f"{e['kept_first']:.0%} / {e['kept']:.0%}",
            f"{e['blurb_mean_chars']}",
            str(e["failures"]),
        ]

    names = (
        "LLM calls (classify / summarize / judge)",
        "accuracy",
        "macro-F1",
        "judge keeps (first blurb / after revisions)",
        "mean blurb length (chars)",
        "failed papers",
    )
    lines = ["| `digestbot eval` (18 papers) | ours | naive |", "|---|---|---|"]
    rows = zip(names, cells(evals["ours"]), cells(evals["naive"]), strict=True)
    lines += [f"| {name} | {ours} | {naive} |" for name, ours, naive in rows]
    return "\n".join(lines)


def render(result: Mapping[str, Any]) -> str:
    summary = result["summary"]
    runs = {k: summary["table"][k] for k in ("ours", "rerun", "naive")}
    quality = summary["quality"]
    parts = [
        table(runs, summary["ratios"]),
        breakdown_table(runs),
        targets_table(result["targets"]),
        ladder_table(summary["ladder"]),
        eval_table(summary["eval"]),
        f"Digest on the week: ours posts {quality['posted_ours']}, naive {quality['posted_naive']}, both "
        f"{quality['posted_by_both']}; share of posted arXiv papers that are LLM papers: ours "
        f"{quality['posted_arxiv_llm_share_ours']:.0%}, naive {quality['posted_arxiv_llm_share_naive']:.0%}.",
        ingest_table(result["ingest"]),
    ]
    return "\n\n".join(parts)


if __name__ == "__main__":
    print(render(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))))
