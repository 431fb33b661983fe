"""Eval harness: metrics on hand examples, file loading, and a run with the offline agents (evaluation.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from digestbot.agents.offline import OfflineAgents
from digestbot.evaluation import (
    EvalError,
    LabeledPaper,
    TextStats,
    accuracy,
    as_gold_label,
    check_labels,
    f1_per_label,
    load_category_map,
    load_papers,
    macro_f1,
    run_eval,
    text_stats,
)
from digestbot.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
MAPPING = {"RAG系": ("rag",), "その他": ("application", "other")}


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(REPO / "config", environ={})


def labeled(n: int, label: str, title: str, abstract: str) -> LabeledPaper:
    return LabeledPaper(f"p{n}", label, f"2401.{n:05d}", title, abstract, "既存の要約です。")


def test_accuracy_is_the_share_of_exact_matches() -> None:
    """accuracy = matches / items."""
    expected = 0.6
    assert expected == accuracy(["a", "a", "b", "b", "c"], ["a", "b", "b", "b", "a"])


def test_macro_f1_matches_a_hand_computed_answer() -> None:
    """Per-label F1 a=0.5, b=0.8, c=0 gives macro-F1 1.3/3."""
    gold, predicted = ["a", "a", "b", "b", "c"], ["a", "b", "b", "b", "a"]
    expected = ({"a": 0.5, "b": 0.8, "c": 0.0}, pytest.approx(1.3 / 3))
    assert expected == (f1_per_label(gold, predicted, ["a", "b", "c"]), macro_f1(gold, predicted))


def test_macro_f1_averages_only_the_given_labels() -> None:
    """A predicted label absent from the gold labels adds false positives but is not averaged itself."""
    expected = pytest.approx((2 / 3 + 1.0) / 2)
    assert expected == macro_f1(["a", "a", "b"], ["a", "x", "b"], ["a", "b"])


def test_a_prediction_is_read_as_the_curator_label_that_accepts_it() -> None:
    """An id accepted by the gold label counts as that label; otherwise as the label that lists it."""
    expected = ("その他", "RAG系", "その他", "(none)", "safety")
    assert expected == (
        as_gold_label("other", "その他", MAPPING),
        as_gold_label("rag", "その他", MAPPING),
        as_gold_label("application", "RAG系", MAPPING),
        as_gold_label("", "RAG系", MAPPING),
        as_gold_label("safety", "RAG系", MAPPING),
    )


def test_text_stats_measure_length_limit_and_japanese() -> None:
    """Mean/max length, share within the limit and mean Japanese ratio of a set of blurbs."""
    expected = TextStats(mean_chars=5.5, max_chars=6, within_limit=0.5, mean_japanese_ratio=0.5)
    assert expected == text_stats(["日本語です", "abcdef"], limit=5)


def test_load_papers_names_the_bad_line(tmp_path: Path) -> None:
    """A line missing a field is reported with its file, line number and field name."""
    good = {
        "id": "x",
        "category_ja": "RAG系",
        "arxiv_id": "2401.1",
        "title_en": "T",
        "abstract_en": "A",
        "blurb_ja": "B",
    }
    bad = {k: v for k, v in good.items() if k != "blurb_ja"}
    path = tmp_path / "papers.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(EvalError, match=r"papers\.jsonl:2: missing or non-text field\(s\): blurb_ja"):
        load_papers(path)


def test_category_map_rejects_unknown_ids(tmp_path: Path, settings: Settings) -> None:
    """A mapping to an id that config/categories.toml does not define is an error naming it."""
    path = tmp_path / "map.toml"
    path.write_text('[categories]\n"RAG系" = ["ragg"]\n', encoding="utf-8")
    with pytest.raises(EvalError, match=r"RAG系: unknown category id\(s\) \['ragg'\]"):
        load_category_map(path, settings.categories)


def test_unmapped_labels_are_a_clear_error() -> None:
    """A curator label missing from the map is named, with where to add it."""
    papers = [labeled(1, "新カテゴリ", "T", "A")]
    with pytest.raises(EvalError, match=r"map\.toml: no mapping for label\(s\) 新カテゴリ"):
        check_labels(papers, MAPPING, Path("map.toml"))


def test_shipped_dev_set_is_fully_mapped(settings: Settings) -> None:
    """Every label of evals/papers-dev.jsonl maps onto configured category ids."""
    mapping = load_category_map(REPO / "evals" / "category_map.toml", settings.categories)
    papers = load_papers(REPO / "evals" / "papers-dev.jsonl")
    check_labels(papers, mapping, REPO / "evals" / "category_map.toml")
    expected = (18, 10)
    assert expected == (len(papers), len({p.category_ja for p in papers}))


async def test_run_eval_scores_the_offline_agents(settings: Settings) -> None:
    """classify -> summarize -> judge on labeled papers yields accuracy, confusion, blurb stats and keeps."""
    papers = [
        labeled(1, "RAG系", "Retrieval-Augmented Generation", "We propose FooRAG, a retriever."),
        labeled(2, "RAG系", "Clinical Notes in Healthcare", "A medical study of clinical notes."),
        labeled(3, "その他", "Sourdough Baking", "Flour and water."),
    ]
    progress: list[int] = []
    report = await run_eval(OfflineAgents(settings), settings, papers, MAPPING, on_progress=progress.append)
    confusion = {"RAG系": {"rag": 1, "application": 1}, "その他": {"other": 1}}
    expected = (3, pytest.approx(2 / 3), confusion, [1, 1, 1], 1.0, "検索拡張生成向けのFooRAGを提案。")
    actual = (report.papers, report.accuracy, report.confusion, progress, report.blurbs.within_limit)
    assert expected == (*actual, report.outcomes[0].blurb)
