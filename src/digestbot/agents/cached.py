"""Result cache around any `Agents`: finished work is never paid for twice.

Every key holds the agent's fingerprint (prompt hash, model, temperature), the item's content hash
and whatever else the answer depends on (categories, max length, the blurb being judged). Re-running
a window therefore makes no model calls; editing one prompt re-runs that agent and whatever consumes
its output (a new blurb is judged again). Results are written as each call finishes, so a run that
crashed resumes where it stopped. Failures are not cached: the next run tries them again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from digestbot.agents.base import AgentError, Agents, UsageReport
from digestbot.domain import Item
from digestbot.graph.state import Classification, Verdict
from digestbot.settings import Category


class ResultStore(Protocol):
    def get(self, key: str) -> Any | None: ...

    def get_many(self, keys: Iterable[str]) -> Mapping[str, Any]:
        """The stored values of those keys that have one (one query for a whole batch)."""
        ...

    def put(self, key: str, value: Any) -> None: ...

    def put_many(self, values: Mapping[str, Any]) -> None:
        """Store several values in one transaction."""
        ...


def digest_of(*parts: str) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part.encode())
        hasher.update(b"\x1f")
    return hasher.hexdigest()[:32]


def item_hash(item: Item) -> str:
    return digest_of(item.id, item.title, item.text)


def _parts(indexes: list[int], size: int) -> list[list[int]]:
    size = max(1, size)
    return [indexes[i : i + size] for i in range(0, len(indexes), size)]


def categories_hash(categories: Sequence[Category]) -> str:
    return digest_of(
        json.dumps([c.model_dump(mode="json") for c in categories], sort_keys=True, ensure_ascii=False)
    )


class CachedAgents:
    """Implements `Agents` by consulting `store` before delegating to `inner`."""

    def __init__(self, inner: Agents, store: ResultStore, *, context: str = "") -> None:
        self.inner = inner
        self.store = store
        self.context = context  # e.g. a hash of the team's interests, which the prompts see
        self.offline = inner.offline
        self.usage: UsageReport = inner.usage

    def fingerprint(self, agent: str) -> str:
        return self.inner.fingerprint(agent)

    def batch_size(self, agent: str) -> int:
        return self.inner.batch_size(agent)

    def _key(self, agent: str, *parts: str) -> str:
        return f"{agent}:" + digest_of(self.fingerprint(agent), self.context, *parts)

    def _hit(self, agent: str) -> None:
        self.inner.usage.per_agent[agent].cached += 1

    async def classify(
        self, items: Sequence[Item], categories: Sequence[Category]
    ) -> list[Classification | AgentError]:
        cats = categories_hash(categories)
        keys = [self._key("classifier", cats, item_hash(item)) for item in items]
        stored = self.store.get_many(keys)
        found: list[Classification | AgentError | None] = []
        for item, key in zip(items, keys, strict=True):
            cached = stored.get(key)
            if cached is None:
                found.append(None)
            else:
                self._hit("classifier")
                found.append(Classification.model_validate({**cached, "item_id": item.id}))
        misses = [i for i, value in enumerate(found) if value is None]
        if misses:
            answers = await self.inner.classify([items[i] for i in misses], categories)
            fresh: dict[str, Any] = {}
            for index, answer in zip(misses, answers, strict=True):
                found[index] = answer
                if isinstance(answer, Classification):
                    fresh[keys[index]] = answer.model_dump(mode="json")
            self.store.put_many(fresh)
        return [value for value in found if value is not None]

    async def summarize(self, item: Item, *, max_chars: int, feedback: str = "") -> str:
        key = self._key("summarizer", item_hash(item), str(max_chars), feedback)
        cached = self.store.get(key)
        if isinstance(cached, str):
            self._hit("summarizer")
            return cached
        blurb = await self.inner.summarize(item, max_chars=max_chars, feedback=feedback)
        self.store.put(key, blurb)
        return blurb

    async def summarize_many(self, items: Sequence[Item], *, max_chars: int) -> list[str | AgentError]:
        """Cached drafts from the store; the rest asked of `inner` one batch at a time, each batch's
        blurbs stored as soon as its call returns (a crash loses at most the calls in flight)."""
        keys = [self._key("summarizer", item_hash(item), str(max_chars), "") for item in items]
        stored = self.store.get_many(keys)
        found: dict[int, str | AgentError] = {}
        for index, key in enumerate(keys):
            if isinstance(cached := stored.get(key), str):
                self._hit("summarizer")
                found[index] = cached

        async def ask(part: list[int]) -> None:
            answers = await self.inner.summarize_many([items[i] for i in part], max_chars=max_chars)
            found.update(zip(part, answers, strict=True))
            self.store.put_many(
                {keys[i]: a for i, a in zip(part, answers, strict=True) if isinstance(a, str)}
            )

        misses = [i for i in range(len(items)) if i not in found]
        await asyncio.gather(*(ask(part) for part in _parts(misses, self.batch_size("summarizer"))))
        return [found[i] for i in range(len(items))]

    async def judge_many(self, requests: Sequence[tuple[Item, str, Category]]) -> list[Verdict | AgentError]:
        """Cached verdicts from the store; the rest asked of `inner` one batch at a time, stored as
        each batch's call returns."""
        keys = [self._judge_key(item, blurb, category) for item, blurb, category in requests]
        stored = self.store.get_many(keys)
        found: dict[int, Verdict | AgentError] = {}
        for index, key in enumerate(keys):
            if (cached := stored.get(key)) is not None:
                self._hit("judge")
                found[index] = Verdict.model_validate(cached)

        async def ask(part: list[int]) -> None:
            answers = await self.inner.judge_many([requests[i] for i in part])
            found.update(zip(part, answers, strict=True))
            fresh = {
                keys[i]: a.model_dump(mode="json")
                for i, a in zip(part, answers, strict=True)
                if isinstance(a, Verdict)
            }
            self.store.put_many(fresh)

        misses = [i for i in range(len(requests)) if i not in found]
        await asyncio.gather(*(ask(part) for part in _parts(misses, self.batch_size("judge"))))
        return [found[i] for i in range(len(requests))]

    def _judge_key(self, item: Item, blurb: str, category: Category) -> str:
        return self._key("judge", item_hash(item), blurb, categories_hash([category]))

    async def judge(self, item: Item, blurb: str, category: Category) -> Verdict:
        key = self._judge_key(item, blurb, category)
        cached = self.store.get(key)
        if cached is not None:
            self._hit("judge")
            return Verdict.model_validate(cached)
        verdict = await self.inner.judge(item, blurb, category)
        self.store.put(key, verdict.model_dump(mode="json"))
        return verdict
