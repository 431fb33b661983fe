"""A deterministic stand-in for a real model, for `OpenAIServer(SimulatedLLM(...))` in benchmarks and evals.

It answers the three agents' requests by reading the rendered prompt, as a model would:
- `ClassificationBatch`: every `<item id="…">` of the user message, the category ids listed in the
  system prompt, the primary category by keyword matching, and a 1–5 `relevance` from how many
  LLM terms the item mentions (1 = no LLM term at all).
- `Blurb`: one or two Japanese sentences within the `N文字以内` limit of the prompt. About one draft
  in `flaw_every` quotes a number wrongly; a request carrying `<feedback>` gets it right.
- `Verdict`: relevance as the classifier scores it, significance from the text's cues, faithfulness
  by checking every number of the blurb against the source, japanese from the blurb's kana/kanji share.
- `BlurbBatch` / `VerdictBatch`: the same answer for each `<item>` of the prompt (each blurb follows
  its item), as a list; each item is answered independently of the others in its batch.
Same prompt, same answer: nothing random, no state.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from digestbot.agents.offline_text import TermMatcher, normalize
from digestbot.sources.text import japanese_ratio
from digestbot.testing.openai_server import schema_name

__all__ = ["LLM_TERMS", "PromptItem", "SimulatedLLM", "parse_categories", "parse_items"]

LLM_TERMS = (
    "LLM", "large language model", "language model", "GPT", "ChatGPT", "GPT-4o", "Llama", "Qwen",
    "Mistral", "Claude", "Gemini", "instruction tuning", "prompt", "prompting", "in-context learning",
    "chain-of-thought", "retrieval-augmented generation", "RAG", "RLHF", "DPO", "LangChain", "LangGraph",
    "vLLM", "tokenizer", "大規模言語モデル", "言語モデル", "生成AI", "プロンプト", "ファインチューニング",
    "エージェント",
)  # fmt: skip
_SIGNIFICANCE = ("state-of-the-art", "outperform", "significantly", "we propose", "we introduce")
_ITEM = re.compile(
    r'<item id="([^"]*)">\s*<source>(.*?)</source>\s*<title>(.*?)</title>\s*'
    r"(?:<tags>(.*?)</tags>\s*)?<text>\s*(.*?)\s*</text>\s*</item>",
    re.DOTALL,
)
_CATEGORY = re.compile(r"^- id: ([a-z][a-z0-9_-]*)（(.*?)）\n((?:[ \t]+.*\n?)*)", re.MULTILINE)
_LIMIT = re.compile(r"(\d+)文字以内")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s?%")
_COUNT = re.compile(r"\b(\d+|two|three|four|five|six|seven|eight|nine|ten)\s+(?:benchmarks|datasets|tasks)")
_ACRONYM = re.compile(r"^([A-Z][A-Za-z0-9-]{1,15}):\s")
_PROPOSE = re.compile(r"\b(?:propose|introduce|present)\s+([A-Z][A-Za-z0-9-]{2,15})\b")
_PHRASES = re.compile(r"[,、/／()（）:;.]|\band\b|\bor\b")
_BLURB = re.compile(r"<blurb(?: item=\"[^\"]*\")?>(.*?)</blurb>", re.DOTALL)
_GLOSSARY = (
    ("retrieval", "検索拡張"), ("long-context", "長文脈処理"), ("reasoning", "推論"),
    ("agent", "エージェント"), ("quantization", "量子化"), ("speculative", "投機的デコーディング"),
    ("distillation", "蒸留"), ("fine-tuning", "ファインチューニング"), ("preference", "選好最適化"),
    ("reward", "報酬モデル"), ("jailbreak", "ジェイルブレイク対策"), ("hallucination", "幻覚の抑制"),
    ("benchmark", "評価ベンチマーク"), ("evaluation", "評価手法"), ("synthetic", "合成データ生成"),
    ("multimodal", "マルチモーダル学習"), ("vision-language", "視覚言語モデル"), ("survey", "サーベイ"),
    ("interpretab", "内部表現の解析"), ("medical", "医療応用"), ("code", "コード生成"),
    ("tool", "ツール利用"), ("efficien", "効率化"),
)  # fmt: skip


@dataclass(frozen=True)
class PromptItem:
    id: str
    source: str
    title: str
    tags: str
    text: str

    @property
    def content(self) -> str:
        return f"{self.title}\n{self.text}\n{self.tags}"


def parse_items(text: str) -> list[PromptItem]:
    """Every `<item>` block of a rendered prompt, in order."""
    return [
        PromptItem(m[0], m[1].strip(), m[2].strip(), (m[3] or "").strip(), m[4]) for m in _ITEM.findall(text)
    ]


def parse_categories(system: str) -> dict[str, str]:
    """Category id -> its block of text (name, description, include, examples), in prompt order."""
    return {m.group(1): f"{m.group(2)}\n{m.group(3)}" for m in _CATEGORY.finditer(system)}


@lru_cache(maxsize=64)
def _matcher(terms: tuple[str, ...]) -> TermMatcher:
    return TermMatcher(terms)


def _hits(terms: Sequence[str], text: str) -> list[str]:
    """Distinct terms found in `text`, in order of first occurrence."""
    return list(dict.fromkeys(_matcher(tuple(terms)).keys(normalize(text))))


def _seed(*parts: str) -> int:
    return int(hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:8], 16)


class SimulatedLLM:
    """`responder(request_json) -> answer dict` for `OpenAIServer`; see the module docstring."""

    def __init__(
        self,
        keywords: Mapping[str, Sequence[str]] | None = None,
        *,
        llm_terms: Sequence[str] = LLM_TERMS,
        flaw_every: int = 10,
    ) -> None:
        self.keywords = {cat: tuple(terms) for cat, terms in (keywords or {}).items()}
        self.llm_terms = tuple(llm_terms)
        self.flaw_every = flaw_every

    def __call__(self, request: Mapping[str, Any]) -> dict[str, Any]:
        messages = [str(m.get("content") or "") for m in request.get("messages", [])]
        system, user = [*messages, "", ""][:2]
        name = schema_name(request)
        if name == "ClassificationBatch":
            return self.classify(system, user)
        if name == "Blurb":
            return {"blurb": self.summarize(user, later=messages[2:])}
        if name == "Verdict":
            return self.judge(user)
        if name == "BlurbBatch":
            return {"results": self.summarize_batch(user)}
        if name == "VerdictBatch":
            return {"results": self.judge_batch(user)}
        raise LookupError(f"SimulatedLLM cannot answer schema {name!r}")

    # --- the classifier ----------------------------------------------------------------------------

    def relevance(self, item: PromptItem) -> int:
        """1 without any LLM term; else 3–5 by how many LLM terms and significance cues it has."""
        found = _hits(self.llm_terms, item.content)
        if not found:
            return 1
        in_body = _hits(self.llm_terms, f"{item.title}\n{item.text}")
        if not in_body:
            return 2  # only a feed tag says LLM
        return min(5, 2 + min(2, len(in_body)) + (self.significance(item) >= 4))

    def classify(self, system: str, user: str) -> dict[str, Any]:
        categories = parse_categories(system)
        return {"results": [self._classify_one(item, categories) for item in parse_items(user)]}

    def _terms(self, category: str, block: str) -> tuple[str, ...]:
        if category in self.keywords:
            return self.keywords[category]
        phrases = (p.strip() for p in _PHRASES.split(block.replace("説明:", "").replace("含めるもの:", "")))
        return tuple(p for p in phrases if 3 <= len(p) <= 40)

    def _classify_one(self, item: PromptItem, categories: Mapping[str, str]) -> dict[str, Any]:
        relevance = self.relevance(item)
        scores: dict[str, int] = {}
        for cat, block in categories.items():
            found = _hits(self._terms(cat, block), item.content)
            scores[cat] = len(found) + len(_hits(self._terms(cat, block), item.title))
        ranked = sorted(scores, key=lambda c: -scores[c])  # stable: prompt order breaks ties
        fallback = "other" if "other" in categories else (ranked[-1] if ranked else "other")
        if relevance == 1 or not ranked or scores[ranked[0]] == 0:
            primary, confidence = fallback, 0.2
        else:
            primary = ranked[0]
            close = len(ranked) > 1 and scores[ranked[1]] == scores[primary]
            confidence = 0.5 if close else min(0.95, 0.55 + 0.1 * scores[primary])
        secondary = [
            c for c in ranked[1:3] if c != primary and scores[c] and scores[c] * 2 >= scores[primary]
        ]
        term = (_hits(self.llm_terms, item.content) or [primary])[0]
        return {
            "item_id": item.id,
            "primary": primary,
            "secondary": secondary,
            "confidence": round(confidence, 2),
            "relevance": relevance,
            "reason": f"「{term}」に関する{'論文' if item.source == 'arxiv' else '記事'}",
        }

    # --- the summarizer ------------------------------------------------------------------------------

    def summarize(self, user: str, *, later: Sequence[str] = ()) -> str:
        items = parse_items(user)
        if not items:
            return "内容を要約した紹介文。"
        limit = int(m.group(1)) if (m := _LIMIT.search(user)) else 120
        if later:  # a repair request: the shortest safe form
            limit = min(limit, 60)
        item = items[0]
        flawed = "<feedback>" not in user and self.flaw_every > 0 and _seed(item.title) % self.flaw_every == 0
        if item.source == "arxiv":
            return _fit(_paper_blurb(item, flawed=flawed), limit)
        title = _clip(item.title, 50)
        if japanese_ratio(f"{title}について解説した記事") < 0.4:
            title = _clip(item.title, 20)
        return _fit([f"{title}について、実装の手順と注意点を解説した記事。"], limit)

    def summarize_batch(self, user: str) -> list[dict[str, str]]:
        """One blurb per item, as if each had been asked alone (the limit line is the batch's)."""
        limit = m.group(1) if (m := _LIMIT.search(user)) else "120"
        return [
            {"item_id": item.id, "blurb": self.summarize(f"{limit}文字以内\n{_block(item)}")}
            for item in parse_items(user)
        ]

    # --- the judge -------------------------------------------------------------------------------------

    def judge_batch(self, user: str) -> list[dict[str, Any]]:
        """One verdict per item, each on the blurb that follows it."""
        blurbs = _BLURB.findall(user)
        return [
            {"item_id": item.id, **self.judge(f"{_block(item)}\n<blurb>{blurb}</blurb>")}
            for item, blurb in zip(parse_items(user), blurbs, strict=False)
        ]

    def significance(self, item: PromptItem) -> int:
        text = item.text.lower()
        cues = sum(cue in text for cue in _SIGNIFICANCE) + bool(_PERCENT.search(item.text))
        if item.source != "arxiv":
            return 3 if len(item.text) > 80 else 2
        return min(5, 2 + cues)

    def judge(self, user: str) -> dict[str, Any]:
        items = parse_items(user)
        found = _BLURB.search(user)
        if not items or found is None:
            return _verdict(1, 1, 1, 1, rationale="採点対象が見つからない", feedback="")
        item, blurb = items[0], found.group(1).strip()
        source_numbers = set(_NUMBER.findall(f"{item.title} {item.text}"))
        invented = [n for n in _NUMBER.findall(blurb) if n not in source_numbers]
        faithfulness = 2 if invented else 5
        ratio = japanese_ratio(blurb)
        polite = blurb.endswith(("です。", "ます。"))
        japanese = 3 if polite else 5 if ratio >= 0.5 else 4 if ratio >= 0.3 else 2
        feedback = f"「{invented[0]}」は原文にない数値。原文の値に直す。" if invented else ""
        relevance, significance = self.relevance(item), self.significance(item)
        rationale = f"関連度{relevance}・重要度{significance}。" + (
            "数値に誤りがある。" if invented else "原文に忠実。"
        )
        return _verdict(
            relevance, significance, faithfulness, japanese, rationale=rationale, feedback=feedback
        )


def _verdict(rel: int, sig: int, faith: int, ja: int, *, rationale: str, feedback: str) -> dict[str, Any]:
    return {
        "relevance": rel,
        "significance": sig,
        "faithfulness": faith,
        "japanese": ja,
        "rationale": rationale,
        "feedback": feedback,
    }


def _block(item: PromptItem) -> str:
    """The `<item>` block of one item, as the prompts render it."""
    tags = f"<tags>{item.tags}</tags>\n" if item.tags else ""
    return (
        f'<item id="{item.id}">\n<source>{item.source}</source>\n<title>{item.title}</title>\n'
        f"{tags}<text>\n{item.text}\n</text>\n</item>"
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _paper_blurb(item: PromptItem, *, flawed: bool) -> list[str]:
    """Sentences for a paper, best first; `_fit` drops the tail ones that do not fit."""
    name = m.group(1) if (m := _ACRONYM.match(item.title) or _PROPOSE.search(item.text)) else ""
    lowered = f"{item.title} {item.text[:300]}".lower()
    topic = next((ja for en, ja in _GLOSSARY if en in lowered), "LLMの課題")
    first = f"{name}という{topic}の手法を提案。" if name else f"{topic}の新しい手法を提案。"
    gain = _PERCENT.search(item.text)
    if gain is None:
        return [first, "複数の実験で有効性を確認したと報告。"]
    value = gain.group(1)
    if flawed:
        value = str(int(float(value)) + 1)
    count = m.group(1) if (m := _COUNT.search(item.text)) else ""
    where = f"{count}件のベンチマークで" if count.isdigit() else "実験で"
    return [first, f"{where}{value}%の改善を報告。"]


def _fit(sentences: Sequence[str], limit: int) -> str:
    """As many leading sentences as fit in `limit` characters (the first one clipped if needed)."""
    out = sentences[0] if len(sentences[0]) <= limit else sentences[0][: limit - 1] + "。"
    for sentence in sentences[1:2]:
        if len(out) + len(sentence) <= limit:
            out += sentence
    return out
