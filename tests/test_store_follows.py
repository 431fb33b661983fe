"""The follows tables and the DM ledger, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from digestbot.follows import Member, Topic
from digestbot.store import follow_dms as ledger
from digestbot.store import follows as store
from digestbot.store.schema import open_engine

RAG, LLM, KV = Topic("category", "rag"), Topic("keyword", "llm"), Topic("keyword", "kv cache")


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = open_engine(store_url)
    yield engine
    engine.dispose()


def test_follows_are_stored_once_and_bounded(engine: Engine) -> None:
    """A topic is stored once per member; past the limit nothing more is; unfollow removes rows."""
    first = store.add_topics(engine, "U0A", [RAG, LLM, RAG], display_name="a", limit=2, dm=True)
    again = store.add_topics(engine, "U0A", [LLM, KV], display_name="alice", limit=2)
    assert ((RAG, LLM), (), ()) == (first.added, first.already, first.over_limit)
    assert ((), (LLM,), (KV,)) == (again.added, again.already, again.over_limit)
    assert Member("U0A", "alice", True, (RAG, LLM)) == store.member(engine, "U0A")  # dm kept
    store.add_topics(engine, "U0B", [KV], display_name="b", limit=5)
    assert ["U0A", "U0B"] == [m.user_id for m in store.members(engine)]
    assert 1 == store.remove_topics(engine, "U0A", [RAG, KV])
    store.set_dm(engine, "U0A", False, display_name="alice")
    assert Member("U0A", "alice", False, (LLM,)) == store.member(engine, "U0A")
    assert 1 == store.remove_topics(engine, "U0A", None)
    assert store.member(engine, "U0Z") is None


def test_dm_ledger_intent_then_sent_or_failed(engine: Engine) -> None:
    """intent before the send, sent with the ts; a refusal is recorded even with no earlier row."""
    ledger.record_intent(engine, "U0A", "2026-11-16..2026-11-22", channel_id="D0A")
    ledger.mark_sent(engine, "U0A", "2026-11-16..2026-11-22", channel_id="D0A", ts="1.2")
    ledger.mark_failed(engine, "U0B", "2026-11-16..2026-11-22", error="user_not_found")
    sent = ledger.find(engine, "U0A", "2026-11-16..2026-11-22")
    failed = ledger.find(engine, "U0B", "2026-11-16..2026-11-22")
    assert sent is not None
    assert failed is not None
    assert ("sent", "D0A", "1.2") == (sent.status, sent.channel_id, sent.ts)
    assert ("failed", "user_not_found") == (failed.status, failed.error)
    assert ledger.find(engine, "U0A", "2026-11-23..2026-11-29") is None
