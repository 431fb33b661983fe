"""Several items per call for the summarizer and the judge, each item checked and repaired on its own.

A batch answer is split by item (`by_position`). An item whose answer is fine is used as is. An item
whose answer breaks a rule (a blurb too long, in English, three sentences; a score outside 1..5) gets
one repair request *for that item alone*: its single-item prompt, the bad answer quoted, what was
wrong. An item left out of the answer (or answered twice) is asked alone. The batch is never asked
again, so one bad item costs one more call, not a batch. A whole answer that stays unusable (not
JSON after the caller's one repair request) or a prompt over the context window sends each item
alone; a provider failure holds the batch back (asking item by item would fail the same way).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from digestbot.agents.base import AgentError, UsageReport
from digestbot.agents.llm import ContextTooLong, ModelOutputError
from digestbot.agents.llm_answers import HasItemId, by_position
from digestbot.domain import Item

T = TypeVar("T")  # one item's usable answer (a blurb's text, a Verdict)
R = TypeVar("R", bound=HasItemId)  # one item's entry in the batch answer


@dataclass(frozen=True)
class Batch(Generic[T, R]):
    """How one agent asks for a batch and what it does with each item's part of the answer."""

    agent: str
    usage: UsageReport
    ask: Callable[[Sequence[Item]], Awaitable[Sequence[R]]]  # one call for the batch -> its results
    answer_of: Callable[[R], T]  # the usable part of one result (e.g. the cleaned blurb)
    problems_of: Callable[[T], list[str]]  # what breaks the rules ([] = fine)
    repair: Callable[[Item, T, list[str]], Awaitable[T]]  # one repair request alone; AgentError if still bad
    alone: Callable[[Item], Awaitable[T]]  # the item asked on its own (the single-item path)

    async def run(self, items: Sequence[Item]) -> list[T | AgentError]:
        """One entry per item, in order: its answer or the `AgentError` it ended with."""
        if len(items) == 1:
            return [await _caught(self.alone(items[0]))]
        self.usage.per_agent[self.agent].items += len(items)
        try:
            results = await self.ask(items)
        except (ModelOutputError, ContextTooLong) as exc:
            why = f"batch answer unusable: {exc}"
            return list(await asyncio.gather(*(self._retry(item, why) for item in items)))
        except AgentError as exc:
            for item in items:
                self.usage.per_agent[self.agent].failures += 1
                self.usage.record(self.agent, item.id, "held_back", str(exc))
            return [AgentError(str(exc)) for _ in items]
        found, wrong = by_position(results, len(items))
        steps: list[Awaitable[T | AgentError]] = []
        for n, item in enumerate(items, 1):
            if str(n) in wrong:
                steps.append(self._retry(item, wrong[str(n)]))
                continue
            answer = self.answer_of(found[str(n)])
            problems = self.problems_of(answer)
            steps.append(self._repair(item, answer, problems) if problems else _ready(answer))
        return list(await asyncio.gather(*steps))

    async def _retry(self, item: Item, why: str) -> T | AgentError:
        self.usage.per_agent[self.agent].retries += 1
        answer = await _caught(self.alone(item))
        if not isinstance(answer, AgentError):
            self.usage.record(self.agent, item.id, "retried", why)
        return answer

    async def _repair(self, item: Item, answer: T, problems: list[str]) -> T | AgentError:
        self.usage.per_agent[self.agent].repairs += 1
        fixed = await _caught(self.repair(item, answer, problems))
        if isinstance(fixed, AgentError):
            self.usage.per_agent[self.agent].failures += 1
            self.usage.record(self.agent, item.id, "held_back", str(fixed))
        else:
            self.usage.record(self.agent, item.id, "repaired", "; ".join(problems))
        return fixed


async def _ready(answer: T) -> T:
    return answer


async def _caught(step: Awaitable[T]) -> T | AgentError:
    try:
        return await step
    except AgentError as exc:
        return exc


def chunks(items: Sequence[Any], size: int) -> list[list[Any]]:
    size = max(1, size)
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
