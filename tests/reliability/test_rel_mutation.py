"""Mutation checks: the rows of a guard prove it only if they fail once the guard is gone.

`run_mutated` copies `src/` to a temporary folder, applies exact text edits that disable one guard,
and runs the named tests in a subprocess against that copy (it comes first on `PYTHONPATH`, so it
shadows the editable install; the subprocess checks which copy it imported). Every named test must
fail. To try a mutation by hand: `.venv/bin/python -m pytest tests/reliability/test_rel_mutation.py -k <id>`
(docs/RELIABILITY.md, "Mutation checks").
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reliability.harness import ROOT

Edit = tuple[str, str, str]  # (file under src/digestbot, exact old text, new text)

MUTATIONS: dict[str, tuple[list[Edit], list[str]]] = {
    # id: (the edits that disable the guard, the rows' tests that must then fail)
    "escaping-off": (
        [
            ("slack/escape.py", "return text.translate(_ESCAPES)", "return text"),
            ("slack/escape.py", 'return _BROADCAST.sub("＠", text)', "return text"),
        ],
        [
            "tests/reliability/test_rel_hostile.py::test_markup_in_titles_abstracts_and_bodies_reaches_slack_escaped",
            "tests/reliability/test_rel_hostile.py::test_broadcasts_glued_to_a_word_are_defanged_in_the_digest_the_preview_and_an_alert",
            "tests/reliability/test_rel_hostile.py::test_any_text_is_posted_inert_and_within_slacks_limits",
            "tests/reliability/test_rel_llm.py::test_an_alert_quoting_the_models_words_cannot_ping_the_admin_channel",
        ],
    ),
}


def run_mutated(folder: Path, edits: list[Edit], tests: list[str]) -> tuple[str, set[str]]:
    """Run `tests` against a copy of src/ with `edits` applied: (the module file imported, tests failed)."""
    copy = folder / "src"
    shutil.copytree(ROOT / "src", copy, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for file, old, new in edits:
        path = copy / "digestbot" / file
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{file}: the mutation no longer applies: {old!r}"
        path.write_text(text.replace(old, new), encoding="utf-8")
    env = os.environ | {"PYTHONPATH": str(copy)}
    module = edits[0][0].removesuffix(".py").replace("/", ".")
    where = subprocess.run(
        [sys.executable, "-c", f"import digestbot.{module} as m; print(m.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", *tests],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,  # the run is meant to fail: its failures are read below
    )
    failed = {t for t in tests if re.search(rf"^FAILED {re.escape(t)}\b", run.stdout, re.M)}
    return where, failed


@pytest.mark.slow
@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_disabling_a_guard_makes_every_row_that_relies_on_it_fail(tmp_path: Path, mutation: str) -> None:
    """With escaping and defanging turned into no-ops, every hostile-input row fails (the suite would
    catch a build that lost them)."""
    edits, tests = MUTATIONS[mutation]

    imported, failed = run_mutated(tmp_path, edits, tests)

    assert (True, set(tests)) == (imported.startswith(str(tmp_path)), failed)
