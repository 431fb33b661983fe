"""Test support for the worker (`digestbot serve`, the jobs, `/digest`): a config folder pointing at
local fakes, the matching environment, and a few items the offline agents keep.

The config is written from scratch (every key is optional), with the sources switched off so a run
only reads what the test stored, no pause between Slack posts, and the schedule the test asks for.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from digestbot.domain import Item, SourceName

EVERY_SECOND = {"day_of_week": "*", "hour": "*", "minute": "*", "second": "*"}
NEVER_SOON = {"day_of_week": "mon", "hour": "9", "minute": "0", "second": "0"}  # the real weekly default

_TOPICS = (
    (
        "Speculative decoding makes LLM inference 2x faster",
        "We reduce LLM decoding latency with speculation.",
    ),
    (
        "Retrieval-augmented generation with long-context LLM reranking",
        "A RAG method; recall improves by 12%.",
    ),
    ("Quantization of large language models to 3 bits", "We quantize LLM weights with little accuracy loss."),
)


def sample_items(now: datetime, count: int = 3) -> list[Item]:
    """arXiv-like LLM papers published in the few hours before `now` (inside any window of a day)."""
    items = []
    for n in range(count):
        title, text = _TOPICS[n % len(_TOPICS)]
        when = now - timedelta(hours=2 + n)
        items.append(
            Item(
                id=f"arxiv:2611.{90000 + n:05d}",
                source=SourceName.ARXIV,
                url=f"https://papers.example/abs/2611.{90000 + n:05d}",
                title=title if n < len(_TOPICS) else f"{title} ({n})",
                text=text,
                published=when,
                updated=when,
                tags=("cs.CL",),
            )
        )
    return items


def _value(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value, ensure_ascii=False)  # strings, numbers, booleans and lists read as TOML


def toml_text(tables: Mapping[str, Mapping[str, Any]]) -> str:
    """A TOML document from `{"table.name": {key: value}}` (values: str, int, float, bool, list, dict)."""
    lines: list[str] = []
    for table, values in tables.items():
        lines.append(f"[{table}]")
        lines += [f"{key} = {_value(value)}" for key, value in values.items()]
        lines.append("")
    return "\n".join(lines)


def write_config(
    folder: Path,
    categories: Path,
    *,
    weekly: Mapping[str, str] = NEVER_SOON,
    slack: Mapping[str, Any] | None = None,
    schedule: Mapping[str, Any] | None = None,
    llm: Mapping[str, Any] | None = None,
    sources: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Write `digestbot.toml` (sources off unless `sources` says otherwise, no post pacing) and copy
    `categories` into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    tables: dict[str, dict[str, Any]] = {
        f"sources.{name}": {"enabled": False, **(sources or {}).get(name, {})}
        for name in ("arxiv", "qiita", "zenn")
    }
    tables |= {
        "slack": {"channel": "#llm-digest", "min_seconds_between_posts": 0, **(slack or {})},
        "schedule": {"weekly_digest": dict(weekly), **(schedule or {})},
    }
    if llm:
        tables["llm"] = dict(llm)
    (folder / "digestbot.toml").write_text(toml_text(tables), encoding="utf-8")
    shutil.copyfile(categories, folder / "categories.toml")
    return folder


def worker_environ(
    config_dir: Path,
    data_dir: Path,
    store_url: str,
    slack_api_url: str,
    *,
    bot_token: str,
    app_token: str = "",
) -> dict[str, str]:
    """The environment a worker needs (merge it over a clean `os.environ` for a subprocess)."""
    env = {
        "DIGESTBOT_CONFIG_DIR": str(config_dir),
        "DIGESTBOT_DATA_DIR": str(data_dir),
        "DATABASE_URL": store_url,
        "DIGESTBOT_SLACK_API_URL": slack_api_url,
        "SLACK_BOT_TOKEN": bot_token,
    }
    if app_token:
        env["SLACK_APP_TOKEN"] = app_token
    return env


@dataclass
class Worker:
    """One `digestbot serve` process started by a test, its output in a log file."""

    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or closed; the process is reaped."""
        self.proc.kill()
        self.proc.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM, then the exit code."""
        return stop_all(self)[0]


def stop_all(*workers: Worker, timeout: float = 60) -> tuple[int, ...]:
    """SIGTERM to every worker at once, then their exit codes."""
    for worker in workers:
        worker.proc.send_signal(signal.SIGTERM)
    return tuple(worker.proc.wait(timeout=timeout) for worker in workers)


OURS = ("DIGESTBOT_", "SLACK_", "DATABASE_URL", "OPENAI_", "ANTHROPIC_", "QIITA_")  # variables a test clears


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass (a bounded wait, not a timing check)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
