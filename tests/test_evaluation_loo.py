"""Leave-one-out for the offline classifier (evaluation_loo.py): knobs chosen without the held-out paper."""

from __future__ import annotations

import pytest

from digestbot.agents.offline_semantic import SemanticParams
from digestbot.evaluation_loo import _loo, bootstrap_macro_f1, grid, wilson


def test_wilson_interval_matches_the_formula():
    """11 of 18 -> [0.386, 0.797] (the textbook Wilson score interval at 95 %)."""
    low, high = wilson(11, 18)
    assert (0.386, 0.797) == (round(low, 3), round(high, 3))
    assert (0.0, 1.0) == wilson(0, 0)


def test_the_held_out_paper_never_chooses_its_own_knobs():
    """A candidate right only on the held-out paper is never chosen for it: LOO scores the procedure."""
    gold = ["a", "b", "a", "b"]
    good = SemanticParams(words=16)  # right on every paper but the first
    lucky = SemanticParams(words=32)  # right only on the first
    predictions = {good: ["b", "b", "a", "b"], lucky: ["a", "a", "b", "a"]}
    predicted, chosen = _loo(predictions, [good, lucky], gold, ["a", "b"])
    assert ["b", "b", "a", "b"] == predicted
    assert [good] * 4 == chosen


def test_bootstrap_interval_is_reproducible_and_brackets_the_point():
    """Same seed, same interval; a perfect prediction gives [1, 1]."""
    gold = ["a", "b", "a", "c", "b", "a"]
    noisy = ["a", "b", "b", "c", "a", "a"]
    first = bootstrap_macro_f1(gold, noisy, ["a", "b", "c"], rounds=200)
    assert first == bootstrap_macro_f1(gold, noisy, ["a", "b", "c"], rounds=200)
    assert first[0] <= first[1]
    assert (1.0, 1.0) == bootstrap_macro_f1(gold, gold, ["a", "b", "c"], rounds=200)


@pytest.mark.parametrize("words", [16, 64])
def test_the_grid_starts_with_the_shipped_knobs(words):
    """The a-priori tie-break is the base's own values; every combination appears once."""
    base = SemanticParams(words=words)
    candidates = grid(base)
    assert base == candidates[0]
    assert len(candidates) == len(set(candidates)) == 4 * 2 * 4 * 2
