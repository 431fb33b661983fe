"""Text helpers: HTML/Markdown to text, entity decoding, language, arXiv ids, dedup titles."""

from __future__ import annotations

import pytest

from digestbot.sources.text import (
    collapse_ws,
    decode_entities_once,
    detect_language,
    find_arxiv_ids,
    japanese_ratio,
    markdown_to_text,
    merge_tags,
    normalize_title,
    strip_html,
    truncate,
)


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("<p>一段落目</p><p>二段落目</p>", "一段落目 二段落目"),
        ("行1<br>行2<br/>行3", "行1 行2 行3"),
        ("<b>太字</b>と<i>斜体</i>", "太字と斜体"),
        ("前<script>alert('x')</script><style>p {color: red}</style>後", "前後"),
        ("<ul><li>A</li><li>B</li></ul>", "A B"),
        ("a -&gt; b &amp;amp; &lt;div&gt;", "a -> b &amp; <div>"),
        ("plain text\n  with   spaces", "plain text with spaces"),
        ("", ""),
    ],
)
def test_strip_html(markup: str, expected: str) -> None:
    """Tags go, block elements become spaces, scripts/styles vanish, entities are decoded once."""
    assert expected == strip_html(markup)


def test_decode_entities_once_decodes_one_layer() -> None:
    """A double-escaped `&amp;gt;` becomes `&gt;`, not `>`."""
    expected = "-&gt; 日本語 &"
    assert expected == decode_entities_once("-&amp;gt; 日本語 &amp;")


def test_collapse_ws_handles_newlines_and_ideographic_space() -> None:
    """Newlines, tabs and U+3000 collapse to single spaces; ends are trimmed."""
    expected = "はじめに この記事は"
    assert expected == collapse_ws("\n はじめに\u3000\tこの記事は\n")


def test_truncate_marks_the_cut() -> None:
    """Long text is cut to the limit and ends with an ellipsis; short text is untouched."""
    long = "あ" * 50
    expected = ("あ" * 9 + "…", "短い")
    assert expected == (truncate(long, 10), truncate("短い", 10))


def test_markdown_to_text() -> None:
    """Headings, emphasis, links, images, code fences, tables and Qiita notes become plain text."""
    markdown = (
        "# 見出し\n\n本文 **太字** と [リンク](https://example.com) ![図](a.png)\n\n"
        "```python\nprint('code')\n```\n\n- 項目 `List<T>`\n> 引用 &amp; 以上\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n:::note info\nメモ\n:::\n入力 -> 出力 & <T> と a<b<br>次"
    )
    expected = (
        "見出し 本文 太字 と リンク 図 項目 List<T> 引用 & 以上 a b 1 2 メモ "
        + "入力 -> 出力 & <T> と a<b 次"
    )
    assert expected == markdown_to_text(markdown)


@pytest.mark.parametrize(
    ("text", "ratio"),
    [("日本語です", 1.0), ("English only", 0.0), ("123 !!", 0.0), ("LLMを使う", 0.5), ("カタカナー々", 1.0)],
)
def test_japanese_ratio(text: str, ratio: float) -> None:
    """Share of kana/kanji among letters; digits and punctuation do not count."""
    assert ratio == pytest.approx(japanese_ratio(text))


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("大規模言語モデルの評価手法", "ja"),
        ("LangChainでRAGを作る", "ja"),
        ("Fine-tuning Llama 3 with LoRA の実践", "ja"),
        ("Attention Is All You Need", "en"),
        ("A survey of LLM agents (日本)", "en"),
        ("", "en"),
    ],
)
def test_detect_language(text: str, language: str) -> None:
    """Japanese prose full of Latin terms is still `ja`; English with a stray kanji is `en`."""
    assert language == detect_language(text)


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("arXiv:2401.10491 を読んだ", ("2401.10491",)),
        ("arXiv: 2401.10491v3.", ("2401.10491",)),
        (
            "https://arxiv.org/abs/2312.00752v2 と https://arxiv.org/pdf/2305.14314v1.pdf",
            ("2312.00752", "2305.14314"),
        ),
        ("www.arxiv.org/abs/2401.10491 arxiv.org/abs/2401.10491v2", ("2401.10491",)),
        ("論文 2401.10491 (bare)", ("2401.10491",)),
        ("https://doi.org/10.48550/arXiv.2005.11401", ("2005.11401",)),
        ("https://huggingface.co/papers/2401.10491", ("2401.10491",)),
        ("old 0704.0001 and 1412.9999", ("0704.0001", "1412.9999")),
        ("arXiv:cs/0601001v1 and https://arxiv.org/abs/hep-th/9901001", ("cs/0601001", "hep-th/9901001")),
        ("math.GT/0309136", ("math/0309136",)),
        ("Python 3.11.7, version 1.2345, v2401.10491, x2401.10491", ()),
        ("2023.1215 release, 2024.01.15, 2012.1231, 1234.5678, 2401.104915", ()),
        ("1501.0001 (too short for 2015) and 1412.12345 (too long for 2014)", ()),
        ("docs/0601001 and cs/0613001 (month 13)", ()),
        ("2401.10491.5 looks like a version", ()),
    ],
)
def test_find_arxiv_ids(text: str, ids: tuple[str, ...]) -> None:
    """New- and old-style ids in every common spelling, versions stripped, no version-number lookalikes."""
    assert ids == find_arxiv_ids(text)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("【LLM】RAG入門！", "llm rag入門"),
        ("Attention Is All You Need", "attention is all you need."),
        ("ＧＰＴ－４の評価", "GPT-4の評価"),
        ("Self-RAG: Learning to Retrieve", "self rag — learning to retrieve"),
    ],
)
def test_normalize_title_equates_variants(a: str, b: str) -> None:
    """Width, case, punctuation and spacing differences give the same dedup key."""
    assert normalize_title(a) == normalize_title(b)


def test_normalize_title_keeps_letters_and_digits() -> None:
    """The key is NFKC-casefolded letters and digits only."""
    expected = "gpt4の評価2024"
    assert expected == normalize_title("ＧＰＴ－４の評価 (2024)")


def test_merge_tags_is_case_insensitive_and_ordered() -> None:
    """The first spelling wins and order of first appearance is kept."""
    expected = ("LLM", "RAG", "生成AI")
    assert expected == merge_tags(("LLM", "RAG"), ("llm", "生成AI", "rag", "生成AI"))
