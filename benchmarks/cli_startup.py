"""CLI start-up: wall time of `digestbot --help` and `digestbot config check`, and what they import.

`python -m benchmarks.cli_startup [--runs 5]` runs each command `runs` times in a fresh interpreter
(median wall time), then once under `python -X importtime` and lists the slowest top-level imports.
It writes `benchmarks/results/cli_startup.json` and prints a table. Not a pass/fail test: the target
(< 0.5 s on the development machine) is reported next to the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "cli_startup.json"
COMMANDS = {"--help": ["--help"], "config check": ["config", "check"]}
TARGET_SECONDS = 0.5
HEAVY = ("langgraph", "langchain", "langchain_core", "sqlalchemy", "matplotlib", "slack_bolt", "openai")
_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def _env() -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DIGESTBOT_", "SLACK_", "OPENAI_"))}
    return {**keep, "DIGESTBOT_CONFIG_DIR": str(ROOT / "config"), "COLUMNS": "100"}


def timed(args: list[str], runs: int) -> tuple[float, float]:
    """Median (wall, CPU) seconds: CPU (user + system) is steadier on a machine shared with others."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        command = [sys.executable, "-m", "digestbot", *args]
        subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, check=False)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def imports(args: list[str]) -> tuple[list[tuple[str, float]], list[str]]:
    """(the 8 slowest top-level imports in seconds, the heavy packages loaded at all)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "digestbot", *args],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    top: list[tuple[str, float]] = []
    loaded = set()
    for line in done.stderr.splitlines():
        if match := _LINE.match(line):
            name = match.group(4)
            loaded.add(name.split(".")[0])
            if len(match.group(3)) == 1:  # one space of indent: imported by the command itself
                top.append((name, int(match.group(2)) / 1e6))
    return sorted(top, key=lambda t: -t[1])[:8], sorted(loaded & set(HEAVY))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    report = {}
    for label, args in COMMANDS.items():
        slowest, heavy = imports(args)
        wall, cpu = timed(args, runs)
        report[label] = {
            "median_seconds": round(wall, 3),
            "median_cpu_seconds": round(cpu, 3),
            "load_average": round(os.getloadavg()[0], 2),
            "slowest_imports": slowest,
            "heavy": heavy,
        }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"| command | median wall ({runs} runs) | median CPU | target | heavy packages loaded |")
    print("|---|---|---|---|---|")
    for label, row in report.items():
        ok = "met" if row["median_cpu_seconds"] < TARGET_SECONDS else "NOT met"
        heavy = ", ".join(row["heavy"]) or "none"
        cells = f"{row['median_seconds']:.2f} s | {row['median_cpu_seconds']:.2f} s"
        print(f"| `digestbot {label}` | {cells} | CPU < {TARGET_SECONDS} s: {ok} | {heavy} |")
    for label, row in report.items():
        slow = ", ".join(f"{name} {seconds:.3f} s" for name, seconds in row["slowest_imports"][:5])
        print(f"slowest imports of `{label}`: {slow}")


if __name__ == "__main__":
    main()
