"""`digestbot eval` on the labeled dev set with the simulated model, run as a user would run it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from benchmarks.fakes import Tally
from benchmarks.knobs import ROOT

DEV_SET = ROOT / "evals" / "papers-dev.jsonl"


def run_eval(env: Mapping[str, str], out: Path, snapshot: Callable[[], Tally]) -> dict[str, Any]:
    """One `digestbot eval` run; what it kept, how well it classified, and the calls it made."""
    before = snapshot()
    started = time.perf_counter()
    command = [sys.executable, "-m", "digestbot", "eval", str(DEV_SET), "--json", str(out)]
    done = subprocess.run(command, env=dict(env), cwd=out.parent, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"digestbot eval failed ({done.returncode}):\n{done.stderr[-2000:]}")
    seconds = time.perf_counter() - started
    calls = snapshot().minus(before).calls
    report = json.loads(out.read_text(encoding="utf-8"))
    return {
        "papers": report["papers"],
        "accuracy": round(report["accuracy"], 3),
        "macro_f1": round(report["macro_f1"], 3),
        "kept": round(report["kept"], 3),
        "kept_first": round(report["kept_first"], 3),
        "mean_scores": {k: round(v, 2) for k, v in report["mean_scores"].items()},
        "failures": report["failures"],
        "blurb_mean_chars": round(report["blurbs"]["mean_chars"], 1),
        "blurbs_within_limit": report["blurbs"]["within_limit"],
        "kept_ids": sorted(o["paper_id"] for o in report["outcomes"] if o["kept"]),
        "llm_calls": calls,
        "seconds": round(seconds, 1),
    }


def compare(ours: Mapping[str, Any], naive: Mapping[str, Any]) -> dict[str, Any]:
    """Did the cheaper configuration keep less, or classify worse, than one call per agent per item?"""
    lost = sorted(set(naive["kept_ids"]) - set(ours["kept_ids"]))
    return {
        "kept_ours": ours["kept"],
        "kept_naive": naive["kept"],
        "accuracy_ours": ours["accuracy"],
        "accuracy_naive": naive["accuracy"],
        "papers_kept_by_naive_only": lost,
        "no_drop": not lost and ours["accuracy"] >= naive["accuracy"] and ours["kept"] >= naive["kept"],
    }
