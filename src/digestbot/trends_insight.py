"""The 考察 of the trends section: written by the trends agent, checked in code, then by the judge.

Grounded only in this week's shown items: the agent sees the category counts, the rising terms and
the numbered entries, and must cite entries as [n]. Code rejects a text that is too long, has more
than two sentences, too little Japanese, or cites nothing or a number not listed; the judge then
scores it like a blurb against that same material (faithfulness and japanese must pass). A failing
text gets the judge's feedback for up to `max_revisions` rewrites, then the section ships without
a 考察 (counts and terms only) and the reason goes to the run report. The accepted text is cached
by the prompt's fingerprint and its material, so a re-run makes no call.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import Engine

from digestbot.agents.base import AgentError, Agents
from digestbot.agents.cached import CachedAgents, digest_of
from digestbot.agents.llm_agents import blurb_problems, untrusted
from digestbot.agents.llm_trends import Write, insight_writer
from digestbot.domain import Digest, Item, SourceName, Trends
from digestbot.graph.nodes.judge import scores_of
from digestbot.graph.state import Verdict
from digestbot.settings import Category, JudgeConfig, Settings
from digestbot.store.cache import ResultCache
from digestbot.trends import trends_for

MAX_ENTRIES = 30  # the best-ranked shown items the agent may cite
TRENDS_CATEGORY = Category(
    id="trends",
    name="今週の傾向",
    description="ダイジェストの件数集計と掲載記事一覧に基づく考察（紹介文の代わりに考察を採点する）",
)
_MARKER = re.compile(r"\[(\d{1,2})\]")

Judge = Callable[[Item, str, Category], Awaitable[Verdict]]


class ResultStore(Protocol):
    def get(self, key: str) -> Any | None: ...

    def put(self, key: str, value: Any) -> None: ...


def _change(change: float | None) -> str:
    if change is None or change == 0:
        return "±0"
    return f"{'↑' if change > 0 else '↓'}{abs(change):g}"


def insight_material(digest: Digest, trends: Trends, max_chars: int) -> tuple[dict[str, Any], list[str]]:
    """The trends prompt's variables (all but feedback/previous) and the item id of each entry number."""
    shown = sorted((e for s in digest.sections for e in s.entries), key=lambda e: (-e.rank, e.item.id))[
        :MAX_ENTRIES
    ]
    names = {s.category: s.name for s in digest.sections}
    entries = [
        {
            "n": n,
            "category": untrusted(names.get(e.category, e.category)),
            "source": str(e.item.source),
            "title": untrusted(e.item.title),
            "blurb": untrusted(e.blurb),
        }
        for n, e in enumerate(shown, 1)
    ]
    counts = [
        {"name": untrusted(c.name), "count": c.count, "baseline": c.baseline, "change": _change(c.change)}
        for c in trends.categories
    ]
    terms = [{"term": untrusted(t.term), "count": t.count, "baseline": t.baseline} for t in trends.rising]
    variables = {
        "weeks": trends.weeks_compared,
        "counts": counts,
        "terms": terms,
        "entries": entries,
        "max_chars": max_chars,
    }
    return variables, [e.item.id for e in shown]


def insight_problems(text: str, entries: int, max_chars: int, min_japanese: float) -> list[str]:
    """The rules the code checks (as instructions for the rewrite); empty = fine."""
    problems = [p.replace("紹介文", "考察") for p in blurb_problems(text, max_chars, min_japanese)]
    cited = [int(n) for n in _MARKER.findall(text)]
    if not cited:
        problems.append("代表する記事を少なくとも1件、[3] のように番号で示してください。")
    if unknown := sorted({n for n in cited if not 1 <= n <= entries}):
        problems.append(f"一覧にない番号 {unknown} を使わないでください（1〜{entries}）。")
    return problems


def renumber(text: str, ids: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """Markers renumbered [1], [2]... in order of first mention; returns the cited item ids in that order."""
    order: list[int] = []
    for n in (int(m) for m in _MARKER.findall(text)):
        if n not in order:
            order.append(n)
    mapping = {old: new for new, old in enumerate(order, 1)}
    renumbered = _MARKER.sub(lambda m: f"[{mapping[int(m.group(1))]}]", text)
    return renumbered, tuple(ids[n - 1] for n in order)


def material_item(digest: Digest, variables: dict[str, Any]) -> Item:
    """The judge's "source": the counts, terms and entries the 考察 must be grounded in."""
    lines = [f"前{variables['weeks']}週との比較（今週の件数、前の週の平均）:"]
    lines += [
        f"- {c['name']}: {c['count']}件、平均 {c['baseline']}件（{c['change']}）" for c in variables["counts"]
    ]
    lines += [f"- 語「{t['term']}」: {t['count']}件、平均 {t['baseline']}件" for t in variables["terms"]]
    lines.append("今週の掲載記事:")
    lines += [f"[{e['n']}] ({e['category']}) {e['title']} — {e['blurb']}" for e in variables["entries"]]
    end = digest.window.end
    return Item(
        id=f"trends:{digest.window.start:%Y-%m-%d}",
        source=SourceName.ARXIV,  # the protocol needs a source; the judge reads the text below
        url="https://digestbot.invalid/trends",
        title="今週の傾向（件数の集計と掲載記事の一覧）",
        text="\n".join(lines),
        published=end - timedelta(seconds=1),
        updated=end - timedelta(seconds=1),
        language="ja",
    )


async def write_insight(
    digest: Digest,
    trends: Trends,
    *,
    write: Write,
    judge: Judge,
    judge_config: JudgeConfig,
    max_chars: int,
    min_japanese: float,
    fingerprint: str,
    cache: ResultStore | None = None,
) -> tuple[Trends, str]:
    """`trends` with the accepted 考察, or without one and the reason why (for the run report)."""
    bare = dataclasses.replace(trends, insight="", cited=())
    if trends.weeks_compared == 0:
        return bare, "no 考察: no earlier weekly digest to compare with yet"
    variables, ids = insight_material(digest, trends, max_chars)
    key = "trends:" + digest_of(fingerprint, json.dumps(variables, ensure_ascii=False, sort_keys=True))
    cached = cache.get(key) if cache is not None else None
    if isinstance(cached, dict):
        return dataclasses.replace(trends, insight=cached["insight"], cited=tuple(cached["cited"])), ""
    feedback = previous = why = ""
    for _ in range(judge_config.max_revisions + 1):
        try:
            text = await write(variables, feedback, previous)
            problems = insight_problems(text, len(ids), max_chars, min_japanese)
            if problems:
                feedback, previous, why = " ".join(problems), text, "; ".join(problems)
                continue
            verdict = await judge(material_item(digest, variables), text, TRENDS_CATEGORY)
        except AgentError as exc:
            return bare, f"no 考察: {exc}"
        scores = scores_of(verdict)
        faults = [
            f"{name} {score} < {minimum}"
            for name, score, minimum in (
                ("faithfulness", scores.faithfulness, judge_config.min_faithfulness),
                ("japanese", scores.japanese, judge_config.min_japanese),
            )
            if score < minimum
        ]
        if not faults:
            insight, cited = renumber(text, ids)
            if cache is not None:
                cache.put(key, {"insight": insight, "cited": list(cited)})
            return dataclasses.replace(trends, insight=insight, cited=cited), ""
        feedback, previous, why = verdict.feedback.strip() or "; ".join(faults), text, "; ".join(faults)
    return bare, f"no 考察: the judge did not accept it ({why})"


def attach_trends(
    digest: Digest, settings: Settings, engine: Engine, agents: Agents, cached: CachedAgents
) -> tuple[Digest, str]:
    """The digest with its trends section (weekly digests only) and, in LLM mode, the checked 考察.

    Returns the digest and, when there is no 考察 in LLM mode, why (for the run report).
    """
    config = settings.app.trends
    trends = trends_for(
        digest,
        engine,
        settings.categories,
        interests=settings.app.pipeline.prefilter.interests,
        compare_weeks=config.compare_weeks,
        max_terms=config.rising_terms,
    )
    if trends is None:
        return digest, ""
    write = insight_writer(agents) if config.insight and not agents.offline else None
    note = ""
    if write is not None:
        trends, note = asyncio.run(
            write_insight(
                digest,
                trends,
                write=write,
                judge=cached.judge,
                judge_config=settings.app.pipeline.judge,
                max_chars=config.insight_max_chars,
                min_japanese=settings.app.pipeline.min_japanese_ratio,
                fingerprint=agents.fingerprint("trends"),
                cache=ResultCache(engine),
            )
        )
    return dataclasses.replace(digest, trends=trends), note
