"""`digestbot fetch`: pull a window's items from the sources into the store, then print a summary."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TimeElapsedColumn
from rich.table import Table

from digestbot.cli import settings_or_exit
from digestbot.cli.console import console, plain_column
from digestbot.domain import SourceName, Window
from digestbot.ingest import IngestReport, SourceReport, fetch_window
from digestbot.settings import Settings, redact_url
from digestbot.sources import enabled_source_names, parse_source_names
from digestbot.store import ItemStore, StoreConfigError, StoreError


def resolve_window(
    settings: Settings,
    since: str | None,
    first: str | None,
    last: str | None,
    *,
    now: datetime | None = None,
) -> Window:
    """The window from `--since` or `--from/--to` (whole days, config timezone), else the default days.

    Raises ValueError with a message for the user.
    """
    window = _window(settings, since, first, last, now=now)
    if window.end - window.start > MAX_WINDOW:
        asked = f"--since {since}" if since else f"--from {first} --to {last or 'today'}"
        raise ValueError(f"{asked} is longer than a year: ask for at most {MAX_WINDOW.days} days at a time")
    return window


def _window(
    settings: Settings, since: str | None, first: str | None, last: str | None, *, now: datetime | None
) -> Window:
    tz = settings.app.general.timezone
    if since and (first or last):
        raise ValueError("use either --since or --from/--to, not both")
    if last and not first:
        raise ValueError("--to needs --from (e.g. --from 2025-11-17 --to 2025-11-23)")
    if first:
        today = (now or datetime.now(UTC)).astimezone(ZoneInfo(tz)).date()
        start, end = _day(first, "--from"), (_day(last, "--to") if last else today)
        if start > end:
            if last:
                raise ValueError(f"--from {start} is later than --to {end} ({tz}): swap them")
            raise ValueError(f"--from {start} is after today ({end} in {tz}): nothing has been published yet")
        try:
            return Window.between(start, end, tz)
        except OverflowError:
            raise ValueError(f"--to {end} is out of range: use a date before 9999-12-31") from None
    return Window.since(since or f"{settings.app.general.default_window_days}d", now=now)


MAX_WINDOW = timedelta(days=366)  # longer windows are refused: labels show no year, arXiv pages run long


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{option} {value!r} is not a date: use YYYY-MM-DD") from None


def _usage_error(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg="red", err=True)
    return typer.Exit(2)


class _ProgressDisplay:
    """One spinner line per source, updated after every stored batch."""

    def __init__(self, out: Console) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            plain_column("{task.description:<6}", style="bold"),
            plain_column("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=out,
        )
        self._tasks: dict[SourceName, TaskID] = {}

    def __call__(self, row: SourceReport) -> None:
        if row.source not in self._tasks:
            self._tasks[row.source] = self.progress.add_task(row.source.value, total=None, status="")
        status = f"{row.fetched} fetched, {row.new} new, {row.updated} updated"
        if row.waiting and not row.done:
            status += f" — {row.waiting}"
        if row.done:
            status += " — failed" if row.failed else " — done"
        self.progress.update(
            self._tasks[row.source], status=status, total=1 if row.done else None, completed=int(row.done)
        )


def _summary(report: IngestReport, tz: str) -> Table:
    table = Table(title=f"fetched {report.window.label(tz)} ({tz})")
    for column in ("source", "fetched", "new", "updated", "duplicates", "errors", "seconds"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for row in report.rows:
        errors = max(len(row.errors), int(row.failed))
        table.add_row(
            row.source.value + (" (failed)" if row.failed else ""),
            *(str(n) for n in (row.fetched, row.new, row.updated, row.duplicates, errors)),
            f"{row.duration:.1f}",
        )
    return table


def _print_notes(report: IngestReport) -> None:
    """Warnings and partial errors; an error already quoted in the failure message is not repeated."""
    for row in report.rows:
        for warning in row.warnings:
            typer.echo(f"{row.source.value}: warning: {warning}")
        for error in row.errors:
            if not (row.failure and error in row.failure):
                typer.secho(f"{row.source.value}: error: {error}", fg="yellow")


def register(app: typer.Typer) -> None:
    @app.command("fetch")
    def fetch(
        since: Annotated[str | None, typer.Option("--since", help="How far back: 7d, 36h, 2w.")] = None,
        first: Annotated[
            str | None, typer.Option("--from", help="First day, YYYY-MM-DD (config timezone).")
        ] = None,
        last: Annotated[
            str | None, typer.Option("--to", help="Last day, inclusive (default: today).")
        ] = None,
        source: Annotated[
            str | None, typer.Option("--source", help="Comma-separated: arxiv,qiita,zenn (default: enabled).")
        ] = None,
    ) -> None:
        """Fetch new papers and articles into the store (default window: general.default_window_days)."""
        settings = settings_or_exit()
        try:
            window = resolve_window(settings, since, first, last)
            names = parse_source_names(source) if source is not None else enabled_source_names(settings)
        except ValueError as exc:
            raise _usage_error(str(exc)) from None
        if not names:
            raise _usage_error("no source is enabled: set enabled = true under [sources.*] or pass --source")
        try:
            store = ItemStore(settings.store_url)
        except StoreConfigError as exc:
            raise _usage_error(str(exc)) from None
        except StoreError as exc:
            typer.secho(f"error: {exc} ({redact_url(settings.store_url)})", fg="red", err=True)
            raise typer.Exit(1) from None
        with store:
            report = _run(settings, store, window, names)
        console().print(_summary(report, settings.app.general.timezone))
        _print_notes(report)
        for row in report.failed:
            cause = (row.failure or "").removeprefix(f"{row.source.value}: ")
            typer.secho(f"fetch failed for {row.source.value}: {cause}", fg="red", err=True)
        if report.failed:
            stored = ", ".join(r.source.value for r in report.rows if not r.failed) or "none"
            typer.secho(f"{len(report.failed)} source(s) failed; stored the others ({stored}).", err=True)
            raise typer.Exit(1)


def _run(settings: Settings, store: ItemStore, window: Window, names: list[SourceName]) -> IngestReport:
    err = console(stderr=True)
    tz = settings.app.general.timezone
    err.print(
        f"fetching {window.label(tz)} ({tz}) from {', '.join(n.value for n in names)} "
        f"into {redact_url(settings.store_url)}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    display = _ProgressDisplay(err)
    with display.progress:
        try:
            return fetch_window(settings, store, window, names=names, on_progress=display)
        except StoreError as exc:
            typer.secho(f"error: {exc}", fg="red", err=True)
            raise typer.Exit(1) from None
