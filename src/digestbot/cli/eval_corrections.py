"""`digestbot eval --corrections`: print how the classifier does on the team's category corrections."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from digestbot.agents.base import Agents
from digestbot.cli.console import console
from digestbot.corrections import CorrectionExamples
from digestbot.evaluation_corrections import CorrectionsReport, Score, evaluate_corrections
from digestbot.settings import ConfigError, Settings

NONE_YET = "no category corrections stored yet — use 「カテゴリを直す」 in Slack"


def _row(table: Table, name: str, score: Score) -> None:
    lo, hi = score.accuracy_ci
    f_lo, f_hi = score.macro_f1_ci
    table.add_row(
        name,
        f"{score.accuracy:.3f} ({score.correct}/{score.n}) [{lo:.2f}, {hi:.2f}]",
        f"{score.macro_f1:.3f} [{f_lo:.2f}, {f_hi:.2f}]",
    )


def _tables(report: CorrectionsReport) -> tuple[Table, Table]:
    n = len(report.cases)
    summary = Table(title=f"classifier on {n} corrected items, agents: {report.model} (95 % intervals)")
    summary.add_column("few-shot examples")
    summary.add_column("accuracy (Wilson)", justify="right")
    summary.add_column("macro-F1 (bootstrap)", justify="right")
    _row(summary, f"the other corrections (leave-one-out, ≤ {report.examples})", report.with_examples)
    _row(summary, "none", report.without)
    pairs = Table(title="corrections: classifier said -> team's category (items now right)")
    for column in ("said", "team's category", "n", "right with examples", "right without"):
        pairs.add_column(column, justify="right" if column.startswith(("n", "right")) else "left")
    for (wrong, right), (count, fixed, plain) in report.pairs.items():
        pairs.add_row(wrong, right, str(count), str(fixed), str(plain))
    return summary, pairs


def run(settings: Settings, *, offline: bool, json_out: Path | None) -> None:
    """Measure on the stored corrections with the offline agents, or the LLM ones when configured."""
    from digestbot.agents.factory import build_agents
    from digestbot.agents.offline import OfflineAgents
    from digestbot.store.cache import ResultCache
    from digestbot.store.schema import StoreError, open_engine

    try:
        engine = open_engine(settings.store_url)
        cache = ResultCache(engine)
        use_offline = offline or settings.offline

        def make(examples: CorrectionExamples) -> Agents:
            if use_offline:
                return OfflineAgents(settings, cache=cache, corrections=examples)
            return build_agents(settings, corrections=examples)

        report = asyncio.run(evaluate_corrections(settings, engine, make, now=datetime.now(UTC)))
    except ConfigError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    except StoreError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    out = console()
    if report is None:
        out.print(NONE_YET, highlight=False)
        return
    summary, pairs = _tables(report)
    out.print(summary)
    out.print(pairs)
    note = "every item here was once classified wrong: these figures show what the corrections teach"
    out.print(note + ("" if not report.skipped else f"; {report.skipped} no longer stored, skipped"))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
        typer.echo(f"report written to {json_out}")
