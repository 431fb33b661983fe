"""The `Agents` protocol the graph nodes call, shared by the LLM-backed and offline implementations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from digestbot.domain import Item
from digestbot.graph.state import Classification, Verdict
from digestbot.settings import Category

AGENT_NAMES = ("classifier", "summarizer", "judge")


class AgentError(Exception):
    """One item's agent call failed for good (after retries and one repair attempt).

    The item is recorded as failed and held back; the message is for the run report, never the digest.
    """


@dataclass
class AgentUsage:
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    failures: int = 0
    repairs: int = 0  # repair requests sent (an answer that was unusable or inexact)
    retries: int = 0  # items asked again alone after their batch answer stayed wrong
    items: int = 0  # items the model was asked about (cache hits not included)
    cached: int = 0  # results served from the result cache (no call made)
    cost_usd: float = 0.0


IncidentKind = Literal["mapped_to_other", "repaired", "retried", "held_back"]


@dataclass(frozen=True)
class Incident:
    """One item whose answer was not right the first time: what happened to it and why."""

    agent: str
    item_id: str
    kind: IncidentKind
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"agent": self.agent, "item_id": self.item_id, "kind": self.kind, "detail": self.detail}


@dataclass
class UsageReport:
    """Token usage per agent for one run, with the cost estimate from the config's price table.

    `incidents` names every item mapped to "other" for an unknown id, repaired, retried alone or
    held back, so the run report can say which ones (not only how many).
    """

    model: str
    per_agent: dict[str, AgentUsage] = field(default_factory=lambda: {n: AgentUsage() for n in AGENT_NAMES})
    incidents: list[Incident] = field(default_factory=list)

    def record(self, agent: str, item_id: str, kind: IncidentKind, detail: str) -> None:
        self.incidents.append(Incident(agent, item_id, kind, detail[:300]))

    @property
    def total(self) -> AgentUsage:
        out = AgentUsage()
        for usage in self.per_agent.values():
            out.calls += usage.calls
            out.input_tokens += usage.input_tokens
            out.output_tokens += usage.output_tokens
            out.failures += usage.failures
            out.repairs += usage.repairs
            out.retries += usage.retries
            out.items += usage.items
            out.cached += usage.cached
            out.cost_usd += usage.cost_usd
        return out


class Agents(Protocol):
    """What the pipeline needs from its agents.

    `fingerprint(agent)` identifies everything that changes that agent's output besides the item
    itself (prompt hash, model, temperature; for offline agents, the heuristic's version). It is part
    of every result-cache key, so editing one prompt re-runs exactly that agent's work.
    """

    offline: bool
    usage: UsageReport

    def fingerprint(self, agent: str) -> str: ...

    def batch_size(self, agent: str) -> int: ...

    async def classify(
        self, items: Sequence[Item], categories: Sequence[Category]
    ) -> list[Classification | AgentError]:
        """One entry per item, in input order: its Classification, or the AgentError that item hit.

        A per-item failure never fails the batch. Unknown category ids are mapped by the caller.
        """
        ...

    async def summarize(self, item: Item, *, max_chars: int, feedback: str = "") -> str:
        """A Japanese blurb of 1-2 sentences; `feedback` is the judge's request on a revision."""
        ...

    async def judge(self, item: Item, blurb: str, category: Category) -> Verdict:
        """Rubric scores for the item and its blurb (clamped to 1..5 by the caller)."""
        ...

    async def summarize_many(self, items: Sequence[Item], *, max_chars: int) -> list[str | AgentError]:
        """First drafts for several items (batched as the agent file says); one entry per item, in order."""
        ...

    async def judge_many(self, requests: Sequence[tuple[Item, str, Category]]) -> list[Verdict | AgentError]:
        """Verdicts for (item, blurb, category) triples (batched as the agent file says), in order."""
        ...


async def summarize_each(agents: Agents, items: Sequence[Item], *, max_chars: int) -> list[str | AgentError]:
    """`summarize_many` one item at a time, for agents that gain nothing from batches."""
    out: list[str | AgentError] = []
    for item in items:
        try:
            out.append(await agents.summarize(item, max_chars=max_chars))
        except AgentError as exc:
            out.append(exc)
    return out


async def judge_each(
    agents: Agents, requests: Sequence[tuple[Item, str, Category]]
) -> list[Verdict | AgentError]:
    """`judge_many` one item at a time, for agents that gain nothing from batches."""
    out: list[Verdict | AgentError] = []
    for item, blurb, category in requests:
        try:
            out.append(await agents.judge(item, blurb, category))
        except AgentError as exc:
            out.append(exc)
    return out
