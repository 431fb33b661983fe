"""The whole pipeline through `run_digest`: cached re-runs, prompt/category invalidation, crash resume."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from tests.conftest import build_item
from tests.support.agents import per_item_agents

from digestbot.agents.base import AgentError
from digestbot.agents.factory import build_agents
from digestbot.agents.offline import OfflineAgents
from digestbot.domain import Item, SourceName, Window
from digestbot.graph.state import Classification
from digestbot.runner import RunError, run_digest
from digestbot.settings import Category, Settings, load_settings
from digestbot.store import ItemStore
from digestbot.testing.scripted_chat import ScriptedChat

ROOT = Path(__file__).resolve().parents[1]
WINDOW = Window.between(date(2026, 11, 16), date(2026, 11, 22), "Asia/Tokyo")
TOPICS = [
    (
        "Retrieval-augmented generation with long-context reranking",
        "We propose a RAG method; recall improves by 12.5%.",
    ),
    (
        "Speculative decoding for faster LLM inference",
        "We reduce latency of LLM decoding by 2.1x with speculation.",
    ),
    ("Multi-agent debate for LLM tool use", "We introduce a multi-agent LLM framework for tool use."),
    (
        "Preference optimization without reward models",
        "A DPO variant for LLM alignment that improves win rate.",
    ),
    (
        "Jailbreak attacks on aligned language models",
        "We study jailbreak prompts against LLM safety filters.",
    ),
]
BLURB = "新手法を提案。実験で性能が向上。"


def _items() -> list[Item]:
    start = WINDOW.start + timedelta(hours=3)
    return [
        Item(
            id=f"arxiv:2611.{n:05d}",
            source=SourceName.ARXIV,
            url=f"https://arxiv.org/abs/2611.{n:05d}",
            title=title,
            text=text,
            published=start + timedelta(hours=n),
            updated=start + timedelta(hours=n),
            tags=("cs.CL",),
        )
        for n, (title, text) in enumerate(TOPICS)
    ]


def _classify(messages: list[BaseMessage]) -> dict[str, Any]:
    ids = re.findall(r'<item id="([^"]+)">', str(messages[-1].content))
    return {
        "results": [{"item_id": i, "primary": "rag", "confidence": 0.9, "reason": "RAGが主題"} for i in ids]
    }


def _model(*, crash_on_summary: int | None = None) -> ScriptedChat:
    """A chat model at the process boundary: answers every schema; may 'die' on the Nth summary."""
    summaries = 0

    def summary(_: list[BaseMessage]) -> dict[str, Any]:
        nonlocal summaries
        summaries += 1
        if crash_on_summary is not None and summaries == crash_on_summary:
            raise RuntimeError("worker killed")
        return {"blurb": BLURB}

    verdict = {"relevance": 4, "significance": 4, "faithfulness": 5, "japanese": 5, "rationale": "良い"}
    replies: dict[str, list[Callable[[list[BaseMessage]], Any] | dict[str, Any]]] = {
        "ClassificationBatch": [_classify] * 50,
        "Blurb": [summary] * 50,
        "Verdict": [verdict] * 50,
    }
    return ScriptedChat(replies=replies)


@pytest.fixture
def settings_for(tmp_path: Path) -> Callable[..., Settings]:
    def make(agents_dir: Path | None = None, config_dir: Path | None = None) -> Settings:
        env = {
            "DIGESTBOT_DATA_DIR": str(tmp_path / "data"),
            "DIGESTBOT_LLM_MODEL": "openai:gpt-4o-mini",
            "DIGESTBOT_AGENTS_DIR": str(agents_dir or per_item_agents()),
        }
        return load_settings(config_dir or ROOT / "config", env)

    return make


def _seed(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with ItemStore(settings.store_url) as store:
        store.upsert(_items())


def _run(settings: Settings, model: ScriptedChat) -> Any:
    return run_digest(settings, WINDOW, fetch=False, agents=build_agents(settings, chat_model=model))


def _calls(model: ScriptedChat) -> dict[str, int]:
    return {name: model.schemas.count(name) for name in ("ClassificationBatch", "Blurb", "Verdict")}


def test_run_writes_digest_files(settings_for: Callable[..., Settings]) -> None:
    """A run classifies, summarizes and judges every item and writes digest.json and digest.md."""
    settings = settings_for()
    _seed(settings)
    outcome = _run(settings, _model())
    data = json.loads(outcome.outputs["json"].read_text(encoding="utf-8"))
    entries = [e for s in data["sections"] for e in s["entries"]]
    assert (5, {"rag"}, {BLURB}) == (
        len(entries),
        {e["category"] for e in entries},
        {e["blurb"] for e in entries},
    )
    assert (
        outcome.outputs["markdown"]
        .read_text(encoding="utf-8")
        .startswith("# 📚 LLMリサーチダイジェスト 11/16–11/22")
    )


def test_second_run_makes_no_llm_calls(settings_for: Callable[..., Settings]) -> None:
    """Re-running the same window is served entirely from the result cache."""
    settings = settings_for()
    _seed(settings)
    first, second = _model(), _model()
    _run(settings, first)
    outcome = _run(settings, second)
    assert ({"ClassificationBatch": 1, "Blurb": 5, "Verdict": 5}, []) == (_calls(first), second.schemas)
    assert (0, 15) == (outcome.usage.total.calls, outcome.usage.total.cached)


def test_editing_one_prompt_reruns_only_that_agent(
    settings_for: Callable[..., Settings], tmp_path: Path
) -> None:
    """A changed summarizer prompt re-summarizes; the classifier and (same blurbs) the judge stay cached."""
    agents_dir = tmp_path / "agents"
    shutil.copytree(per_item_agents(), agents_dir)
    settings = settings_for(agents_dir)
    _seed(settings)
    _run(settings, _model())
    path = agents_dir / "summarizer.md"
    path.write_text(path.read_text(encoding="utf-8") + "\n簡潔に。\n", encoding="utf-8")
    again = _model()
    _run(settings_for(agents_dir), again)
    assert {"ClassificationBatch": 0, "Blurb": 5, "Verdict": 0} == _calls(again)


def test_changing_categories_reclassifies(settings_for: Callable[..., Settings], tmp_path: Path) -> None:
    """Editing a category description invalidates the classifier's cached answers."""
    config_dir = tmp_path / "config"
    shutil.copytree(ROOT / "config", config_dir)
    settings = settings_for(config_dir=config_dir)
    _seed(settings)
    _run(settings, _model())
    path = config_dir / "categories.toml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("Retrieval-augmented generation,", "RAG,"), encoding="utf-8"
    )
    again = _model()
    _run(settings_for(config_dir=config_dir), again)
    assert 1 == _calls(again)["ClassificationBatch"]


def test_crash_mid_fan_out_resumes_without_repeating_finished_calls(
    settings_for: Callable[..., Settings],
) -> None:
    """A run that dies during the summaries resumes: finished calls are not paid for again.

    One branch at a time, so "finished" is exact (with more, the siblings in flight when the worker
    dies are cancelled and, having no result, are asked again).
    """
    base = settings_for()
    llm = base.app.llm.model_copy(update={"max_concurrency": 1})
    settings = base.model_copy(update={"app": base.app.model_copy(update={"llm": llm})})
    _seed(settings)
    crashing = _model(crash_on_summary=4)
    with pytest.raises(RuntimeError, match="worker killed"):
        _run(settings, crashing)
    resumed = _model()
    outcome = _run(settings, resumed)
    # the summaries all come before the verdicts (graph/nodes/draft.py): 3 blurbs were finished
    assert {"ClassificationBatch": 0, "Blurb": 2, "Verdict": 5} == _calls(resumed)
    assert 5 == outcome.digest.entry_count


def test_all_items_failing_raises_instead_of_posting(settings_for: Callable[..., Settings]) -> None:
    """When every item fails in the agents the run raises a clear error and writes no digest."""
    settings = settings_for()
    _seed(settings)
    broken = ScriptedChat(replies={"ClassificationBatch": ["not json at all"] * 20})
    with pytest.raises(RunError, match="all 5 items failed"):
        _run(settings, broken)
    assert not (settings.data_dir / "digests" / "latest.json").exists()


def test_summarizer_down_after_classifier_drops_raises_instead_of_an_empty_digest(
    settings_for: Callable[..., Settings],
) -> None:
    """One item dropped by the classifier and every summary failing is an outage, not "nothing new"."""
    settings = settings_for()
    _seed(settings)

    def low_first(messages: list[BaseMessage]) -> dict[str, Any]:
        answer = _classify(messages)
        answer["results"][0]["relevance"] = 1
        return answer

    broken = ScriptedChat(replies={"ClassificationBatch": [low_first], "Blurb": ["not json"] * 20})
    with pytest.raises(RunError, match=r"all 4 items that reached the summarizer failed \(1 dropped"):
        _run(settings, broken)
    assert not (settings.data_dir / "digests" / "latest.json").exists()


def test_unwritable_digest_folder_is_a_run_error_before_anything_is_posted(
    settings_for: Callable[..., Settings], tmp_path: Path
) -> None:
    """A digest folder that cannot be written (full disk, a file in the way) raises RunError naming it."""
    settings = settings_for()
    _seed(settings)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    model = _model()
    with pytest.raises(RunError, match=r"cannot write the digest files in .*not-a-folder/out"):
        run_digest(
            settings,
            WINDOW,
            fetch=False,
            out_dir=blocker / "out",
            agents=build_agents(settings, chat_model=model),
        )


def test_only_category_keeps_one_category(settings_for: Callable[..., Settings]) -> None:
    """`--category` keeps only that category's items (and spends no summaries on the rest)."""
    settings = settings_for()
    _seed(settings)
    model = _model()
    outcome = run_digest(
        settings, WINDOW, fetch=False, only_category="agents", agents=build_agents(settings, chat_model=model)
    )
    assert (0, 0) == (outcome.digest.entry_count, model.schemas.count("Blurb"))


def test_offline_mode_is_labelled(settings_for: Callable[..., Settings], tmp_path: Path) -> None:
    """Without a model the heuristic agents run and the digest says offline mode."""
    settings = load_settings(ROOT / "config", {"DIGESTBOT_DATA_DIR": str(tmp_path / "off")})
    _seed(settings)
    outcome = run_digest(settings, WINDOW, fetch=False)
    markdown = outcome.outputs["markdown"].read_text(encoding="utf-8")
    assert (True, True) == (outcome.digest.offline, "オフラインモード" in markdown)


def test_generated_at_is_recent(settings_for: Callable[..., Settings]) -> None:
    """The digest records when it was made."""
    settings = settings_for()
    _seed(settings)
    outcome = _run(settings, _model())
    assert datetime.now(UTC) - outcome.digest.generated_at < timedelta(minutes=5)


def test_on_demand_runs_leave_latest_alone(settings_for: Callable[..., Settings]) -> None:
    """A run with save_as_latest=False (an on-demand /digest) does not replace latest.json."""
    settings = settings_for()
    _seed(settings)
    run_digest(settings, WINDOW, fetch=False, agents=build_agents(settings, chat_model=_model()))
    latest = settings.data_dir / "digests" / "latest.json"
    before = latest.read_bytes()
    run_digest(
        settings,
        Window.since("3d", now=WINDOW.end),
        fetch=False,
        agents=build_agents(settings, chat_model=_model()),
        save_as_latest=False,
    )
    assert before == latest.read_bytes()


def test_second_post_is_refused_before_any_agent_work(tmp_path: Path) -> None:
    """Once a period is posted, `run` without --force refuses up front: no agent call, no second post."""
    from digestbot.delivery import DeliveryRefused
    from digestbot.testing.slack_server import SlackServer

    with SlackServer() as slack:
        env = {
            "DIGESTBOT_DATA_DIR": str(tmp_path / "data"),
            "DIGESTBOT_LLM_MODEL": "openai:gpt-4o-mini",
            "DIGESTBOT_SLACK_API_URL": slack.api_url,
            "SLACK_BOT_TOKEN": slack.token,
            "DIGESTBOT_AGENTS_DIR": str(per_item_agents()),
        }
        settings = load_settings(ROOT / "config", env)
        _seed(settings)
        run_digest(
            settings, WINDOW, fetch=False, dry_run=False, agents=build_agents(settings, chat_model=_model())
        )
        again = _model()
        with pytest.raises(DeliveryRefused, match="already posted"):
            run_digest(
                settings, WINDOW, fetch=False, dry_run=False, agents=build_agents(settings, chat_model=again)
            )
        assert ([], 1) == (again.schemas, len(slack.calls("chat.postMessage")))


def test_digest_json_names_the_item_the_prefilter_dropped(settings_for: Callable[..., Settings]) -> None:
    """An off-topic paper is in digest.json `left_out` with its rule; the stats name nothing as repaired."""
    settings = settings_for()
    _seed(settings)
    bread = build_item(
        "arxiv:2611.09999",
        title="Sourdough fermentation dynamics",
        text="We measure yeast activity in bread dough.",
        published=WINDOW.start + timedelta(hours=1),
    )
    with ItemStore(settings.store_url) as store:
        store.upsert([bread])
    outcome = _run(settings, _model())
    data = json.loads(outcome.outputs["json"].read_text(encoding="utf-8"))
    prefiltered = [left for left in data["left_out"] if left["stage"] == "prefilter"]
    assert [("arxiv:2611.09999", "dropped")] == [(left["id"], left["status"]) for left in prefiltered]
    assert prefiltered[0]["reason"].startswith("no_keyword: ")
    assert ([], []) == (data["stats"]["incidents"], data["stats"]["warnings"])


class _UnknownIdAgents(OfflineAgents):
    """An `Agents` whose classifier answers an id the config does not know."""

    async def classify(
        self, items: Sequence[Item], categories: Sequence[Category]
    ) -> list[Classification | AgentError]:
        answers = await super().classify(items, categories)
        return [
            a.model_copy(update={"primary": "llm"}) if isinstance(a, Classification) else a for a in answers
        ]


def test_an_unknown_category_mapped_to_other_is_named_and_warned(
    settings_for: Callable[..., Settings],
) -> None:
    """Every item mapped to "other" for an unknown id is an incident; all of them is > 20 %: a warning."""
    settings = settings_for()
    _seed(settings)
    outcome = run_digest(settings, WINDOW, fetch=False, agents=_UnknownIdAgents(settings))
    mapped = [i for i in outcome.usage.incidents if i.kind == "mapped_to_other"]
    expected = sorted(item.id for item in _items())
    assert expected == sorted(i.item_id for i in mapped)
    assert "category 'llm' unknown: mapped to 'other'" == mapped[0].detail
    assert [w for w in outcome.warnings() if w.startswith("classifier: 5 of 5 items (100%)")]
