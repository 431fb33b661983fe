"""English-paper facts for the offline summarizer, rendered as short Japanese sentences.

`contribution()` reads "we propose/introduce/present X" (names stay in English, a few head nouns and
adjectives are translated from a fixed glossary: framework -> フレームワーク, novel -> 新しい);
`result()` reads one quantitative result and copies its number exactly (「NQで再現率71%を達成。」).
Both return None when the sentence gives them nothing safe to say.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from digestbot.agents.offline_phrases import ASPECT_WORD, ASPECTS, TABLE_HASH, technique

PARAMS: dict[str, int] = {
    "version": 3,
    "max_phrase_chars": 48,
    "max_name_chars": 32,
    "metric_window": 25,
    "aspect_window": 40,
    "phrase_table": TABLE_HASH,
}

_CONTRIBUTION = re.compile(
    r"\b(?:we|this (?:paper|work|study|article|report))\s+(?:(?:also|further|first|then|here)\s+)?"
    r"(?P<verb>propos|introduc|present|develop|design|releas|buil|construct|creat|curat"
    r"|analy[sz]|stud|investigat|examin|explor|characteri[sz]|surve|review|provid)\w*\s+(?P<obj>.+)",
    re.IGNORECASE,
)
_VERB_JA = {
    "develop": "開発", "design": "設計", "releas": "公開",
    "buil": "構築", "construct": "構築", "creat": "構築", "curat": "構築",
    "analys": "分析", "analyz": "分析", "stud": "分析", "investigat": "分析", "examin": "分析",
    "explor": "分析", "characteris": "分析", "characteriz": "分析", "surve": "サーベイ", "review": "サーベイ",
    "provid": "提案",
}  # fmt: skip
_BUILT = ("ベンチマーク", "データセット", "コーパス")  # proposing one of these is building it
_CLAUSE = re.compile(r"^(?:whether|how|what|why|if|when|which|to|and|or|that)\b", re.I)
_SURVEY_OBJ = re.compile(
    r"^(?:an?\s+|the\s+)?(?:\w+\s+)?(?:survey|review|overview)\s+(?:of|on)\s+(?P<topic>.+)", re.I
)
_OBJECT_END = re.compile(
    r",?\s+(?:that|which|where|whereby|to|by|using|leveraging|based on|consisting|aimed|designed|capable"
    r"|allowing|enabling|achieving|with|while|in order|so that)\b|[,;:(]|\s+-\s+|\.$"
)
_NAMED = re.compile(
    r"\b(?:called|named|namely|dubbed|termed|coined)\s+(?:as\s+)?[\"'“]?(?P<name>[A-Za-z][A-Za-z0-9_\-.+]*(?:\s+\S+)?)"
)
_NAME_LIKE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.+]*$")
_NOT_NAMES = frozenset({"LLM", "LLMs", "AI", "NLP", "ML", "GPU", "GPUs", "API", "APIs"})
_LEADING = re.compile(
    r"^(?:(?:a|an|the|our|two|three|several|open|(?:notion|concept|idea|task|problem) of"
    r"|(?:collection|suite|family|set|series|range) of)\s+)+",
    re.I,
)
_PREPOSITION = re.compile(r"\s+(?:of|for|with|in|on|that|which|to)\s+")
_TYPES = {
    "framework": "フレームワーク", "method": "手法", "approach": "手法", "technique": "手法",
    "algorithm": "アルゴリズム", "model": "モデル", "benchmark": "ベンチマーク", "dataset": "データセット",
    "corpus": "コーパス", "system": "システム", "architecture": "アーキテクチャ", "pipeline": "パイプライン",
    "metric": "評価指標", "library": "ライブラリ", "toolkit": "ツールキット", "attack": "攻撃",
    "strategy": "戦略", "paradigm": "パラダイム", "agent": "エージェント", "engine": "エンジン",
    "mechanism": "機構", "module": "モジュール", "objective": "目的関数", "loss": "損失関数",
    "policy": "方策", "tool": "ツール", "platform": "基盤",
    "protocol": "プロトコル", "recipe": "手順", "variant": "変種", "family": "ファミリー",
}  # fmt: skip
_ADJECTIVES = {
    "novel": "新しい", "new": "新しい", "first": "初の", "simple": "シンプルな", "straightforward": "単純な",
    "efficient": "効率的な", "effective": "効果的な", "unified": "統一的な", "general": "汎用的な",
    "scalable": "スケーラブルな", "lightweight": "軽量な", "comprehensive": "包括的な",
    "complementary": "相補的な", "robust": "頑健な", "practical": "実用的な",
    "open-source": "オープンソースの", "large-scale": "大規模な", "training-free": "学習不要の",
    "automatic": "自動", "automated": "自動",
}  # fmt: skip


def is_name(token: str) -> bool:
    """``LongRAG``, ``AIM``, ``BitNet``, ``Llama-2``, ``b1.58``: inner capitals, all caps, or with digits."""
    token = token.strip("\"'“”`.,;:")
    if token in _NOT_NAMES or not _NAME_LIKE.match(token) or not any(c.isalpha() for c in token):
        return False
    return any(ch.isupper() for ch in token[1:]) or any(ch.isdigit() for ch in token)


def _describe(descriptor: str, *, keep_modifier: bool) -> str | None:
    """``a novel pruning method for X`` -> 「X」のための新しい「pruning」手法 (None: unknown head noun)."""
    descriptor = _LEADING.sub("", descriptor.strip())
    noun_phrase, _, complement = descriptor.partition(" for ")
    words = _PREPOSITION.split(noun_phrase, maxsplit=1)[0].split()
    if not words:
        return None
    head = words[-1].lower()
    type_ja = _TYPES.get(head) or _TYPES.get(head.removesuffix("s"))
    if type_ja is None:
        return None
    adjectives = "".join(
        dict.fromkeys(_ADJECTIVES[w.lower()] for w in words[:-1] if w.lower() in _ADJECTIVES)
    )
    modifier = " ".join(w for w in words[:-1] if w.lower() not in _ADJECTIVES) if keep_modifier else ""
    modifier_ja = technique(modifier) if modifier else None
    purpose = ""
    complement = _PREPOSITION.split(complement, maxsplit=1)[0].strip()
    if keep_modifier and complement and len(complement) <= PARAMS["max_phrase_chars"] - 8:
        purpose = f"「{complement}」のための"
    if keep_modifier and not (purpose or modifier):
        return None  # 「新しい手法を提案」 says nothing; the title says more
    shown = modifier_ja or (f"「{modifier}」" if modifier else "")
    return f"{purpose}{adjectives}{shown}{type_ja}"


def _split_name(obj: str, head: str, rest: str) -> tuple[str, str]:
    """(name, descriptor) of a contribution object such as ``a new framework LongRAG`` or ``AIM, a ...``."""
    named = _NAMED.search(obj)
    if named and named.start() <= len(head) + 3:
        tokens = named.group("name").split()
        tokens = [t.strip("\"'“”.,;:") for t in tokens]
        name = " ".join(tokens if len(tokens) == 2 and is_name(tokens[1]) else tokens[:1])
        return name, obj[: named.start()]
    tokens = head.split()
    appositive = _OBJECT_END.split(rest.lstrip(" ,:("), maxsplit=1)[0]
    if len(tokens) == 1 and is_name(tokens[0]):
        return tokens[0], appositive
    after = re.match(r",\s+([A-Za-z][A-Za-z0-9_\-.+]*),", rest)
    if after and is_name(after.group(1)):
        return after.group(1), head  # "a novel policy, TOVA, which ..."
    if len(tokens) > 1 and is_name(tokens[-1]):
        return tokens[-1], " ".join(tokens[:-1])
    if (
        1 <= len(tokens) <= 3
        and all(t[0].isupper() for t in tokens)
        and re.match(r",\s+(?:a|an|the)\s", rest)
    ):
        return head, appositive
    return "", head


_AND_VERB = re.compile(
    r",?\s+and\s+(?:also\s+)?(?P<verb>propos|introduc|present|develop|design|releas)\w*\s+(?P<obj>.+)", re.I
)


def named(sentence: str) -> str | None:
    """The name in "... termed (as) Agent Forest" / "called FooNet", or None."""
    match = _NAMED.search(sentence)
    if not match:
        return None
    tokens = [t.strip("\"'“”.,;:") for t in match.group("name").split()]
    two = len(tokens) == 2 and (
        is_name(tokens[1]) or tokens[0][:1].isupper() == tokens[1][:1].isupper() is True
    )
    name = " ".join(tokens if two else tokens[:1])
    return name if name[:1].isupper() or is_name(name) else None


def contribution(sentence: str, max_chars: int) -> str | None:
    match = _CONTRIBUTION.search(sentence)
    if not match and re.search(r"\bwe\b", sentence, re.I):
        match = _AND_VERB.search(sentence)  # "We observe that ..., and introduce X"
    if not match:
        return None
    verb = _VERB_JA.get(match.group("verb").lower(), "提案")
    obj = match.group("obj")
    if _CLAUSE.match(obj):
        return None  # "we study whether ..." names a question, not a thing
    survey = _SURVEY_OBJ.match(obj)
    if survey:
        obj, verb = survey.group("topic"), "サーベイ"
    head = _OBJECT_END.split(obj, maxsplit=1)[0].strip()
    name, descriptor = _split_name(obj, head, obj[len(head) :])
    if name and len(name) <= PARAMS["max_name_chars"]:
        shown = f"「{name}」" if " " in name else name  # a multiword name is quoted
        label = f"{_describe(descriptor, keep_modifier=False) or ''}{shown}"
    else:
        label = _describe(descriptor, keep_modifier=True) or ""
        phrase = _LEADING.sub("", head).strip()
        if not label and (" " in phrase or verb in {"分析", "サーベイ"}):
            label = f"「{phrase}」"  # an English phrase is quoted, as Japanese digests quote a term
        if not 3 <= len(label) <= min(PARAMS["max_phrase_chars"], max_chars - 5):
            return None
    if verb == "提案" and any(kind in label for kind in _BUILT):
        verb = "構築"
    return f"{label}に関するサーベイ。" if verb == "サーベイ" else f"{label}を{verb}。"


SURVEY_TITLE = re.compile(
    r"^(?:.*?:\s*)?(?:an?\s+)?(?:\w+\s+){0,2}(?:survey|review|overview)\s+(?:on|of)\s+(?P<topic>.+)$", re.I
)
SURVEY_SUFFIX = re.compile(r"^(?P<topic>.+?)\s*[:\-–]\s*(?:an?\s+)?(?:\w+\s+)?(?:survey|review)$", re.I)

# Starts with the digit (no modifier, no lookbehind) so the regex engine can scan for digits quickly;
# `quantities()` drops matches that continue a longer number (the ``000`` of ``1,000``).
QUANTITY = re.compile(
    r"(?P<num>\d+(?:\.\d+)?)\s*"
    r"(?P<unit>%|x\b|×|-?fold\b|times\b|percentage points?\b|points?\b|pp\b)",
    re.IGNORECASE,
)
_MODIFIER = re.compile(
    r"(?:\b(up to|over|more than|nearly|about|approximately|around|at least)\s+|(~)\s?)$", re.I
)
_CUES = (
    (re.compile(r"\b(?:outperform|surpass|exceed|beat)\w*", re.I), "上回る"),
    (re.compile(r"\b(?:faster|speed-?ups?|accelerat\w*)", re.I), "高速化"),
    (re.compile(r"\b(?:reduc|decreas|lower|cut|sav|fewer|less|compress|shrink)\w*", re.I), "削減"),
    (re.compile(r"\b(?:improv|boost|gain|increas|higher|better|enhanc)\w*", re.I), "向上"),
    (re.compile(r"\b(?:achiev|reach|attain|obtain|scor|record)\w*", re.I), "達成"),
)
_METRICS = {
    "accuracy": "精度", "performance": "性能", "latency": "レイテンシ", "throughput": "スループット",
    "memory": "メモリ", "cost": "コスト", "speed": "速度", "success rate": "成功率", "win rate": "勝率",
    "perplexity": "パープレキシティ", "recall": "再現率", "precision": "適合率", "f1": "F1",
    "parameters": "パラメータ", "tokens": "トークン", "flops": "計算量", "compute": "計算量",
}  # fmt: skip
_METRIC_WORD = re.compile(r"\b(" + "|".join(_METRICS) + r")\b", re.IGNORECASE)
_BENCH = re.compile(
    r"\b(?:on|in|across)\s+(?:the\s+)?(?P<bench>[A-Z][A-Za-z0-9_\-.]*(?:\s+[A-Z][A-Za-z0-9_\-.]*){0,2})"
)
_UNIT_JA = {"%": "%", "x": "倍", "×": "倍", "fold": "倍", "-fold": "倍", "times": "倍"}


def benchmarks(sentence: str) -> list[str]:
    """Benchmark-like names after on/in/across (``on HotpotQA``), in order, without repeats."""
    found = (
        m.group("bench").rstrip(".") for m in _BENCH.finditer(sentence) if _is_benchmark(m.group("bench"))
    )
    return list(dict.fromkeys(found))


def _is_benchmark(words: str) -> bool:
    """``HotpotQA``, ``ImageNet-1k``, ``Natural Questions``; not ``Table`` or ``English``."""
    tokens = words.split()
    return any(is_name(t) for t in tokens) or len(tokens) >= 2


def _cue(sentence: str, start: int, end: int) -> str | None:
    """The word that says what the number at [start, end) did.

    A cue right after the number wins (``58.9% gains``, ``3x faster``), then the nearest verb before
    it (``improves ... by 5%``), then the first cue after it.
    """
    before: list[tuple[int, str]] = []
    after: list[tuple[int, str]] = []
    for pattern, ja in _CUES:
        for m in pattern.finditer(sentence):
            (before if m.start() < start else after).append((m.start(), ja))
    right_after = [cue for cue in after if cue[0] - end <= 3]
    if right_after:
        return min(right_after)[1]
    if before:
        return max(before)[1]
    return min(after)[1] if after else None


def quantities(text: str) -> Iterator[re.Match[str]]:
    """Numbers with a unit (``84.0%``, ``3x``, ``5.3 points``), never the tail of a longer number."""
    for match in QUANTITY.finditer(text):
        if match.start() == 0 or text[match.start() - 1] not in "0123456789.,":
            yield match


def _value(sentence: str, number: re.Match[str]) -> str:
    """The number exactly as written, its unit and modifier in Japanese: ``up to 3.2x`` -> 最大3.2倍."""
    value = number.group("num") + _UNIT_JA.get(number.group("unit").lower(), "ポイント")
    modifier = _MODIFIER.search(sentence, max(0, number.start() - 20), number.start())
    mod = (modifier.group(1) or modifier.group(2)).lower() if modifier else ""
    if mod == "up to":
        return "最大" + value
    if mod in {"over", "more than"}:
        return value + "超"
    if mod == "at least":
        return value + "以上"
    return "約" + value if mod else value


def result(sentence: str) -> str | None:
    """One quantitative result of `sentence` as a Japanese sentence, or None if no number has a verb."""
    for number in quantities(sentence):
        verb = _cue(sentence, number.start(), number.end())
        if verb is None:
            continue
        value = _value(sentence, number)
        benches = [m for m in _BENCH.finditer(sentence) if _is_benchmark(m.group("bench"))]
        near = min(benches, key=lambda m: abs(m.start() - number.start()), default=None)
        where = f"{near.group('bench').rstrip('.')}で" if near else ""
        window = PARAMS["metric_window"]
        metrics = [m for m in _METRIC_WORD.finditer(sentence) if abs(m.start() - number.start()) <= window]
        metric_m = min(metrics, key=lambda m: abs(m.start() - number.start()), default=None)
        metric = _METRICS[metric_m.group(1).lower()] if metric_m else ""
        if verb == "達成":
            return f"{where}{metric}{value}を達成。"
        if verb == "上回る":
            return f"{where}比較手法を{metric + 'で' if metric else ''}{value}上回る。"
        if verb == "削減":
            return f"{where}{metric}を{value}削減。" if metric else f"{where}{value}の削減。"
        if verb == "高速化":
            return f"{where}{value}の高速化。"
        return f"{where}{metric}が{value}向上。" if metric else f"{where}{value}の向上。"
    return None


_ASPECT_CUES = (
    (re.compile(r"\b(?:reduc|lower|cut|sav|decreas|minimi[sz]|mitigat|alleviat)\w*", re.I), "削減"),
    (re.compile(r"\b(?:improv|boost|enhanc|increas|strengthen)\w*", re.I), "向上"),
)
_FASTER = re.compile(r"\b(?:faster|speeds? up|speed-?ups?|accelerat\w*)", re.I)
_OUTPERFORM = re.compile(r"\b(?:outperform|surpass|beat)\w*", re.I)
_EVALUATED = re.compile(r"\b(?:experiments?|evaluat\w*|results|tested|benchmarks)\b", re.I)
_SPEED_ASPECT = "推論速度"  # "reduces latency" is a faster model, not a lower speed


def _aspects(sentence: str, start: int) -> list[str]:
    """Japanese names of the table's aspects within a short window after `start`, at most two."""
    end = start + PARAMS["aspect_window"]
    for pattern, _ in _ASPECT_CUES:  # "reduces memory and improves throughput": stop at the next verb
        later = pattern.search(sentence, start, end)
        end = later.start() if later else end
    found = (ASPECTS[m.group(1).lower()] for m in ASPECT_WORD.finditer(sentence, start, end))
    return list(dict.fromkeys(found))[:2]


def _claim(sentence: str) -> str | None:
    """What the sentence says the method improves or reduces, or that it beats baselines, in Japanese."""
    for pattern, verb in _ASPECT_CUES:
        for cue in pattern.finditer(sentence):
            aspects = _aspects(sentence, cue.end())
            if verb == "削減" and _SPEED_ASPECT in aspects:
                return "推論を高速化。"
            if aspects:
                return f"{'と'.join(aspects)}を{verb}。"
    if _FASTER.search(sentence):
        return "推論を高速化。" if re.search(r"\binference\b", sentence, re.I) else None
    outperform = _OUTPERFORM.search(sentence)
    if outperform:
        aspect = (_aspects(sentence, outperform.end()) or ["性能"])[0]
        where = "、".join(benchmarks(sentence)[:2])
        return f"{where + 'で' if where else ''}既存手法を上回る{aspect}。"
    return None


def aspect(sentences: Sequence[str], *, latin: bool = True) -> str | None:
    """A short Japanese sentence on what the paper improves or is evaluated on, without numbers.

    Built from table words and benchmark names of the sentences; with ``latin=False`` only from
    table words (no benchmark names).
    """
    for sentence in sentences:
        found = _claim(sentence)
        if found and (latin or not re.search(r"[A-Za-z0-9]", found)):
            return found
    if not latin:
        return None
    for sentence in sentences:
        names = benchmarks(sentence)[:2]
        if names and _EVALUATED.search(sentence):
            return f"{'、'.join(names)}で評価。"
    return None
