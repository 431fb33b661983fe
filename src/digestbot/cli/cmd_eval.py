"""`digestbot eval FILE.jsonl`: measure the configured agents on labeled papers (see evals/README.md)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from digestbot.agents.base import Agents
from digestbot.cli import settings_or_exit
from digestbot.cli.console import console, plain_column
from digestbot.evaluation import (
    EvalError,
    EvalReport,
    LabeledPaper,
    check_labels,
    load_category_map,
    load_papers,
    run_eval,
)
from digestbot.judge_bench import JudgeBenchReport, blurb_guard_stats, load_defects, run_judge_bench
from digestbot.settings import ConfigError, Settings

if TYPE_CHECKING:
    from rich.console import Console

    from digestbot.agents.offline import OfflineAgents
    from digestbot.agents.offline_semantic import SemanticParams
    from digestbot.evaluation_loo import LooReport


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


def _guard_table(stats: dict[str, float | int]) -> Table:
    """The guards' view of the final blurbs (agents/guards.py): what a reader must never see."""
    table = Table(title="blurb guards (agents/guards.py) on the final blurbs")
    table.add_column("metric")
    table.add_column("agents", justify="right")
    rows = [
        ("empty frames", str(stats["empty_frames"])),
        (
            "misattributed numbers (blurbs with numbers)",
            f"{stats['misattributed_numbers']} ({stats['blurbs_with_numbers']})",
        ),
        ("numbers not in the source", str(stats["invented_numbers"])),
        ("pass the Japanese measure", f"{stats['japanese_pass']:.0%}"),
        ("mean Japanese score (names aside)", f"{stats['mean_japanese_score']:.2f}"),
        ("pass every guard", f"{stats['guard_pass']:.0%}"),
    ]
    for row in rows:
        table.add_row(*row)
    return table


def _judge_table(report: JudgeBenchReport) -> Table:
    table = Table(title=f"judge on planted defects — {report.rows} blurbs, judge: {report.model}")
    table.add_column("defect")
    table.add_column("detected", justify="right")
    table.add_column("rate", justify="right")
    for kind, (found, total) in report.detection.items():
        table.add_row(kind, f"{found}/{total}", f"{found / total:.0%}" if total else "—")
    rejected, clean = report.clean_rejected
    table.add_row("clean blurbs rejected", f"{rejected}/{clean}", f"{rejected / clean:.0%}" if clean else "—")
    if report.errors:
        table.add_row("judge errors", str(report.errors), "")
    return table


def _judge_bench(
    path: Path, settings: Settings, agents: Agents, map_path: Path, json_out: Path | None
) -> None:
    try:
        rows = load_defects(path)
        mapping = load_category_map(map_path, settings.categories)
    except FileNotFoundError:
        typer.secho(f"error: {path}: file not found", fg="red", err=True)
        raise typer.Exit(2) from None
    except EvalError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    report = asyncio.run(run_judge_bench(agents, settings, rows, mapping))
    console().print(_judge_table(report))
    if json_out is not None:
        _write_json(json_out, report.to_dict())


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    typer.echo(f"report written to {path}")


def _loo_table(report: LooReport, shipped: SemanticParams) -> Table:
    """The offline classifier's leave-one-out figures (knobs chosen on the other papers each time)."""
    from digestbot.evaluation_loo import knobs

    lo, hi = report.accuracy_ci
    f_lo, f_hi = report.macro_f1_ci
    table = Table(title=f"offline classifier, leave-one-out over {report.papers} papers (95 % intervals)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row(
        "LOO accuracy (Wilson)",
        f"{report.accuracy:.3f} ({report.correct}/{report.papers}) [{lo:.2f}, {hi:.2f}]",
    )
    table.add_row("LOO macro-F1 (bootstrap)", f"{report.macro_f1:.3f} [{f_lo:.2f}, {f_hi:.2f}]")
    for words, value in report.by_words.items():
        table.add_row(f"LOO accuracy, {words} words", f"{value:.3f}")
    for chosen, count in report.chosen_counts.items():
        table.add_row("chosen in folds", f"{chosen} ×{count}")
    table.add_row("chosen on all papers", knobs(report.chosen_all))
    table.add_row("shipped defaults", knobs(shipped))
    return table


def _print_loo(
    console: Console,
    agents: OfflineAgents,
    settings: Settings,
    papers: list[LabeledPaper],
    mapping: dict[str, tuple[str, ...]],
) -> None:
    from digestbot.agents.offline_classify import category_model
    from digestbot.agents.offline_semantic import SemanticClassifier
    from digestbot.evaluation_loo import leave_one_out

    other = settings.app.pipeline.other_category or None
    model = category_model(settings.categories, other)
    classifier = SemanticClassifier(model, agents.embeddings(), agents.semantic)
    console.print(
        _loo_table(leave_one_out(classifier, settings.categories, papers, mapping), agents.semantic)
    )


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_command(
        file: Annotated[Path | None, typer.Argument(help="Labeled papers, one JSON object per line.")] = None,
        offline: Annotated[
            bool, typer.Option("--offline", help="Use the offline heuristic agents even if a model is set.")
        ] = False,
        loo: Annotated[
            bool,
            typer.Option(
                "--loo/--no-loo",
                help="Offline: also the classifier's leave-one-out figures (embeds 8× per paper).",
            ),
        ] = True,
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
        judge_file: Annotated[
            Path | None,
            typer.Option("--judge", help="Judge planted-defect blurbs instead (evals/judge-defects.jsonl)."),
        ] = None,
        corrections: Annotated[
            bool,
            typer.Option(
                "--corrections", help="Classify the items the team re-categorized in Slack instead."
            ),
        ] = False,
    ) -> None:
        """Classify, summarize and judge labeled papers; print accuracy, macro-F1 and blurb statistics.

        With --judge FILE: judge the blurbs of a planted-defects file and print detection per defect.
        With --corrections: the classifier on the stored 「カテゴリを直す」 corrections (leave-one-out).
        """
        from digestbot.agents.factory import build_agents
        from digestbot.agents.offline import OfflineAgents

        settings = settings_or_exit()
        if corrections:
            from digestbot.cli import eval_corrections

            eval_corrections.run(settings, offline=offline, json_out=json_out)
            return
        if judge_file is not None:
            try:
                agents = OfflineAgents(settings) if offline else build_agents(settings)
            except ConfigError as exc:
                typer.secho(f"error: {exc}", fg="red", err=True)
                raise typer.Exit(2) from None
            bench_map = category_map or judge_file.parent / "category_map.toml"
            _judge_bench(judge_file, settings, agents, bench_map, json_out)
            return
        if file is None:
            typer.secho("error: give a labeled papers FILE, or --judge FILE", fg="red", err=True)
            raise typer.Exit(2)
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
            plain_column("eval"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console(stderr=True),
            transient=True,
        )
        with progress:
            task = progress.add_task("papers", total=len(papers))
            report = asyncio.run(
                run_eval(agents, settings, papers, mapping, on_progress=lambda n: progress.advance(task, n))
            )
        out = console()
        out.print(_summary(report))
        out.print(_confusion(report, settings))
        guard_stats = blurb_guard_stats(report.outcomes, papers, report.limit)
        out.print(_guard_table(guard_stats))
        if loo and isinstance(agents, OfflineAgents) and len(papers) > 1:
            _print_loo(out, agents, settings, papers, mapping)
        if json_out is not None:
            _write_json(json_out, {**report.to_dict(), "guards": guard_stats})
