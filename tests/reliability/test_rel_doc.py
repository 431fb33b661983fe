"""docs/RELIABILITY.md stays true: every row names a test of this suite that exists, every test of the
suite is a row, and the totals count the rows."""

from __future__ import annotations

import re
from pathlib import Path

HERE = Path(__file__).parent
DOC = HERE.parents[1] / "docs" / "RELIABILITY.md"
ROW = re.compile(r"^\| (\d+) \| [^|]+ \|.*\| `(test_rel_\w+\.py)::(\w+)(?:\[([^\]]+)\])?` \|$")
TOTALS = re.compile(r"\*\*Tried: (\d+) · Survived: (\d+)\*\*")


def rows() -> list[tuple[int, str, str, str | None]]:
    found = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if match := ROW.match(line):
            found.append((int(match.group(1)), match.group(2), match.group(3), match.group(4)))
    return found


def test_every_row_names_an_existing_test_and_case() -> None:
    """Each row's file, test function and parameter id exist in tests/reliability."""
    missing = []
    for number, file, function, case in rows():
        source = (HERE / file).read_text(encoding="utf-8") if (HERE / file).exists() else ""
        if f"def {function}(" not in source or (case is not None and f'"{case}"' not in source):
            missing.append(f"row {number}: {file}::{function}[{case}]")
    assert [] == missing


def test_every_test_of_the_suite_is_in_the_table_and_the_totals_count_the_rows() -> None:
    """No reliability test is left out of the table; rows are numbered 1..N; Tried = Survived = N."""
    table = rows()
    named = {(file, function) for _, file, function, _ in table}
    defined = {
        (path.name, name)
        for path in HERE.glob("test_rel_*.py")
        if path.name != Path(__file__).name
        for name in re.findall(r"^(?:async )?def (test_\w+)\(", path.read_text(encoding="utf-8"), re.M)
    }
    totals = TOTALS.search(DOC.read_text(encoding="utf-8"))
    assert totals is not None
    expected = (set(), list(range(1, len(table) + 1)), (len(table), len(table)))
    assert expected == (
        defined - named,
        [number for number, *_ in table],
        (int(totals.group(1)), int(totals.group(2))),
    )
