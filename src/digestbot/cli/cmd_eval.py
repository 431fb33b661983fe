"""`digestbot eval FILE.jsonl`: measure the configured agents on labeled papers (see evals/README.md)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from digestbot.cli import settings_or_exit
from digestbot.evaluation import (
    EvalError,
    EvalReport,
    check_labels,
    load_category_map,
    load_papers,
    run_eval,
)
from digestbot.settings import ConfigError, Settings


def _summary(report: EvalReport) -> Table:
    table = Table(title=f"digestbot eval — {report.papers} papers, agents: {report.model}")
    table.add_column("metric")
    table.add_column("agents", justify="right")
    table.add_column("curator", justify="right")
    b, c = report.blurbs, report.curator
    rows = [
        ("accuracy", f"{report.accuracy:.3f}", ""),
        ("macro-F1 (gold labels present)", f"{report.macro_f1:.3f}", ""),
        (
            "blurb length mean / max",
            f"{b.mean_chars:.1f} / {b.max_chars}",
            f"{c.mean_chars:.1f} / {c.max_chars}",
        ),
        (f"blurbs within {report.limit} chars", f"{b.within_limit:.0%}", f"{c.within_limit:.0%}"),
        ("mean Japanese ratio", f"{b.mean_japanese_ratio:.2f}", f"{c.mean_japanese_ratio:.2f}"),
        ("judge keeps (first blurb)", f"{report.kept_first:.0%}", ""),
        ("judge keeps (after revisions)", f"{report.kept:.0%}", ""),
        *((f"mean {name}", f"{score:.2f}", "") for name, score in report.mean_scores.items()),
        ("failed items", str(report.failures), ""),
    ]
    for row in rows:
        table.add_row(*row)
    return table


def _confusion(report: EvalReport, settings: Settings) -> Table:
    """One row per gold label: its F1 and what its papers were classified as (a confusion table by rows)."""
    order = {c.id: i for i, c in enumerate(settings.categories)}
    table = Table(title="confusion: curator label -> predicted category ids")
    table.add_column("gold label")
    table.add_column("n", justify="right")
    table.add_column("F1", justify="right")
    table.add_column("predicted")
    for gold, row in report.confusion.items():
        predicted = sorted(row.items(), key=lambda kv: order.get(kv[0], len(order)))
        cells = ", ".join(f"{cat_id} ×{count}" for cat_id, count in predicted)
        f1 = report.f1.get(gold)
        table.add_row(gold, str(sum(row.values())), "" if f1 is None else f"{f1:.2f}", cells)
    return table


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_command(
        file: Annotated[Path, typer.Argument(help="Labeled papers, one JSON object per line.")],
        offline: Annotated[
            bool, typer.Option("--offline", help="Use the offline heuristic agents even if a model is set.")
        ] = False,
        limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N papers.")] = None,
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Also write the full report here.")
        ] = None,
        category_map: Annotated[
            Path | None,
            typer.Option(
                "--map", help="Curator label -> category ids (default: category_map.toml next to FILE)."
            ),
        ] = None,
    ) -> None:
        """Classify, summarize and judge labeled papers; print accuracy, macro-F1 and blurb statistics."""
        from digestbot.agents.factory import build_agents
        from digestbot.agents.offline import OfflineAgents

        settings = settings_or_exit()
        map_path = category_map or file.parent / "category_map.toml"
        try:
            papers = load_papers(file)[:limit]
            mapping = load_category_map(map_path, settings.categories)
            check_labels(papers, mapping, map_path)
            agents = OfflineAgents(settings) if offline else build_agents(settings)
        except FileNotFoundError:
            typer.secho(f"error: {file}: file not found", fg="red", err=True)
            raise typer.Exit(2) from None
        except (EvalError, ConfigError) as exc:
            typer.secho(f"error: {exc}", fg="red", err=True)
            raise typer.Exit(2) from None
        progress = Progress(
            TextColumn("eval"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        with progress:
            task = progress.add_task("papers", total=len(papers))
            report = asyncio.run(
                run_eval(agents, settings, papers, mapping, on_progress=lambda n: progress.advance(task, n))
            )
        console = Console()
        console.print(_summary(report))
        console.print(_confusion(report, settings))
        if json_out is not None:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
            typer.echo(f"report written to {json_out}")
