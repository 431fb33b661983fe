"""What `digestbot run` prints: held-back items, the ten best left out, every incident, the warning."""

from __future__ import annotations

from dataclasses import replace

from rich.console import Console

from digestbot.agents.base import UsageReport
from digestbot.cli.report import print_outcome
from digestbot.domain import LeftOut
from digestbot.runner import RunOutcome
from support.sample_digest import representative_digest


def _outcome() -> RunOutcome:
    scored = tuple(
        LeftOut(
            f"arxiv:{n}",
            f"Paper {n}",
            f"https://arxiv.org/abs/{n}",
            "capped",
            "cap",
            "category cap: rag shows its best 2",
            "rag",
            n,
            5 - n / 10,
        )
        for n in range(12)
    )
    others = (
        LeftOut(
            "arxiv:bread", "Bread", "https://arxiv.org/abs/b", "dropped", "prefilter", "no_keyword: 0 of 1"
        ),
        LeftOut(
            "arxiv:held",
            "Held [bold]x[/]",
            "https://arxiv.org/abs/h",
            "held_back",
            "judge",
            "held back: faithfulness 7 is outside 1..5",
            "rag",
            None,
            4.95,
        ),
    )
    usage = UsageReport(model="m")
    usage.per_agent["classifier"].items = 4
    usage.record("classifier", "arxiv:7", "repaired", "missing")
    usage.record("classifier", "arxiv:8", "held_back", "category 'llm' unknown")
    digest = replace(representative_digest(), left_out=(*scored, *others))
    return RunOutcome(digest=digest, results=[], prefilter_dropped={}, usage=usage, items_in_window=30)


def test_run_report_prints_the_ten_best_left_out_the_held_back_and_every_incident() -> None:
    """Best first by score (held-back included), at most ten rows; each incident and the warning named."""
    console = Console(record=True, width=220)
    print_outcome(_outcome(), console)
    text = console.export_text()
    table = text[text.index("best-scored items not in the digest") :]
    rows = [line for line in table.splitlines() if "Paper " in line or "Held" in line]
    titles = [row.split("│")[1].strip() for row in rows]
    expected = ["Paper 0", "Held [bold]x[/]", *(f"Paper {n}" for n in range(1, 9))]
    assert expected == titles
    for line in (
        "not in the digest: capped 12 · dropped 1 · held_back 1",
        "held back arxiv:held (judge): held back: faithfulness 7 is outside 1..5",
        "classifier repaired arxiv:7: missing",
        "classifier held back arxiv:8: category 'llm' unknown",
        "WARNING classifier: 2 of 4 items (50%) needed help (repaired 1, held back 1): arxiv:7, arxiv:8",
    ):
        assert line in text
