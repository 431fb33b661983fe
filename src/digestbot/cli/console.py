"""The one way the CLI makes a rich console: outside text is printed as it is, never as markup.

Titles, model output, provider errors and names from config reach the terminal through rich; with
markup on, a title or a refusal containing `[/bold]` raises `MarkupError` (after the digest was
posted) and `[link=…]` would plant a terminal hyperlink. So every console of the CLI has markup,
emoji codes and highlighting off; our own colours go through `style=` or `Text`, and progress
columns use `plain_column` (a `TextColumn` does its own markup parsing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import TextColumn


def console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr) that never interprets the text it prints."""
    from rich.console import Console

    return Console(stderr=stderr, markup=False, emoji=False, highlight=False)


def plain_column(template: str, *, style: str = "") -> TextColumn:
    """A progress column whose formatted text (a task's description or fields) is not markup."""
    from rich.progress import TextColumn

    return TextColumn(template, style=style, markup=False)
