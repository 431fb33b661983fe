"""`digestbot trends --weeks 12`: kept items per category per week from the archive, and the chart PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from digestbot.cli import settings_or_exit


def register(app: typer.Typer) -> None:
    @app.command("trends")
    def trends(
        weeks: Annotated[int, typer.Option("--weeks", min=2, max=26, help="How many weeks to show.")] = 12,
        out: Annotated[
            Path | None,
            typer.Option("--out", help="Where to save the PNG (default: data/digests/trends.png)."),
        ] = None,
    ) -> None:
        """Print the weekly table of kept items per category (posted digests) and save the chart."""
        from rich.console import Console
        from rich.table import Table

        from digestbot.chart import ChartError, render_chart, save_chart
        from digestbot.digest_json import digests_dir
        from digestbot.store.schema import StoreError, open_engine
        from digestbot.trends import latest_weekly_window, weekly_counts, weekly_history

        settings = settings_or_exit()
        tz = settings.app.general.timezone
        try:
            engine = open_engine(settings.store_url)
            anchor = latest_weekly_window(engine)
            if anchor is None:
                typer.secho(
                    "no weekly digest has been posted yet: run `digestbot run` first", fg="yellow", err=True
                )
                raise typer.Exit(1)
            table = weekly_counts(weekly_history(engine, anchor, weeks - 1), anchor, settings.categories)
        except StoreError as exc:
            typer.secho(f"error: {exc}", fg="red", err=True)
            raise typer.Exit(1) from None
        grid = Table(title=f"カテゴリ別の採用件数（直近{weeks}週、週の初日）")
        grid.add_column("カテゴリ")
        for label in table.labels(tz):
            grid.add_column(label, justify="right")
        names = dict(table.categories)
        for category, counts in table.counts.items():
            grid.add_row(names[category], *("–" if n is None else str(n) for n in counts))
        Console().print(grid)
        try:
            path = save_chart(render_chart(table, tz=tz), out or digests_dir(settings) / "trends.png")
        except ChartError as exc:
            typer.secho(f"chart not saved: {exc}", fg="yellow", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"chart saved to {path}")
