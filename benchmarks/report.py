"""Numbers from the raw runs: ideal time, ratios, per-item costs, targets; and the Markdown tables."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.fakes import Tally
from benchmarks.knobs import ROOT, Knobs
from benchmarks.week import Week
from digestbot.settings import Price


@dataclass(frozen=True)
class RunNumbers:
    """One run (or an extrapolation of one) in the terms of the issue."""

    wall_seconds: float
    llm_calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    cost_usd_cjk: float  # with CJK-aware token estimates (see fakes.cjk_tokens)
    fetched_items: int  # unique items of the week in the store
    posted_items: int
    arxiv_requests: int
    mean_latency: float
    peak_rss_mb: float
    ideal_seconds: float = 0.0
    ideal_parts: Mapping[str, float] | None = None
    extrapolated: bool = False

    @property
    def wall_over_ideal(self) -> float:
        return self.wall_seconds / self.ideal_seconds if self.ideal_seconds else float("nan")

    def per(self, value: float, items: int) -> float:
        return value / items if items else float("nan")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            wall_over_ideal=round(self.wall_over_ideal, 3),
            calls_per_fetched_item=round(self.per(self.llm_calls, self.fetched_items), 4),
            calls_per_posted_item=round(self.per(self.llm_calls, self.posted_items), 2),
            input_tokens_per_posted_item=round(self.per(self.input_tokens, self.posted_items)),
            output_tokens_per_posted_item=round(self.per(self.output_tokens, self.posted_items)),
        )
        return data


def ideal(
    knobs: Knobs, calls: int, arxiv_requests: int, mean_latency: float
) -> tuple[float, dict[str, float]]:
    """max(arXiv etiquette floor, LLM work ÷ the provider's stated concurrency, LLM calls ÷ its rate limit).

    The arXiv floor is the waits its etiquette forces: 3 s between requests, so (requests − 1) × 3 s.
    Our own `llm.max_concurrency` and `llm.requests_per_second` are not in it, nor the embedding CPU:
    a cap we chose, or work we do, is not a floor (issue 18).
    """
    parts = {
        "arxiv_floor": knobs.arxiv_delay * max(0, arxiv_requests - 1),
        "llm_concurrency": calls * mean_latency / knobs.provider_concurrency,
        "llm_rate_limit": calls / knobs.requests_per_second,
    }
    return max(parts.values()), {k: round(v, 2) for k, v in parts.items()}


def breakdown(raw: Mapping[str, Any]) -> dict[str, float]:
    """Where a digest run's wall time went, in the order it happens (the first four add up to wall).

    fetch: until the last source is stored; embed: from there until the classifier starts (the
    warm-up's last pages, loading the window, prefilter, pre-rank); llm: classifier to last verdict;
    other: compose, files, trends. `embed_overlapped`: the warm-up worker's seconds during the fetch.
    """
    stages, wall = raw.get("stages", {}), float(raw["wall_seconds"])
    fetched = stages.get("fetch", [0.0, 0.0])[1]
    llm_start = stages.get("candidates", [fetched])[0]
    ends = [span[1] for name, span in stages.items() if name in ("classify", "summarize", "judge")]
    llm_end = max([llm_start, *ends])
    warm = raw.get("warmup") or {}
    return {
        "fetch": round(fetched, 2),
        "embed": round(llm_start - fetched, 2),
        "llm": round(llm_end - llm_start, 2),
        "other": round(wall - llm_end, 2),
        "embed_overlapped": round(float(warm.get("seconds", 0.0)), 2),
        "embedded_items": int(warm.get("embedded", 0)),
    }


def cost(price: Price | None, tokens_in: int, tokens_out: int) -> float:
    return (tokens_in * price.input + tokens_out * price.output) / 1e6 if price else 0.0


def numbers(
    knobs: Knobs,
    *,
    wall: float,
    usage: Mapping[str, Any],
    tally: Tally,
    price: Price | None,
    fetched: int,
    posted: int,
    arxiv_requests: int,
    peak_rss_mb: float,
    scale: float = 1.0,
    mean_latency: float | None = None,
) -> RunNumbers:
    """`scale` > 1 extrapolates a sampled run's LLM work (calls, tokens) to the whole week."""
    mean = (
        mean_latency
        if mean_latency is not None
        else (statistics.fmean(tally.latencies) if tally.latencies else 0.0)
    )
    calls = round(usage["llm_calls"] * scale)
    tokens_in, tokens_out = round(usage["input_tokens"] * scale), round(usage["output_tokens"] * scale)
    best, parts = ideal(knobs, calls, arxiv_requests, mean)
    return RunNumbers(
        wall_seconds=round(wall, 2),
        llm_calls=calls,
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        cost_usd=round(cost(price, tokens_in, tokens_out), 5),
        cost_usd_cjk=round(cost(price, round(tally.cjk_input * scale), round(tally.cjk_output * scale)), 5),
        fetched_items=fetched,
        posted_items=posted,
        arxiv_requests=arxiv_requests,
        mean_latency=round(mean, 3),
        peak_rss_mb=peak_rss_mb,
        ideal_seconds=round(best, 2),
        ideal_parts=parts,
        extrapolated=scale != 1.0,
    )


def commit() -> str:
    """The measured tree's commit, with `+dirty` when it has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + ("+dirty" if dirty else "")


def machine() -> dict[str, Any]:
    cpu = ""
    memory = ""
    cpuinfo, meminfo = Path("/proc/cpuinfo"), Path("/proc/meminfo")
    if cpuinfo.exists():
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        )
    if meminfo.exists():
        kb = int(meminfo.read_text().splitlines()[0].split()[1])
        memory = f"{kb / 1024 / 1024:.1f} GiB"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def digest_quality(week: Week, ours: dict[str, Any], naive: dict[str, Any]) -> dict[str, Any]:
    """What the digest keeps: ours vs naive (whole week) and both against the generator's LLM papers."""

    def truly_llm(posted: list[str]) -> float:
        papers = [p.removeprefix("arxiv:") for p in posted if p.startswith("arxiv:")]
        return round(sum(p in week.llm_ids for p in papers) / len(papers), 3) if papers else 0.0

    ours_set, naive_set = set(ours["posted"]), set(naive["posted"])
    return {
        "posted_ours": len(ours_set),
        "posted_naive": len(naive_set),
        "posted_by_both": len(ours_set & naive_set),
        "naive_posts_kept_by_ours": round(len(ours_set & naive_set) / len(naive_set), 3)
        if naive_set
        else 1.0,
        "posted_naive_only": sorted(naive_set - ours_set),
        "judge_kept_ours": len(ours["kept"]),
        "judge_kept_naive": len(naive["kept"]),
        "posted_arxiv_llm_share_ours": truly_llm(ours["posted"]),
        "posted_arxiv_llm_share_naive": truly_llm(naive["posted"]),
        "categories_ours": ours["posted_categories"],
        "categories_naive": naive["posted_categories"],
    }


def targets(summary: dict[str, Any], ingest: dict[str, Any]) -> list[dict[str, Any]]:
    ours, rerun = summary["table"]["ours"], summary["table"]["rerun"]
    quality, cmp = summary["quality"], summary["eval"]["comparison"]
    rows = [
        (
            "LLM calls per fetched item ≤ 0.05",
            ours["calls_per_fetched_item"],
            ours["calls_per_fetched_item"] <= 0.05,
        ),
        (
            "LLM calls per posted item ≤ 3",
            ours["calls_per_posted_item"],
            ours["calls_per_posted_item"] <= 3,
        ),
        (
            "no drop in what the digest keeps vs naive (eval set)",
            f"kept {cmp['kept_ours']:.0%} vs "
            f"{cmp['kept_naive']:.0%}, accuracy {cmp['accuracy_ours']} vs {cmp['accuracy_naive']}",
            cmp["no_drop"],
        ),
        (
            "posted digest ≥ 90 % identical to naive's on the week",
            f"{quality['posted_by_both']}/{quality['posted_naive']} of naive's posts",
            quality["naive_posts_kept_by_ours"] >= 0.9,
        ),
        ("wall ÷ floor ≤ 1.2", round(ours["wall_over_ideal"], 3), ours["wall_over_ideal"] <= 1.2),
        ("re-run: 0 LLM calls", rerun["llm_calls"], rerun["llm_calls"] == 0),
        (
            "re-run: wall ÷ floor ≤ 1.2 (the floor is the arXiv etiquette)",
            f"{rerun['wall_seconds']} s, {round(rerun['wall_over_ideal'], 3)}",
            rerun["wall_over_ideal"] <= 1.2,
        ),
        (
            "ingest ≥ 2,000 entries/s",
            f"{ingest['entries_per_second']:,}/s",
            ingest["entries_per_second"] >= 2000,
        ),
        ("peak RSS < 400 MB (whole week)", f"{ours['peak_rss_mb']} MB", ours["peak_rss_mb"] < 400),
    ]
    return [{"target": t, "measured": m, "met": bool(ok)} for t, m, ok in rows]
