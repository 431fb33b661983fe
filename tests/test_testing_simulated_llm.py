"""The simulated model: plausible, deterministic answers read from the real rendered prompts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from digestbot.agents.llm_agents import LlmAgents, blurb_problems
from digestbot.domain import Item, SourceName
from digestbot.settings import AppConfig, LLMConfig, Secrets, Settings, load_categories
from digestbot.testing.openai_server import OpenAIServer
from digestbot.testing.simulated_llm import SimulatedLLM, parse_categories, parse_items

ROOT = Path(__file__).resolve().parents[1]
CATEGORIES = load_categories(ROOT / "config" / "categories.toml")
KEYWORDS = {c.id: c.keywords for c in CATEGORIES}
MOMENT = datetime(2026, 1, 6, tzinfo=UTC)
RAG_PAPER = (
    "HYDRA: Retrieval-Augmented Generation with Adaptive Reranking",
    "Large language models (LLMs) hallucinate on knowledge-intensive questions. We propose HYDRA, "
    "a retrieval-augmented generation method that reranks passages with the LLM itself. Experiments "
    "on 4 benchmarks show a 12.5% improvement over strong RAG baselines.",
)
VISION_PAPER = (
    "Efficient Medical Image Segmentation with Sparse Convolutions",
    "We propose SPARC, a sparse convolutional network for CT scans. On 3 datasets it improves Dice by 2.1%.",
)


def _item(n: int, title: str, text: str, source: SourceName = SourceName.ARXIV) -> Item:
    return Item(
        id=f"arxiv:2601.{n:05d}",
        source=source,
        url=f"https://example.org/{n}",
        title=title,
        text=text,
        published=MOMENT,
        updated=MOMENT,
        language="en" if source is SourceName.ARXIV else "ja",
    )


def _agents(server: OpenAIServer) -> LlmAgents:
    llm = LLMConfig(model="openai:gpt-4o-mini", base_url=server.base_url, requests_per_second=500.0)
    settings = Settings(
        config_dir=ROOT / "config",
        app=AppConfig(llm=llm),
        categories=CATEGORIES,
        secrets=Secrets(_env_file=None, digestbot_llm_api_key=SecretStr("sk-test")),  # type: ignore[call-arg]
    )
    return LlmAgents(settings, agents_dir=ROOT / "agents")


def _block(title: str, text: str, *, source: str = "arxiv", tags: str = "", number: str = "x") -> str:
    """An item as the agent prompts render it."""
    tag_line = f"<tags>{tags}</tags>\n" if tags else ""
    head = f'<item id="{number}">\n<source>{source}</source>\n<title>{title}</title>\n'
    return f"{head}{tag_line}<text>\n{text}\n</text>\n</item>"


def _judge_request(title: str, text: str, blurb: str) -> dict[str, Any]:
    user = f"{_block(title, text)}\n\n<blurb>{blurb}</blurb>"
    return {
        "messages": [{"role": "system", "content": "採点"}, {"role": "user", "content": user}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "Verdict"}},
    }


async def test_classifier_answers_every_item_through_the_real_client() -> None:
    """Each batched item gets a configured category; an LLM paper scores high, a vision paper 1."""
    items = [_item(1, *RAG_PAPER), _item(2, *VISION_PAPER)]
    with OpenAIServer(SimulatedLLM(KEYWORDS)) as server:
        answers = await _agents(server).classify(items, CATEGORIES)
    expected = [("rag", 5), ("other", 1)]
    assert expected == [(a.primary, a.relevance) for a in answers]  # type: ignore[union-attr]


async def test_summarizer_writes_a_blurb_that_needs_no_repair() -> None:
    """The blurb keeps the source's numbers, fits the limit and the Japanese share in one call."""
    with OpenAIServer(SimulatedLLM(KEYWORDS)) as server:
        agents = _agents(server)
        blurb = await agents.summarize(_item(3, *RAG_PAPER), max_chars=80)
        calls = len(server.completions)
    expected = ("HYDRAという検索拡張の手法を提案。4件のベンチマークで12.5%の改善を報告。", [], 1)
    assert expected == (blurb, blurb_problems(blurb, 80, 0.3), calls)


def test_judge_flags_a_number_that_is_not_in_the_source() -> None:
    """An invented number costs faithfulness and comes back as feedback; a faithful blurb scores 5."""
    model = SimulatedLLM(KEYWORDS)
    wrong = model(_judge_request(*RAG_PAPER, "HYDRAを提案。13%の改善を報告。"))
    right = model(_judge_request(*RAG_PAPER, "HYDRAを提案。12.5%の改善を報告。"))
    expected = ((2, "「13」は原文にない数値。原文の値に直す。"), (5, ""))
    assert expected == (
        (wrong["faithfulness"], wrong["feedback"]),
        (right["faithfulness"], right["feedback"]),
    )


def test_a_flawed_draft_is_corrected_when_the_judge_gives_feedback() -> None:
    """With flaw_every=1 every first draft misquotes; the revision request (with feedback) does not."""
    model = SimulatedLLM(KEYWORDS, flaw_every=1)
    item = _block(*RAG_PAPER)
    first = model.summarize(f"120文字以内で書いてください。\n{item}")
    revised = model.summarize(f"<feedback>数値が違う</feedback>\n120文字以内で書いてください。\n{item}")
    expected = (False, True)
    assert expected == ("12.5%" in first, "12.5%" in revised)


def test_articles_get_a_japanese_blurb_within_the_limit() -> None:
    """A Japanese article's blurb is built on its title and ends as a digest sentence."""
    user = _block("LangGraphでエージェントを作る", "本文", source="qiita")
    blurb = SimulatedLLM().summarize(f"40文字以内\n{user}")
    expected = ("LangGraphでエージェントを作るについて、実装の手順と注意点を解説した記事。"[:39] + "。", True)
    assert expected == (blurb, len(blurb) <= 40)


def test_prompt_parsers_read_categories_and_items() -> None:
    """Category ids come from the system prompt's list; items from their tags, tags optional."""
    system = "# カテゴリ\n- id: rag（RAG）\n  説明: Retrieval\n- id: other（その他）\n  説明: rest\n\n# 分類"
    user = _block("T", "body", source="zenn", tags="llm, rag", number="1")
    items = parse_items(user)
    expected = (["rag", "other"], [("1", "zenn", "T", "llm, rag", "body")])
    assert expected == (
        list(parse_categories(system)),
        [(i.id, i.source, i.title, i.tags, i.text) for i in items],
    )


def test_same_request_same_answer_and_unknown_schema_is_a_server_error() -> None:
    """Answers are deterministic; a schema it does not know makes the server answer 500."""
    model = SimulatedLLM(KEYWORDS)
    request = _judge_request(*VISION_PAPER, "SPARCを提案。")
    with OpenAIServer(model) as server:
        status = httpx.post(
            f"{server.base_url}/chat/completions", json={"messages": []}, timeout=5
        ).status_code
    expected = (model(request), 500)
    assert expected == (model(request), status)
