"""Reading a model's answer: the output schema we ask for, parsing the raw answer, the repair request.

We parse the raw message ourselves (tool call or JSON text) rather than trusting each provider's
parser, so that every unusable answer, whatever the provider, yields a problem statement and the raw
text for the one repair request.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.utils.function_calling import convert_to_openai_function
from pydantic import BaseModel, ValidationError

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)
_THINK = re.compile(r"^\s*<think>.*?</think>", re.DOTALL)
_WS = re.compile(r"\s+")


def one_line(text: str, limit: int = 300) -> str:
    flat = _WS.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def output_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """The schema as a strict OpenAI function dict (all fields required, no extra keys).

    We pass a dict, not the pydantic class: with the class, the openai SDK parses inside the call and
    raises on malformed JSON, losing the raw answer (and its usage) that the repair request needs.
    """
    function = convert_to_openai_function(schema, strict=True)
    if not function.get("description"):
        function.pop("description", None)
    return function


class UnusableOutput(Exception):
    """Why an answer cannot be used, plus the raw text to quote in the repair request."""

    def __init__(self, problem: str, text: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.text = text


def _validation_problem(exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()[:5]]
    return "; ".join(parts)


def _json_in(text: str) -> Any:
    """The JSON value in a text answer: bare, in a ``` fence, after a <think> block, or inside prose."""
    body = _THINK.sub("", text).strip()
    fenced = _FENCE.match(body)
    body = fenced.group(1) if fenced else body
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        start, end = body.find("{"), body.rfind("}")
        if -1 < start < end:
            try:
                return json.loads(body[start : end + 1])
            except json.JSONDecodeError:
                pass
        raise UnusableOutput(f"not valid JSON ({exc.msg} at char {exc.pos})", text) from None


def parse_output(raw: AIMessage, schema: type[T]) -> T:
    """The schema object from a raw answer (tool call or JSON content); `UnusableOutput` if impossible."""
    refusal = raw.additional_kwargs.get("refusal")
    if refusal:
        raise UnusableOutput(f"the model refused: {one_line(str(refusal), 200)}", str(refusal))
    data: Any
    if raw.tool_calls:
        data = raw.tool_calls[0]["args"]
        text = json.dumps(data, ensure_ascii=False)
    else:
        text = (raw.invalid_tool_calls[0].get("args") or "") if raw.invalid_tool_calls else raw.text
        text = text.strip()
        if not text:
            raise UnusableOutput("the answer was empty", "")
        data = _json_in(text)
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise UnusableOutput(f"does not match {schema.__name__}: {_validation_problem(exc)}", text) from None


def repair_request(schema: type[BaseModel], problem: str, previous: str) -> HumanMessage:
    quoted = previous[:2000].replace("<", "＜").replace(">", "＞") or "（空）"
    return HumanMessage(
        content=(
            f"前回の出力は {schema.__name__} の形式として使えませんでした。\n"
            f"<previous_output>{quoted}</previous_output>\n"
            f"問題: {problem}\n"
            "指示と入力は前と同じです。"
            f"{schema.__name__} のスキーマに正しく合う出力だけを、もう一度返してください。"
        )
    )
