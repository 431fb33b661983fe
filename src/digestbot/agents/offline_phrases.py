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


ASPECT_WORD = re.compile(
    r"\b(" + "|".join(sorted((re.escape(k) for k in ASPECTS), key=len, reverse=True)) + r")\b", re.I
)


def technique(words: str) -> str | None:
    """The Japanese for an English technique name (``Pruning`` -> 枝刈り), None when not in the table."""
    return TECHNIQUES.get(" ".join(words.lower().split()))


# Research topics, for the offline summarizer's 「<topic>向けの…を提案。」 and 「<topic>に関するサーベイ。」.
# A general ML glossary (what a Japanese digest would write for the English term), longest match first.
TOPICS: dict[str, str] = {
    "large language models": "大規模言語モデル", "large language model": "大規模言語モデル",
    "llms": "大規模言語モデル", "llm": "大規模言語モデル", "language models": "言語モデル",
    "language model": "言語モデル", "retrieval-augmented generation": "検索拡張生成",
    "retrieval augmented generation": "検索拡張生成", "rag": "検索拡張生成", "retrieval": "検索",
    "long-context": "長文脈処理", "long context": "長文脈処理", "reasoning": "推論",
    "chain-of-thought": "思考の連鎖", "agents": "エージェント", "agent": "エージェント",
    "multi-agent": "マルチエージェント", "reinforcement learning": "強化学習",
    "rlhf": "人間のフィードバックによる強化学習", "alignment": "アラインメント",
    "preference optimization": "選好最適化", "instruction tuning": "指示チューニング",
    "fine-tuning": "ファインチューニング", "pre-training": "事前学習", "pretraining": "事前学習",
    "quantization": "量子化", "pruning": "枝刈り", "distillation": "蒸留", "compression": "圧縮",
    "inference": "推論", "decoding": "デコーディング", "embeddings": "埋め込み", "embedding": "埋め込み",
    "evaluation": "評価", "benchmark": "ベンチマーク", "benchmarks": "ベンチマーク",
    "dataset": "データセット", "synthetic data": "合成データ", "data generation": "データ生成",
    "code generation": "コード生成", "question answering": "質問応答", "summarization": "要約",
    "translation": "翻訳", "recommendation": "推薦", "multimodal": "マルチモーダル",
    "vision-language": "視覚言語", "vision": "画像認識", "image": "画像", "images": "画像",
    "video": "動画", "speech": "音声", "safety": "安全性", "security": "セキュリティ",
    "privacy": "プライバシー", "attack": "攻撃", "attacks": "攻撃", "jailbreak": "ジェイルブレイク",
    "hallucination": "ハルシネーション", "interpretability": "解釈可能性", "interpretable": "解釈可能性",
    "explainability": "説明可能性", "scaling": "スケーリング", "efficiency": "効率化",
    "efficient": "効率化", "tool use": "ツール利用", "planning": "計画", "prompting": "プロンプト",
    "in-context learning": "文脈内学習", "knowledge graph": "知識グラフ", "search": "探索",
    "mixture of experts": "混合エキスパート", "tokenization": "トークン化",
}  # fmt: skip
TOPIC_WORD = re.compile(
    r"\b(" + "|".join(sorted((re.escape(k) for k in TOPICS), key=len, reverse=True)) + r")\b", re.I
)
# What a survey abstract says it covers (taxonomy, challenges ...), for 「…を整理。」.
SURVEY_PARTS: dict[str, str] = {
    "taxonomy": "分類体系", "taxonomies": "分類体系", "challenges": "課題",
    "open problems": "未解決の課題", "future directions": "今後の方向性",
    "future research": "今後の研究課題", "applications": "応用", "evaluation methods": "評価手法",
    "datasets": "データセット", "benchmarks": "ベンチマーク", "techniques": "手法", "methods": "手法",
    "limitations": "限界", "components": "構成要素", "paradigm": "枠組み", "evolution": "発展",
    "strategies": "戦略", "definitions": "定義",
}  # fmt: skip
SURVEY_PART = re.compile(
    r"\b(" + "|".join(sorted((re.escape(k) for k in SURVEY_PARTS), key=len, reverse=True)) + r")\b", re.I
)
# Counted things in "evaluated on six datasets" -> 6つのデータセットで評価.
COUNTED: dict[str, str] = {
    "datasets": "データセット", "benchmarks": "ベンチマーク", "tasks": "タスク", "languages": "言語",
    "models": "モデル", "domains": "ドメイン", "settings": "設定", "testbeds": "評価環境",
}  # fmt: skip

TABLE_HASH = zlib.crc32(
    json.dumps(
        [ASPECTS, TECHNIQUES, TOPICS, SURVEY_PARTS, COUNTED], sort_keys=True, ensure_ascii=False
    ).encode()
)
