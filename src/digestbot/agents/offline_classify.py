"""Offline classifier: deterministic keyword scoring against the configured categories.

The categories file is the data. Each category contributes terms: its `keywords_en`/`keywords_ja`
and name (full weight), short noun phrases cut from its description and include hints (half
weight), and phrases from its exclude hints (a penalty). Title and tag hits weigh more than
abstract hits, multiword phrases more than single words, repeated abstract hits a little more.
All terms of a category set go into one `TermMatcher`, compiled once and cached.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from digestbot.agents.offline_text import TermMatcher, normalize, term_key
from digestbot.domain import Item
from digestbot.graph.state import Classification
from digestbot.settings import Category

# Heuristic parameters; they are hashed into the classifier's fingerprint.
PARAMS: dict[str, float] = {
    "keyword_weight": 1.0,
    "name_weight": 1.0,
    "hint_weight": 0.5,  # description and include-hint phrases
    "exclude_penalty": 1.0,
    "phrase_bonus": 1.5,  # multiword ASCII terms, Japanese terms of 4+ characters
    "title_weight": 3.0,
    "tags_weight": 2.0,
    "text_weight": 1.0,
    "repeat_bonus": 0.5,  # each further abstract occurrence, at most `max_repeats` of them
    "max_repeats": 2,
    "min_fit": 1.5,  # below this score the item fits no category
    "secondary_ratio": 0.5,  # secondary categories score at least this share of the primary
    "max_secondary": 2,
    "strong_score": 6.0,  # a score this high counts as fully confident
    "no_fit_confidence": 0.15,
}

# Words that say nothing about a category when cut out of a description or hint.
_LEADING = frozenset((
    "a", "an", "the", "new", "novel", "other", "its", "their", "any", "each", "all", "some", "single",
    "main", "only", "more", "less", "this", "these", "those", "making", "applying", "creating", "using",
))  # fmt: skip
_STOP = _LEADING | frozenset((
    "llm", "llms", "model", "models", "language", "large", "method", "methods", "approach", "approaches",
    "system", "systems", "paper", "papers", "study", "studies", "work", "works", "research", "area",
    "domain", "field", "items", "item", "everything", "else", "none", "fit", "above", "use", "used", "goal",
    "quality", "things", "thing", "one", "two", "how", "what", "can", "cannot", "do",
))  # fmt: skip
_BREAK = frozenset((
    "for", "with", "without", "whose", "that", "which", "used", "about", "how", "between", "in", "into",
    "on", "to", "from", "by", "as", "when", "where", "like", "such", "than", "via", "whether",
))  # fmt: skip
_CLAUSES = re.compile(r"[,;:.()（）、]")
_ALTERNATIVES = re.compile(r"\s+(?:and|or)\s+|/|・|-style\b")
_NAME_SPLIT = re.compile(r"[/／（）()、・]")
_PARENTHETICAL = re.compile(r"\([^)]*\)|（[^）]*）")


def hint_phrases(text: str) -> list[str]:
    """Short noun phrases cut out of a description or hint: ``"model merging, distillation"`` -> both.

    A lone word survives only if it stood alone between commas: in ``long-context extension or
    evaluation`` or ``memory for long documents`` the bare ``evaluation``/``memory`` would mislead.
    """
    out: list[str] = []
    for clause in _CLAUSES.split(_PARENTHETICAL.sub(" ", text)):
        alternatives = _ALTERNATIVES.split(clause)
        for raw in alternatives:
            words: list[str] = []
            cut = False
            for word in raw.split():
                if word.lower() in _BREAK:
                    cut = True
                    break
                words.append(word)
            while words and words[0].lower() in _LEADING:
                words.pop(0)
            if not words or len(words) > 3 or all(w.lower() in _STOP for w in words):
                continue
            if len(words) == 1 and (cut or len(alternatives) > 1):
                continue
            phrase = " ".join(words)
            if len(phrase) >= 3 or not phrase.isascii():
                out.append(phrase)
    return out


def name_phrases(name: str) -> list[str]:
    """Pieces of a display name minus a ``系``/``形`` ("-type") suffix: ``RAG/ロングコンテキスト`` -> both."""
    pieces = (raw.strip().removesuffix("系").removesuffix("形").strip() for raw in _NAME_SPLIT.split(name))
    return [piece for piece in pieces if len(piece) >= 2]


def _is_phrase(term: str) -> bool:
    key = term_key(term)
    if key.isascii():
        return len(re.split(r"[\s\-]+", term.strip())) > 1
    return len(key) >= 4


def _weighted_terms(cat: Category, *, fallback: bool) -> list[tuple[str, float]]:
    """(term, weight): keywords and name at full weight, hint phrases at half, exclude phrases negative."""
    groups: list[tuple[Sequence[str], float]] = [(cat.keywords, PARAMS["keyword_weight"])]
    if not fallback:  # the fallback bucket is chosen when nothing fits, never matched on its prose
        hints = [p for text in (cat.description, *cat.include) for p in hint_phrases(text)]
        groups += [(name_phrases(cat.name), PARAMS["name_weight"]), (hints, PARAMS["hint_weight"])]
    out = [(t, w * (PARAMS["phrase_bonus"] if _is_phrase(t) else 1.0)) for terms, w in groups for t in terms]
    return out + [(p, -PARAMS["exclude_penalty"]) for text in cat.exclude for p in hint_phrases(text)]


@dataclass(frozen=True)
class _Weight:
    category: int
    weight: float  # negative = exclude penalty


@dataclass
class CategoryScore:
    """One category's score for one item, with the terms that produced it."""

    score: float = 0.0
    hits: dict[str, float] = field(default_factory=dict)  # display term -> contribution
    excluded: list[str] = field(default_factory=list)

    def top_terms(self, n: int = 4) -> list[str]:
        return [t for t, _ in sorted(self.hits.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


class CategoryModel:
    """The compiled scoring model for one category set (build with `category_model`, which caches)."""

    def __init__(self, categories: Sequence[Category], other_category: str | None) -> None:
        self.categories = tuple(categories)
        self.other = other_category or None
        table: dict[str, dict[int, float]] = defaultdict(dict)
        terms: list[str] = []
        for index, cat in enumerate(self.categories):
            for term, weight in _weighted_terms(cat, fallback=cat.id == self.other):
                terms.append(term)
                by_category = table[term_key(term)]
                current = by_category.get(index)
                if weight > 0:
                    by_category[index] = max(current or 0.0, weight)
                elif current is None:  # a term never counts both for and against one category
                    by_category[index] = weight
        self.matcher = TermMatcher(terms)
        self.table = {
            key: [_Weight(i, w) for i, w in sorted(by_cat.items())] for key, by_cat in table.items()
        }

    def score(self, item: Item) -> list[CategoryScore]:
        """One `CategoryScore` per category, in config order."""
        scores = [CategoryScore() for _ in self.categories]
        fields = (
            (item.title, PARAMS["title_weight"], 0),
            (" / ".join(item.tags), PARAMS["tags_weight"], 0),
            (item.text, PARAMS["text_weight"], int(PARAMS["max_repeats"])),
        )
        for text, field_weight, max_repeats in fields:
            counts: dict[str, int] = defaultdict(int)
            for key in self.matcher.keys(normalize(text)):
                counts[key] += 1
            for key, count in counts.items():
                factor = field_weight * (1 + PARAMS["repeat_bonus"] * min(count - 1, max_repeats))
                term = self.matcher.terms[key]
                for entry in self.table.get(key, ()):
                    target = scores[entry.category]
                    target.score += entry.weight * factor
                    if entry.weight > 0:
                        target.hits[term] = target.hits.get(term, 0.0) + entry.weight * factor
                    elif term not in target.excluded:
                        target.excluded.append(term)
        return scores

    def classify(self, item: Item) -> Classification:
        scores = self.score(item)
        ranked = sorted(
            (i for i, cat in enumerate(self.categories) if cat.id != self.other or scores[i].score > 0),
            key=lambda i: (-scores[i].score, i),
        )
        best = ranked[0] if ranked else None
        if best is None or scores[best].score < PARAMS["min_fit"]:
            return self._no_fit(item, scores[best] if best is not None else None)
        top = scores[best]
        runner_up = scores[ranked[1]].score if len(ranked) > 1 else 0.0
        secondary = [
            self.categories[i].id
            for i in ranked[1:]
            if scores[i].score >= max(PARAMS["min_fit"], PARAMS["secondary_ratio"] * top.score)
        ][: int(PARAMS["max_secondary"])]
        margin = (top.score - max(runner_up, 0.0)) / top.score
        strength = min(1.0, top.score / PARAMS["strong_score"])
        confidence = round(min(0.95, 0.3 + 0.4 * margin + 0.25 * strength), 2)
        reason = "keywords: " + ", ".join(top.top_terms())
        if top.excluded:
            reason += "; against: " + ", ".join(top.excluded[:2])
        return Classification(
            item_id=item.id,
            primary=self.categories[best].id,
            secondary=secondary,
            confidence=confidence,
            relevance=2 + round(3 * strength),  # 2..5 by how strongly the category's terms matched
            reason=reason,
        )

    def _no_fit(self, item: Item, best: CategoryScore | None) -> Classification:
        if best is not None and best.hits:
            reason = f"weak match ({best.score:.1f} < {PARAMS['min_fit']}): " + ", ".join(best.top_terms())
        else:
            reason = "no category keywords matched"
        return Classification(
            item_id=item.id,
            primary=self.other or "",  # "" = fits no category; the caller drops it
            confidence=PARAMS["no_fit_confidence"] if self.other else 0.0,
            relevance=2 if self.other else 1,  # "other" is peripheral, not off-topic: it may still be shown
            reason=reason,
        )

    def score_of(self, item: Item, category_id: str) -> CategoryScore | None:
        for cat, score in zip(self.categories, self.score(item), strict=True):
            if cat.id == category_id:
                return score
        return None


@lru_cache(maxsize=16)
def category_model(categories: tuple[Category, ...], other_category: str | None) -> CategoryModel:
    """The compiled model for a category set; cached, so the regex is built once per set."""
    return CategoryModel(categories, other_category)
