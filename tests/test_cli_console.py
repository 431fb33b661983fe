"""The CLI's consoles print outside text as it is: no rich markup, emoji codes or hyperlinks from it."""

from __future__ import annotations

import io
import re
from pathlib import Path

from rich.progress import Progress
from rich.table import Table

from digestbot.cli.console import console, plain_column

CLI = Path(__file__).parents[1] / "src" / "digestbot" / "cli"
HOSTILE = "[/bold] [link=https://evil.example]x[/link] :smile: [red]"


def test_print_table_and_progress_show_markup_literally() -> None:
    """print, a table title and cell, and a progress description keep `[/bold]` and `[link=…]` as text."""
    out = console()
    out.file = io.StringIO()
    out.width = 200
    out.print(HOSTILE)
    table = Table(title=HOSTILE)
    table.add_column("title")
    table.add_row(HOSTILE)
    out.print(table)
    with Progress(plain_column("{task.description}"), console=out, auto_refresh=False) as progress:
        progress.add_task(HOSTILE, total=1)
        progress.refresh()
    text = out.file.getvalue()
    assert 4 == text.count(HOSTILE)


def test_every_console_and_text_column_of_the_cli_comes_from_the_helper() -> None:
    """No cli module builds its own `Console(` or `TextColumn(` (they would parse markup again)."""
    offenders = [
        path.name
        for path in CLI.glob("*.py")
        if path.name != "console.py" and re.search(r"\b(?:Console|TextColumn)\(", path.read_text("utf-8"))
    ]
    assert [] == offenders
