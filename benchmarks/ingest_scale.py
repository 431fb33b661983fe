"""Ingest speed as the store grows: a fresh 10,000-entry week ingested into stores of 10k, 50k, 100k entries.

`python -m benchmarks.ingest_scale [--sizes 10000,50000,100000] [--out benchmarks/results/ingest_scale.json]`

The stored entries are earlier weeks from the same generator (`benchmarks/week.py`), so their titles
repeat the way a real archive's do ("Efficient Retrieval-Augmented Generation" every few weeks):
exactly the case where a title lookup that fetches every stored row with a matching title slows
down. Each measured week goes through `ingest()` (the `arxiv` client over HTTP against the local
server, delay 0, pages of 2,000; parse, normalize, deduplicate, SQLite) and is timed three times
on copies of the same store (the fastest counts: the machine is shared). The prefill itself goes
through `ItemStore.upsert`. Figures are ratios to the smallest store, not pass/fail.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.knobs import ROOT
from benchmarks.proc import say
from benchmarks.report import commit
from benchmarks.week import arxiv_week
from digestbot.domain import Item, SourceName, Window
from digestbot.ingest import ingest
from digestbot.settings import ArxivConfig
from digestbot.sources.arxiv import ArxivSource
from digestbot.store import ItemStore
from digestbot.testing.arxiv_server import ArxivEntry, FakeArxivServer

WEEK = 10_000
CHUNK = 10_000  # one prefill month; ids are `yymm.nnnnn`, so each chunk gets a month of its own
RUNS = 3


def _month(index: int) -> Window:
    start = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=31 * index)
    start = start.replace(day=1)
    return Window(start, start + timedelta(days=7))


def _item(entry: ArxivEntry) -> Item:
    base, _, version = str(entry["id"]).rpartition("v")
    published, updated = entry["published"], entry["updated"]
    assert isinstance(published, datetime) and isinstance(updated, datetime)
    return Item(
        id=f"arxiv:{base}",
        source=SourceName.ARXIV,
        url=f"https://arxiv.org/abs/{base}",
        title=str(entry["title"]),
        text=str(entry["summary"]),
        published=published,
        updated=updated,
        authors=tuple(entry.get("authors", ())),
        tags=tuple(entry.get("categories", ())),
        version=int(version),
    )


def _prefill(store: ItemStore, month: int, until: int) -> int:
    """Add earlier weeks until the store holds at least `until` entries; returns the next free month."""
    while (missing := until - store.count()) > 0:
        entries, _, _ = arxiv_week(CHUNK, _month(month), seed=1000 + month)
        store.upsert(_item(e) for e in entries[:missing])
        month += 1
    return month


def _timed_ingest(path: Path, api_url: str, window: Window) -> tuple[float, dict[str, int]]:
    config = ArxivConfig(api_url=api_url, page_size=2000, delay_seconds=0.0, max_results=30_000)
    with ItemStore(f"sqlite:///{path}") as store:
        begun = time.perf_counter()
        report = ingest([ArxivSource(config)], store, window)
        seconds = time.perf_counter() - begun
    row = report.rows[0]
    assert row.failure is None, row.failure
    return seconds, {"fetched": row.fetched, "new": row.new, "duplicates": row.duplicates}


def measure(sizes: list[int], folder: Path) -> list[dict[str, Any]]:
    store_path = folder / "grown.sqlite"
    rows: list[dict[str, Any]] = []
    month = 0
    for size in sizes:
        with ItemStore(f"sqlite:///{store_path}") as store:
            month = _prefill(store, month, size)
            stored = store.count()
        window = _month(month)
        month += 1
        entries, _, _ = arxiv_week(WEEK, window, seed=7)
        best, counts = float("inf"), {}
        with FakeArxivServer(entries) as server:
            for run in range(RUNS):
                copy = folder / f"copy-{run}.sqlite"
                shutil.copy(store_path, copy)
                seconds, counts = _timed_ingest(copy, server.url, window)
                best = min(best, seconds)
                copy.unlink()
        say(f"ingest into {stored:,} stored: {len(entries) / best:,.0f} entries/s")
        rows.append(
            {
                "stored_before": stored,
                "entries": len(entries),
                **counts,
                "seconds": round(best, 3),
                "entries_per_second": round(len(entries) / best),
            }
        )
    first = rows[0]["entries_per_second"]
    for row in rows:
        row["ratio_to_smallest"] = round(row["entries_per_second"] / first, 3)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,50000,100000")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ingest_scale.json")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="digestbot-ingest-") as tmp:
        rows = measure(sizes, Path(tmp))
    result = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "week_entries": WEEK,
        "runs": RUNS,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    for row in rows:
        print(
            f"{row['stored_before']:>8,} stored: {row['entries_per_second']:>6,} entries/s "
            f"({row['ratio_to_smallest']:.2f} × the smallest)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
