"""Generated vote sets with a known preference, for the learned ranking (`taste.py`) and `feedback --eval`.

The team likes items about one topic (code assistants: completion, repair, tests, review) and dislikes
another (speech and audio), with `noise` of the votes flipped; a share of items comes from neutral
topics voted at random. Texts are generated from varied templates, English (arXiv-like) and Japanese
(Qiita/Zenn-like); method and result phrases are shared by every topic, so only the topic tells the
votes apart. The judge's scores are drawn independently of the votes: the untuned ranking knows
nothing of the team's taste. Deterministic for a seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from digestbot.domain import Item, Scores, SourceName

TOPICS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "liked": (
        (
            "repository-level code completion",
            "automated program repair",
            "unit test generation",
            "code review comments",
            "SQL synthesis from natural language questions",
            "bug localization in large codebases",
            "refactoring legacy Java services",
            "type inference for Python programs",
            "commit message generation",
            "fixing failing CI builds",
        ),
        (
            "コード補完",
            "バグの自動修正",
            "単体テストの自動生成",
            "コードレビューの自動化",
            "自然言語からのSQL生成",
            "レガシーコードのリファクタリング",
            "Pythonの型推論",
            "コミットメッセージの生成",
        ),
    ),
    "disliked": (
        (
            "speech recognition in noisy rooms",
            "text-to-speech for low-resource languages",
            "speaker diarization of meetings",
            "music generation from text prompts",
            "sound event detection",
            "voice conversion",
            "spoken language understanding",
            "singing voice synthesis",
            "audio captioning",
            "lip-synced speech translation",
        ),
        (
            "雑音下での音声認識",
            "低資源言語の音声合成",
            "会議音声の話者分離",
            "テキストからの音楽生成",
            "環境音の検出",
            "声質変換",
            "歌声合成",
            "音声翻訳",
        ),
    ),
    "neutral": (
        (
            "molecular property prediction",
            "traffic forecasting",
            "satellite image segmentation",
            "recommendation for online retail",
            "weather nowcasting",
        ),
        (
            "分子の物性予測",
            "交通量の予測",
            "衛星画像のセグメンテーション",
            "ECサイトの推薦",
            "天気の短時間予測",
        ),
    ),
}

METHODS = (
    "a lightweight adapter",
    "contrastive pretraining",
    "a mixture-of-experts model",
    "retrieval augmentation",
    "instruction tuning",
    "a distilled small model",
    "self-consistency decoding",
    "curriculum fine-tuning",
)
METHODS_JA = ("LoRA", "小さな蒸留モデル", "検索拡張", "指示チューニング", "ローカルLLM", "既存のOSSツール")
RESULTS = (
    "It improves accuracy by {n}% over strong baselines.",
    "Latency drops by {n}% with no loss in quality.",
    "Experiments on {k} benchmarks show consistent gains.",
    "We release code and a new benchmark of {n}k examples.",
    "A user study with {k} participants confirms the benefit.",
)
RESULTS_JA = (
    "精度が{n}%向上しました。",
    "処理時間を{n}%短縮できました。",
    "{k}個のデータセットで比較しました。",
    "手元の環境で再現できるコードを公開しています。",
)
TITLES = (
    "{Method} for {task}",
    "Rethinking {task} with {method}",
    "{task}: a study of {method}",
    "Scaling {task} via {method}",
    "When does {method} help {task}?",
)
TITLES_JA = (
    "{method}で{task}を試してみた",
    "{task}を{method}で改善する",
    "{task}入門：{method}を使う",
    "{task}の実践メモ",
)


@dataclass(frozen=True)
class VotedItem:
    item: Item
    up: bool
    scores: Scores  # what the judge gave it, independent of the vote
    voted_at: datetime
    topic: str


def judge_rank(scores: Scores) -> float:
    """The judge's part of compose.rank (confidence 0.5, no popularity)."""
    judged = 0.4 * (scores.relevance + scores.significance) + 0.05 * (scores.faithfulness + scores.japanese)
    return round(judged + 0.05, 4)


def _text(rng: random.Random, topic: str, japanese: bool) -> tuple[str, str]:
    tasks_en, tasks_ja = TOPICS[topic]
    n, k = rng.randint(3, 40), rng.randint(2, 9)
    if japanese:
        task, method = rng.choice(tasks_ja), rng.choice(METHODS_JA)
        title = rng.choice(TITLES_JA).format(task=task, method=method)
        text = f"{task}に{method}を使ってみた記録です。" + rng.choice(RESULTS_JA).format(n=n, k=k)
        return title, text
    task, method = rng.choice(tasks_en), rng.choice(METHODS)
    title = rng.choice(TITLES).format(task=task, method=method, Method=method[0].upper() + method[1:])
    title = title[0].upper() + title[1:]
    text = f"We study {task} and propose {method}. " + rng.choice(RESULTS).format(n=n, k=k)
    return title, text


def vote_set(
    count: int, *, seed: int = 7, noise: float = 0.1, neutral: float = 0.15, start: datetime | None = None
) -> list[VotedItem]:
    """`count` voted items, oldest vote first (one vote per item, a day apart)."""
    rng = random.Random(seed)
    start = start or datetime(2026, 9, 1, 3, 0, tzinfo=UTC)
    out = []
    titles: set[str] = set()
    for index in range(count):
        topic = "neutral" if rng.random() < neutral else rng.choice(("liked", "disliked"))
        japanese = rng.random() < 0.4
        title, text = _text(rng, topic, japanese)
        while title in titles:  # the store would merge two items with the same title
            title, text = _text(rng, topic, japanese)
        titles.add(title)
        up = rng.random() < 0.5 if topic == "neutral" else (topic == "liked") != (rng.random() < noise)
        source = rng.choice((SourceName.QIITA, SourceName.ZENN)) if japanese else SourceName.ARXIV
        local = f"s{seed}n{index:04d}" if japanese else f"2609.{seed:02d}{index:03d}"
        when = start + timedelta(days=index)
        item = Item(
            id=f"{source.value}:{local}",
            source=source,
            url=f"https://example.org/{source.value}/{local}",
            title=title,
            text=text,
            published=when - timedelta(days=2),
            updated=when - timedelta(days=2),
            language="ja" if japanese else "en",
        )
        scores = Scores(rng.randint(2, 5), rng.randint(2, 5), rng.randint(3, 5), rng.randint(3, 5))
        out.append(VotedItem(item, up, scores, when, topic))
    return out
