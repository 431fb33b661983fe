"""Agent quality on labeled papers: classify -> summarize -> judge, then accuracy, macro-F1 and blurb stats.

The labels are a curator's categories (`category_ja`), which differ from the configured ones;
`evals/category_map.toml` says which config ids each curator label accepts. A prediction is
correct when its id is one the gold label accepts. The judge's verdicts go through the pipeline's
own `decide()` (config thresholds, revisions), so "kept" means what the digest would keep.
"""

from __future__ import annotations

import asyncio
import json
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from digestbot.agents.base import AgentError, Agents
from digestbot.domain import Item, SourceName
from digestbot.graph.nodes.classify import clean_classification
from digestbot.graph.nodes.judge import judge_blurb
from digestbot.settings import Category, Settings
from digestbot.sources.text import japanese_ratio

NO_CATEGORY = "(none)"
RUBRIC = ("relevance", "significance", "faithfulness", "japanese")
_FIELDS = ("id", "category_ja", "arxiv_id", "title_en", "abstract_en", "blurb_ja")


class EvalError(Exception):
    """The labeled file or the category map cannot be used; the message names the file and the fix."""


@dataclass(frozen=True)
class LabeledPaper:
    id: str
    category_ja: str
    arxiv_id: str
    title_en: str
    abstract_en: str
    blurb_ja: str

    def item(self) -> Item:
        when = datetime(2024, 1, 1, tzinfo=UTC)  # the agents never read dates
        return Item(
            id=f"arxiv:{self.arxiv_id}",
            source=SourceName.ARXIV,
            url=f"https://arxiv.org/abs/{self.arxiv_id}",
            title=self.title_en,
            text=self.abstract_en,
            published=when,
            updated=when,
        )


def jsonl_rows(path: Path, fields: Sequence[str]) -> list[dict[str, str]]:
    """The `fields` of each JSON line of `path` (all text); EvalError names the line that is not."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        missing = [name for name in fields if not isinstance(row.get(name), str)]
        if missing:
            raise EvalError(f"{path}:{number}: missing or non-text field(s): {', '.join(missing)}")
        rows.append({name: row[name] for name in fields})
    return rows


def load_papers(path: Path) -> list[LabeledPaper]:
    papers = [LabeledPaper(**row) for row in jsonl_rows(path, _FIELDS)]
    if not papers:
        raise EvalError(f"{path}: no labeled papers in the file")
    return papers


def load_category_map(path: Path, categories: Sequence[Category]) -> dict[str, tuple[str, ...]]:
    """``[categories]`` table: curator label -> list of config category ids (each must exist)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalError(f"{path}: category map not found (pass --map FILE)") from None
    except tomllib.TOMLDecodeError as exc:
        raise EvalError(f"{path}: not valid TOML: {exc}") from None
    table = data.get("categories")
    if not isinstance(table, dict) or not table:
        raise EvalError(f'{path}: needs a [categories] table of "label" = ["config-id", ...]')
    known = {c.id for c in categories}
    mapping: dict[str, tuple[str, ...]] = {}
    for label, ids in table.items():
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise EvalError(f"{path}: {label}: must be a non-empty list of category ids")
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise EvalError(
                f"{path}: {label}: unknown category id(s) {unknown} (known: {', '.join(sorted(known))})"
            )
        mapping[label] = tuple(ids)
    return mapping


def check_labels(
    papers: Sequence[LabeledPaper], mapping: Mapping[str, Sequence[str]], map_path: Path
) -> None:
    unmapped = sorted({p.category_ja for p in papers} - set(mapping))
    if unmapped:
        raise EvalError(
            f"{map_path}: no mapping for label(s) {', '.join(unmapped)}; add them to [categories]"
        )


# --- pure metrics ------------------------------------------------------------------------------


def accuracy(gold: Sequence[str], predicted: Sequence[str]) -> float:
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted differ in length")
    return sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold) if gold else 0.0


def f1_per_label(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    scores = {}
    for label in labels:
        tp = sum(g == p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(p == label != g for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label != p for g, p in zip(gold, predicted, strict=True))
        scores[label] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return scores


def macro_f1(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str] | None = None) -> float:
    """Unweighted mean of per-label F1 over `labels` (default: the labels present in `gold`)."""
    per_label = f1_per_label(gold, predicted, labels if labels is not None else sorted(set(gold)))
    return sum(per_label.values()) / len(per_label) if per_label else 0.0


def as_gold_label(predicted_id: str, gold: str, mapping: Mapping[str, Sequence[str]]) -> str:
    """The curator label a predicted id stands for: `gold` if it accepts the id, else the first that does."""
    if predicted_id in mapping.get(gold, ()):
        return gold
    return next((label for label, ids in mapping.items() if predicted_id in ids), predicted_id or NO_CATEGORY)


@dataclass(frozen=True)
class TextStats:
    mean_chars: float
    max_chars: int
    within_limit: float  # share of texts no longer than the limit
    mean_japanese_ratio: float


def text_stats(texts: Sequence[str], limit: int) -> TextStats:
    if not texts:
        return TextStats(0.0, 0, 0.0, 0.0)
    lengths = [len(t) for t in texts]
    return TextStats(
        mean_chars=sum(lengths) / len(lengths),
        max_chars=max(lengths),
        within_limit=sum(n <= limit for n in lengths) / len(lengths),
        mean_japanese_ratio=sum(japanese_ratio(t) for t in texts) / len(texts),
    )


# --- the run ------------------------------------------------------------------------------------


@dataclass
class PaperOutcome:
    paper_id: str
    gold: str
    predicted: str = ""  # config category id; "" = none (off-topic, or the classifier failed)
    blurb: str = ""
    scores: dict[str, int] = field(default_factory=dict)
    kept_first: bool = False  # the judge kept the first blurb
    kept: bool = False  # kept after the allowed revisions
    revisions: int = 0
    error: str = ""


@dataclass
class EvalReport:
    model: str
    papers: int
    accuracy: float
    macro_f1: float
    f1: dict[str, float]
    confusion: dict[str, dict[str, int]]  # gold label -> predicted id -> count
    blurbs: TextStats
    curator: TextStats
    kept_first: float
    kept: float
    mean_scores: dict[str, float]
    failures: int
    limit: int
    outcomes: list[PaperOutcome]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


ProgressFn = Callable[[int], None]


async def _blurb_and_verdict(
    agents: Agents, settings: Settings, item: Item, category: Category | None, out: PaperOutcome
) -> None:
    limit = settings.app.pipeline.summary_max_chars
    out.blurb = await agents.summarize(item, max_chars=limit)
    if category is None:
        return  # the pipeline drops an item that fits no category before summarizing it
    config = settings.app.pipeline.judge
    while True:
        judged = await judge_blurb(
            agents, item, out.blurb, category, config, revisions=out.revisions, max_chars=limit
        )
        out.scores = {name: getattr(judged.scores, name) for name in RUBRIC}
        if out.revisions == 0:
            out.kept_first = judged.action == "keep"
        if judged.action != "revise":
            out.kept = judged.action == "keep"
            out.blurb = judged.blurb
            return
        out.revisions += 1
        feedback = f"{judged.feedback}（前回の要約: {out.blurb}）"  # as the judge node sends it
        out.blurb = await agents.summarize(item, max_chars=limit, feedback=feedback)


async def run_eval(
    agents: Agents,
    settings: Settings,
    papers: Sequence[LabeledPaper],
    mapping: Mapping[str, Sequence[str]],
    *,
    on_progress: ProgressFn | None = None,
) -> EvalReport:
    """Run the agents on every paper (concurrency capped by `llm.max_concurrency`) and score them."""
    items = [paper.item() for paper in papers]
    outcomes = [PaperOutcome(paper_id=p.id, gold=p.category_ja) for p in papers]
    size = max(1, agents.batch_size("classifier"))
    other = settings.app.pipeline.other_category or None
    for start in range(0, len(items), size):
        answers = await agents.classify(items[start : start + size], settings.categories)
        for out, answer in zip(outcomes[start : start + size], answers, strict=True):
            if isinstance(answer, AgentError):
                out.error = f"classifier: {answer}"
            elif cleaned := clean_classification(answer, settings.categories, other):
                out.predicted = cleaned.primary
    gate = asyncio.Semaphore(settings.app.llm.max_concurrency)

    async def one(item: Item, out: PaperOutcome) -> None:
        category = settings.category(out.predicted) if out.predicted else None
        async with gate:
            try:
                await _blurb_and_verdict(agents, settings, item, category, out)
            except AgentError as exc:
                out.error = out.error or str(exc)
        if on_progress:
            on_progress(1)

    await asyncio.gather(*(one(item, out) for item, out in zip(items, outcomes, strict=True)))
    return score_outcomes(outcomes, papers, mapping, settings, model=agents.usage.model)


def score_outcomes(
    outcomes: Sequence[PaperOutcome],
    papers: Sequence[LabeledPaper],
    mapping: Mapping[str, Sequence[str]],
    settings: Settings,
    *,
    model: str,
) -> EvalReport:
    gold = [o.gold for o in outcomes]
    predicted = [as_gold_label(o.predicted, o.gold, mapping) for o in outcomes]
    confusion: dict[str, dict[str, int]] = {}
    for out in outcomes:
        row = confusion.setdefault(out.gold, {})
        row[out.predicted or NO_CATEGORY] = row.get(out.predicted or NO_CATEGORY, 0) + 1
    judged = [o for o in outcomes if o.scores]
    limit = settings.app.pipeline.summary_max_chars
    labels = [label for label in mapping if label in set(gold)]
    return EvalReport(
        model=model,
        papers=len(outcomes),
        accuracy=accuracy(gold, predicted),
        macro_f1=macro_f1(gold, predicted, labels),
        f1=f1_per_label(gold, predicted, labels),
        confusion=confusion,
        blurbs=text_stats([o.blurb for o in outcomes if o.blurb], limit),
        curator=text_stats([p.blurb_ja for p in papers], limit),
        kept_first=sum(o.kept_first for o in outcomes) / len(outcomes) if outcomes else 0.0,
        kept=sum(o.kept for o in outcomes) / len(outcomes) if outcomes else 0.0,
        mean_scores={n: sum(o.scores[n] for o in judged) / len(judged) if judged else 0.0 for n in RUBRIC},
        failures=sum(bool(o.error) for o in outcomes),
        limit=limit,
        outcomes=list(outcomes),
    )
