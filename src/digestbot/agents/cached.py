"""Result cache around any `Agents`: finished work is never paid for twice.

Every key holds the agent's fingerprint (prompt hash, model, temperature), the item's content hash
and whatever else the answer depends on (categories, max length, the blurb being judged). Re-running
a window therefore makes no model calls; editing one prompt re-runs that agent and whatever consumes
its output (a new blurb is judged again). Results are written as each call finishes, so a run that
crashed resumes where it stopped. Failures are not cached: the next run tries them again.
"""

from __future__ import annotations

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

    async def judge(self, item: Item, blurb: str, category: Category) -> Verdict:
        key = self._key("judge", item_hash(item), blurb, categories_hash([category]))
        cached = self.store.get(key)
        if cached is not None:
            self._hit("judge")
            return Verdict.model_validate(cached)
        verdict = await self.inner.judge(item, blurb, category)
        self.store.put(key, verdict.model_dump(mode="json"))
        return verdict
