"""Offline judge: rule-based rubric scores, with a rationale naming the rules that fired.

relevance     1 + category fit (the classifier's score for the judged category: 0-2; the fallback
              category counts 1) + team interest (`prefilter.interests`: 1 for one term in the text,
              2 for one in the title or tags or two different ones).
significance  2 + one point per signal: a state-of-the-art/outperform claim, a quantitative result,
              popularity (likes/stocks/bookmarks), a cross-listing.
faithfulness  5 minus 2 per number the source does not contain or states about something else
              (the numbers guard, `agents/guards.py`), 1 per Latin word the source does not contain and
              2 per evaluation the summarizer's rules forbid (画期的, 期待される; 大幅 unless the source
              says significant/substantial ...).
japanese      from the guards' calibrated `japanese_score` (names copied from the source set aside):
              5 from `good_score`, 4 from the guard's threshold, 3 from `poor_score`. 5 also needs the
              whole blurb to reach `pipeline.min_japanese_ratio` of kana/kanji, else 4. Over-long
              blurbs score 2 at most. Whatever these give, a failed guard caps both scores in the
              judge step (graph/nodes/judge.py), for this judge and the LLM's alike.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from digestbot.agents import guards
from digestbot.agents.offline_classify import PARAMS as CLASSIFY_PARAMS
from digestbot.agents.offline_classify import CategoryModel
from digestbot.agents.offline_template import quantities
from digestbot.agents.offline_text import TermMatcher, normalize
from digestbot.domain import Item
from digestbot.graph.state import Verdict
from digestbot.settings import Category, JudgeConfig
from digestbot.sources.text import japanese_ratio

PARAMS: dict[str, float] = {
    "strong_fit": 4,  # x the classifier's min_fit: a second relevance point
    "popular": 10,  # popularity score for one significance point
    "very_popular": 50,  # ... for two
    "missing_number_penalty": 2,
    "missing_word_penalty": 1,
    "hype_penalty": 2,  # an evaluation the source does not make (画期的, 期待される)
    "good_score": 0.9,  # guards.japanese_score for japanese 5 (4 from the guard's threshold)
    "poor_score": 0.35,  # japanese 3
}

_LATIN = re.compile(r"[a-z0-9]+(?:[-.'+][a-z0-9]+)*")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_CLAIMS = TermMatcher(
    [
        "state-of-the-art", "SOTA", "outperform", "outperforms", "outperformed", "outperforming",
        "surpass", "surpassed", "surpassing", "new record", "最先端", "上回",
    ]
)  # fmt: skip
_CROSS_LISTED = frozenset({"cross", "replace-cross"})


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(unicodedata.normalize("NFKC", text))}


def _latin_words(text: str) -> set[str]:
    return set(_LATIN.findall(normalize(text)))


def _source_words(text: str) -> set[str]:
    """The source's Latin words and their parts (``llm-as-a-judge`` -> llm, as, a, judge; ``openai's``)."""
    words = _latin_words(text)
    return words | {part for word in words for part in re.split(r"[-.'+]", word) if part}


def unsupported(blurb: str, source: str) -> tuple[list[str], list[str]]:
    """(numbers, Latin words) of `blurb` that `source` does not contain."""
    source_numbers, source_words = _numbers(source), _source_words(source)
    numbers = sorted(_numbers(blurb) - source_numbers)
    words = sorted(w for w in _latin_words(blurb) - source_words if not w.replace(".", "").isdigit())
    return numbers, words


@dataclass(frozen=True)
class OfflineJudge:
    """Everything the judge needs from the configuration, compiled once."""

    model: CategoryModel
    interests: TermMatcher
    judge: JudgeConfig
    max_chars: int
    min_japanese_ratio: float

    def verdict(self, item: Item, blurb: str, category: Category) -> Verdict:
        relevance, why_relevant = self.relevance(item, category)
        significance, signals = significance_of(item)
        faithfulness, numbers, words = faithfulness_of(item, blurb)
        missing = [f"not in the source: {', '.join(found)}" for found in (numbers, words) if found]
        japanese, why_japanese = self.japanese(blurb)
        rationale = (
            f"relevance {relevance}: {why_relevant}; significance {significance}: "
            f"{', '.join(signals) or 'no signal'}; faithfulness {faithfulness}: "
            + ("every number and Latin word is in the source" if faithfulness == 5 else "; ".join(missing))
            + f"; japanese {japanese}: {why_japanese}"
        )
        feedback = []
        if faithfulness < self.judge.min_faithfulness:
            feedback.append("原文にない数値・語を削除してください: " + ", ".join([*numbers, *words][:6]))
        if japanese < self.judge.min_japanese:
            feedback.append(f"日本語の文で{self.max_chars}文字以内に書いてください（{why_japanese}）")
        return Verdict(
            relevance=relevance,
            significance=significance,
            faithfulness=faithfulness,
            japanese=japanese,
            rationale=rationale,
            feedback="。".join(feedback),
        )

    def relevance(self, item: Item, category: Category) -> tuple[int, str]:
        """1 + category fit (0-2) + team interest (0-2): category keywords alone are not enough."""
        if category.id == self.model.other:
            fit, fit_why = 1, f"fallback category {category.id}"
        else:
            score = self.model.score_of(item, category.id)
            value = score.score if score else 0.0
            min_fit = CLASSIFY_PARAMS["min_fit"]
            fit = int(value >= min_fit) + int(value >= min_fit * PARAMS["strong_fit"])
            terms = ", ".join(score.top_terms(3)) if score and score.hits else "no keywords"
            fit_why = f"{category.id} score {value:.1f} ({terms})"
        in_title = set(self.interests.keys(normalize(f"{item.title}\n{' '.join(item.tags)}")))
        found = in_title | set(self.interests.keys(normalize(item.text)))
        interest = 2 if in_title or len(found) >= 2 else len(found)
        names = ", ".join(sorted(self.interests.terms[key] for key in found)) or "none"
        return min(5, 1 + fit + interest), f"{fit_why}; interests: {names}"

    def japanese(self, blurb: str) -> tuple[int, str]:
        if not blurb.strip():
            return 1, "empty"
        share = guards.japanese_score(blurb)
        target = self.min_japanese_ratio
        score = 2 if share > 0 else 1
        ladder = (
            (5, PARAMS["good_score"]),
            (4, guards.PARAMS["min_japanese_score"]),
            (3, PARAMS["poor_score"]),
        )
        for points, threshold in ladder:
            if share >= threshold:
                score = points
                break
        overall = japanese_ratio(blurb)
        if score == 5 and overall < target:
            score = 4  # Japanese sentences, but kept-English names and quotes dominate the text
        if len(blurb) > self.max_chars:
            score = min(score, 2)
        return (
            score,
            f"Japanese score {share:.2f} (names aside), {overall:.0%} of all letters; "
            f"{len(blurb)}/{self.max_chars} chars",
        )


def significance_of(item: Item) -> tuple[int, list[str]]:
    signals = []
    text = f"{item.title}\n{item.text}"
    if claim := next(_CLAIMS.keys(normalize(text)), None):
        signals.append(f"claim '{_CLAIMS.terms[claim]}'")
    if next(quantities(text), None):
        signals.append("quantitative result")
    popularity = item.popularity.score()
    if popularity >= PARAMS["very_popular"]:
        signals += [f"popularity {popularity}", "very popular"]
    elif popularity >= PARAMS["popular"]:
        signals.append(f"popularity {popularity}")
    if item.announce_type in _CROSS_LISTED:
        signals.append("cross-listed")
    return min(5, 2 + len(signals)), signals


_HYPE = re.compile(r"画期的|革新的|業界初|世界初|期待され|飛躍的|圧倒的|驚異的")
_LARGE = re.compile(r"大幅")
_LARGE_EN = re.compile(
    r"\b(?:significant|substantial|dramatic|remarkabl|considerabl|marked|greatly|largely)", re.I
)


def hype(blurb: str, source: str) -> list[str]:
    """Evaluations the summarizer's rules forbid (画期的, 期待される), and 大幅 the source does not back."""
    found = [f"「{m.group(0)}」" for m in _HYPE.finditer(blurb)]
    if _LARGE.search(blurb) and not _LARGE_EN.search(source):
        found.append("「大幅」")
    return found


def _names(words: list[str]) -> list[str]:
    """One entry per unsupported name: a variant that contains another (IterX beside X) is the same."""
    folded = [w.casefold() for w in words]
    shorter = [o for o in folded if len(o) >= 3]
    return [w for w, f in zip(words, folded, strict=True) if not any(o != f and o in f for o in shorter)]


def faithfulness_of(item: Item, blurb: str) -> tuple[int, list[str], list[str]]:
    numbers, words = unsupported(blurb, f"{item.title}\n{item.text}")
    numbers += [f.reason for f in guards.number_failures(item, blurb) if "not stated about" in f.reason]
    claims = hype(blurb, f"{item.title}\n{item.text}")
    penalty = (
        PARAMS["missing_number_penalty"] * len(numbers)
        + PARAMS["missing_word_penalty"] * len(_names(words))
        + PARAMS["hype_penalty"] * len(claims)
    )
    words += claims
    return max(1, 5 - int(penalty)), numbers, words
