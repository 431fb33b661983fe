"""Judge quality on planted defects (`digestbot eval --judge FILE`), and the guards' view of eval blurbs.

A defects file (built by `evals/build_judge_defects.py`) holds, per paper, the curator's blurb
(`kind` = "clean") and variants with one planted defect each. Each row is judged as the pipeline
judges a final blurb: the configured judge's verdict, capped by the guards, against the
`pipeline.judge` thresholds (no revision, no salvage). A defect is detected when the blurb would not
be kept for a blurb fault (faithfulness or japanese below the threshold); a clean blurb rejected
the same way is a false alarm.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from digestbot.agents import guards
from digestbot.agents.base import AgentError, Agents
from digestbot.evaluation import EvalError, LabeledPaper, PaperOutcome, jsonl_rows
from digestbot.graph.nodes.judge import scores_of
from digestbot.settings import Settings

CLEAN = "clean"
_FIELDS = ("paper_id", "kind", "blurb", "category_ja", "arxiv_id", "title_en", "abstract_en")


@dataclass(frozen=True)
class DefectRow:
    paper_id: str
    kind: str
    blurb: str
    category_ja: str
    arxiv_id: str
    title_en: str
    abstract_en: str

    def paper(self) -> LabeledPaper:
        return LabeledPaper(
            self.paper_id, self.category_ja, self.arxiv_id, self.title_en, self.abstract_en, self.blurb
        )


def load_defects(path: Path) -> list[DefectRow]:
    rows = [DefectRow(**row) for row in jsonl_rows(path, _FIELDS)]
    if not rows:
        raise EvalError(f"{path}: no rows (build it with python evals/build_judge_defects.py)")
    return rows


@dataclass
class RowOutcome:
    paper_id: str
    kind: str
    rejected: bool = False
    scores: dict[str, int] = field(default_factory=dict)
    guards: str = ""
    error: str = ""


@dataclass
class JudgeBenchReport:
    model: str
    rows: int
    detection: dict[str, tuple[int, int]]  # defect kind -> (detected, total)
    clean_rejected: tuple[int, int]
    errors: int
    outcomes: list[RowOutcome]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


async def run_judge_bench(
    agents: Agents,
    settings: Settings,
    rows: Sequence[DefectRow],
    mapping: Mapping[str, Sequence[str]],
    *,
    on_progress: Callable[[int], None] | None = None,
) -> JudgeBenchReport:
    config = settings.app.pipeline.judge
    limit = settings.app.pipeline.summary_max_chars
    gate = asyncio.Semaphore(settings.app.llm.max_concurrency)

    async def one(row: DefectRow) -> RowOutcome:
        out = RowOutcome(row.paper_id, row.kind)
        ids = mapping.get(row.category_ja) or [settings.categories[0].id]
        item = row.paper().item()
        async with gate:
            try:
                verdict = await agents.judge(item, row.blurb, settings.category(ids[0]))
            except AgentError as exc:
                out.error = str(exc)
        if not out.error:
            report = guards.check_blurb(item, row.blurb, max_chars=limit)
            scores = guards.cap_scores(
                scores_of(verdict),
                report,
                min_faithfulness=config.min_faithfulness,
                min_japanese=config.min_japanese,
            )
            out.scores = {"faithfulness": scores.faithfulness, "japanese": scores.japanese}
            out.rejected = (
                scores.faithfulness < config.min_faithfulness or scores.japanese < config.min_japanese
            )
            out.guards = report.reason()
        if on_progress:
            on_progress(1)
        return out

    outcomes = await asyncio.gather(*(one(row) for row in rows))
    detection: dict[str, tuple[int, int]] = {}
    for out in outcomes:
        if out.kind != CLEAN and not out.error:
            found, total = detection.get(out.kind, (0, 0))
            detection[out.kind] = (found + out.rejected, total + 1)
    clean = [o for o in outcomes if o.kind == CLEAN and not o.error]
    return JudgeBenchReport(
        model=agents.usage.model,
        rows=len(rows),
        detection=detection,
        clean_rejected=(sum(o.rejected for o in clean), len(clean)),
        errors=sum(bool(o.error) for o in outcomes),
        outcomes=list(outcomes),
    )


# --- the guards' view of `digestbot eval` blurbs -----------------------------------------------------


def blurb_guard_stats(
    outcomes: Sequence[PaperOutcome], papers: Sequence[LabeledPaper], limit: int
) -> dict[str, float | int]:
    """Empty frames, misattributed numbers and the guard pass rate of the agents' final blurbs."""
    by_id = {p.id: p for p in papers}
    reports = [
        guards.check_blurb(by_id[o.paper_id].item(), o.blurb, max_chars=limit)
        for o in outcomes
        if o.blurb and o.paper_id in by_id
    ]
    with_numbers = [o for o in outcomes if o.blurb and guards.plain_numbers(o.blurb)]
    misattributed = sum(any("not stated about" in f.reason for f in r.failures) for r in reports)
    return {
        "blurbs": len(reports),
        "empty_frames": sum("empty_frame" in r.guards() for r in reports),
        "blurbs_with_numbers": len(with_numbers),
        "misattributed_numbers": misattributed,
        "invented_numbers": sum(any("is not in the source" in f.reason for f in r.failures) for r in reports),
        "japanese_pass": sum("japanese" not in r.guards() for r in reports) / len(reports)
        if reports
        else 0.0,
        "guard_pass": sum(r.ok for r in reports) / len(reports) if reports else 0.0,
        "mean_japanese_score": sum(r.japanese_score for r in reports) / len(reports) if reports else 0.0,
    }
