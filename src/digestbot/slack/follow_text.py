"""What `/digest follow|unfollow|me` say, in plain Japanese. Pure functions of their arguments.

Everything the member typed is echoed through `clean_inline` (escaped, broadcasts defanged), so an
answer can never mention anyone or link anywhere the member did not see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from digestbot.config_schema import Category, FollowConfig
from digestbot.follows import Member, Problem, Topic, topic_label
from digestbot.slack.escape import clean_inline

FOLLOW_OFF = "このワークスペースではフォロー機能が無効になっています（`[follow] enabled = false`）。"
BAD_USER = "このユーザーではフォローを登録できません。"


def usage(config: FollowConfig) -> str:
    return "\n".join(
        [
            "*フォローの使い方*",
            "• `/digest follow rag` — カテゴリをフォロー（ID は `/digest categories`）",
            '• `/digest follow 量子化 "multi agent"` — キーワードをフォロー（複数語は "…" か「…」で囲む）',
            "• `/digest follow kw:rag` / `category:rag` — キーワードかカテゴリかを明示",
            "• `/digest follow --dm` — 週次ダイジェストの後に、該当記事だけを DM でも受け取る"
            "（`--no-dm` で停止）",
            "• `/digest unfollow 量子化`、`/digest unfollow all` — フォロー解除",
            "• `/digest me` — 自分のフォロー一覧",
            f"1人あたり最大{config.max_follows_per_user}件、キーワードは{config.max_keyword_chars}文字まで。",
        ]
    )


def _labels(topics: Sequence[Topic], categories: Mapping[str, Category]) -> str:
    return "、".join(clean_inline(topic_label(t, categories)) for t in topics)


def problems_text(problems: Sequence[Problem], categories: Sequence[Category], config: FollowConfig) -> str:
    """Why nothing was changed: one line per problem, then what to write."""
    lines = ["次の指定を読めなかったため、何も変更していません。"]
    for problem in problems:
        said = clean_inline(problem.word)
        if problem.kind == "unknown_category":
            ids = "、".join(f"`{c.id}`" for c in categories)
            lines.append(f"• 「{said}」というカテゴリはありません。カテゴリは {ids} から選んでください。")
        elif problem.kind == "too_short":
            lines.append(f"• 「{said}」は短すぎます（キーワードは2文字以上）。")
        elif problem.kind == "too_long":
            lines.append(f"• 「{said}」は長すぎます（キーワードは{config.max_keyword_chars}文字まで）。")
        elif problem.kind == "too_many_words":
            lines.append(f"• 一度に指定できるのは{config.max_follows_per_user}件程度までです（{said}語）。")
        else:
            lines.append(f"• 「{said}」というオプションはありません（使えるのは `--dm` と `--no-dm`）。")
    lines.append("使い方は `/digest follow` で確認できます。")
    return "\n".join(lines)


def dm_line(dm: bool, config: FollowConfig) -> str:
    if not config.dm:
        return "DM でのダイジェスト: 管理者が無効にしています。"
    if dm:
        return "DM でのダイジェスト: 受け取る（週次ダイジェストの投稿後、該当記事だけを DM でお送りします）"
    return "DM でのダイジェスト: 受け取らない（`/digest follow --dm` で受け取れます）"


def followed_text(
    added: Sequence[Topic],
    already: Sequence[Topic],
    over: Sequence[Topic],
    *,
    dm: bool,
    dm_changed: bool,
    categories: Mapping[str, Category],
    config: FollowConfig,
) -> str:
    lines = []
    if added:
        lines.append(f"👀 フォローしました: {_labels(added, categories)}")
    if already:
        lines.append(f"すでにフォロー中: {_labels(already, categories)}")
    if over:
        lines.append(
            f"上限（{config.max_follows_per_user}件）を超えるため登録しませんでした: "
            f"{_labels(over, categories)}。`/digest unfollow …` で減らしてから追加してください。"
        )
    if dm_changed or not lines:
        lines.append(dm_line(dm, config))
    who = "メンション（通知あり）" if config.mention else "お名前（通知なし）"
    lines.append(f"週次ダイジェストで該当する記事に、あなたの{who}が 👀 として表示されます。")
    return "\n".join(lines)


def unfollowed_text(
    removed: Sequence[Topic], missing: Sequence[Topic], categories: Mapping[str, Category]
) -> str:
    lines = []
    if removed:
        lines.append(f"フォローを解除しました: {_labels(removed, categories)}")
    if missing:
        lines.append(f"フォローしていませんでした: {_labels(missing, categories)}（一覧は `/digest me`）")
    return "\n".join(lines) or "解除するものがありませんでした（一覧は `/digest me`）。"


def everything_removed(count: int) -> str:
    return (
        f"すべてのフォロー（{count}件）を解除しました。"
        if count
        else "フォローしているものはありませんでした。"
    )


def me_text(
    member: Member | None, categories: Mapping[str, Category], config: FollowConfig, *, matched: int | None
) -> str:
    """`/digest me`: the member's follows, the DM choice, and how the last weekly digest matched."""
    if member is None or not member.topics:
        return "まだ何もフォローしていません。\n" + usage(config)
    cats = [t for t in member.topics if t.kind == "category"]
    words = [t for t in member.topics if t.kind == "keyword"]
    lines = [f"*あなたのフォロー*（{len(member.topics)}/{config.max_follows_per_user}件）"]
    if cats:
        lines.append(f"• カテゴリ: {_labels(cats, categories)}")
    if words:
        lines.append(f"• キーワード: {_labels(words, categories)}")
    lines.append(dm_line(member.dm, config))
    if matched is not None:
        lines.append(f"直近の週次ダイジェストでは、{matched}件があなたのフォローに該当しました。")
    lines.append("解除は `/digest unfollow <カテゴリ|キーワード>`、すべて解除は `/digest unfollow all`。")
    return "\n".join(lines)
