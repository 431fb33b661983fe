"""The local world the bot runs against: arXiv, Qiita/Zenn and an OpenAI-compatible simulated model.

The servers live in the benchmark's parent process; the bot runs in a child process, so its wall
time and peak RSS are its own. Counters are cumulative: take a `snapshot()` before and after a run.
"""

from __future__ import annotations

import json
import math
import random
import threading
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from benchmarks.week import Week
from digestbot.settings import Category
from digestbot.testing.arxiv_server import FakeArxivServer
from digestbot.testing.feed_server import FeedServer
from digestbot.testing.openai_server import OpenAIServer, schema_name
from digestbot.testing.simulated_llm import SimulatedLLM

QIITA_TOKEN = "bench-qiita-token"


def cjk_tokens(text: str) -> int:
    """A tokenizer-free estimate closer to real BPE counts than chars/4 for Japanese text.

    ASCII runs count 4 characters per token; each kana/kanji (any non-ASCII character) one token.
    """
    non_ascii = sum(1 for ch in text if ord(ch) > 127)
    return math.ceil((len(text) - non_ascii) / 4) + non_ascii


@dataclass
class Tally:
    """What the simulated model served: per schema, calls and token estimates; the latencies drawn."""

    calls: dict[str, int]
    cjk_input: int = 0
    cjk_output: int = 0
    latencies: tuple[float, ...] = ()
    status: dict[int, int] | None = None

    def minus(self, before: Tally) -> Tally:
        return Tally(
            calls={k: v - before.calls.get(k, 0) for k, v in self.calls.items()},
            cjk_input=self.cjk_input - before.cjk_input,
            cjk_output=self.cjk_output - before.cjk_output,
            latencies=self.latencies[len(before.latencies) :],
            status={k: v - (before.status or {}).get(k, 0) for k, v in (self.status or {}).items()},
        )


class CountingModel:
    """Wraps the simulated model to count answers and CJK-aware tokens, thread-safely."""

    def __init__(self, model: Callable[[Mapping[str, Any]], dict[str, Any]]) -> None:
        self.model = model
        self.lock = threading.Lock()
        self.calls: dict[str, int] = {}
        self.cjk_input = self.cjk_output = 0

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        answer = self.model(request)
        tokens_in = sum(cjk_tokens(str(m.get("content") or "")) + 4 for m in request.get("messages", []))
        tokens_out = cjk_tokens(json.dumps(answer, ensure_ascii=False))
        with self.lock:
            name = schema_name(request) or "text"
            self.calls[name] = self.calls.get(name, 0) + 1
            self.cjk_input += tokens_in
            self.cjk_output += tokens_out
        return answer


class Fakes:
    """`with Fakes(week, categories, knobs...) as world:` then `world.env(...)` for the child process."""

    def __init__(
        self,
        week: Week,
        categories: tuple[Category, ...],
        *,
        qiita_tags: tuple[str, ...],
        zenn_topics: tuple[str, ...],
        latency_median: float,
        latency_p95: float,
        requests_per_minute: int,
        seed: int,
    ) -> None:
        self.week = week
        self.model = CountingModel(SimulatedLLM({c.id: c.keywords for c in categories}))
        self._latencies: list[float] = []
        rng = random.Random(seed)
        sigma = math.log(latency_p95 / latency_median) / 1.6449
        self.mean_latency = latency_median * math.exp(sigma**2 / 2)

        def latency() -> float:
            value = rng.lognormvariate(math.log(latency_median), sigma)
            self._latencies.append(value)
            return value

        self.arxiv = FakeArxivServer(week.arxiv)
        self.feeds = FeedServer(qiita_token=QIITA_TOKEN)
        self.feeds.publish_qiita(week.qiita, tags=qiita_tags)
        self.feeds.publish_zenn(week.zenn, topics=zenn_topics)
        self.llm = OpenAIServer(self.model, latency=latency, requests_per_minute=requests_per_minute)
        self._stack = ExitStack()

    def __enter__(self) -> Self:
        self._stack.enter_context(self.arxiv)
        self._stack.enter_context(self.feeds)
        self._stack.enter_context(self.llm)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def env(self, *, config_dir: Path, agents_dir: Path, data_dir: Path, model: str) -> dict[str, str]:
        """The environment a user would set to point the bot at these servers."""
        return {
            "DIGESTBOT_CONFIG_DIR": str(config_dir),
            "DIGESTBOT_AGENTS_DIR": str(agents_dir),
            "DIGESTBOT_DATA_DIR": str(data_dir),
            "DIGESTBOT_ARXIV_API_URL": self.arxiv.url,
            "DIGESTBOT_QIITA_BASE_URL": self.feeds.base_url,
            "DIGESTBOT_ZENN_BASE_URL": self.feeds.base_url,
            "DIGESTBOT_LLM_MODEL": model,
            "DIGESTBOT_LLM_BASE_URL": self.llm.base_url,
            "DIGESTBOT_LLM_API_KEY": "sk-bench",
            "QIITA_TOKEN": QIITA_TOKEN,
        }

    def snapshot(self) -> Tally:
        with self.model.lock:
            calls = dict(self.model.calls)
            cjk_in, cjk_out = self.model.cjk_input, self.model.cjk_output
        status: dict[int, int] = {}
        for request in self.llm.requests:
            status[request.status] = status.get(request.status, 0) + 1
        return Tally(calls, cjk_in, cjk_out, tuple(self._latencies), status)

    def arxiv_requests(self) -> int:
        return len(self.arxiv.requests)
