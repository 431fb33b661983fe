"""Calibrate the guards' Japanese measure: curator blurbs pass, English in a Japanese frame fails.

    python evals/calibrate_japanese.py [--papers evals/papers-dev.jsonl]

Positives: the curator's `blurb_ja` of every paper. Negatives, built generically from the same
papers: every sentence of every abstract in three frames (「S」を提案。, Sを提案。, Sと報告。). Prints
both distributions for `guards.japanese_score` and for the raw kana/kanji share, and the threshold
half-way between the highest negative and the 5th-percentile curator blurb.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from digestbot.agents import guards
from digestbot.evaluation import load_papers
from digestbot.sources.text import japanese_ratio

FRAMES = ("「{}」を提案。", "{}を提案。", "{}と報告。")


def _quantile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=Path, default=Path(__file__).resolve().parent / "papers-dev.jsonl")
    papers = load_papers(parser.parse_args().papers)
    positives = [p.blurb_ja for p in papers]
    negatives = [f.format(s) for p in papers for s in guards.sentences(p.abstract_en) for f in FRAMES]
    threshold = guards.PARAMS["min_japanese_score"]
    for name, measure in (("japanese_score", guards.japanese_score), ("raw share", japanese_ratio)):
        pos = [measure(b) for b in positives]
        neg = [measure(b) for b in negatives]
        low, high = _quantile(pos, 0.05), max(neg)
        print(
            f"{name}: curator min {min(pos):.2f} / 5th pct {low:.2f} / mean {sum(pos) / len(pos):.2f}; "
            f"negatives max {high:.2f} / mean {sum(neg) / len(neg):.2f} ({len(neg)}); "
            f"midpoint {(low + high) / 2:.2f}"
        )
    passing = sum(guards.japanese_score(b) >= threshold for b in positives)
    failing = sum(guards.japanese_score(b) < threshold for b in negatives)
    print(
        f"threshold {threshold}: curator pass {passing}/{len(positives)}, "
        f"negatives fail {failing}/{len(negatives)}"
    )


if __name__ == "__main__":
    main()
