"""Digest <-> JSON: exact round trip, the documented schema, and the latest.json helpers."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from tests.conftest import digest_with_left_out

from digestbot.digest_json import (
    SCHEMA,
    DigestFileError,
    digest_from_dict,
    digest_to_dict,
    load_latest,
    read_digest,
    save_latest,
)
from digestbot.domain import Digest, SourceCount
from digestbot.settings import Settings, load_settings
from support.sample_digest import large_digest, representative_digest, trends_digest

CONFIG = Path(__file__).resolve().parents[1] / "config"


def settings_in(tmp_path: Path) -> Settings:
    return load_settings(CONFIG, {"DIGESTBOT_DATA_DIR": str(tmp_path / "data")}, env_file=tmp_path / "no.env")


@pytest.mark.parametrize("digest", [representative_digest(), large_digest(2, 3), trends_digest()])
def test_round_trip_through_json_text_is_exact(digest: Digest) -> None:
    """to_dict -> JSON text -> from_dict gives an equal Digest."""
    text = json.dumps(digest_to_dict(digest), ensure_ascii=False)
    assert digest == digest_from_dict(json.loads(text))


def test_a_source_cut_off_by_its_result_limit_round_trips_and_is_absent_otherwise() -> None:
    """`sources.<name>.cut_off` is written when a source stopped short (exact round trip), omitted when 0."""
    base = representative_digest()
    cut = replace(base, sources={**base.sources, "arxiv": SourceCount(fetched=10, cut_off=30)})
    data = json.loads(json.dumps(digest_to_dict(cut), ensure_ascii=False))

    expected = (30, cut, False)
    assert expected == (
        data["sources"]["arxiv"]["cut_off"],
        digest_from_dict(data),
        any("cut_off" in count for count in digest_to_dict(base)["sources"].values()),
    )


def test_entry_fields_are_flat_and_named_for_readers() -> None:
    """Each entry carries the item fields, category, secondary, blurb, scores, rationale and popularity."""
    entry = digest_to_dict(representative_digest())["sections"][0]["entries"][1]
    expected = {
        "id": "qiita:0123456789abcdef0123",
        "source": "qiita",
        "category": "rag",
        "secondary": [],
        "scores": {"relevance": 4, "significance": 4, "faithfulness": 5, "japanese": 4},
        "popularity": {"likes": 128, "stocks": 96, "bookmarks": None, "comments": None},
        "published": "2026-11-19T03:00:00+00:00",
    }
    assert expected == {key: entry[key] for key in expected}
    assert {"url", "title", "blurb", "rationale"} <= set(entry)


def test_schema_version_and_stats_are_written() -> None:
    """The document names its schema and carries run statistics."""
    data = digest_to_dict(representative_digest(), stats={"cost_usd": 0.0123, "items": 259})
    assert (data["schema"], data["stats"]) == (SCHEMA, {"cost_usd": 0.0123, "items": 259})


def test_an_unknown_schema_is_refused() -> None:
    """A file from an incompatible version fails with a clear message."""
    data = digest_to_dict(representative_digest()) | {"schema": "digestbot.digest/99"}
    with pytest.raises(DigestFileError, match="unsupported digest schema"):
        digest_from_dict(data)


def test_a_malformed_digest_is_reported_not_crashed_on() -> None:
    """Missing keys become a DigestFileError."""
    data = digest_to_dict(representative_digest())
    del data["sections"][0]["entries"][0]["scores"]
    with pytest.raises(DigestFileError, match="malformed"):
        digest_from_dict(data)


def test_save_latest_then_load_latest(tmp_path: Path) -> None:
    """The runner's file lands in <data_dir>/digests/latest.json and reads back equal, with stats."""
    settings = settings_in(tmp_path)
    path = save_latest(representative_digest(), settings, {"run": 1})
    assert path == tmp_path / "data" / "digests" / "latest.json"
    assert (load_latest(settings), read_digest(path)[1]) == (representative_digest(), {"run": 1})


def test_load_latest_without_a_saved_digest_says_what_to_run(tmp_path: Path) -> None:
    """No file yet: the error names `digestbot run`."""
    with pytest.raises(DigestFileError, match="run `digestbot run`"):
        load_latest(settings_in(tmp_path))


def test_trends_are_written_only_when_present() -> None:
    """A digest without trends keeps the old JSON shape; one with trends carries the section."""
    assert "trends" not in digest_to_dict(representative_digest())
    trends = digest_to_dict(trends_digest())["trends"]
    expected = {
        "category": "rag",
        "name": "RAG/ロングコンテキスト",
        "emoji": "🔎",
        "count": 5,
        "baseline": 2.5,
    }
    assert (4, expected) == (trends["weeks_compared"], trends["categories"][0])


def test_left_out_items_and_reasons_round_trip_exactly() -> None:
    """Every left-out item (dropped, capped, held back) and each entry's reason survive the JSON text."""
    digest = digest_with_left_out()
    data = json.loads(json.dumps(digest_to_dict(digest), ensure_ascii=False))
    assert digest == digest_from_dict(data)
    expected = ["prefilter", "cap", "judge"]
    assert expected == [left["stage"] for left in data["left_out"]]
    assert "RAGが主題 <b>" == data["sections"][0]["entries"][0]["reason"]


def test_a_file_written_before_left_out_and_reason_still_reads() -> None:
    """Version 1 files without `left_out` or `reason` read with both empty."""
    data = digest_to_dict(digest_with_left_out())
    del data["left_out"]
    for section in data["sections"]:
        for entry in section["entries"]:
            del entry["reason"]
    digest = digest_from_dict(data)
    assert ((), {""}) == (digest.left_out, {e.reason for s in digest.sections for e in s.entries})
