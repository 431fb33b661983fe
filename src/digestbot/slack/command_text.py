"""What `/digest` says, in plain Japanese: usage, refusals, progress, results, and errors.

Pure functions of their arguments. An error is explained by what happened and what to do, never by
a traceback or an English error string; the details go to the log and the admin channel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from slack_sdk.errors import SlackApiError

from digestbot.runner import RunError
from digestbot.settings import Category, Settings
from digestbot.slack.errors import SlackDeliveryError
from digestbot.slack.escape import clean_inline
from digestbot.slack.publish import is_channel_id
from digestbot.store import StoreError

STAGES = {"classify": "分類", "summarize": "要約", "judge": "審査"}

SHORT_USAGE = "使い方は `/digest help` で確認できます。"
CONFIG_BROKEN = "設定ファイルに問題があるため、いまはダイジェストを作れません。管理者に連絡してください。"

_CREDENTIALS = {
    "invalid_auth",
    "not_authed",
    "token_revoked",
    "token_expired",
    "account_inactive",
    "no_token",
}
_SLACK_ANSWERS = {
    "not_in_channel": "ボットがこのチャンネルに参加していないため投稿できませんでした。"
    "`/invite @digestbot` で招待してから、もう一度お試しください。",
    "channel_not_found": "このチャンネルには投稿できませんでした。"
    "ボットを招待してから、もう一度お試しください。",
    "is_archived": "このチャンネルはアーカイブされているため投稿できません。",
    "ratelimited": "Slackの送信制限にかかりました。数分待ってから、もう一度お試しください。",
    "rate_limited": "Slackの送信制限にかかりました。数分待ってから、もう一度お試しください。",
    "connection_error": "Slackに接続できませんでした。しばらくしてから、もう一度お試しください。",
}


def help_text(settings: Settings) -> str:
    days = settings.app.general.default_window_days
    where = (
        "このチャンネルに投稿します"
        if settings.app.slack.ondemand_visibility == "channel"
        else "依頼した人にだけ表示します"
    )
    return "\n".join(
        [
            "*`/digest` の使い方*",
            f"• `/digest` — 直近{days}日間のダイジェストを作ります",
            "• `/digest 3d` — 直近3日間（`1d`〜`31d`、`2w` のように週でも指定できます）",
            "• `/digest rag` — 1つのカテゴリだけ（`/digest rag 3d` のように期間と組み合わせられます）",
            "• `/digest categories` — カテゴリの一覧",
            "• `/digest search <語>` — 過去のダイジェストを検索（例: `/digest search RAG 評価`）",
            "• `/digest follow <カテゴリ|キーワード>` — フォローすると週次ダイジェストの該当記事に 👀 で"
            "お知らせします（`--dm` で DM でも、`/digest unfollow …` で解除、`/digest me` で一覧）",
            "• `/digest watch` — 注目リスト（`[watch]` の著者・arXiv ID・キーワード・ユーザー）",
            "• `/digest help` — この説明",
            f"できあがったダイジェストは{where}。同じ範囲をすでに投稿済みのときは、そのリンクを返します。",
        ]
    )


def categories_text(categories: Sequence[Category]) -> str:
    lines = ["*カテゴリ一覧*（`/digest <ID>` で指定できます）"]
    lines += [f"• {c.emoji} `{c.id}` {c.name} — {c.description}" for c in categories]
    return "\n".join(lines)


def unknown_word(word: str, categories: Sequence[Category]) -> str:
    ids = "、".join(f"`{c.id}`" for c in categories)
    said = clean_inline(word)  # the asker's own words, echoed: never a mention or a link
    return f"「{said}」は期間（例: `3d`）でもカテゴリでもありません。カテゴリは {ids} から選んでください。"


def channel_refused(allowed: Sequence[str]) -> str:
    names = "、".join(f"<#{c}>" if is_channel_id(c) else f"#{c.removeprefix('#')}" for c in allowed)
    return f"このチャンネルでは `/digest` を使えません。使えるチャンネル: {names}"


def user_refused() -> str:
    return "`/digest` を使う権限がありません。使いたい場合は管理者に依頼してください。"


def accepted(label: str, *, joined: bool, to_channel: bool) -> str:
    where = "このチャンネルに投稿します" if to_channel else "あなたにだけ表示します"
    if joined:
        return f"同じ範囲（{label}）のダイジェストをいま生成中です。それに合流し、できあがったら{where}。"
    return f"生成中…（{label}）。できあがったら{where}。"


def progress_text(label: str, totals: Mapping[str, int], done: Mapping[str, int]) -> str:
    parts = [
        f"{name} {min(done.get(stage, 0), totals[stage])}/{totals[stage]}"
        for stage, name in STAGES.items()
        if stage in totals
    ]
    return f"生成中…（{label}）" + (" " + "・".join(parts) if parts else "")


def already_posted(label: str, permalink: str | None) -> str:
    where = f": {permalink}" if permalink else "（このチャンネルの履歴をご覧ください）"
    return f"同じ範囲（{label}）のダイジェストは、このチャンネルに本日すでに投稿しています{where}"


def same_as_weekly(label: str, permalink: str | None) -> str:
    where = f"（{permalink}）" if permalink else "（このチャンネルの履歴）"
    return f"直近のダイジェスト{where}と同じ内容なので、{label}のダイジェストは投稿しませんでした。"


def partly_in_weekly(label: str, repeated: int, permalink: str | None) -> str:
    where = f"（{permalink}）" if permalink else ""
    return f"{label}のダイジェストのうち{repeated}件は、直近のダイジェスト{where}に掲載済みです。"


def posted(label: str, permalink: str | None) -> str:
    return f"ダイジェスト（{label}）を投稿しました" + (f": {permalink}" if permalink else "。")


def shown_to_you(label: str) -> str:
    return f"ダイジェスト（{label}）ができました。上のメッセージはあなたにだけ表示されています。"


def nothing_found(label: str) -> str:
    return (
        f"この期間（{label}）に該当する論文・記事はありませんでした。"
        "期間を延ばして試してください（例: `/digest 14d`）。"
    )


def slack_code(exc: BaseException) -> str | None:
    """Slack's error code behind a failed post (our publisher's error or the SDK's), else None."""
    if isinstance(exc, SlackDeliveryError):
        return exc.code
    if isinstance(exc, SlackApiError):
        code = exc.response.get("error") if isinstance(exc.response.data, dict) else None
        return str(code) if code else "server_error"
    return None


def failure(exc: BaseException) -> str:
    """The asker's answer for a failed run."""
    code = slack_code(exc)
    if code is not None:
        if code in _CREDENTIALS:
            return "ボットの認証設定に問題があり投稿できませんでした。管理者に通知しました。"
        return _SLACK_ANSWERS.get(
            code, "Slackへの投稿に失敗しました。しばらくしてから、もう一度お試しください。"
        )
    if isinstance(exc, RunError):
        return "要約の生成に失敗しました（言語モデルに接続できない可能性があります）。管理者に通知しました。"
    if isinstance(exc, StoreError):
        return "データベースに接続できませんでした。しばらくしてから、もう一度お試しください。"
    return "予期しないエラーでダイジェストを作れませんでした。管理者に通知しました。"


def needs_admin(exc: BaseException) -> bool:
    """Whether an admin must act (the asker alone cannot fix it)."""
    code = slack_code(exc)
    return code is None or code in _CREDENTIALS or code not in _SLACK_ANSWERS


def admin_failure(label: str, exc: BaseException) -> str:
    return f"⚠️ `/digest`（{label}）が失敗しました: `{type(exc).__name__}: {exc}`"
