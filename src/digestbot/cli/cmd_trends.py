"""`digestbot trends --weeks 12`: kept items per category per week from the archive, and the chart PNG."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from digestbot.cli import settings_or_exit
from digestbot.cli.console import console

if TYPE_CHECKING:
    from rich.table import Table

    from digestbot.trends import WeeklyCounts


NAME_CELLS = 14  # the category column; longer names end in "…"
WEEK_CELLS = 5  # "11/16", "–" for a week without a digest


def weekly_grid(table: WeeklyCounts, tz: str, *, width: int) -> tuple[Table, int]:
    """The counts as a compact table that fits `width` columns, newest weeks kept; (table, weeks left out)."""
    from rich import box
    from rich.table import Table

    labels = table.labels(tz)
    fits = max(1, (width - NAME_CELLS - 1) // (WEEK_CELLS + 1))
    hidden = max(0, len(labels) - fits)
    grid = Table(
        title=f"カテゴリ別の採用件数（週の初日、直近{len(labels) - hidden}週）",
        box=box.SIMPLE_HEAD,
        padding=(0, 0),  # the box puts one space between columns
        pad_edge=False,
    )
    grid.add_column("カテゴリ", max_width=NAME_CELLS, no_wrap=True, overflow="ellipsis")
    for label in labels[hidden:]:
        grid.add_column(label, justify="right", min_width=WEEK_CELLS, no_wrap=True)
    names = dict(table.categories)
    for category, counts in table.counts.items():
        grid.add_row(names[category], *("–" if n is None else str(n) for n in counts[hidden:]))
    return grid, hidden


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
        term = console()
        grid, hidden = weekly_grid(table, tz, width=term.width)
        term.print(grid)
        if hidden:
            typer.echo(f"（古い{hidden}週は幅に入らないため省略: 全{weeks}週はチャートに、または広い端末で）")
        try:
            path = save_chart(render_chart(table, tz=tz), out or digests_dir(settings) / "trends.png")
        except ChartError as exc:
            typer.secho(f"chart not saved: {exc}", fg="yellow", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"chart saved to {path}")
