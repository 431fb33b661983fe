"""What the prompts see of an item, a category, a vote and a blurb; the blurb rules checked in code."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from digestbot.agents import guards
from digestbot.agents.spec import AgentSpec
from digestbot.domain import Item
from digestbot.feedback import Example, JudgeGuidance
from digestbot.settings import Category
from digestbot.sources.text import japanese_ratio

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from digestbot.corrections import ClassifierExample

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


def correction_view(example: ClassifierExample) -> dict[str, str]:
    """A team-corrected item as the classifier prompt sees it (neutralised like all data)."""
    return {
        "title": untrusted(bounded(example.title, FIELD_CHARS["title"])),
        "text": untrusted(bounded(example.text, FIELD_CHARS["title"])),
        "wrong": example.wrong,
        "right": example.right,
    }


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


def clean_blurb(blurb: str) -> str:
    """Line breaks removed; a blurb wrapped whole in ASCII quotes is unwrapped."""
    text = _LINE_BREAKS.sub("", blurb.strip())
    return text[1:-1].strip() if len(text) > 1 and text[0] == text[-1] == '"' else text


def measure_blurb(text: str, max_chars: int) -> str:
    share = japanese_ratio(text)
    return f"{len(text)}/{max_chars} chars, {count_sentences(text)} sentences, Japanese share {share:.0%}"


def batched(spec: AgentSpec) -> bool:
    """The agent file renders a list of items (`items`), so it can take several per call."""
    return "items" in spec.variables


def summarizer_messages(
    spec: AgentSpec, items: Sequence[Item], max_chars: int, *, feedback: str = "", previous: str = ""
) -> list[BaseMessage]:
    """The summarizer's prompt for `items` (numbered "1".."n" when several; a revision is alone)."""
    notes = {
        "feedback": untrusted(bounded(feedback, MODEL_TEXT_CHARS)),
        "previous": untrusted(bounded(previous, MODEL_TEXT_CHARS)),
    }
    if not batched(spec):  # a file written for one item
        return spec.render(item=item_view(items[0], limit=ITEM_TEXT_CHARS), max_chars=max_chars, **notes)
    label = len(items) > 1
    views = [
        item_view(item, limit=ITEM_TEXT_CHARS, label=str(n) if label else None) | notes
        for n, item in enumerate(items, 1)
    ]
    return spec.render(items=views, max_chars=max_chars)


def judge_messages(
    spec: AgentSpec,
    requests: Sequence[tuple[Item, str, Category]],
    interests: Sequence[str],
    guidance: JudgeGuidance,
) -> list[BaseMessage]:
    """The judge's prompt for (item, blurb, category) triples, each blurb after its item."""
    shared: dict[str, Any] = {
        "interests": list(interests),
        "liked": [example_view(e) for e in guidance.liked],
        "disliked": [example_view(e) for e in guidance.disliked],
    }
    if not batched(spec):  # a file written for one item
        item, blurb, category = requests[0]
        return spec.render(
            item=item_view(item, limit=ITEM_TEXT_CHARS),
            blurb=untrusted(bounded(blurb, MODEL_TEXT_CHARS)),
            category=category_view(category),
            **shared,
        )
    label = len(requests) > 1
    views = [
        item_view(item, limit=ITEM_TEXT_CHARS, label=str(n) if label else None)
        | {"blurb": untrusted(bounded(blurb, MODEL_TEXT_CHARS)), "category": category_view(category)}
        for n, (item, blurb, category) in enumerate(requests, 1)
    ]
    return spec.render(items=views, **shared)
