"""Reader votes: hashed users, one changeable vote per user and item, summaries, judge guidance, agreement."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from tests.conftest import build_item

from digestbot.agents.llm_agents import LlmAgents
from digestbot.feedback import (
    Agreement,
    Example,
    JudgeGuidance,
    agreement,
    guidance_from,
    hash_user,
    load_guidance,
    record_vote,
    summarize,
)
from digestbot.graph.nodes.judge import decide, scores_of
from digestbot.settings import Settings, load_settings
from digestbot.store import ItemStore
from digestbot.store.feedback import Vote, votes
from digestbot.store.schema import open_engine
from digestbot.testing.openai_server import OpenAIServer

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(store_url: str) -> Engine:
    return open_engine(store_url)


def vote(
    engine: Engine, item_id: str, user: str, *, up: bool, category: str = "rag", at: datetime = NOW
) -> str:
    return record_vote(
        engine, item_id=item_id, category=category, user_hash=hash_user("T1", user), up=up, now=at
    )


def test_user_hash_is_stable_salted_and_hides_the_id() -> None:
    """Same team and user, same hash; another salt or team, another; the Slack id is not in it."""
    first = hash_user("T1", "U123")
    assert (64, first, False) == (len(first), hash_user("T1", "U123"), "U123" in first)
    assert len({first, hash_user("T1", "U123", "salt"), hash_user("T2", "U123")}) == 3


def test_one_vote_per_user_and_item_which_can_change(engine: Engine) -> None:
    """First 👍 is recorded, the same 👍 again changes nothing, 👎 then changes it; one row remains."""
    outcomes = [
        vote(engine, "arxiv:1", "U1", up=True),
        vote(engine, "arxiv:1", "U1", up=True),
        vote(engine, "arxiv:1", "U1", up=False, at=NOW + timedelta(minutes=1)),
    ]
    stored = votes(engine)
    assert (["recorded", "unchanged", "changed"], [-1]) == (outcomes, [v.vote for v in stored])
    assert ("arxiv", NOW + timedelta(minutes=1)) == (stored[0].source, stored[0].updated_at)


def test_different_users_vote_separately(engine: Engine) -> None:
    """Two users' votes on one item are two rows."""
    vote(engine, "arxiv:1", "U1", up=True)
    vote(engine, "arxiv:1", "U2", up=False)
    assert [-1, 1] == sorted(v.vote for v in votes(engine))


def test_summary_by_category_and_source() -> None:
    """Up and down per category (as shown) and per source, busiest first, with voters and items."""
    summary = summarize(
        [
            Vote("arxiv:1", "a", 1, "rag", "arxiv"),
            Vote("arxiv:1", "b", 1, "rag", "arxiv"),
            Vote("qiita:2", "a", -1, "rag", "qiita"),
            Vote("zenn:3", "b", -1, "agents", "zenn"),
        ]
    )
    rag = summary.by_category["rag"]
    assert (["rag", "agents"], 2, 1, 1, 2, 2, 4) == (
        list(summary.by_category),
        rag.up,
        rag.down,
        rag.net,
        len(rag.items),
        summary.voters,
        summary.total,
    )
    assert ["arxiv", "qiita", "zenn"] == list(summary.by_source)


def test_guidance_picks_the_clearest_liked_and_disliked_items() -> None:
    """Net 👍 first by margin, net 👎 likewise; ties go to the latest vote; items without a title skipped."""
    recorded = [  # newest first, as the store returns them
        Vote("arxiv:new", "a", 1, "rag", "arxiv"),
        Vote("arxiv:old", "a", 1, "rag", "arxiv"),
        Vote("arxiv:best", "a", 1, "agents", "arxiv"),
        Vote("arxiv:best", "b", 1, "agents", "arxiv"),
        Vote("zenn:bad", "a", -1, "other", "zenn"),
        Vote("arxiv:gone", "a", 1, "rag", "arxiv"),
        Vote("arxiv:tied", "a", 1, "rag", "arxiv"),
        Vote("arxiv:tied", "b", -1, "rag", "arxiv"),
    ]
    titles = {i: f"T {i}" for i in ("arxiv:new", "arxiv:old", "arxiv:best", "zenn:bad", "arxiv:tied")}
    guidance = guidance_from(recorded, titles, examples=2)
    expected_liked = (
        Example("T arxiv:best", "agents", "arxiv", 2),
        Example("T arxiv:new", "rag", "arxiv", 1),
    )
    assert (expected_liked, (Example("T zenn:bad", "other", "zenn", -1),)) == (
        guidance.liked,
        guidance.disliked,
    )


def test_guidance_key_changes_with_the_examples() -> None:
    """Empty guidance has no key; different examples, different keys."""
    one = guidance_from([Vote("a:1", "u", 1, "rag", "a")], {"a:1": "A"})
    two = guidance_from([Vote("a:1", "u", -1, "rag", "a")], {"a:1": "A"})
    assert ("", True) == (guidance_from([], {}).key(), one.key() != two.key())


def test_load_guidance_reads_recent_votes_and_titles_from_the_store(engine: Engine) -> None:
    """Titles come from the item store; votes older than `days` are ignored."""
    with ItemStore(engine) as store:
        store.upsert(
            [build_item("arxiv:2501.00001", title="GraphRAG in practice"), build_item("arxiv:2501.00002")]
        )
    vote(engine, "arxiv:2501.00001", "U1", up=True)
    vote(engine, "arxiv:2501.00002", "U1", up=False, at=NOW - timedelta(days=200))
    guidance = load_guidance(engine, now=NOW, days=90)
    assert ((Example("GraphRAG in practice", "rag", "arxiv", 1),), ()) == (guidance.liked, guidance.disliked)


def test_agreement_counts_kept_likes_and_dropped_dislikes() -> None:
    """Liked and kept, disliked and dropped agree; ties and items the judge never saw are left out."""
    kept = {"a": True, "b": False, "c": True, "d": False}
    held_back = {"a": 2, "b": 1, "c": -1, "d": -3, "e": 1, "f": 0}
    result = agreement(kept, held_back)
    assert (Agreement(4, 2), 0.5) == (result, result.rate)


# --- agreement with held-back votes, through the local OpenAI-compatible server --------------------

VOTES = Path(__file__).parent / "fixtures" / "feedback" / "votes.json"
_TITLE = re.compile(r"<title>(.*?)</title>")
_WORD = re.compile(r"[a-z][a-z-]{3,}")
_COMMON = {"with", "from", "large", "language", "model", "models", "llms"}


def _words(title: str) -> set[str]:
    return set(_WORD.findall(title.lower())) - _COMMON


def simulated_judge(request: dict[str, Any]) -> dict[str, Any]:
    """A stand-in model that follows the prompt: relevance 4 / 2 when the item's title shares more
    words with the 👍 / 👎 titles of <reader_feedback>, else 3. Reads only what crossed the wire."""
    prompt = request["messages"][-1]["content"]
    title = _TITLE.search(prompt)
    words = _words(title.group(1) if title else "")
    liked = disliked = 0
    if "<reader_feedback>" in prompt:
        block = prompt.split("<reader_feedback>", 1)[1]
        good, bad = block.split("👎", 1)
        liked = max(
            (len(words & _words(line)) for line in good.splitlines() if line.startswith("- [")), default=0
        )
        disliked = max(
            (len(words & _words(line)) for line in bad.splitlines() if line.startswith("- [")), default=0
        )
    relevance = 4 if liked > disliked else 2 if disliked > liked else 3
    return {
        "relevance": relevance,
        "significance": 3,
        "faithfulness": 5,
        "japanese": 5,
        "rationale": "",
        "feedback": "",
    }


async def judge_decisions(
    settings: Settings, guidance: JudgeGuidance, items: list[dict[str, Any]]
) -> dict[str, bool]:
    """Keep/drop per held-back item, judged by LlmAgents over HTTP with this guidance."""
    agents = LlmAgents(settings, guidance=guidance)
    kept = {}
    for entry in items:
        item = build_item(entry["id"], title=entry["title"])
        verdict = await agents.judge(item, "手法を提案。", settings.category(entry["category"]))
        kept[entry["id"]] = decide(scores_of(verdict), settings.app.pipeline.judge, 1)[0] == "keep"
    return kept


async def test_guidance_from_recorded_votes_raises_agreement_with_held_back_votes(
    engine: Engine, tmp_path: Path
) -> None:
    """Measured: before guidance the judge agrees with 6/12 held-back votes; after, with 11/12."""
    recorded = json.loads(VOTES.read_text(encoding="utf-8"))["items"]
    with ItemStore(engine) as store:
        store.upsert([build_item(e["id"], title=e["title"]) for e in recorded])
    for entry in recorded:
        if entry["split"] == "guidance":
            for v in entry["votes"]:
                record_vote(
                    engine,
                    item_id=entry["id"],
                    category=entry["category"],
                    user_hash=hash_user("T1", v["user"]),
                    up=v["vote"] > 0,
                    now=NOW,
                )
    held = [e for e in recorded if e["split"] == "held_back"]
    held_net = {e["id"]: sum(v["vote"] for v in e["votes"]) for e in held}
    guidance = load_guidance(engine, now=NOW, days=90, examples=6)
    with OpenAIServer(simulated_judge) as server:
        env = {
            "DIGESTBOT_DATA_DIR": str(tmp_path),
            "DIGESTBOT_LLM_MODEL": "openai:gpt-4o-mini",
            "DIGESTBOT_LLM_BASE_URL": server.base_url,
            "DIGESTBOT_LLM_API_KEY": "sk-test",
        }
        settings = load_settings(Path(__file__).parents[1] / "config", env, env_file=tmp_path / "no.env")
        before = agreement(await judge_decisions(settings, JudgeGuidance(), held), held_net)
        after = agreement(await judge_decisions(settings, guidance, held), held_net)
    assert (6, 6) == (len(guidance.liked), len(guidance.disliked))
    assert ((12, 6), (12, 11)) == ((before.compared, before.agreed), (after.compared, after.agreed))
