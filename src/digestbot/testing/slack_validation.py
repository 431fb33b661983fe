"""How the fake Slack server checks a message against Slack's limits, with Slack's error bodies.

Limits: 50 blocks per message; section text and context elements <= 3000 characters; header
plain_text <= 150; context <= 10 elements; actions <= 25 elements, a button's label <= 75, its
value <= 2000, action_id and block_id <= 255, an overflow menu's 2-5 options text <= 75 and value
<= 150; `text` <= 40,000 (`msg_too_long`); all blocks together
<= ~13,000 characters of JSON (`msg_blocks_too_long`, observed, undocumented); text or blocks
required (`no_text`). `invalid_blocks` carries `response_metadata.messages` like
`[ERROR] no more than 50 items allowed [json-pointer:/blocks]`.
"""

from __future__ import annotations

import json
from typing import Any

Answer = tuple[int, dict[str, Any]]

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_TEXT = 40_000
MAX_BLOCKS_CHARS = 13_000
MAX_ACTIONS = 25
MAX_BUTTON_TEXT = 75
MAX_VALUE = 2000
MAX_ID = 255
MAX_OVERFLOW_OPTIONS = 5
MAX_OPTION_VALUE = 150
BLOCK_TYPES = {"section", "header", "context", "divider", "image", "actions", "rich_text", "markdown"}


def error(code: str, messages: list[str] | None = None) -> Answer:
    """Slack's API error: HTTP 200 with `ok: false`."""
    payload: dict[str, Any] = {"ok": False, "error": code}
    if messages:
        payload["errors"] = messages
        payload["response_metadata"] = {"messages": messages}
    return 200, payload


def _too_long(limit: int, pointer: str) -> str:
    return f"[ERROR] must be less than {limit + 1} characters [json-pointer:{pointer}]"


def _text_problems(text: Any, pointer: str, *, limit: int, kinds: set[str]) -> list[str]:
    if not isinstance(text, dict) or not isinstance(text.get("text"), str):
        return [f"[ERROR] missing required field: text [json-pointer:{pointer}]"]
    if text.get("type") not in kinds:
        return [f"[ERROR] must be a valid enum value [json-pointer:{pointer}/type]"]
    if len(text["text"]) > limit:
        return [_too_long(limit, f"{pointer}/text")]
    return []


def _context_problems(elements: Any, pointer: str) -> list[str]:
    if not isinstance(elements, list) or not elements:
        return [f"[ERROR] missing required field: elements [json-pointer:{pointer}]"]
    if len(elements) > MAX_CONTEXT_ELEMENTS:
        return [
            f"[ERROR] no more than {MAX_CONTEXT_ELEMENTS} items allowed [json-pointer:{pointer}/elements]"
        ]
    problems: list[str] = []
    for number, element in enumerate(elements):
        if not (isinstance(element, dict) and element.get("type") == "image"):
            where = f"{pointer}/elements/{number}"
            problems += _text_problems(element, where, limit=MAX_SECTION, kinds={"plain_text", "mrkdwn"})
    return problems


def _actions_problems(block: dict[str, Any], pointer: str) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        return [f"[ERROR] missing required field: elements [json-pointer:{pointer}]"]
    if len(elements) > MAX_ACTIONS:
        return [f"[ERROR] no more than {MAX_ACTIONS} items allowed [json-pointer:{pointer}/elements]"]
    problems = [_too_long(MAX_ID, f"{pointer}/block_id")] if len(block.get("block_id") or "") > MAX_ID else []
    for number, element in enumerate(elements):
        where = f"{pointer}/elements/{number}"
        if isinstance(element, dict) and element.get("type") == "overflow":
            problems += _overflow_problems(element, where)
            continue
        if not isinstance(element, dict) or element.get("type") != "button":
            continue  # only buttons and overflow menus are checked (the digest uses nothing else)
        problems += _text_problems(
            element.get("text"), f"{where}/text", limit=MAX_BUTTON_TEXT, kinds={"plain_text"}
        )
        if len(str(element.get("value") or "")) > MAX_VALUE:
            problems.append(_too_long(MAX_VALUE, f"{where}/value"))
        if len(str(element.get("action_id") or "")) > MAX_ID:
            problems.append(_too_long(MAX_ID, f"{where}/action_id"))
    return problems


def _overflow_problems(element: dict[str, Any], where: str) -> list[str]:
    """An overflow menu: 2 to 5 options, each a plain_text <= 75 and a value <= 150."""
    options = element.get("options")
    if not isinstance(options, list) or not 2 <= len(options) <= MAX_OVERFLOW_OPTIONS:
        return [f"[ERROR] must have 2 to {MAX_OVERFLOW_OPTIONS} items [json-pointer:{where}/options]"]
    problems = (
        [_too_long(MAX_ID, f"{where}/action_id")] if len(str(element.get("action_id") or "")) > MAX_ID else []
    )
    for number, option in enumerate(options):
        at = f"{where}/options/{number}"
        text = option.get("text") if isinstance(option, dict) else None
        problems += _text_problems(text, f"{at}/text", limit=MAX_BUTTON_TEXT, kinds={"plain_text"})
        if len(str((option or {}).get("value") or "")) > MAX_OPTION_VALUE:
            problems.append(_too_long(MAX_OPTION_VALUE, f"{at}/value"))
    return problems


def block_problems(index: int, block: Any) -> list[str]:
    """Slack's `[ERROR] …` lines for one block."""
    pointer = f"/blocks/{index}"
    kind = block.get("type") if isinstance(block, dict) else None
    if kind not in BLOCK_TYPES:
        return [f"[ERROR] unsupported type: {kind} [json-pointer:{pointer}/type]"]
    if kind == "header":
        return _text_problems(block.get("text"), f"{pointer}/text", limit=MAX_HEADER, kinds={"plain_text"})
    if kind == "section" and not ("text" not in block and "fields" in block):
        return _text_problems(
            block.get("text"), f"{pointer}/text", limit=MAX_SECTION, kinds={"plain_text", "mrkdwn"}
        )
    if kind == "context":
        return _context_problems(block.get("elements"), pointer)
    if kind == "actions":
        return _actions_problems(block, pointer)
    return []


def _parse_blocks(body: dict[str, Any]) -> list[Any] | Answer | None:
    blocks = body.get("blocks")
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except json.JSONDecodeError:
            return error("invalid_blocks_format")
    if blocks is not None and not isinstance(blocks, list):
        return error("invalid_blocks_format")
    return blocks


def validate_message(body: dict[str, Any]) -> Answer | None:
    """The error Slack would answer for this chat.postMessage/chat.update payload, or None."""
    text = body.get("text") or ""
    blocks = _parse_blocks(body)
    if isinstance(blocks, tuple):
        return blocks
    if not text and not blocks:
        return error("no_text")
    if len(text) > MAX_TEXT:
        return error("msg_too_long")
    blocks = blocks or []
    problems = [line for index, block in enumerate(blocks) for line in block_problems(index, block)]
    if len(blocks) > MAX_BLOCKS:
        problems = [f"[ERROR] no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]"]
    if problems:
        return error("invalid_blocks", problems)
    if len(json.dumps(blocks, ensure_ascii=False, separators=(",", ":"))) > MAX_BLOCKS_CHARS:
        return error("msg_blocks_too_long")
    return None
