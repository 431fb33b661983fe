"""Offline summarizer: an extractive blurb that is faithful by construction and never longer than asked.

Japanese sources: the article's own first usable sentences (one or two), skipping headings,
greetings, self-introductions, tables of contents, requests to the reader and anything
`guards.injection_flags` flags; a leading 「この記事では」 is dropped. Only real HTML tags are
stripped, so ``List<T>`` survives.
English papers: one sentence on the contribution with the abstract's own verb (提案／構築／分析／
サーベイ) and the method's own name, prefixed by the research topic from a general glossary
(`offline_phrases.TOPICS`: 「検索拡張生成向けの新しいフレームワークLongRAGを提案。」); a second
sentence only when a number can be stated with its own context (it must pass the numbers guard),
else how it is evaluated (「6つのデータセットで評価。」) or what it improves. Without a usable
contribution: a sentence from the abstract's structure (comparison in the title, an analysis, a
survey and what it covers), never the title in a frame. Every Latin word and number comes from
the source; the result is checked against the Japanese guards before it is returned.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from digestbot.agents import guards
from digestbot.agents.offline_phrases import COUNTED, SURVEY_PART, SURVEY_PARTS, TOPIC_WORD, TOPICS
from digestbot.agents.offline_template import (
    SURVEY_SUFFIX,
    SURVEY_TITLE,
    aspect,
    contribution,
    is_name,
    named,
    result,
)
from digestbot.agents.offline_text import english_sentences, japanese_sentences
from digestbot.domain import Item
from digestbot.sources.text import detect_language

PARAMS: dict[str, int] = {"version": 3}

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


# --- Japanese sources ------------------------------------------------------------------------------

_CODE_BLOCK = re.compile(r"```.*?(?:```|$)", re.DOTALL)
_LIST_MARK = re.compile(r"^\s*(?:>\s*|[-*+]\s+|\d+\.\s+)")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_URL = re.compile(r"https?://\S+")
# Only real HTML tags: ``List<T>`` and ``Map<K, V>`` in an article are text, not markup.
_HTML_TAG = re.compile(
    r"</?(?:a|abbr|b|blockquote|br|code|del|details|div|em|figcaption|figure|h[1-6]|hr|i|iframe|img|kbd"
    r"|li|mark|ol|p|pre|s|small|source|span|strong|sub|summary|sup|table|tbody|td|th|thead|tr|u|ul|video)"
    r"(?:\s[^<>]*)?/?>",
    re.IGNORECASE,
)
_ARTICLE_OPENER = re.compile(r"^(?:この記事では|本記事では|この記事は|本記事は|今回は|本稿では)[、,\s]*")
_TABLE_OF_CONTENTS = re.compile(r"目次|もくじ|Table of Contents|^\s*\d+[.)．]\s", re.IGNORECASE)
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


def _usable(sentence: str, flagged: set[str]) -> bool:
    """An article sentence worth quoting: not a heading, greeting, self-introduction, table of
    contents, request to the reader or instruction to a model, and not part of a flagged injection."""
    if not sentence or _is_heading_like(sentence) or _TABLE_OF_CONTENTS.search(sentence):
        return False
    if any(sentence in flag or flag in sentence for flag in flagged):
        return False
    return not guards.meta_failures(sentence)


def japanese_blurb(item: Item, max_chars: int) -> str:
    """The article's own first usable sentences (at most two, within the limit)."""
    flagged = {flag.sentence for flag in guards.injection_flags(item)}
    found = (
        _ARTICLE_OPENER.sub("", _LEADING_HEADING.sub("", s.lstrip("!！:： ")))
        for s in japanese_sentences(_clean_markdown(item.text))
    )
    sentences = [s for s in found if _usable(s, flagged) and not guards.copies_flagged(item, s)]
    if not sentences:
        return _article_fallback(item, max_chars)
    first = fit(sentences[0], max_chars)
    if len(sentences) > 1 and len(first) + len(sentences[1]) <= max_chars and first == sentences[0]:
        return first + sentences[1]
    return first


def _article_fallback(item: Item, max_chars: int) -> str:
    """No usable sentence: the Japanese title as the subject (「…について解説した記事。」), else its topic."""
    title = " ".join(item.title.split())
    if (
        detect_language(title) == "ja"
        and not guards.meta_failures(title)
        and not guards.injection_flags(item)
    ):
        return fit(f"{title}について解説した記事。", max_chars)
    return f"{topic(item) or '大規模言語モデル'}の技術的な話題を扱う記事。"


# --- English papers --------------------------------------------------------------------------------

_ANALYSIS = re.compile(
    r"\bwe\s+(?:first\s+)?(?:find|show|demonstrate|observe|reveal|study|investigate|analy[sz]e|examine|"
    r"conduct|argue|discover)\w*|\b(?:in this (?:study|work))\b|\bempirical study\b",
    re.IGNORECASE,
)
_SURVEY_TEXT = re.compile(
    r"\bthis (?:systematic |literature )*(?:survey|review)\b|\bsurvey paper\b"
    r"|\b(?:systematic|literature) review\b"
    r"|\bwe (?:provide|present|give) (?:an?|the) (?:\w+ )?(?:overview|survey|review) of\b",
    re.IGNORECASE,
)
_COMPARE = re.compile(r"\b(?:vs\.?|versus|superior to|better than|compared? (?:to|with)|comparison)\b", re.I)
_COUNT = re.compile(
    r"\b(?:on|across|over|using|with|in)\s+(?P<n>\d+|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
    r"\s+(?:[\w\-]+\s+){0,2}?(?P<what>" + "|".join(COUNTED) + r")\b",
    re.IGNORECASE,
)
_EN_NUMBERS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip


def topic(item: Item, sentence: str = "") -> str:
    """The research topic in Japanese from a general ML glossary: the title's first, else the sentence's."""
    for text in (item.title, sentence):
        found = TOPIC_WORD.search(text)
        if found:
            return TOPICS[found.group(1).lower()]
    return ""


def _survey_parts(sentences: Sequence[str]) -> str | None:
    found = [SURVEY_PARTS[m.group(1).lower()] for s in sentences for m in SURVEY_PART.finditer(s)]
    parts = list(dict.fromkeys(found))[:3]
    return f"{'・'.join(parts)}を整理。" if len(parts) >= 2 else None


def _counted(sentences: Sequence[str]) -> str | None:
    """「6つのデータセットで評価。」 from "experiments on six QA datasets" (the abstract's count)."""
    for sentence in sentences:
        match = _COUNT.search(sentence)
        if match:
            raw = match.group("n").lower()
            count = _EN_NUMBERS.get(raw, raw)
            return f"{count}つの{COUNTED[match.group('what').lower()]}で評価。"
    return None


def _checked(item: Item, text: str | None) -> str | None:
    """`text` when its numbers pass the numbers guard (in the source, about the same thing), else None."""
    return text if text and not guards.number_failures(item, text) else None


_SHORTEN = re.compile(r"「(?P<head>[^」]+?)\s+(?:of|in|for|with|on|to|from|by|via|under|across)\s+[^」]+」")


def _shorten(label_sentence: str) -> str:
    """「attention head redundancy in deep decoders」を分析。 -> 「attention head redundancy」を分析。"""
    return _SHORTEN.sub(lambda m: f"「{m.group('head')}」", label_sentence, count=1)


def _with_topic(label_sentence: str, subject: str) -> str:
    """「検索拡張生成向けの新しいフレームワークLongRAGを提案。」: the topic, unless the label covers it."""
    if not subject or subject in label_sentence or label_sentence.endswith("サーベイ。"):
        return label_sentence
    if TOPIC_WORD.search(" ".join(re.findall(r"「([^」]*)」", label_sentence))):
        return label_sentence  # the quoted English term already names the topic
    if label_sentence.startswith("「") and "のための" in label_sentence:
        return label_sentence
    joint = "における" if label_sentence.endswith("を分析。") else "向けの"
    return f"{subject}{joint}{label_sentence}"


def _first_sentence(item: Item, sentences: Sequence[str], max_chars: int) -> tuple[str, int]:
    """The contribution sentence and the index it came from (-1: built from the title and structure)."""
    subject = topic(item)
    survey = SURVEY_TITLE.match(item.title.strip()) or SURVEY_SUFFIX.match(item.title.strip())
    is_survey = bool(survey) or any(_SURVEY_TEXT.search(s) for s in sentences)
    if is_survey:
        about = subject or topic(item, " ".join(sentences[:3])) or "研究動向"
        return f"{about}に関するサーベイ。", -1
    for index, sentence in enumerate(sentences):
        found = contribution(sentence, max_chars)
        found = found if not found or guards.japanese_score(found) >= 0.5 else _shorten(found)
        if found and guards.japanese_score(found) >= guards.PARAMS["min_japanese_score"]:
            return _with_topic(
                found, subject or topic(item, sentence) or topic(item, " ".join(sentences))
            ), index
    for index, sentence in enumerate(sentences):
        name = named(sentence)
        if name:
            return _with_topic(f"手法{name}を提案。", subject or topic(item, sentence)), index
    names = [t.strip(":?,") for t in item.title.split() if is_name(t.strip(":?,"))]
    about = subject or topic(item, " ".join(sentences)) or "大規模言語モデル"
    if len(names) >= 2 and _COMPARE.search(item.title):
        return f"{about}における{names[0]}と{names[1]}を比較・分析。", -1
    if any(_ANALYSIS.search(s) for s in sentences):
        return f"{about}の性質を分析した研究。", -1
    return f"{about}の手法や性質を扱う研究。", -1


def english_blurb(item: Item, max_chars: int, *, conservative: bool = False) -> str:
    """Contribution sentence (its verb and name from the abstract, the topic from a glossary), then a
    result whose number passes the numbers guard, else how it is evaluated or what it improves."""
    sentences = english_sentences(item.text)
    first, index = _first_sentence(item, sentences, max_chars)
    first = fit(first, max_chars)
    rest = sentences[index:] if index >= 0 else sentences[1:]
    seconds: list[str | None] = []
    if first.endswith("サーベイ。"):
        seconds.append(_survey_parts(sentences))
    else:
        if not conservative:
            seconds += [_checked(item, result(s)) for s in sentences]
            seconds.append(_checked(item, _counted(sentences)))
        seconds.append(aspect(rest, latin=not conservative))
    blurbs = [first + s for s in seconds if s and len(first) + len(s) <= max_chars and s not in first]
    for blurb in [*blurbs, first]:
        if not guards.japanese_failures(item, blurb, max_chars):
            return blurb
    about = topic(item, " ".join(sentences)) or "大規模言語モデル"
    second = blurbs[0][len(first) :] if blurbs else ""
    joint = (
        "分野の" if first.endswith("サーベイ。") else "における" if first.endswith("を分析。") else "向けの"
    )
    heads = [f"{about}{joint}{first}"] if about not in first else []
    for head in [*heads, f"{about}の手法や性質を扱う研究。"]:
        blurb = fit(head + second, max_chars) if len(head + second) <= max_chars else fit(head, max_chars)
        if not guards.japanese_failures(item, blurb, max_chars):
            return blurb
    return fit(f"{about}の手法や性質を扱う研究。", max_chars)


def summarize(item: Item, max_chars: int, *, feedback: str = "") -> str:
    """The offline blurb. Any judge feedback selects the conservative form (no extracted numbers)."""
    if item.language == "ja":
        return fit(japanese_blurb(item, max_chars), max_chars)
    return fit(english_blurb(item, max_chars, conservative=bool(feedback)), max_chars)
