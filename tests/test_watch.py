"""The watchlist matcher: normalized names and ids, word-bounded phrases (Latin and Japanese), config."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from tests.conftest import build_item

from digestbot.config_schema import AppConfig, CategoriesFile, WatchConfig
from digestbot.domain import SourceName, WatchMatch
from digestbot.watch import Watchlist, fold


def _kinds(config: WatchConfig, **item: object) -> list[str]:
    return [m.label for m in Watchlist(config).matches(build_item(**item))]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("configured", "author"),
    [
        ("Lukasz Kaiser", "Łukasz Kaiser"),
        ("José García", "Jose Garcia"),
        ("山田 太郎", "山田太郎"),
        ("山田太郎", "山田　太郎"),
        ("Taro Yamada", "Yamada Taro"),
        ("ＧＰＴ Team", "GPT team"),
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ タロウ"),
        ("Jean-Pierre Dupont", "Jean Pierre Dupont"),
    ],
)
def test_author_names_match_after_normalization(configured: str, author: str) -> None:
    """Case, width, accents, spaces between family and given name and word order do not matter."""
    assert [f"著者: {configured}"] == _kinds(WatchConfig(authors=(configured,)), authors=(author,))


def test_a_family_name_alone_or_another_kana_does_not_match() -> None:
    """Exact full names only; hiragana and katakana stay different letters."""
    config = WatchConfig(authors=("Bengio", "さとう はなこ"))
    assert [] == _kinds(config, authors=("Yoshua Bengio", "サトウ ハナコ"))


@pytest.mark.parametrize(
    ("phrase", "text", "found"),
    [
        ("RAG", "A fragment of storage", False),
        ("RAG", "RAGs everywhere", False),
        ("RAG", "RAGの評価を行う", True),
        ("RAG", "RAG-based retrieval", True),
        ("ＲＡＧ", "rag pipelines", True),
        ("long context", "long-context models", True),
        ("GPT", "ChatGPT is used", False),
        ("ラグ", "フラグを立てる", False),
        ("ラグ", "ラグが大きい", True),
        ("推論", "推論モデルの評価", True),
        ("ｴｰｼﾞｪﾝﾄ", "エージェントの設計", True),
        ("café", "the cafe effect", True),
    ],
)
def test_keywords_are_word_bounded(phrase: str, text: str, found: bool) -> None:
    """Latin edges need a non-letter neighbour, katakana edges a non-katakana one; kanji is a substring."""
    matched = _kinds(WatchConfig(keywords=(phrase,)), title="Title", text=text)
    assert found == (matched == [f"キーワード: {phrase}"])


def test_arxiv_ids_match_the_paper_and_articles_naming_it() -> None:
    """Versions and URL forms are normalized; an article mentioning the id is watched too."""
    config = WatchConfig(arxiv_ids=("https://arxiv.org/abs/2401.10491v3",))
    assert ("2401.10491",) == config.arxiv_ids
    paper = _kinds(config, item_id="arxiv:2401.10491")
    article = _kinds(config, item_id="zenn:abc", mentioned_arxiv_ids=("2401.10491",))
    assert (["arXiv: 2401.10491"], ["arXiv: 2401.10491"]) == (paper, article)


def test_users_match_the_url_or_the_author_of_an_article_only() -> None:
    """`@` optional, case-insensitive; an arXiv author of the same name is not a Qiita user."""
    config = WatchConfig(users=("@Karaage0703",))
    qiita = _kinds(config, item_id="qiita:0123", url="https://qiita.com/karaage0703/items/0123")
    zenn = _kinds(config, item_id="zenn:x", source=SourceName.ZENN, authors=("KARAAGE0703",))
    paper = _kinds(config, authors=("karaage0703",))
    assert (["ユーザー: @Karaage0703"], ["ユーザー: @Karaage0703"], []) == (qiita, zenn, paper)


def test_config_rejects_unknown_keys_bad_ids_blank_entries_and_the_reserved_category() -> None:
    """`[watch]` is typed like the rest; category id `watch` is the 注目 section's."""
    for bad in ({"authorz": ["x"]}, {"arxiv_ids": ["not an id"]}, {"keywords": ["  "]}, {"max_items": 0}):
        with pytest.raises(ValidationError):
            AppConfig.model_validate({"watch": bad})
    with pytest.raises(ValidationError, match="reserved"):
        CategoriesFile.model_validate({"category": [{"id": "watch", "name": "W", "description": "d"}]})


def test_fold_and_labels() -> None:
    """The folded form, and the label the digest shows."""
    assert ("lukasz gpt", "著者: Łukasz") == (fold("Łukasz ＧＰＴ"), WatchMatch("author", "Łukasz").label)


def test_slash_watch_lists_the_entries_escaped_and_bounded() -> None:
    """`/digest watch`: every kind, an injected mention shown inert, long lists cut with ほかN件."""
    from digestbot.slack.watch_command import EMPTY, watch_text

    config = WatchConfig(authors=("Łukasz Kaiser",), keywords=tuple(f"<!channel>{n}" for n in range(12)))
    text = watch_text(config)
    assert ("著者（1）: `Łukasz Kaiser`" in text, "<!channel>" in text, "ほか2件" in text) == (
        True,
        False,
        True,
    )
    assert (len(text) < 3000, EMPTY) == (True, watch_text(WatchConfig()))
