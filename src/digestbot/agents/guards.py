"""Code guards on every blurb, whichever agent wrote or judged it (pure functions, no I/O).

- numbers: every number of the blurb is in the source (as digits or a number word: "three" -> 3,
  "twice" -> 2), and the names beside it in the blurb (Latin names, 「quoted」 terms) are in the
  same source sentence as that number (names of the title excepted: they are the paper's subject).
- meta: no greeting, self-introduction, 「この記事では」, instruction to a model or reader, URL or
  mention; no sentence of the item that reads as an instruction to the model (`injection_flags`).
- japanese: `japanese_score()` is the kana/kanji share of the blurb's letters once names copied
  from the source are set aside (a run of at most `max_name_words` Latin words without an English
  function word, or a Title-Case run); an English clause counts fully. The default threshold was
  calibrated on the curator's dev blurbs against English sentences in a Japanese frame
  (`evals/calibrate_japanese.py`, README "Offline mode"). The blurb also needs kana, and a few
  Japanese characters of its own outside names and quotes: the title in 「」 plus 「に関する研究」 is
  an empty frame, not a blurb.
- length and placeholders: within `max_chars`; no template text (「ここに要約」, TODO, {blurb}).

`check_blurb()` runs them all; `cap_scores()` caps the judge's faithfulness and japanese scores
so that no judge, offline or LLM, can keep a blurb that fails one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from digestbot.domain import Item, Scores
from digestbot.sources.text import _is_japanese, _is_kana

PARAMS: dict[str, float] = {
    "version": 1,
    "min_japanese_score": 0.5,  # calibrated: see evals/calibrate_japanese.py
    "max_name_words": 4,
    "min_own_japanese": 4,  # kana/kanji outside quotes and set phrases (に関する研究, を提案)
    "name_window": 12,  # chars before/after a number where a name counts as "beside" it
    "copy_chars": 12,  # this many characters of a flagged sentence in a blurb = a copy
    "faithfulness_cap": 2,
    "japanese_cap": 2,
}
FAITHFULNESS_GUARDS = frozenset({"numbers", "meta", "injection", "placeholder"})
JAPANESE_GUARDS = frozenset({"japanese", "empty_frame", "length"})


@dataclass(frozen=True)
class GuardFailure:
    guard: str  # numbers | meta | injection | placeholder | japanese | empty_frame | length
    reason: str  # for the run report (English)
    feedback: str  # for the summarizer (Japanese)


@dataclass(frozen=True)
class GuardReport:
    failures: tuple[GuardFailure, ...]
    japanese_score: float

    @property
    def ok(self) -> bool:
        return not self.failures

    def guards(self) -> set[str]:
        return {f.guard for f in self.failures}

    def reason(self) -> str:
        return "; ".join(f"{f.guard}: {f.reason}" for f in self.failures)

    def feedback(self) -> str:
        return "。".join(dict.fromkeys(f.feedback for f in self.failures))


@dataclass(frozen=True)
class InjectionFlag:
    sentence: str
    reason: str


# --- text pieces ---------------------------------------------------------------------------------

_NUMBER = re.compile(r"(?<![\d.,])\d+(?:[.,]\d+)*")
_LATIN_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-.+/'’]*")
_LATIN_RUN = re.compile(r"[A-Za-z][A-Za-z0-9_\-.+/'’&:]*(?:[ \t]+[A-Za-z0-9][A-Za-z0-9_\-.+/'’&:]*)*")
_QUOTED = re.compile(r"「([^」]*)」|『([^』]*)』")
_FUNCTION_WORDS = frozenset(
    [
        "a", "an", "the", "of", "and", "or", "to", "for", "with", "in", "on", "by", "we", "our", "us",
        "is", "are", "was", "were", "be", "been", "this", "that", "these", "those", "which", "who", "from",
        "as", "at", "it", "its", "can", "not", "than", "into", "via", "using", "while", "when", "where",
        "how", "what", "their",
    ]
)  # fmt: skip
_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "fifty": 50,
    "hundred": 100, "thousand": 1000, "twice": 2, "double": 2, "doubles": 2, "doubled": 2, "dual": 2,
    "both": 2, "pair": 2, "triple": 3, "thrice": 3, "tripled": 3, "half": 50, "halves": 50, "dozen": 12,
    "single": 1, "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "tenfold": 10,
}  # fmt: skip
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[。！？!?])|(?<=\.)\s+(?=[A-Z0-9(\[\"'])|\n+")


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def sentences(text: str) -> list[str]:
    """Sentences of English or Japanese text (after 。！？, after ". " + capital, at line breaks)."""
    return [s.strip() for s in _SENTENCE.split(_nfkc(text)) if s and s.strip()]


def _source_sentences(item: Item) -> list[str]:
    return [_nfkc(item.title), *sentences(item.text)]


def plain_numbers(text: str) -> list[re.Match[str]]:
    """Numbers that stand alone (``84.0%``, ``3倍``), not digits of a name (``GPT-4``, ``FP16``, ``2B``)."""
    out = []
    for match in _NUMBER.finditer(text):
        before = text[match.start() - 1] if match.start() else " "
        after = text[match.end()] if match.end() < len(text) else " "
        glued_before = before.isascii() and (before.isalpha() or before in "-_")
        in_name = glued_before or (after.isascii() and after.isalpha())
        if not in_name:
            out.append(match)
    return out


def values_in(text: str) -> set[str]:
    """Every number written in `text`: digits (commas removed) and English number words."""
    found = {m.group(0).replace(",", "") for m in _NUMBER.finditer(text)}
    for word in _NUMBER_WORD.finditer(text):
        found.add(str(_NUMBER_WORDS[word.group(1).lower()]))
    return found | {v.rstrip("0").rstrip(".") for v in found if "." in v}


def _names(text: str) -> list[tuple[int, str]]:
    """(position, name) of Latin names and 「quoted」 terms in a blurb."""
    found = [
        (m.start(), m.group(0).strip(".-")) for m in _LATIN_TOKEN.finditer(text) if _is_name_token(m.group(0))
    ]
    found += [(m.start(), (m.group(1) or m.group(2) or "").strip()) for m in _QUOTED.finditer(text)]
    return [(pos, name) for pos, name in found if name]


def _is_name_token(token: str) -> bool:
    token = token.strip(".-")
    if len(token) < 2 or not any(c.isalpha() for c in token) or token.lower() in _FUNCTION_WORDS:
        return False
    return token[0].isupper() or any(c.isupper() for c in token[1:]) or any(c.isdigit() for c in token)


def _contains(sentence: str, name: str) -> bool:
    key = re.sub(r"[\s\-_]+", "", name.lower())
    return key in re.sub(r"[\s\-_]+", "", sentence.lower())


# --- the guards ----------------------------------------------------------------------------------


def number_failures(item: Item, blurb: str) -> list[GuardFailure]:
    """Numbers of `blurb` that the source lacks, or that the source states about something else."""
    text = _nfkc(blurb)
    source = _source_sentences(item)
    title = source[0]
    values = values_in("\n".join(source))
    names = _names(text)
    window = int(PARAMS["name_window"])
    failures = []
    for number in plain_numbers(text):
        value = number.group(0).replace(",", "")
        if value not in values:
            failures.append(
                GuardFailure("numbers", f"{value} is not in the source", f"原文にない数値「{value}」を削除")
            )
            continue
        clause_start = max(text.rfind(mark, 0, number.start()) for mark in "。、,") + 1
        clause_end = min(
            (i for i in (text.find(m, number.end()) for m in "。、,") if i >= 0), default=len(text)
        )
        beside = [
            name
            for pos, name in names
            if clause_start <= pos < clause_end
            and (number.start() - window <= pos + len(name) and pos <= number.end() + window)
            and not _contains(title, name)
            and not name.replace(".", "").isdigit()
            and any(_contains(s, name) for s in source)  # a name the source lacks is not misattributed
        ]
        if not beside:
            continue
        home = [s for s in source if value in values_in(s)]
        if not any(all(_contains(s, name) for name in beside) for s in home):
            shown = "、".join(beside)
            failures.append(
                GuardFailure(
                    "numbers",
                    f"{value} is not stated about {', '.join(beside)} in the source",
                    f"数値「{value}」は原文では{shown}についての値ではないので、数値を削るか正しい対象に直す",
                )
            )
    return failures


_GREETING = re.compile(
    r"こんにちは|こんばんは|おはようございます|はじめまして|初めまして|よろしくお願い|お疲れ様です|"
    r"\b(?:hello|hi there|hey everyone|greetings)\b",
    re.IGNORECASE,
)
_SELF_INTRO = re.compile(
    r"と申します|といいます。|(?:私|僕|わたし|筆者)は[^。]{0,30}(?:です|をしています|をやっています)|"
    r"エンジニアをしています|をしている者です|\bmy name is\b|\bI am an? \w+ (?:engineer|developer)\b",
    re.IGNORECASE,
)
_ARTICLE_META = re.compile(
    r"(?:この|本|今回の)(?:記事|稿|論文|投稿)(?:では|で|は)|本論文では|著者らは|の記事です|記事になります|"
    r"日目の記事|(?:転載|リライト|加筆修正|再編集)した(?:もの|記事)|を元に(?:しています|した記事)"
)
_INSTRUCTION = re.compile(
    r"\b(?:ignore|disregard|forget)\s+(?:all\s+|any\s+|the\s+)?(?:previous|prior|above|earlier|preceding|"
    r"your|these|those)?\s*(?:instructions?|prompts?|rules|directions)\b|"
    r"\b(?:give|assign|award|rate)\s+(?:this|the|it|me)\b[^.。]{0,40}?\b(?:score|rating|stars?|points?|marks)\b|"
    r"\b(?:top|highest|maximum|perfect|full)\s+(?:score|rating|marks)\b|\bscore\s+of\s+(?:5|10|100)\b|"
    r"\byou are now\b|\bsystem prompt\b|\bnew instructions?\b|\bdeveloper mode\b|"
    r"(?:指示|命令|プロンプト|ルール)を(?:すべて|全て)?(?:無視|忘れ)|"
    r"(?:最高|満点|最高点|高得点|最高評価|最上位|[5５]点|星[5５])(?:の評価)?(?:を|に)(?:して|つけ|付け|与え|くだ|下さ)|"
    r"(?:評価|採点|スコア|点数)を(?:[5５]|最高|満点)に|システムプロンプト|あなたは(?:今から|これから)",
    re.IGNORECASE,
)
_READER_REQUEST = re.compile(r"ください|下さい|してね|お願いします|いいね|フォロー|ストックして")
_LINK = re.compile(
    r"https?://|www\.|<[@#!][^>]*>|(?<![\w.])[@＠][A-Za-z0-9_.\-]+|<!?(?:here|channel|everyone)>"
)
_PLACEHOLDER = re.compile(
    r"\b(?:TODO|TBD|FIXME|lorem ipsum|placeholder|N/A)\b|\{\{?\s*\w+\s*\}?\}|<\s*\w+\s*>|"
    r"\[\s*(?:要約|blurb|summary)\s*\]|"
    r"ここに[^。]{0,10}(?:要約|紹介文|入力|記入)|(?:要約|紹介文)[^。]{0,6}(?:準備中|未定|なし|未作成|ここに)|^[\s.…。・ー-]*$",
    re.IGNORECASE,
)


def meta_failures(blurb: str) -> list[GuardFailure]:
    text = _nfkc(blurb)
    checks = (
        (_GREETING, "greeting", "挨拶を書かず、内容の要約だけを書く"),
        (_SELF_INTRO, "self-introduction", "著者の自己紹介を書かず、内容の要約だけを書く"),
        (_ARTICLE_META, "article meta text", "「この記事では」などの前置きを書かない"),
        (_INSTRUCTION, "an instruction to a model", "モデルや読者への指示文を書かない"),
        (_READER_REQUEST, "a request to the reader", "読者への呼びかけ・依頼を書かない"),
        (_LINK, "a URL or mention", "URLやメンションを書かない"),
    )
    return [GuardFailure("meta", why, fix) for pattern, why, fix in checks if pattern.search(text)]


def injection_flags(item: Item) -> tuple[InjectionFlag, ...]:
    """Sentences of the item that read as instructions to the model (prompt injection), with why."""
    flags = []
    for sentence in _source_sentences(item):
        match = _INSTRUCTION.search(sentence)
        if match:
            flags.append(
                InjectionFlag(sentence[:200], f"reads as an instruction to the model: {match.group(0)!r}")
            )
    return tuple(flags)


def _squash(text: str) -> str:
    return "".join(c for c in _nfkc(text).lower() if c.isalnum())


def copies_flagged(item: Item, blurb: str, flags: tuple[InjectionFlag, ...] | None = None) -> bool:
    """Whether the blurb copies `copy_chars` characters in a row from a flagged sentence."""
    size = int(PARAMS["copy_chars"])
    squashed = _squash(blurb)
    for flag in injection_flags(item) if flags is None else flags:
        piece = _squash(flag.sentence)
        if piece and (len(piece) < size and piece in squashed):
            return True
        if any(piece[i : i + size] in squashed for i in range(max(0, len(piece) - size) + 1)):
            return True
    return False


def _is_name_run(run: str) -> bool:
    words = run.split()
    if all(w[:1].isupper() or w[:1].isdigit() for w in words):
        return True  # a Title-Case name or title
    if len(words) > PARAMS["max_name_words"]:
        return False
    return not any(w.lower().strip(",.:;") in _FUNCTION_WORDS for w in words)


def japanese_score(blurb: str) -> float:
    """Kana/kanji share of the letters once Latin names (short runs without function words) are set aside."""
    text = _nfkc(blurb)
    english = sum(
        sum(c.isalpha() for c in m.group(0))
        for m in _LATIN_RUN.finditer(text)
        if not _is_name_run(m.group(0))
    )
    japanese = sum(1 for c in text if _is_japanese(c))
    return japanese / (japanese + english) if japanese + english else 0.0


def own_japanese(blurb: str) -> int:
    """Kana/kanji outside 「quotes」: what the blurb says in its own words."""
    return sum(1 for c in _QUOTED.sub(" ", _nfkc(blurb)) if _is_japanese(c))


_FRAME_WORDS = re.compile(
    r"に関する|についての|について|研究|論文|記事|を提案|の提案|を開発|を構築|サーベイ|紹介|解説"
)


def japanese_failures(item: Item, blurb: str, max_chars: int) -> list[GuardFailure]:
    failures = []
    score = japanese_score(blurb)
    if score < PARAMS["min_japanese_score"] or not any(_is_kana(c) for c in blurb):
        failures.append(
            GuardFailure(
                "japanese",
                f"Japanese score {score:.2f} < {PARAMS['min_japanese_score']}",
                "英語の文を日本語の枠に入れず、日本語の文で書く（手法名・モデル名だけ英語のまま）",
            )
        )
    if own_japanese(_FRAME_WORDS.sub("", blurb)) < PARAMS["min_own_japanese"]:
        failures.append(
            GuardFailure(
                "empty_frame",
                "an empty frame (names or a title in a set phrase such as 「…に関する研究」)",
                "何をしたか・何が分かったかを日本語で具体的に書く",
            )
        )
    if len(blurb) > max_chars:
        failures.append(
            GuardFailure("length", f"{len(blurb)} > {max_chars} chars", f"{max_chars}文字以内に縮める")
        )
    return failures


def check_blurb(item: Item, blurb: str, *, max_chars: int) -> GuardReport:
    """Every guard on one blurb of `item`."""
    failures = []
    if _PLACEHOLDER.search(_nfkc(blurb)):
        failures.append(
            GuardFailure("placeholder", "template or placeholder text", "原文の内容を要約した文を書く")
        )
    failures += number_failures(item, blurb)
    failures += meta_failures(blurb)
    if copies_flagged(item, blurb):
        failures.append(
            GuardFailure(
                "injection", "copies a sentence flagged as prompt injection", "原文中の指示文は要約に含めない"
            )
        )
    failures += japanese_failures(item, blurb, max_chars)
    return GuardReport(failures=tuple(failures), japanese_score=japanese_score(blurb))


def cap_scores(scores: Scores, report: GuardReport, *, min_faithfulness: int, min_japanese: int) -> Scores:
    """The judge's scores, faithfulness and japanese capped below the keep thresholds on a failed guard."""
    guards = report.guards()
    faithfulness, japanese = scores.faithfulness, scores.japanese
    if guards & FAITHFULNESS_GUARDS:
        faithfulness = min(faithfulness, max(1, min(int(PARAMS["faithfulness_cap"]), min_faithfulness - 1)))
    if guards & JAPANESE_GUARDS:
        japanese = min(japanese, max(1, min(int(PARAMS["japanese_cap"]), min_japanese - 1)))
    return Scores(
        relevance=scores.relevance,
        significance=scores.significance,
        faithfulness=faithfulness,
        japanese=japanese,
    )


def salvage(item: Item, blurb: str, *, max_chars: int) -> str | None:
    """The blurb without its failing sentences, when what is left passes every guard; else None."""
    parts = [s for s in re.split(r"(?<=。)", blurb) if s.strip()]
    kept = [s for s in parts if not (number_failures(item, s) or meta_failures(s) or copies_flagged(item, s))]
    if not kept or len(kept) == len(parts):
        return None
    text = "".join(kept)
    return text if check_blurb(item, text, max_chars=max_chars).ok else None
