"""A small English -> Japanese table of common ML terms for the offline summarizer's template sentences.

`ASPECTS` are qualities a paper evaluates or improves (``inference speed`` -> 推論速度); `TECHNIQUES`
name a kind of method and replace a quoted English modifier (「pruning」手法 -> 枝刈り手法). Keys are
lower-case English as abstracts write it; values never contain Latin letters, so a table word can
never bring an English token that is not in the source. `TABLE_HASH` enters the summarizer's
fingerprint, so editing a phrase recomputes cached offline blurbs.
"""

from __future__ import annotations

import json
import re
import zlib

ASPECTS: dict[str, str] = {
    "inference speed": "推論速度", "inference latency": "推論速度", "latency": "推論速度",
    "decoding speed": "生成速度", "generation speed": "生成速度", "throughput": "スループット",
    "memory usage": "メモリ使用量", "memory footprint": "メモリ使用量", "memory": "メモリ",
    "accuracy": "精度", "performance": "性能", "efficiency": "効率", "robustness": "頑健性",
    "generalization": "汎化性能", "reasoning": "推論能力", "training cost": "学習コスト",
    "training time": "学習時間", "inference cost": "推論コスト", "computational cost": "計算コスト",
    "computation": "計算量", "compute": "計算量", "energy": "消費電力", "hallucination": "ハルシネーション",
    "hallucinations": "ハルシネーション", "factuality": "事実性", "faithfulness": "忠実性",
    "safety": "安全性", "interpretability": "解釈性", "sample efficiency": "サンプル効率",
    "scalability": "スケーラビリティ", "stability": "安定性", "quality": "品質", "privacy": "プライバシー",
    "cost": "コスト", "recall": "再現率", "precision": "適合率", "success rate": "成功率",
}  # fmt: skip
TECHNIQUES: dict[str, str] = {
    "pruning": "枝刈り", "quantization": "量子化", "distillation": "蒸留", "retrieval": "検索",
    "compression": "圧縮", "fine-tuning": "ファインチューニング", "evaluation": "評価",
    "reasoning": "推論", "alignment": "アラインメント", "decoding": "デコーディング",
    "attention": "アテンション", "embedding": "埋め込み", "merging": "マージ", "prompting": "プロンプト",
    "training": "学習", "pre-training": "事前学習", "pretraining": "事前学習", "sampling": "サンプリング",
    "tokenization": "トークン化", "summarization": "要約", "translation": "翻訳",
    "classification": "分類", "generation": "生成", "search": "探索", "planning": "計画",
    "caching": "キャッシュ", "routing": "ルーティング", "watermarking": "透かし",
    "data augmentation": "データ拡張", "reinforcement learning": "強化学習",
    "knowledge distillation": "知識蒸留", "model merging": "モデルマージ",
}  # fmt: skip

TABLE_HASH = zlib.crc32(json.dumps([ASPECTS, TECHNIQUES], sort_keys=True).encode())

ASPECT_WORD = re.compile(
    r"\b(" + "|".join(sorted((re.escape(k) for k in ASPECTS), key=len, reverse=True)) + r")\b", re.I
)


def technique(words: str) -> str | None:
    """The Japanese for an English technique name (``Pruning`` -> 枝刈り), None when not in the table."""
    return TECHNIQUES.get(" ".join(words.lower().split()))
