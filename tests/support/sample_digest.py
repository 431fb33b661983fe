"""Deterministic `Digest` values for tests, previews and demos (Japanese content, three sources)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from digestbot.domain import (
    CategoryTrend,
    Digest,
    DigestEntry,
    DigestSection,
    Item,
    Popularity,
    RisingTerm,
    Scores,
    SourceCount,
    SourceName,
    Trends,
    Window,
)

WINDOW = Window.between(date(2026, 11, 16), date(2026, 11, 22))
GENERATED_AT = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


def make_item(
    item_id: str,
    title: str,
    *,
    source: SourceName = SourceName.ARXIV,
    url: str | None = None,
    day: int = 18,
    popularity: Popularity | None = None,
    language: str = "en",
) -> Item:
    """An item published on 2026-11-`day` 12:00 JST."""
    moment = datetime(2026, 11, day, 3, 0, tzinfo=UTC)
    slug = item_id.split(":", 1)[1]
    default_url = {
        SourceName.ARXIV: f"https://arxiv.example/abs/{slug}",
        SourceName.QIITA: f"https://qiita.example/example/items/{slug}",
        SourceName.ZENN: f"https://zenn.example/example/articles/{slug}",
    }[source]
    return Item(
        id=item_id,
        source=source,
        url=url if url is not None else default_url,
        title=title,
        text=f"{title}. Abstract text.",
        published=moment,
        updated=moment + timedelta(hours=1),
        authors=("Taro Yamada", "Hanako Sato"),
        language=language,
        tags=("LLM",),
        popularity=popularity or Popularity(),
        version=1 if source is SourceName.ARXIV else None,
    )


def make_entry(item: Item, category: str, blurb: str, *, rank: float = 1.0) -> DigestEntry:
    return DigestEntry(
        item=item,
        category=category,
        blurb=blurb,
        scores=Scores(relevance=4, significance=4, faithfulness=5, japanese=4),
        rationale="要点が正確で簡潔。",
        secondary=(),
        rank=rank,
    )


def representative_digest() -> Digest:
    """Three categories, all three sources, Qiita/Zenn likes, a hidden remainder, offline mode, a note."""
    rag = (
        make_entry(
            make_item("arxiv:2611.01234", "LongRAG: Retrieval & Reasoning over 1M-token Contexts"),
            "rag",
            "100万トークン級の文書で検索と推論を交互に行うRAG手法。NIAHで既存手法を12ポイント上回る。",
            rank=4.5,
        ),
        make_entry(
            make_item(
                "qiita:0123456789abcdef0123",
                "社内ドキュメント検索をRAGで作り直した話 <Part 2>",
                source=SourceName.QIITA,
                popularity=Popularity(likes=128, stocks=96),
                day=19,
                language="ja",
            ),
            "rag",
            "チャンク分割とリランキングの改善で回答精度を約2割向上させた事例。"
            "@channel 向けの運用Tipsも紹介。",
            rank=4.1,
        ),
    )
    efficiency = (
        make_entry(
            make_item("arxiv:2611.04321", "KV-Cache Quantization to 2 Bits without Accuracy Loss"),
            "efficiency",
            "KVキャッシュを2bitに量子化しても精度をほぼ維持し、メモリ使用量を約1/8に削減する。",
            rank=4.0,
        ),
        make_entry(
            make_item(
                "zenn:llm-speculative-decoding",
                "投機的デコーディングでローカルLLMを2倍速くする",
                source=SourceName.ZENN,
                popularity=Popularity(likes=57),
                day=20,
                language="ja",
            ),
            "efficiency",
            "小型ドラフトモデルを使った投機的デコーディングの実装手順とベンチマーク結果を解説。",
            rank=3.6,
        ),
    )
    training = (
        make_entry(
            make_item("arxiv:2611.05555", "Merging LoRA Adapters via Task Arithmetic"),
            "training",
            "複数のLoRAアダプタをタスク算術で統合し、追加学習なしでマルチタスク性能を得る。",
            rank=3.9,
        ),
    )
    return Digest(
        window=WINDOW,
        title="📚 LLMリサーチダイジェスト",
        sections=(
            DigestSection("rag", "RAG/ロングコンテキスト", "🔎", rag, total=5),
            DigestSection("efficiency", "計算量削減", "⚡", efficiency, total=2),
            DigestSection("training", "訓練系", "🏋️", training, total=1),
        ),
        sources={
            "arxiv": SourceCount(fetched=182, kept=3),
            "qiita": SourceCount(fetched=46, kept=1),
            "zenn": SourceCount(fetched=31, kept=1),
        },
        offline=True,
        generated_at=GENERATED_AT,
        notes=("Zenn: 1つのトピックフィードが一時的に取得できませんでした",),
    )


def large_digest(categories: int = 6, per_category: int = 12, blurb_chars: int = 200) -> Digest:
    """A digest too big for one Slack message, to exercise splitting."""
    sections = []
    for c in range(categories):
        entries = tuple(
            make_entry(
                make_item(f"arxiv:2611.{c:02d}{i:03d}", f"Paper {c}-{i}: a study of large language models"),
                f"cat{c}",
                ("大規模言語モデルの評価に関する研究。" * 20)[:blurb_chars],
            )
            for i in range(per_category)
        )
        sections.append(DigestSection(f"cat{c}", f"カテゴリ{c}", "📄", entries, total=per_category))
    return Digest(
        window=WINDOW,
        title="📚 LLMリサーチダイジェスト",
        sections=tuple(sections),
        sources={"arxiv": SourceCount(fetched=500, kept=categories * per_category)},
        offline=False,
        generated_at=GENERATED_AT,
    )


SAMPLE_TRENDS = Trends(
    weeks_compared=4,
    categories=(
        CategoryTrend("rag", "RAG/ロングコンテキスト", "🔎", 5, 2.5),
        CategoryTrend("efficiency", "計算量削減", "⚡", 2, 3.0),
        CategoryTrend("training", "訓練系", "🏋️", 1, 1.0),
    ),
    rising=(RisingTerm("RAG", 2, 0.25), RisingTerm("KVキャッシュ", 2, 0.0)),
    insight="今週はRAGの採用が前4週平均の2倍で、100万トークン級の検索と推論を扱う研究[1]や"
    "社内検索の事例[2]が目立った。推論の効率化ではKVキャッシュの2bit量子化[3]が報告された。",
    cited=("arxiv:2611.01234", "qiita:0123456789abcdef0123", "arxiv:2611.04321"),
)


def trends_digest() -> Digest:
    """The representative digest with a trends section (counts, rising terms and a cited 考察)."""
    return replace(representative_digest(), trends=SAMPLE_TRENDS)
