"""`LlmAgents`: the classifier, summarizer and judge backed by a chat model and the prompt files.

The summarizer and the judge take several items per call when their agent file says so (`batch_size`
and a body over `items`); each item of a batch answer is checked and repaired alone (`llm_batch.py`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.rate_limiters import InMemoryRateLimiter
from pydantic import BaseModel

from digestbot.agents.base import AgentError, UsageReport
from digestbot.agents.llm import LlmCaller, Sleep, build_chat_model
from digestbot.agents.llm_answers import (
    blurb_batch_function,
    verdict_batch_function,
    verdict_function,
    verdict_problems,
)
from digestbot.agents.llm_batch import Batch, chunks
from digestbot.agents.llm_classify import BatchClassifier
from digestbot.agents.llm_output import output_schema, repair_request
from digestbot.agents.llm_views import (
    CLASSIFY_TEXT_CHARS,
    FIELD_CHARS,
    ITEM_TEXT_CHARS,
    MAX_TAGS,
    MODEL_TEXT_CHARS,
    batched,
    blurb_problems,
    bounded,
    category_view,
    clean_blurb,
    correction_view,
    count_sentences,
    example_view,
    item_view,
    judge_messages,
    measure_blurb,
    summarizer_messages,
    untrusted,
)
from digestbot.agents.spec import AgentSpec, load_agent, load_agents
from digestbot.corrections import CorrectionExamples, apply_corrections
from digestbot.domain import Item
from digestbot.feedback import JudgeGuidance
from digestbot.graph.state import (
    Blurb,
    BlurbBatch,
    Classification,
    ClassificationBatch,
    ItemBlurb,
    ItemVerdict,
    Verdict,
    VerdictBatch,
)
from digestbot.settings import Category, Settings

__all__ = [
    "CLASSIFY_TEXT_CHARS",
    "FIELD_CHARS",
    "ITEM_TEXT_CHARS",
    "MAX_TAGS",
    "MODEL_TEXT_CHARS",
    "LlmAgents",
    "blurb_problems",
    "bounded",
    "category_view",
    "count_sentences",
    "example_view",
    "item_view",
    "untrusted",
]

T = TypeVar("T", bound=BaseModel)


class LlmAgents:
    """The `Agents` protocol on a chat model. Inject `chat_model` (e.g. `ScriptedChat`) in tests.

    Per-item failures: `classify` never raises for a single item; an item that failed (the model
    left it out twice, or its batch's call failed) is an `AgentError` in its slot of the result.
    `summarize` and `judge` raise `AgentError`. All three count usage into `usage`.
    """

    offline = False

    def __init__(
        self,
        settings: Settings,
        *,
        agents_dir: Path | None = None,
        chat_model: BaseChatModel | None = None,
        sleep: Sleep = asyncio.sleep,
        guidance: JudgeGuidance | None = None,
        corrections: CorrectionExamples | None = None,
    ) -> None:
        self.settings = settings
        self.guidance = guidance or JudgeGuidance()
        self.corrections = corrections or CorrectionExamples()
        llm = settings.app.llm
        self.specs: dict[str, AgentSpec] = load_agents(agents_dir or settings.agents_dir)
        if (trends := (agents_dir or settings.agents_dir) / "trends.md").is_file():
            self.specs["trends"] = load_agent(trends)  # optional: the trends section's 考察
        # Built once: the result cache asks for a fingerprint per item, and building a schema is slow.
        self._schemas = {name: output_schema(spec.schema) for name, spec in self.specs.items()}
        self.usage = UsageReport(model=llm.model)
        self._caller = LlmCaller(llm, self.usage, sleep=sleep, scrub=settings.scrubber)
        limiter = InMemoryRateLimiter(requests_per_second=llm.requests_per_second, check_every_n_seconds=0.02)
        self._models: dict[str, tuple[BaseChatModel, str, float]] = {}
        built: dict[tuple[str, float], BaseChatModel] = {}
        for name, spec in self.specs.items():
            model_name = spec.model or llm.model
            temperature = llm.temperature if spec.temperature is None else spec.temperature
            key = (model_name, temperature)
            if key not in built:
                built[key] = (
                    chat_model
                    if chat_model is not None
                    else build_chat_model(
                        llm,
                        settings.secrets,
                        model_override=model_name,
                        temperature=temperature,
                        rate_limiter=limiter,
                    )
                )
            self._models[name] = (built[key], model_name, temperature)

    def fingerprint(self, agent: str) -> str:
        """sha256 of the prompt file, model, temperature and output schema of `agent`."""
        _, model_name, temperature = self._models[agent]
        spec = self.specs[agent]
        parts = {
            "prompt": spec.prompt_hash,
            "model": model_name,
            "temperature": temperature,
            "schema": self._schemas[agent],
        }
        if agent == "judge" and self.guidance:
            parts["guidance"] = self.guidance.key()
        if agent == "classifier" and self.corrections:
            parts["corrections"] = self.corrections.key()
        return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def batch_size(self, agent: str) -> int:
        return self.specs[agent].batch_size

    async def call(self, agent: str, schema: type[T], messages: list[BaseMessage]) -> T:
        """One structured call as `agent` (its model, retries, usage); for agents beyond the protocol."""
        return await self._call(agent, schema, messages)

    async def _call(
        self,
        agent: str,
        schema: type[T],
        messages: list[BaseMessage],
        *,
        item: Item | None = None,
        function: dict[str, Any] | None = None,
    ) -> T:
        model, model_name, _ = self._models[agent]
        items = (item.id,) if item is not None else ()
        return await self._caller.structured(
            agent, model, model_name, schema, messages, function=function, items=items
        )

    def _held_back(self, agent: str, item: Item, exc: AgentError) -> None:
        self.usage.per_agent[agent].failures += 1
        self.usage.record(agent, item.id, "held_back", str(exc))

    # --- classifier ---------------------------------------------------------------------------

    async def classify(
        self, items: Sequence[Item], categories: Sequence[Category]
    ) -> list[Classification | AgentError]:
        """One entry per item, in order: its `Classification` (item_id = the item's id) or an `AgentError`."""
        size = self.batch_size("classifier")
        chunks = [list(items[i : i + size]) for i in range(0, len(items), size)]
        classifier = self._classifier(categories)
        answered = await asyncio.gather(*(classifier.classify(chunk) for chunk in chunks))
        return apply_corrections(items, [answer for chunk in answered for answer in chunk], self.corrections)

    def _classifier(self, categories: Sequence[Category]) -> BatchClassifier:
        model, model_name, _ = self._models["classifier"]
        views = [category_view(c) for c in categories]
        known = {c.id for c in categories}
        shots = [correction_view(e) for e in self.corrections.examples if e.right in known]

        def render(items: list[Item]) -> list[BaseMessage]:
            labelled = [
                item_view(item, limit=CLASSIFY_TEXT_CHARS, label=str(n)) for n, item in enumerate(items, 1)
            ]
            return self.specs["classifier"].render(categories=views, items=labelled, corrections=shots)

        async def call(
            messages: list[BaseMessage], function: dict[str, Any], ids: Sequence[str]
        ) -> ClassificationBatch:
            return await self._caller.structured(
                "classifier", model, model_name, ClassificationBatch, messages, function=function, items=ids
            )

        return BatchClassifier(render, call, self.usage, tuple(c.id for c in categories))

    # --- summarizer -----------------------------------------------------------------------------

    def batched(self, agent: str) -> bool:
        """The agent's file renders a list of items (`items`): it can take several per call."""
        return batched(self.specs[agent])

    def _summarizer_messages(
        self, items: Sequence[Item], max_chars: int, *, feedback: str = "", previous: str = ""
    ) -> list[BaseMessage]:
        spec = self.specs["summarizer"]
        return summarizer_messages(spec, items, max_chars, feedback=feedback, previous=previous)

    async def summarize(self, item: Item, *, max_chars: int, feedback: str = "", previous: str = "") -> str:
        """1-2 Japanese sentences within `max_chars`; a broken rule gets one repair request, then AgentError.

        `previous` (optional, beyond the protocol) is the blurb the judge's `feedback` is about.
        """
        self.usage.per_agent["summarizer"].items += 1
        return await self._summarize_alone(item, max_chars, feedback=feedback, previous=previous)

    async def _summarize_alone(
        self, item: Item, max_chars: int, *, feedback: str = "", previous: str = ""
    ) -> str:
        messages = self._summarizer_messages([item], max_chars, feedback=feedback, previous=previous)
        min_japanese = self.settings.app.pipeline.min_japanese_ratio
        try:
            text = clean_blurb((await self._call("summarizer", Blurb, messages, item=item)).blurb)
            problems = blurb_problems(text, max_chars, min_japanese)
            if not problems:
                return text
            self.usage.per_agent["summarizer"].repairs += 1
            text = await self._fix_blurb(item, messages, text, problems, max_chars)
            self.usage.record("summarizer", item.id, "repaired", " ".join(problems))
            return text
        except AgentError as exc:
            self._held_back("summarizer", item, exc)
            raise

    async def _fix_blurb(
        self, item: Item, messages: list[BaseMessage], text: str, problems: list[str], max_chars: int
    ) -> str:
        """One repair request for this blurb naming what broke the rules; AgentError if it still does."""
        quoted = untrusted(bounded(text, MODEL_TEXT_CHARS))
        fix = HumanMessage(
            content=f"前回の紹介文: <previous_blurb>{quoted}</previous_blurb>\n"
            + "\n".join(problems)
            + "\nルールを守って書き直した紹介文だけを返してください。"
        )
        text = clean_blurb((await self._call("summarizer", Blurb, [*messages, fix], item=item)).blurb)
        if blurb_problems(text, max_chars, self.settings.app.pipeline.min_japanese_ratio):
            measured = measure_blurb(text, max_chars)
            raise AgentError(f"the blurb still breaks the rules after one repair request ({measured})")
        return text

    async def summarize_many(self, items: Sequence[Item], *, max_chars: int) -> list[str | AgentError]:
        """First drafts, `batch_size` items per call; one entry per item (its blurb or its AgentError)."""
        size = self.batch_size("summarizer") if self.batched("summarizer") else 1
        min_japanese = self.settings.app.pipeline.min_japanese_ratio

        async def ask(batch: Sequence[Item]) -> Sequence[ItemBlurb]:
            messages = self._summarizer_messages(batch, max_chars)
            function = blurb_batch_function(len(batch))
            ids = [item.id for item in batch]
            model, name, _ = self._models["summarizer"]
            answer = await self._caller.structured(
                "summarizer", model, name, BlurbBatch, messages, function=function, items=ids
            )
            return answer.results

        async def repair(item: Item, text: str, problems: list[str]) -> str:
            return await self._fix_blurb(
                item, self._summarizer_messages([item], max_chars), text, problems, max_chars
            )

        batch: Batch[str, ItemBlurb] = Batch(
            agent="summarizer",
            usage=self.usage,
            ask=ask,
            answer_of=lambda result: clean_blurb(result.blurb),
            problems_of=lambda text: blurb_problems(text, max_chars, min_japanese),
            repair=repair,
            alone=lambda item: self.summarize(item, max_chars=max_chars),
        )
        answered = await asyncio.gather(*(batch.run(part) for part in chunks(items, size)))
        return [answer for part in answered for answer in part]

    # --- judge -------------------------------------------------------------------------------------

    def _judge_messages(self, requests: Sequence[tuple[Item, str, Category]]) -> list[BaseMessage]:
        interests = [
            *self.settings.app.pipeline.prefilter.interests,
            *(c.name for c in self.settings.categories),
        ]
        return judge_messages(self.specs["judge"], requests, interests, self.guidance)

    async def judge(self, item: Item, blurb: str, category: Category) -> Verdict:
        """Rubric scores (clamped to 1..5), a short rationale and feedback for the summarizer."""
        self.usage.per_agent["judge"].items += 1
        messages = self._judge_messages([(item, blurb, category)])
        function = verdict_function()
        try:
            verdict = await self._call("judge", Verdict, messages, item=item, function=function)
            if problems := verdict_problems(verdict):  # one repair request naming the scores, then held back
                self.usage.per_agent["judge"].repairs += 1
                verdict = await self._fix_verdict(item, messages, verdict, problems)
                self.usage.record("judge", item.id, "repaired", "; ".join(problems))
        except AgentError as exc:
            self._held_back("judge", item, exc)
            raise
        return verdict

    async def _fix_verdict(
        self, item: Item, messages: list[BaseMessage], verdict: Verdict, problems: list[str]
    ) -> Verdict:
        fix = repair_request(Verdict, "; ".join(problems), verdict.model_dump_json())
        function = verdict_function()
        fixed = await self._call("judge", Verdict, [*messages, fix], item=item, function=function)
        if still := verdict_problems(fixed):
            raise AgentError(f"scores out of range after one repair request: {'; '.join(still)}")
        return fixed

    async def judge_many(self, requests: Sequence[tuple[Item, str, Category]]) -> list[Verdict | AgentError]:
        """Verdicts for (item, blurb, category) triples, `batch_size` per call; one entry per triple."""
        size = self.batch_size("judge") if self.batched("judge") else 1
        by_item = {item.id: (item, blurb, category) for item, blurb, category in requests}

        async def ask(batch: Sequence[Item]) -> Sequence[ItemVerdict]:
            messages = self._judge_messages([by_item[item.id] for item in batch])
            ids = [item.id for item in batch]
            model, name, _ = self._models["judge"]
            function = verdict_batch_function(len(batch))
            answer = await self._caller.structured(
                "judge", model, name, VerdictBatch, messages, function=function, items=ids
            )
            return answer.results

        async def repair(item: Item, verdict: Verdict, problems: list[str]) -> Verdict:
            return await self._fix_verdict(item, self._judge_messages([by_item[item.id]]), verdict, problems)

        batch: Batch[Verdict, ItemVerdict] = Batch(
            agent="judge",
            usage=self.usage,
            ask=ask,
            answer_of=lambda result: Verdict.model_validate(result.model_dump(exclude={"item_id"})),
            problems_of=verdict_problems,
            repair=repair,
            alone=lambda item: self.judge(*by_item[item.id]),
        )
        parts = chunks([item for item, _, _ in requests], size)
        answered = await asyncio.gather(*(batch.run(part) for part in parts))
        return [answer for part in answered for answer in part]
