"""The model boundary: chat-model factory, output parsing, retries, repair and usage accounting."""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

import pytest
from langchain_core.exceptions import ModelAuthenticationError, ModelRateLimitError
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatResult
from pydantic import SecretStr

from digestbot.agents.base import AgentError, UsageReport
from digestbot.agents.llm import LlmCaller, ModelOutputError, build_chat_model, price_of, split_model
from digestbot.agents.llm_output import UnusableOutput, parse_output
from digestbot.graph.state import Blurb, Verdict
from digestbot.settings import ConfigError, LLMConfig, Price, Secrets
from digestbot.testing.scripted_chat import ScriptedChat

PRICES = {"gpt-4o-mini": Price(input=0.15, output=0.60), "gpt-4o": Price(input=2.5, output=10.0)}
MESSAGES: list[BaseMessage] = [SystemMessage(content="rules"), HumanMessage(content="<item id='1'>x</item>")]


def secrets(**values: str) -> Secrets:
    return Secrets(_env_file=None, **{k: SecretStr(v) for k, v in values.items()})  # type: ignore[call-arg]


class Sleeps:
    """Injected sleep: records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def caller(sleep: Sleeps | None = None, **llm: Any) -> LlmCaller:
    config = LLMConfig(model="openai:gpt-4o-mini", prices=PRICES, **llm)
    return LlmCaller(config, UsageReport(model=config.model), sleep=sleep or Sleeps())


async def blurb_call(call: LlmCaller, chat: ScriptedChat) -> Blurb:
    return await call.structured("summarizer", chat, "openai:gpt-4o-mini", Blurb, MESSAGES)


# --- factory ------------------------------------------------------------------------------------------


def test_split_model_separates_provider_and_name() -> None:
    """'provider:model' splits at the first colon; no prefix leaves the provider open."""
    expected = [("openai", "gpt-4o-mini"), (None, "gpt-4o-mini"), ("ollama", "qwen2.5:7b")]
    assert expected == [
        split_model("openai:gpt-4o-mini"),
        split_model("gpt-4o-mini"),
        split_model("ollama:qwen2.5:7b"),
    ]


def test_base_url_builds_an_openai_client_for_that_server() -> None:
    """An OpenAI-compatible base_url gives ChatOpenAI with that URL, the timeout and SDK retries."""
    llm = LLMConfig(
        model="ollama:qwen2.5", base_url="http://127.0.0.1:9/v1", timeout_seconds=7, max_retries=1
    )
    model: Any = build_chat_model(llm, secrets(), temperature=0.3)
    expected = ("ChatOpenAI", "qwen2.5", "http://127.0.0.1:9/v1", 7, 1, 0.3)
    actual = (
        type(model).__name__,
        model.model_name,
        model.openai_api_base,
        model.request_timeout,
        model.max_retries,
        model.temperature,
    )
    assert expected == actual


def test_digestbot_key_wins_over_the_provider_key() -> None:
    """DIGESTBOT_LLM_API_KEY is used before OPENAI_API_KEY."""
    llm = LLMConfig(model="openai:gpt-4o-mini")
    model: Any = build_chat_model(llm, secrets(digestbot_llm_api_key="sk-ours", openai_api_key="sk-theirs"))
    expected = "sk-ours"
    assert expected == model.openai_api_key.get_secret_value()


def test_model_override_replaces_the_configured_model() -> None:
    """An agent file's model override is the model that gets built."""
    llm = LLMConfig(model="openai:gpt-4o-mini")
    model: Any = build_chat_model(llm, secrets(openai_api_key="k"), model_override="openai:gpt-4o")
    expected = "gpt-4o"
    assert expected == model.model_name


def test_openai_without_a_key_is_a_config_error() -> None:
    """Without base_url and key the error says which variables to set."""
    with pytest.raises(ConfigError) as info:
        build_chat_model(LLMConfig(model="openai:gpt-4o-mini"), secrets())
    expected = "llm.model 'openai:gpt-4o-mini' needs an API key: set DIGESTBOT_LLM_API_KEY or OPENAI_API_KEY"
    assert expected == str(info.value)


@pytest.mark.skipif(
    importlib.util.find_spec("langchain_ollama") is not None, reason="langchain-ollama installed"
)
def test_ollama_without_its_package_says_how_to_fix_it() -> None:
    """The error names the extra to install and the OpenAI-compatible alternative."""
    with pytest.raises(ConfigError) as info:
        build_chat_model(LLMConfig(model="ollama:qwen2.5"), secrets())
    assert "pip install 'digestbot[ollama]'" in str(info.value)
    assert "http://localhost:11434/v1" in str(info.value)


@pytest.mark.skipif(
    importlib.util.find_spec("langchain_anthropic") is not None, reason="langchain-anthropic installed"
)
def test_anthropic_without_its_package_names_the_extra() -> None:
    """A provider whose integration is missing points at the digestbot extra."""
    with pytest.raises(ConfigError) as info:
        build_chat_model(LLMConfig(model="anthropic:claude-haiku-4-5"), secrets(anthropic_api_key="k"))
    assert "pip install 'digestbot[anthropic]'" in str(info.value)


def test_price_lookup_ignores_the_provider_prefix_and_date_suffix() -> None:
    """Prices match the bare model name or a dated variant; unknown models have no price."""
    expected = [PRICES["gpt-4o-mini"], PRICES["gpt-4o-mini"], PRICES["gpt-4o"], None]
    names = ["openai:gpt-4o-mini", "gpt-4o-mini-2024-07-18", "gpt-4o", "llama3"]
    assert expected == [price_of(PRICES, name) for name in names]


# --- parsing ----------------------------------------------------------------------------------------


def test_parse_output_reads_tool_calls_and_json_in_text() -> None:
    """Tool-call args parse, and so does JSON content in a ``` fence or after a <think> block in prose."""
    tool = AIMessage(
        content="", tool_calls=[{"name": "Blurb", "args": {"blurb": "A"}, "id": "1", "type": "tool_call"}]
    )
    fenced = AIMessage(content='```json\n{"blurb": "B"}\n```')
    thinking = AIMessage(content='<think>short</think>\nHere it is: {"blurb": "C"} done')
    expected = ["A", "B", "C"]
    assert expected == [parse_output(message, Blurb).blurb for message in (tool, fenced, thinking)]


def test_parse_output_explains_empty_malformed_refused_and_invalid_answers() -> None:
    """Each unusable answer gets a problem statement for the repair request."""
    cases = [
        AIMessage(content=""),
        AIMessage(content='{"blurb": "cut'),
        AIMessage(content="", additional_kwargs={"refusal": "I can't help"}),
        AIMessage(content='{"text": "x"}'),
    ]
    problems = []
    for message in cases:
        with pytest.raises(UnusableOutput) as info:
            parse_output(message, Blurb)
        problems.append(info.value.problem)
    expected = "the answer was empty"
    assert expected == problems[0]
    assert problems[1].startswith("not valid JSON")
    expected = "the model refused: I can't help"
    assert expected == problems[2]
    expected = "does not match Blurb: blurb: Field required"
    assert expected == problems[3]


# --- structured calls ---------------------------------------------------------------------------------


async def test_structured_call_returns_the_object_and_counts_usage_and_cost() -> None:
    """Tokens from usage_metadata and the price-table cost land on the calling agent."""
    call = caller()
    chat = ScriptedChat(
        replies={"Blurb": [Blurb(blurb="手法を提案。")]}, usage={"input_tokens": 1000, "output_tokens": 100}
    )
    result = await blurb_call(call, chat)
    usage = call.usage.per_agent["summarizer"]
    expected = ("手法を提案。", 1, 1000, 100, 0)
    assert expected == (
        result.blurb,
        usage.calls,
        usage.input_tokens,
        usage.output_tokens,
        0,
    )
    assert pytest.approx((1000 * 0.15 + 100 * 0.60) / 1e6) == usage.cost_usd
    expected = 0
    assert expected == call.usage.per_agent["judge"].calls


async def test_unusable_output_gets_one_repair_request_with_the_problem() -> None:
    """Malformed JSON is answered with a repair request quoting it; the repaired answer is returned."""
    call = caller()
    chat = ScriptedChat(replies={"Blurb": ['{"blurb": "途中', Blurb(blurb="直した。")]})
    result = await blurb_call(call, chat)
    repair = chat.received[1][-1].text
    expected = ("直した。", 2, 1)
    assert expected == (
        result.blurb,
        len(chat.received),
        call.usage.per_agent["summarizer"].repairs,
    )
    assert '{"blurb": "途中' in repair and "not valid JSON" in repair
    expected = MESSAGES
    assert expected == chat.received[1][:2]


async def test_schema_violation_twice_raises_agent_error_after_one_repair() -> None:
    """A second unusable answer is not retried again: ModelOutputError names the problem."""
    call = caller()
    chat = ScriptedChat(replies={"Verdict": [{"relevance": "high"}, {"relevance": 5}]})
    with pytest.raises(ModelOutputError) as info:
        await call.structured("judge", chat, "gpt-4o-mini", Verdict, MESSAGES)
    expected = 2
    assert expected == len(chat.received)
    assert str(info.value).startswith(
        "unusable model output after one repair request: does not match Verdict:"
    )


async def test_empty_output_is_repaired_then_fails() -> None:
    """Empty answers never become placeholder text: one repair, then AgentError."""
    chat = ScriptedChat(replies={"Blurb": ["", ""]})
    with pytest.raises(AgentError, match="the answer was empty"):
        await blurb_call(caller(), chat)


async def test_transient_errors_are_retried_with_backoff() -> None:
    """A rate-limit error is retried after the backoff; the waits go through the injected sleep."""
    sleeps = Sleeps()
    chat = ScriptedChat(
        replies={"Blurb": [ModelRateLimitError("429"), ModelRateLimitError("429"), Blurb(blurb="ok")]}
    )
    result = await blurb_call(caller(sleeps), chat)
    expected = ("ok", [2.0, 4.0])
    assert expected == (result.blurb, sleeps.waits)


async def test_transient_errors_that_persist_become_a_clear_agent_error() -> None:
    """After the bounded retries the error says what happened and which setting to change."""
    sleeps = Sleeps()
    chat = ScriptedChat(replies={"Blurb": [ModelRateLimitError("429")] * 3})
    with pytest.raises(AgentError) as info:
        await blurb_call(caller(sleeps), chat)
    advice = "lower llm.requests_per_second or llm.max_concurrency"
    message = f"rate limited by the model provider (3 attempts); {advice}"
    expected = (message, [2.0, 4.0])
    assert expected == (str(info.value), sleeps.waits)


async def test_non_transient_errors_are_not_retried() -> None:
    """An authentication failure fails at once with advice about the key."""
    sleeps = Sleeps()
    chat = ScriptedChat(replies={"Blurb": [ModelAuthenticationError("401")]})
    with pytest.raises(AgentError, match="rejected the API key"):
        await blurb_call(caller(sleeps), chat)
    expected = []
    assert expected == sleeps.waits


class GatedChat(ScriptedChat):
    """Yields to the event loop inside each call and records how many calls overlap."""

    active: int = 0
    peak: int = 0

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        self.active += 1
        self.peak = max(self.peak, self.active)
        for _ in range(5):
            await asyncio.sleep(0)
        self.active -= 1
        return self._generate(messages, stop, None, **kw)


async def test_concurrency_is_capped_for_all_agents() -> None:
    """No more than llm.max_concurrency calls are in flight at once, whichever agent makes them."""
    call = caller(max_concurrency=2)
    chat = GatedChat(replies={"Blurb": [Blurb(blurb="ok")] * 6})
    await asyncio.gather(*(blurb_call(call, chat) for _ in range(6)))
    expected = (2, 6)
    assert expected == (chat.peak, call.usage.per_agent["summarizer"].calls)
