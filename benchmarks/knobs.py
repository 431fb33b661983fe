"""The benchmark's knobs, and the config folders (ours, naive) built from `config/` by overrides."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Knobs:
    """What the simulated world looks like and how the bot is configured for it."""

    latency_median: float = 0.8  # seconds, lognormal
    latency_p95: float = 3.0
    # The bot runs with the shipped config/ (issue 18): arXiv pages of 200 with 3 s between requests,
    # llm.max_concurrency = 4 and llm.requests_per_second = 2. What follows is the provider's side.
    # What the provider accepts in flight at once, stated for the floor (issue 18): the floor is set by
    # the provider's limits (this and requests_per_minute) and arXiv's etiquette, never by our own caps.
    provider_concurrency: int = 32
    requests_per_minute: int = 600  # the server's limit (429 + Retry-After beyond it)
    arxiv_delay: float = 3.0  # the real etiquette delay (the shipped delay_seconds), also on loopback
    arxiv_entries: int = 3000
    qiita_items: int = 300
    zenn_articles: int = 200
    naive_sample: int = 40  # the timed naive run takes 1 item in N (deterministic by id hash)
    ingest_entries: int = 10_000
    seed: int = 7
    model: str = "openai:gpt-4o-mini"

    @property
    def requests_per_second(self) -> float:
        return self.requests_per_minute / 60


def ours_overrides(knobs: Knobs) -> dict[str, Any]:
    """The shipped configuration as it is (the local servers come from the environment)."""
    return {"sources.arxiv.delay_seconds": knobs.arxiv_delay}


def fast_overrides(entries: int = 0) -> dict[str, Any]:
    """For the runs whose time is not the point (ladder, cost ladder): no waiting, whole pages."""
    return {
        "sources.arxiv.delay_seconds": 0.0,
        "sources.arxiv.page_size": 2000,
        "sources.arxiv.max_results": max(10_000, entries + 1000),  # the 10x week has 30,000 entries
        "llm.requests_per_second": 1000.0,
        "llm.max_concurrency": 16,
    }


def naive_overrides(knobs: Knobs) -> dict[str, Any]:
    """One call per agent per item: no prefilter, no pre-rank, no shortlist (batch size 1 comes from the
    agents copy)."""
    return {
        **ours_overrides(knobs),
        "pipeline.prefilter.enabled": False,
        "pipeline.prerank.enabled": False,
        "pipeline.shortlist_factor": 0,
        "pipeline.min_classifier_relevance": 1,
    }


def patch_toml(text: str, overrides: Mapping[str, Any]) -> str:
    """Set `table.key = value` lines in a TOML document (the key is added under its table if absent)."""
    for dotted, value in overrides.items():
        table, _, key = dotted.rpartition(".")
        literal = json.dumps(value, ensure_ascii=False)
        header = re.search(rf"^\[{re.escape(table)}\][ \t]*(#.*)?$", text, re.MULTILINE)
        if header is None:
            text += f"\n[{table}]\n{key} = {literal}\n"
            continue
        following = re.search(r"^\[", text[header.end() :], re.MULTILINE)
        end = header.end() + (following.start() if following else len(text) - header.end())
        body = text[header.end() : end]
        line = re.compile(rf"^{re.escape(key)}[ \t]*=.*$", re.MULTILINE)
        if line.search(body):
            body = line.sub(f"{key} = {literal}".replace("\\", "\\\\"), body, count=1)
        else:
            body = f"\n{key} = {literal}" + body
        text = text[: header.end()] + body + text[end:]
    return text


def write_config(dest: Path, overrides: Mapping[str, Any]) -> Path:
    """A copy of `config/` with `overrides` applied to digestbot.toml."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "config" / "categories.toml", dest / "categories.toml")
    text = (ROOT / "config" / "digestbot.toml").read_text(encoding="utf-8")
    (dest / "digestbot.toml").write_text(patch_toml(text, overrides), encoding="utf-8")
    return dest


def write_agents(dest: Path, *, classifier_batch: int | None = None, draft_batch: int | None = None) -> Path:
    """A copy of `agents/`, with the classifier's (and the summarizer's and judge's) `batch_size` replaced."""
    shutil.copytree(ROOT / "agents", dest, dirs_exist_ok=True)
    sizes = {"classifier": classifier_batch, "summarizer": draft_batch, "judge": draft_batch}
    for name, size in sizes.items():
        if size is None:
            continue
        path = dest / f"{name}.md"
        text = re.sub(
            r"^batch_size:.*$",
            f"batch_size: {size}",
            path.read_text(encoding="utf-8"),
            count=1,
            flags=re.MULTILINE,
        )
        path.write_text(text, encoding="utf-8")
    return dest
