"""`LlmAgents`: the classifier, summarizer and judge backed by a chat model and the prompt files."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.rate_limiters import InMemoryRateLimiter
from pydantic import BaseModel

from digestbot.agents import guards
from digestbot.agents.base import AgentError, UsageReport
from digestbot.agents.llm import LlmCaller, Sleep, build_chat_model
from digestbot.agents.llm_answers import verdict_function, verdict_problems
from digestbot.agents.llm_classify import BatchClassifier
from digestbot.agents.llm_output import output_schema, repair_request
from digestbot.agents.spec import AgentSpec, load_agent, load_agents
from digestbot.domain import Item
from digestbot.feedback import Example, JudgeGuidance
from digestbot.graph.state import Blurb, Classification, ClassificationBatch, Verdict
from digestbot.settings import Category, Settings
from digestbot.sources.text import japanese_ratio

T = TypeVar("T", bound=BaseModel)

CLASSIFY_TEXT_CHARS = 1500  # per item in a batch: the abstract or the start of an article
ITEM_TEXT_CHARS = 6000  # summarizer and judge read more of an article
FIELD_CHARS = {"id": 120, "title": 300, "tag": 60}  # every other field of an item, bounded too
MAX_TAGS = 20
MODEL_TEXT_CHARS = 2000  # a blurb or the judge's feedback quoted back into a prompt
_SENTENCE = re.compile(r"[^。．！？!?]+(?:[。．！？!?]+[」』）)\"”]*|$)")
_LINE_BREAKS = re.compile(r"\s*\n\s*")


def untrusted(text: str) -> str:
    """Data going into a prompt: `<` and `>` become full-width, so the text cannot open or close a tag."""
    return text.replace("<", "＜").replace(">", "＞")


def bounded(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, ending in `…`: no outside field can fill a prompt."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def item_view(item: Item, *, limit: int, label: str | None = None) -> dict[str, Any]:
    """What a prompt template sees of an item (all fields neutralised and bounded)."""
    return {
        "id": untrusted(bounded(label or item.id, FIELD_CHARS["id"])).replace('"', "＂"),
        "source": str(item.source),
        "title": untrusted(bounded(item.title, FIELD_CHARS["title"])),
        "text": untrusted(bounded(item.text, limit)),
        "tags": [untrusted(bounded(tag, FIELD_CHARS["tag"])) for tag in item.tags[:MAX_TAGS]],
        "language": item.language,
        "published": item.published.date().isoformat(),
    }


def category_view(category: Category) -> dict[str, Any]:
    return category.model_dump(include={"id", "name", "description", "include", "exclude", "examples"})


def example_view(example: Example) -> dict[str, str]:
    """A reader-voted item as the judge prompt sees it (neutralised like all data)."""
    title = untrusted(bounded(example.title, FIELD_CHARS["title"]))
    return {"title": title, "category": example.category, "source": example.source}


def count_sentences(text: str) -> int:
    return sum(1 for part in _SENTENCE.findall(text) if part.strip())


def blurb_problems(text: str, max_chars: int, min_japanese: float) -> list[str]:
    """What breaks the blurb rules, as instructions for a repair request (empty list = fine)."""
    if not text:
        return ["紹介文が空でした。原文の内容を1〜2文の日本語で書いてください。"]
    problems = []
    if len(text) > max_chars:
        problems.append(
            f"{len(text)}文字です。{max_chars}文字以内（英数字・記号も1文字）に縮めてください。"
            "数値と固有名詞は原文どおりに残し、重要度の低い修飾や説明を削ってください。"
        )
    floor = max(min_japanese, guards.PARAMS["min_japanese_score"])
    if (ratio := guards.japanese_score(text)) < floor:  # names copied from the source do not count
        problems.append(
            f"固有名詞を除いた日本語の割合が低すぎます（{ratio:.0%}）。英語の文を使わず日本語の文で書き、"
            "英語は手法名・モデル名などの固有名詞だけにしてください。"
        )
    if (sentences := count_sentences(text)) > 2:
        problems.append(f"{sentences}文あります。1〜2文にまとめてください。")
    return problems


def _clean(blurb: str) -> str:
    """Line breaks removed; a blurb wrapped whole in ASCII quotes is unwrapped."""
    text = _LINE_BREAKS.sub("", blurb.strip())
    return text[1:-1].strip() if len(text) > 1 and text[0] == text[-1] == '"' else text


def _measure(text: str, max_chars: int) -> str:
    share = japanese_ratio(text)
    return f"{len(text)}/{max_chars} chars, {count_sentences(text)} sentences, Japanese share {share:.0%}"


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
    ) -> None:
        self.settings = settings
        self.guidance = guidance or JudgeGuidance()
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
        return [answer for chunk in answered for answer in chunk]

    def _classifier(self, categories: Sequence[Category]) -> BatchClassifier:
        model, model_name, _ = self._models["classifier"]
        views = [category_view(c) for c in categories]

        def render(items: list[Item]) -> list[BaseMessage]:
            labelled = [
                item_view(item, limit=CLASSIFY_TEXT_CHARS, label=str(n)) for n, item in enumerate(items, 1)
            ]
            return self.specs["classifier"].render(categories=views, items=labelled)

        async def call(
            messages: list[BaseMessage], function: dict[str, Any], ids: Sequence[str]
        ) -> ClassificationBatch:
            return await self._caller.structured(
                "classifier", model, model_name, ClassificationBatch, messages, function=function, items=ids
            )

        return BatchClassifier(render, call, self.usage, tuple(c.id for c in categories))

    # --- summarizer -----------------------------------------------------------------------------

    async def summarize(self, item: Item, *, max_chars: int, feedback: str = "", previous: str = "") -> str:
        """1-2 Japanese sentences within `max_chars`; a broken rule gets one repair request, then AgentError.

        `previous` (optional, beyond the protocol) is the blurb the judge's `feedback` is about.
        """
        messages = self.specs["summarizer"].render(
            item=item_view(item, limit=ITEM_TEXT_CHARS),
            max_chars=max_chars,
            feedback=untrusted(bounded(feedback, MODEL_TEXT_CHARS)),
            previous=untrusted(bounded(previous, MODEL_TEXT_CHARS)),
        )
        min_japanese = self.settings.app.pipeline.min_japanese_ratio
        self.usage.per_agent["summarizer"].items += 1
        try:
            text = _clean((await self._call("summarizer", Blurb, messages, item=item)).blurb)
            problems = blurb_problems(text, max_chars, min_japanese)
            if not problems:
                return text
            self.usage.per_agent["summarizer"].repairs += 1
            quoted = untrusted(bounded(text, MODEL_TEXT_CHARS))
            fix = HumanMessage(
                content=f"前回の紹介文: <previous_blurb>{quoted}</previous_blurb>\n"
                + "\n".join(problems)
                + "\nルールを守って書き直した紹介文だけを返してください。"
            )
            text = _clean((await self._call("summarizer", Blurb, [*messages, fix], item=item)).blurb)
            if blurb_problems(text, max_chars, min_japanese):
                raise AgentError(
                    f"the blurb still breaks the rules after one repair request ({_measure(text, max_chars)})"
                )
            self.usage.record("summarizer", item.id, "repaired", " ".join(problems))
            return text
        except AgentError as exc:
            self._held_back("summarizer", item, exc)
            raise

    # --- judge -------------------------------------------------------------------------------------

    async def judge(self, item: Item, blurb: str, category: Category) -> Verdict:
        """Rubric scores (clamped to 1..5), a short rationale and feedback for the summarizer."""
        interests = [
            *self.settings.app.pipeline.prefilter.interests,
            *(c.name for c in self.settings.categories),
        ]
        messages = self.specs["judge"].render(
            item=item_view(item, limit=ITEM_TEXT_CHARS),
            blurb=untrusted(bounded(blurb, MODEL_TEXT_CHARS)),
            category=category_view(category),
            interests=interests,
            liked=[example_view(e) for e in self.guidance.liked],
            disliked=[example_view(e) for e in self.guidance.disliked],
        )
        self.usage.per_agent["judge"].items += 1
        function = verdict_function()
        try:
            verdict = await self._call("judge", Verdict, messages, item=item, function=function)
            if problems := verdict_problems(verdict):  # one repair request naming the scores, then held back
                self.usage.per_agent["judge"].repairs += 1
                why = "; ".join(problems)
                fix = repair_request(Verdict, why, verdict.model_dump_json())
                verdict = await self._call("judge", Verdict, [*messages, fix], item=item, function=function)
                if still := verdict_problems(verdict):
                    raise AgentError(f"scores out of range after one repair request: {'; '.join(still)}")
                self.usage.record("judge", item.id, "repaired", why)
        except AgentError as exc:
            self._held_back("judge", item, exc)
            raise
        return verdict
