"""The preview's appendix (never posted): each entry's classifier reason, and every item left out.

Pure: a saved `Digest` in, escaped HTML out. Everything shown came from outside (titles, model
reasons), so all of it is escaped; links are kept only for http(s) URLs.
"""

from __future__ import annotations

import html

from digestbot.domain import Digest, LeftOut
from digestbot.slack.escape import defang, safe_url

STATUS_LABEL = {"dropped": "除外", "capped": "掲載上限", "held_back": "保留（失敗）"}
CSS = """
.appendix { margin:24px 20px; font-size:13px; }
.appendix h2 { font-size:15px; margin:16px 0 6px; }
.appendix table { border-collapse:collapse; width:100%; }
.appendix th, .appendix td { border-bottom:1px solid var(--line); padding:4px 6px; text-align:left;
  vertical-align:top; }
.appendix td.num { text-align:right; white-space:nowrap; }
"""


def _text(value: str) -> str:
    """Outside text for the page: HTML-escaped, broadcasts defanged as in Slack (`＠here`)."""
    return html.escape(defang(value))


def _title(title: str, url: str) -> str:
    text = _text(title or url)
    target = safe_url(url)
    return f'<a href="{html.escape(target, quote=True)}">{text}</a>' if target else text


def _row(cells: list[str], numeric: frozenset[int] = frozenset()) -> str:
    tds = "".join(
        f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(cells)
    )
    return f"<tr>{tds}</tr>"


def _left_row(left: LeftOut) -> str:
    score = "" if left.score is None else f"{left.score:.2f}"
    rank = "" if left.rank is None else str(left.rank)
    return _row(
        [
            _title(left.title, left.url),
            html.escape(STATUS_LABEL.get(left.status, left.status)),
            html.escape(left.stage),
            html.escape(left.category),
            rank,
            score,
            _text(left.reason),
        ],
        frozenset({4, 5}),
    )


def watch_html(digest: Digest) -> str:
    """The 注目 entries with what they matched and the judge's flag ("" when nothing is watched)."""
    watched = [e for section in digest.sections if section.is_watch for e in section.entries]
    if not watched:
        return ""
    rows = "\n".join(
        _row(
            [
                _title(e.item.title, e.item.url),
                _text(" ・ ".join(m.label for m in e.watch)),
                _text(e.watch_flag or "—"),
            ]
        )
        for e in watched
    )
    return f"""<h2>注目の一致と判定フラグ（プレビューのみ）</h2>
<table><tr><th>タイトル</th><th>一致</th><th>フラグ</th></tr>
{rows}</table>
"""


def appendix_html(digest: Digest) -> str:
    """Two tables: the posted entries with their classifier reason; every item not posted and why."""
    entries = [e for section in digest.sections for e in section.entries]
    reasons = "\n".join(
        _row([_title(e.item.title, e.item.url), html.escape(e.category), _text(e.reason or "—")])
        for e in entries
    )
    ordered = sorted(
        digest.left_out, key=lambda left: (left.status, left.stage, -(left.score or 0), left.item_id)
    )
    left_rows = "\n".join(_left_row(left) for left in ordered)
    columns = ("タイトル", "扱い", "段階", "カテゴリ", "順位", "スコア", "理由")
    head = "<tr>" + "".join(f"<th>{c}</th>" for c in columns) + "</tr>"
    left_table = (
        f"<table>{head}\n{left_rows}</table>" if left_rows else "<p>掲載されなかった項目はありません。</p>"
    )
    ranking = digest.ranking
    tuned = (
        f"<p>並び順はチームの投票 {ranking.votes}件（{ranking.items}項目）で学習した好みを加味しています"
        f"（重み {ranking.weight:g}、順位が変わった項目 {ranking.moved}件）。</p>\n"
        if ranking is not None
        else ""
    )
    return f"""<section class="appendix">
{tuned}{watch_html(digest)}<h2>分類の理由（プレビューのみ）</h2>
<table><tr><th>タイトル</th><th>カテゴリ</th><th>分類の理由</th></tr>
{reasons}</table>
<h2>掲載されなかった項目 {len(digest.left_out)}件（プレビューのみ）</h2>
{left_table}
</section>"""
