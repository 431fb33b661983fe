"""Progress display for long commands: one line per source while fetching, one bar per agent stage."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TimeElapsedColumn,
)

from digestbot.cli.console import console, plain_column

STAGES = {"classify": "分類 classify", "summarize": "要約 summarize", "judge": "審査 judge"}


class PipelineProgress:
    """Receives the graph's `on_progress(stage, n)` events and draws bars on stderr."""

    def __init__(self, out: Console | None = None) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            plain_column("{task.description:<16}", style="bold"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=out or console(stderr=True),
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}

    def _task(self, stage: str) -> TaskID:
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(STAGES[stage], total=None)
        return self.tasks[stage]

    def __call__(self, stage: str, n: int) -> None:
        if stage == "candidates":
            self.progress.update(self._task("classify"), total=n)
        elif stage == "classified":
            self.progress.update(self._task("summarize"), total=n)
            self.progress.update(self._task("judge"), total=n)
        elif stage in STAGES:
            self.progress.advance(self._task(stage), n)

    def __enter__(self) -> PipelineProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()
