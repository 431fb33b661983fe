"""The cost ladder, rung by rung, and the knobs around the shipped setting, on the whole week.

Each variant runs the real graph with no result cache against a zero-latency copy of the simulated
model (arXiv delay 0): calls, tokens and the digest do not depend on latency, so this measures each
rung's effect exactly and quickly. Its digest is compared with the naive one (rung 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.fakes import CountingModel
from benchmarks.knobs import ROOT, Knobs, fast_overrides, ours_overrides, write_agents, write_config
from benchmarks.proc import child, say, window_spec
from benchmarks.week import Week
from digestbot.settings import Category, Price
from digestbot.testing.openai_server import OpenAIServer
from digestbot.testing.simulated_llm import SimulatedLLM

NAIVE = {
    "pipeline.prefilter.enabled": False,
    "pipeline.prerank.enabled": False,
    "pipeline.shortlist_factor": 0,
    "pipeline.min_classifier_relevance": 1,
}
NO_PRERANK = {"pipeline.prerank.enabled": False}


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    knob: str  # what a user changes to get it
    overrides: Mapping[str, Any] = field(default_factory=dict)
    classifier_batch: int | None = None  # None: the shipped agents/classifier.md
    draft_batch: int | None = None  # summarizer and judge; None: the shipped files


LADDER = (
    Variant("naive", "0. naive: one call per agent per item", "(baseline)", NAIVE, 1, 1),
    Variant(
        "prefilter",
        "1. + prefilter (an interest term required)",
        "pipeline.prefilter.enabled, require_interest = true",
        {**NAIVE, "pipeline.prefilter.enabled": True},
        1,
        1,
    ),
    Variant(
        "batched",
        "2. + batched classification (32 per call)",
        "agents/classifier.md batch_size: 32",
        {**NAIVE, "pipeline.prefilter.enabled": True},
        None,
        1,
    ),
    Variant(
        "gate",
        "3. + classifier relevance gate (< 2 dropped)",
        "pipeline.min_classifier_relevance = 2",
        {**NO_PRERANK, "pipeline.shortlist_factor": 0},
        None,
        1,
    ),
    Variant(
        "shortlist",
        "4. + shortlist sized by the caps (cap × 1.5, total_cap × 1.5)",
        "pipeline.shortlist_factor = 1.5",
        NO_PRERANK,
        None,
        1,
    ),
    Variant(
        "prerank",
        "5. + embedding pre-rank (each category's best cap × 3)",
        "[pipeline.prerank] enabled, margin = 3",
        {},
        None,
        1,
    ),
    Variant(
        "shipped",
        "6. + summaries and verdicts 8 per call = shipped",
        "agents/summarizer.md, judge.md batch_size: 8",
    ),
)
AROUND = (
    Variant(
        "margin2",
        "shipped, pre-rank margin 2",
        "pipeline.prerank.margin = 2",
        {"pipeline.prerank.margin": 2.0},
    ),
    Variant(
        "margin4",
        "shipped, pre-rank margin 4",
        "pipeline.prerank.margin = 4",
        {"pipeline.prerank.margin": 4.0},
    ),
    Variant(
        "factor2",
        "shipped, shortlist factor 2.0",
        "pipeline.shortlist_factor = 2.0",
        {"pipeline.shortlist_factor": 2.0},
    ),
    Variant("draft4", "shipped, summaries and verdicts 4 per call", "batch_size: 4", {}, None, 4),
)


def _row(
    variant: Variant,
    result: Mapping[str, Any],
    counting: CountingModel,
    price: Price | None,
    naive_posted: set[str],
) -> dict[str, Any]:
    usage = result["usage"]
    fetched = result["items_in_window"]
    posted = set(result["posted"])
    cjk = (counting.cjk_input * price.input + counting.cjk_output * price.output) / 1e6 if price else 0.0
    return {
        "key": variant.key,
        "rung": variant.label,
        "knob": variant.knob,
        "llm_calls": usage["llm_calls"],
        "calls_by_agent": {name: agent["calls"] for name, agent in usage["per_agent"].items()},
        "calls_per_fetched_item": round(usage["llm_calls"] / fetched, 4),
        "input_tokens": usage["input_tokens"],
        "output_tokens": usage["output_tokens"],
        "cost_usd": usage["cost_usd"],
        "cost_usd_cjk": round(cjk, 5),
        "cjk_input": counting.cjk_input,
        "cjk_output": counting.cjk_output,
        "prefilter_dropped": sum(result["prefilter_dropped"].values()),
        "drops": result["drops"],
        "judge_kept": len(result["kept"]),
        "posted": len(posted),
        "naive_posts_kept": round(len(posted & naive_posted) / len(naive_posted), 3) if naive_posted else 1.0,
        "seconds": result["pipeline_seconds"],
    }


def run_ladder(
    knobs: Knobs,
    categories: tuple[Category, ...],
    week: Week,
    tmp: Path,
    env: Mapping[str, str],
    price: Price | None,
    *,
    variants: tuple[Variant, ...] = LADDER + AROUND,
    on_result: Callable[[str, dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """One zero-latency run per variant; the naive variant must come first (the others compare to it)."""
    rows: list[dict[str, Any]] = []
    naive_posted: set[str] = set()
    for variant in variants:
        overrides = {
            **ours_overrides(knobs),
            **fast_overrides(),
            **variant.overrides,
        }
        config = write_config(tmp / f"config-{variant.key}", overrides)
        agents = (
            ROOT / "agents"
            if variant.classifier_batch is None and variant.draft_batch is None
            else write_agents(
                tmp / f"agents-{variant.key}",
                classifier_batch=variant.classifier_batch,
                draft_batch=variant.draft_batch,
            )
        )
        counting = CountingModel(SimulatedLLM({c.id: c.keywords for c in categories}))
        with OpenAIServer(counting) as fast:
            run_env = {
                **env,
                "DIGESTBOT_CONFIG_DIR": str(config),
                "DIGESTBOT_AGENTS_DIR": str(agents),
                "DIGESTBOT_DATA_DIR": str(tmp / f"data-{variant.key}"),
                "DIGESTBOT_LLM_BASE_URL": fast.base_url,
            }
            say(f"ladder {variant.key}: running")
            result = child(
                f"ladder-{variant.key}",
                tmp,
                run_env,
                kind="naive",
                every=1,
                embeddings=f"sqlite:///{tmp / 'embeddings.sqlite'}",  # embedded once for every rung
                **window_spec(week),
            )
        if variant.key == "naive":
            naive_posted = set(result["posted"])
        if on_result is not None:
            on_result(variant.key, result)
        rows.append(_row(variant, result, counting, price, naive_posted))
        say(f"ladder {variant.key}: {rows[-1]['llm_calls']} calls, {rows[-1]['calls_per_fetched_item']}/item")
    return rows
