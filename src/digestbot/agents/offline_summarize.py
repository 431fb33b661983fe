"""Offline summarizer: an extractive blurb that is faithful by construction and never longer than asked.

Japanese sources: the first one or two sentences of the text, cut at a sentence boundary.
English papers: a Japanese template filled with what the abstract states: the contribution
("we propose X" -> 「Xを提案。」, names kept in English) and one quantitative result with its
number copied exactly (「HotpotQAで精度が5.3ポイント向上。」). Without a contribution sentence the
blurb falls back to 「「<title>」に関する研究。」. Every Latin word and number comes from the source.
"""

from __future__ import annotations

import re

from digestbot.agents.offline_template import (
    SURVEY_SUFFIX,
    SURVEY_TITLE,
    aspect,
    contribution,
    result,
)
from digestbot.agents.offline_text import english_sentences, japanese_sentences
from digestbot.domain import Item

PARAMS: dict[str, int] = {"version": 2}

ELLIPSIS = "…"


def fit(text: str, max_chars: int) -> str:
    """`text` if it fits, else cut at the last clause mark or space inside the limit, ending in ``…``."""
    if len(text) <= max_chars:
        return text
    if max_chars <= 1:
        return text[:max_chars]
    head = text[: max_chars - 1]
    cut = max(head.rfind("、"), head.rfind(" "), head.rfind("，"))
    if cut >= max_chars // 2:
        head = head[:cut]
    return head.rstrip(" 、，") + ELLIPSIS


def quoted(text: str, max_chars: int, suffix: str) -> str:
    """「text」suffix within `max_chars`, shortening `text` (never the suffix) when it must."""
    room = max_chars - len(suffix) - 2
    if room < 4:
        return fit(f"「{text}」{suffix}", max_chars)
    return f"「{fit(' '.join(text.split()), room)}」{suffix}"


# --- Japanese sources ------------------------------------------------------------------------------

_CODE_BLOCK = re.compile(r"```.*?(?:```|$)", re.DOTALL)
_LIST_MARK = re.compile(r"^\s*(?:>\s*|[-*+]\s+|\d+\.\s+)")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_URL = re.compile(r"https?://\S+")
_HTML_TAG = re.compile(r"<[^>]+>")
_LEADING_HEADING = re.compile(
    r"^(?:はじめに|概要|背景|前置き|まえがき|導入|要約|TL;DR|Introduction)[\s:：]+", re.IGNORECASE
)


def _clean_markdown(text: str) -> str:
    text = _CODE_BLOCK.sub("\n", text)
    text = _LINK.sub(r"\1", text)
    text = _URL.sub("", _HTML_TAG.sub("", text))
    lines = []
    for line in text.splitlines():
        if line.lstrip().startswith(("#", "|")):
            continue  # headings and table rows are not sentences
        lines.append(_LIST_MARK.sub("", line).replace("**", "").replace("`", ""))
    return "\n".join(lines)


def _is_heading_like(sentence: str) -> bool:
    return len(sentence) <= 15 and not sentence.endswith(("。", "！", "？", "!", "?"))


def japanese_blurb(item: Item, max_chars: int) -> str:
    sentences = [_LEADING_HEADING.sub("", s) for s in japanese_sentences(_clean_markdown(item.text))]
    sentences = [s for s in sentences if s and not _is_heading_like(s)]
    if not sentences:
        return quoted(item.title, max_chars, "についての記事。")
    first = fit(sentences[0], max_chars)
    if len(sentences) > 1 and len(first) + len(sentences[1]) <= max_chars and first == sentences[0]:
        return first + sentences[1]
    return first


# --- English papers --------------------------------------------------------------------------------


def english_blurb(item: Item, max_chars: int, *, conservative: bool = False) -> str:
    """Contribution sentence, then a result (or, without one, what it improves or is evaluated on)."""
    sentences = english_sentences(item.text)
    survey = SURVEY_TITLE.match(item.title.strip()) or SURVEY_SUFFIX.match(item.title.strip())
    first: str | None = None
    rest = sentences[1:]  # without a contribution, the first sentence is usually background
    if survey and len(survey.group("topic")) <= max_chars - 12:
        first = quoted(survey.group("topic").strip(), max_chars, "に関するサーベイ。")
    for index, sentence in enumerate(sentences if first is None else ()):
        first = contribution(sentence, max_chars)
        if first:
            rest = sentences[index:]
            break
    if first is None or len(first) > max_chars:
        first = quoted(item.title, max_chars, "に関する研究。")
    if first.endswith("サーベイ。"):
        return fit(first, max_chars)  # a survey's "improves performance" is about the papers it covers
    second = None if conservative else next(filter(None, map(result, sentences)), None)
    if second is None or len(first) + len(second) > max_chars:
        second = aspect(rest, latin=not conservative)
    if second and len(first) + len(second) <= max_chars:
        return first + second
    return fit(first, max_chars)


def summarize(item: Item, max_chars: int, *, feedback: str = "") -> str:
    """The offline blurb. Any judge feedback selects the conservative form (no extracted numbers)."""
    if item.language == "ja":
        return fit(japanese_blurb(item, max_chars), max_chars)
    return fit(english_blurb(item, max_chars, conservative=bool(feedback)), max_chars)
