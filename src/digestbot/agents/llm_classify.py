"""The classifier's ladder for a batch: ask; one repair naming what was wrong; each item alone; hold back.
A batch the provider refuses as longer than the context window is halved until it fits.

Every rung is counted in `usage` (repairs, retries, failures) and every item that needed one is
named in `usage.incidents`, so the run report never says "0 repairs" for an inexact answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage

from digestbot.agents.base import AgentError, UsageReport
from digestbot.agents.llm import ContextTooLong, ModelOutputError
from digestbot.agents.llm_answers import BatchCheck, check_batch, classification_function
from digestbot.agents.llm_output import one_line, repair_request
from digestbot.domain import Item
from digestbot.graph.state import Classification, ClassificationBatch

AGENT = "classifier"
# (messages, function dict, ids of the items the call is about) -> the parsed batch answer
Call = Callable[[list[BaseMessage], dict[str, Any], Sequence[str]], Awaitable[ClassificationBatch]]
Render = Callable[[list[Item]], list[BaseMessage]]


@dataclass(frozen=True)
class BatchClassifier:
    render: Render
    call: Call
    usage: UsageReport
    category_ids: tuple[str, ...]

    def _held_back(self, item: Item, why: str) -> AgentError:
        self.usage.per_agent[AGENT].failures += 1
        self.usage.record(AGENT, item.id, "held_back", why)
        return AgentError(f"held back: {one_line(why, 400)}")

    async def classify(self, items: list[Item]) -> list[Classification | AgentError]:
        """One entry per item, in order (item_id = the item's id)."""
        self.usage.per_agent[AGENT].items += len(items)
        size = len(items)
        messages = self.render(items)
        function = classification_function(self.category_ids, size)
        try:
            batch = await self.call(messages, function, [item.id for item in items])
        except ModelOutputError as exc:
            check = BatchCheck(wrong={str(n): str(exc) for n in range(1, size + 1)})
        except ContextTooLong as exc:  # one oversized item must not take its batch down: halve the batch
            if size == 1:
                return [self._held_back(items[0], str(exc))]
            self.usage.per_agent[AGENT].items -= size  # each half counts its own items
            halves = await asyncio.gather(
                *(self.classify(part) for part in (items[: size // 2], items[size // 2 :]))
            )
            return [answer for half in halves for answer in half]
        except AgentError as exc:  # the provider failed: asking item by item would fail the same way
            return [self._held_back(item, str(exc)) for item in items]
        else:
            check = check_batch(batch, size, self.category_ids)
            if check.wrong:
                check = await self._repair(items, messages, function, batch, check)
        wrong = {int(n) - 1: why for n, why in check.wrong.items()}
        alone = await asyncio.gather(
            *(self._alone(items[i], why, retry=size > 1) for i, why in wrong.items())
        )
        retried = dict(zip(wrong, alone, strict=True))
        return [
            retried[i] if i in retried else check.valid[str(i + 1)].model_copy(update={"item_id": item.id})
            for i, item in enumerate(items)
        ]

    async def _repair(
        self,
        items: list[Item],
        messages: list[BaseMessage],
        function: dict[str, Any],
        batch: ClassificationBatch,
        check: BatchCheck,
    ) -> BatchCheck:
        """One repair request for the batch, naming what was wrong; keeps what was right the first time."""
        self.usage.per_agent[AGENT].repairs += 1
        count = len(items)
        problem = f"{check.problems}。{count}件すべてについて、item_id 1〜{count} を一件ずつ返してください"
        fix = repair_request(ClassificationBatch, problem, batch.model_dump_json())
        wrong_ids = [items[int(n) - 1].id for n in check.wrong]
        try:
            second = check_batch(
                await self.call([*messages, fix], function, wrong_ids), len(items), self.category_ids
            )
        except AgentError as exc:
            second = BatchCheck(wrong=dict.fromkeys(check.wrong, f"repair request failed: {exc}"))
        valid = dict(check.valid)
        still: dict[str, str] = {}
        for n, why in check.wrong.items():
            if n in second.valid:
                valid[n] = second.valid[n]
                self.usage.record(AGENT, items[int(n) - 1].id, "repaired", why)
            else:
                still[n] = f"{why}; after the repair request: {second.wrong.get(n, 'still wrong')}"
        return BatchCheck(valid=valid, wrong=still)

    async def _alone(self, item: Item, why: str, *, retry: bool) -> Classification | AgentError:
        """The item asked on its own (unless it was alone already); held back if still wrong."""
        if not retry:
            return self._held_back(item, why)
        self.usage.per_agent[AGENT].retries += 1
        try:
            batch = await self.call(
                self.render([item]), classification_function(self.category_ids, 1), [item.id]
            )
        except AgentError as exc:
            return self._held_back(item, f"{why}; asked alone: {exc}")
        check = check_batch(batch, 1, self.category_ids)
        if "1" not in check.valid:
            return self._held_back(item, f"{why}; asked alone: {check.wrong['1']}")
        self.usage.record(AGENT, item.id, "retried", why)
        return check.valid["1"].model_copy(update={"item_id": item.id})
