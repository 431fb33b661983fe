"""The model boundary: build chat models from config, and make structured calls safely.

`LlmCaller.structured(...)` is the one place an agent talks to a model. It caps concurrency for the
whole process, retries transient provider errors with backoff, counts tokens and cost per agent,
parses the answer itself (one repair request when the output is unusable), and raises `AgentError`
with a one-line message instead of ever returning placeholder text.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from langchain_core.exceptions import (
    ModelAuthenticationError,
    ModelConnectionError,
    ModelError,
    ModelNotFoundError,
    ModelRateLimitError,
    ModelTimeoutError,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.rate_limiters import BaseRateLimiter, InMemoryRateLimiter
from pydantic import BaseModel, SecretStr

from digestbot.agents.base import AgentError, AgentUsage, UsageReport
from digestbot.agents.llm_output import UnusableOutput, one_line, output_schema, parse_output, repair_request
from digestbot.settings import ConfigError, LLMConfig, Price, Secrets

T = TypeVar("T", bound=BaseModel)
Sleep = Callable[[float], Awaitable[None]]

_EXTRAS = {"anthropic": "langchain_anthropic", "ollama": "langchain_ollama"}
MAX_RETRY_AFTER = 120.0  # same cap as the openai SDK: a longer Retry-After fails the call


class ModelOutputError(AgentError):
    """The model answered, but its output stayed unusable after one repair request."""


class ContextTooLong(AgentError):
    """The provider refused the prompt as longer than the model's context window."""


_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "maximum context length",
    "prompt is too long",
    "too many tokens",
)


def _context_too_long(exc: BaseException) -> bool:
    """OpenAI's `context_length_exceeded` (and the phrasing of Anthropic and OpenAI-compatible servers)."""
    text = f"{getattr(exc, 'code', '')} {exc}".lower()
    return any(marker in text for marker in _CONTEXT_MARKERS)


def split_model(model: str) -> tuple[str | None, str]:
    """`"openai:gpt-4o-mini"` -> `("openai", "gpt-4o-mini")`; no prefix -> `(None, model)`."""
    provider, sep, name = model.partition(":")
    return (provider.strip().lower(), name.strip()) if sep else (None, model.strip())


def _api_key(provider: str | None, secrets: Secrets) -> SecretStr | None:
    if secrets.digestbot_llm_api_key:
        return secrets.digestbot_llm_api_key
    return {"openai": secrets.openai_api_key, "anthropic": secrets.anthropic_api_key}.get(provider or "")


def build_chat_model(
    llm: LLMConfig,
    secrets: Secrets,
    *,
    model_override: str | None = None,
    temperature: float | None = None,
    rate_limiter: BaseRateLimiter | None = None,
) -> BaseChatModel:
    """A chat model for `model_override or llm.model` ("provider:model").

    With `llm.base_url` the model is reached through the OpenAI-compatible API at that URL (vLLM,
    Ollama's /v1, LM Studio...). The SDK's own retries (`llm.max_retries`) honour Retry-After (the
    openai SDK waits at most 120 s). Share one `rate_limiter` between models to keep one budget.
    """
    from langchain.chat_models import init_chat_model

    model = (model_override or llm.model).strip()
    if not model:
        raise ConfigError("llm.model is empty: set it (e.g. openai:gpt-4o-mini) or run in offline mode")
    provider, name = split_model(model)
    if llm.base_url:
        provider = "openai"
    kwargs: dict[str, Any] = {
        "temperature": llm.temperature if temperature is None else temperature,
        "rate_limiter": rate_limiter or InMemoryRateLimiter(requests_per_second=llm.requests_per_second),
    }
    key = _api_key(provider, secrets)
    if provider == "ollama":
        if importlib.util.find_spec(_EXTRAS["ollama"]) is None:
            raise ConfigError(
                f"llm.model {model!r} needs langchain-ollama: pip install 'digestbot[ollama]', or set "
                "llm.base_url to Ollama's OpenAI-compatible endpoint (http://localhost:11434/v1)"
            )
        kwargs["client_kwargs"] = {"timeout": llm.timeout_seconds}
    else:
        kwargs.update(timeout=llm.timeout_seconds, max_retries=llm.max_retries)
        if llm.base_url:
            kwargs["base_url"] = llm.base_url
            key = key or SecretStr("no-key")  # local OpenAI-compatible servers usually ignore the key
        elif key is None and provider in ("openai", "anthropic"):
            env = f"{provider.upper()}_API_KEY"
            raise ConfigError(f"llm.model {model!r} needs an API key: set DIGESTBOT_LLM_API_KEY or {env}")
        if key is not None:
            kwargs["api_key"] = key
    try:
        chat: BaseChatModel = init_chat_model(name, model_provider=provider, **kwargs)
    except ImportError as exc:
        hint = f"pip install 'digestbot[{provider}]'" if provider in _EXTRAS else one_line(str(exc))
        raise ConfigError(f"llm.model {model!r}: the provider package is not installed ({hint})") from None
    except ValueError as exc:
        raise ConfigError(f"llm.model {model!r}: {one_line(str(exc))}") from None
    return chat


def price_of(prices: Mapping[str, Price], model: str) -> Price | None:
    """The price for `model`, provider prefix ignored; a dated name matches its base (`gpt-4o-mini-2024…`)."""
    name = split_model(model)[1]
    matches = [key for key in prices if name == key or name.startswith(key + "-")]
    return prices[max(matches, key=len)] if matches else None


def _structured(model: BaseChatModel, schema: type[BaseModel], function: dict[str, Any] | None) -> Any:
    function = function or output_schema(schema)
    if type(model).__module__.startswith("langchain_openai"):
        return model.with_structured_output(function, method="json_schema", strict=True, include_raw=True)
    return model.with_structured_output(function, include_raw=True)  # the provider's default (tool calling)


def _retry_after(exc: BaseException) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None)
    value = headers.get("retry-after") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, ModelError):
        return exc.is_retryable
    status = getattr(exc, "status_code", None)
    return isinstance(exc, TimeoutError | ConnectionError) or (isinstance(status, int) and status >= 500)


def _provider_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [ModelError, TimeoutError, ConnectionError]
    if importlib.util.find_spec("openai") is not None:
        import openai

        errors.append(openai.OpenAIError)  # e.g. LengthFinishReasonError: the answer hit max_tokens
    return tuple(errors)


class LlmCaller:
    """Structured calls shared by all agents: one concurrency cap, retries, repairs, usage and cost."""

    def __init__(
        self,
        llm: LLMConfig,
        usage: UsageReport,
        *,
        retries: int = 2,
        backoff_seconds: float = 2.0,
        sleep: Sleep = asyncio.sleep,
        scrub: Callable[[str], str] = str,
    ) -> None:
        self.llm = llm
        self.scrub = scrub  # a provider's error text may quote the key it was sent (`Settings.scrubber`)
        self.usage = usage
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep
        self._errors = _provider_errors()
        self._semaphores: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()  # one per loop: a Semaphore is bound to the loop it first waits on
        if loop not in self._semaphores:
            self._semaphores = {loop: asyncio.Semaphore(self.llm.max_concurrency)}
        return self._semaphores[loop]

    def agent_usage(self, agent: str) -> AgentUsage:
        return self.usage.per_agent.setdefault(agent, AgentUsage())

    async def structured(
        self,
        agent: str,
        model: BaseChatModel,
        model_name: str,
        schema: type[T],
        messages: list[BaseMessage],
        *,
        function: dict[str, Any] | None = None,
        items: Sequence[str] = (),
    ) -> T:
        """Call, parse, and on unusable output send one repair request; `AgentError` if still unusable.

        `function` replaces the schema's own function dict (e.g. one with this batch's enums);
        `items` (the item ids the call is about) are named in `usage.incidents` when a repair fixed it.
        """
        raw = await self._invoke(agent, model, model_name, schema, messages, function)
        try:
            return parse_output(raw, schema)
        except UnusableOutput as first:
            self.agent_usage(agent).repairs += 1
            retry = [*messages, repair_request(schema, first.problem, first.text)]
            raw = await self._invoke(agent, model, model_name, schema, retry, function)
            try:
                answer = parse_output(raw, schema)
            except UnusableOutput as second:
                raise ModelOutputError(
                    self.scrub(f"unusable model output after one repair request: {second.problem}")
                ) from None
            for item_id in items:
                self.usage.record(agent, item_id, "repaired", f"unusable answer: {first.problem}")
            return answer

    async def _invoke(  # noqa: PLR0917 - private; the one call site passes them in order
        self,
        agent: str,
        model: BaseChatModel,
        model_name: str,
        schema: type[BaseModel],
        messages: list[BaseMessage],
        function: dict[str, Any] | None = None,
    ) -> AIMessage:
        runnable = _structured(model, schema, function)
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                async with self._semaphore():
                    result = await runnable.ainvoke(messages)
            except self._errors as exc:
                if _context_too_long(exc):  # retrying the same prompt cannot help; a smaller one can
                    raise ContextTooLong(self.scrub(self._describe(exc, attempt))) from None
                if not _transient(exc) or attempt == attempts:
                    raise AgentError(self.scrub(self._describe(exc, attempt))) from None
                wait = self.backoff_seconds * 2 ** (attempt - 1)
                retry_after = _retry_after(exc)
                if retry_after is not None:
                    if retry_after > MAX_RETRY_AFTER:
                        raise AgentError(self.scrub(self._describe(exc, attempt))) from None
                    wait = max(wait, retry_after)
                await self.sleep(wait)
                continue
            raw = result["raw"]
            assert isinstance(raw, AIMessage)
            self._count(agent, model_name, raw)
            return raw
        raise AssertionError("unreachable")  # pragma: no cover

    def _count(self, agent: str, model_name: str, raw: AIMessage) -> None:
        usage = self.agent_usage(agent)
        usage.calls += 1
        tokens = raw.usage_metadata or {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        usage.input_tokens += tokens["input_tokens"]
        usage.output_tokens += tokens["output_tokens"]
        price = price_of(self.llm.prices, model_name)
        if price is not None:
            usage.cost_usd += (
                tokens["input_tokens"] * price.input + tokens["output_tokens"] * price.output
            ) / 1e6

    def _describe(self, exc: BaseException, attempts: int) -> str:
        tries = f"{attempts} attempt{'s' if attempts > 1 else ''}"
        detail = one_line(str(exc), 200)
        if isinstance(exc, ModelTimeoutError | TimeoutError):
            message = f"no answer from the model within {self.llm.timeout_seconds:g} s ({tries})"
            message += "; raise llm.timeout_seconds or check the server"
        elif isinstance(exc, ModelRateLimitError):
            message = f"rate limited by the model provider ({tries})"
            message += "; lower llm.requests_per_second or llm.max_concurrency"
        elif isinstance(exc, ModelConnectionError | ConnectionError):
            message = (
                f"cannot reach the model server at {self.llm.base_url or 'the provider'} ({tries}): {detail}"
            )
        elif isinstance(exc, ModelAuthenticationError):
            message = (
                "the model provider rejected the API key: set DIGESTBOT_LLM_API_KEY (or the provider's key)"
            )
        elif isinstance(exc, ModelNotFoundError):
            message = f"the model provider does not know this model: check llm.model ({detail})"
        elif _transient(exc):
            message = f"model provider error ({tries}): {detail}"
        else:
            message = f"model call failed: {type(exc).__name__}: {detail}"
        return message
