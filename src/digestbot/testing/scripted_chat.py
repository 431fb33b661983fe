"""`ScriptedChat`: a deterministic chat model whose replies are chosen by the requested schema.

`with_structured_output(Schema)` makes langchain call `bind_tools([Schema])`; the bound schema name
picks the reply queue (`"text"` for plain calls). A reply is consumed in order and may be:

- a pydantic object or a dict: answered as the forced tool call (a dict may violate the schema);
- a str: answered as raw text content, no tool call (malformed JSON, empty output, a refusal...);
- an exception instance: raised, as a provider error would be (e.g. `ModelRateLimitError`);
- a callable `(messages) -> reply`: answered from what the model received (e.g. echo the item ids).

Every call's messages are recorded in `received`, with the schema name in `schemas`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field


class ScriptedChat(BaseChatModel):
    """`ScriptedChat(replies={"Verdict": [Verdict(...)], "Blurb": ["not json"]})`."""

    replies: dict[str, list[Any]] = Field(default_factory=dict)
    usage: dict[str, int] = Field(default_factory=lambda: {"input_tokens": 100, "output_tokens": 20})
    received: list[list[BaseMessage]] = Field(default_factory=list)
    schemas: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | Any],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Remember which schema was asked for; `_generate` answers from that queue."""
        name = convert_to_openai_tool(tools[0])["function"]["name"]
        return self.bind(schema_name=name)

    def _next(self, name: str, messages: list[BaseMessage]) -> Any:
        queue = self.replies.get(name)
        if not queue:
            raise LookupError(f"ScriptedChat: no reply left for schema {name!r}")
        reply = queue.pop(0)
        return reply(messages) if callable(reply) and not isinstance(reply, BaseException) else reply

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        schema_name: str | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        name = schema_name or "text"
        self.received.append(list(messages))
        self.schemas.append(name)
        reply = self._next(name, messages)
        if isinstance(reply, BaseException):
            raise reply
        tokens = {
            "input_tokens": self.usage["input_tokens"],
            "output_tokens": self.usage["output_tokens"],
            "total_tokens": self.usage["input_tokens"] + self.usage["output_tokens"],
        }
        if isinstance(reply, BaseModel):
            reply = reply.model_dump()
        if isinstance(reply, dict) and schema_name:
            call = {"name": name, "args": reply, "id": f"call_{len(self.received)}", "type": "tool_call"}
            message = AIMessage(content="", tool_calls=[call], usage_metadata=tokens)
        else:
            content = reply if isinstance(reply, str) else json.dumps(reply, ensure_ascii=False)
            message = AIMessage(content=content, usage_metadata=tokens)
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        """Answer on the event loop's thread (the default runs `_generate` in an executor)."""
        return self._generate(messages, stop, None, **kwargs)
