"""A self-contained HTML page that shows rendered messages roughly as Slack would.

mrkdwn -> HTML for what the digest uses: `<url|text>` links, `*bold*`, `_italic_`, `~strike~`,
`` `code` ``, line breaks, and Slack's `&amp;`/`&lt;`/`&gt;` entities; mentions are shown as
inert text. The first message is the channel post, the others are its thread replies.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from digestbot.slack.preview_report import CSS as APPENDIX_CSS
from digestbot.slack.render import SlackMessage, block_chars

SLACK_MAX_BLOCKS = 50

_ANGLE = re.compile(r"<([^<>\n]+)>")
_CODE = re.compile(r"`([^`\n]+)`")
_STYLES = (
    (re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])"), "b"),
    (re.compile(r"(?<![\w_])_(?!\s)([^_\n]+?)(?<!\s)_(?![\w_])"), "i"),
    (re.compile(r"(?<![\w~])~(?!\s)([^~\n]+?)(?<!\s)~(?![\w~])"), "s"),
)
_SLOT = "\x00{}\x00"
_SLOTS = re.compile("\x00(\\d+)\x00")


def unescape(text: str) -> str:
    """Slack's three entities back to characters (nothing else is decoded, as in Slack)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _angle(token: str, inner: str) -> str:
    """HTML for one `<…>` token: a link, or a mention shown as inert text."""
    target, _, label = inner.partition("|")
    if re.match(r"https?://", target, re.IGNORECASE):
        href = html.escape(unescape(target), quote=True)
        text = mrkdwn_to_html(label or target, links=False)
        return f'<a href="{href}" target="_blank" rel="noopener noreferrer">{text}</a>'
    if target.startswith(("@", "#", "!")):
        shown = label or {"!here": "@here", "!channel": "@channel", "!everyone": "@everyone"}.get(
            target, target
        )
        return f'<span class="mention">{html.escape(unescape(shown))}</span>'
    return html.escape(unescape(token))


def mrkdwn_to_html(text: str, *, links: bool = True) -> str:
    """Slack mrkdwn -> HTML (escaped; safe to embed)."""
    slots: list[str] = []

    def keep(fragment: str) -> str:
        slots.append(fragment)
        return _SLOT.format(len(slots) - 1)

    if links:
        text = _ANGLE.sub(lambda m: keep(_angle(m.group(0), m.group(1))), text)
    text = _CODE.sub(lambda m: keep(f"<code>{html.escape(unescape(m.group(1)))}</code>"), text)
    out = html.escape(unescape(text), quote=False)
    for pattern, tag in _STYLES:
        out = pattern.sub(lambda m, t=tag: f"<{t}>{m.group(1)}</{t}>", out)  # type: ignore[misc]
    return _SLOTS.sub(lambda m: slots[int(m.group(1))], out).replace("\n", "<br>")


def _text(obj: Any) -> str:
    if not isinstance(obj, dict):
        return ""
    value = str(obj.get("text", ""))
    return (
        mrkdwn_to_html(value)
        if obj.get("type") == "mrkdwn"
        else html.escape(unescape(value)).replace("\n", "<br>")
    )


def block_html(block: dict[str, Any]) -> str:
    kind = block.get("type")
    if kind == "header":
        return f'<div class="header">{_text(block.get("text"))}</div>'
    if kind == "section":
        fields = "".join(f'<div class="field">{_text(f)}</div>' for f in block.get("fields") or [])
        body = _text(block.get("text")) + (f'<div class="fields">{fields}</div>' if fields else "")
        return f'<div class="section">{body}</div>'
    if kind == "context":
        parts = " ".join(f"<span>{_text(e)}</span>" for e in block.get("elements") or [])
        return f'<div class="context">{parts}</div>'
    if kind == "divider":
        return '<hr class="divider">'
    if kind == "actions":
        buttons = "".join(
            f'<span class="button">{_text(e.get("text"))}</span>'
            for e in block.get("elements") or []
            if e.get("type") == "button"
        )
        buttons += "".join(_overflow(e) for e in block.get("elements") or [] if e.get("type") == "overflow")
        return f'<div class="actions">{buttons}</div>'
    return f'<div class="unsupported">[{html.escape(str(kind))}]</div>'


def _overflow(menu: dict[str, Any]) -> str:
    """An overflow menu: its ⋮ button with the options listed beside it, as Slack shows them on click."""
    labels = " / ".join(_text(o.get("text")) for o in menu.get("options") or [])
    return f'<span class="button overflow">⋮</span><span class="menu">{labels}</span>'


def _message(message: SlackMessage, *, bot: str, when: str, footer: str = "") -> str:
    blocks = "\n".join(block_html(b) for b in message["blocks"])
    size = f"{len(message['blocks'])}/{SLACK_MAX_BLOCKS} blocks · {block_chars(message['blocks']):,} chars"
    return f"""<div class="message">
  <div class="avatar">📚</div>
  <div class="content">
    <div class="meta"><span class="name">{html.escape(bot)}</span><span class="app">アプリ</span>
      <span class="time">{html.escape(when)}</span><span class="size">{size}</span></div>
    <div class="blocks">{blocks}</div>{footer}
  </div>
</div>"""


def _chart(png: bytes, *, bot: str, when: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f"""<div class="message">
  <div class="avatar">📚</div>
  <div class="content">
    <div class="meta"><span class="name">{html.escape(bot)}</span><span class="app">アプリ</span>
      <span class="time">{html.escape(when)}</span></div>
    <img class="chart" alt="カテゴリごとの週別採用件数の棒グラフ" src="data:image/png;base64,{data}">
  </div>
</div>"""


_CSS = """
:root { --text:#1d1c1d; --muted:#616061; --link:#1264a3; --line:#e8e8e8; }
* { box-sizing:border-box; }
body { margin:0; background:#fff; color:var(--text); font-size:15px; line-height:1.46668;
  font-family:"Slack-Lato","Lato","Helvetica Neue",Helvetica,Arial,"Noto Sans JP","Noto Sans CJK JP",
  "Hiragino Kaku Gothic ProN","Hiragino Sans","Yu Gothic UI","Meiryo",sans-serif,
  "Apple Color Emoji","Segoe UI Emoji","Noto Color Emoji"; }
.channel { display:flex; align-items:center; gap:8px; padding:12px 20px; border-bottom:1px solid var(--line);
  font-weight:900; font-size:18px; }
.notice { margin:12px 20px; padding:8px 12px; background:#f8f8f8; border-radius:6px; color:var(--muted);
  font-size:13px; }
.message { display:flex; gap:8px; padding:8px 20px; }
.message:hover { background:#f8f8f8; }
.avatar { flex:0 0 36px; height:36px; border-radius:6px; background:#4a154b; display:flex;
  align-items:center; justify-content:center; font-size:20px; }
.content { flex:1; min-width:0; }
.meta { display:flex; align-items:baseline; gap:6px; }
.name { font-weight:900; }
.app { font-size:10px; font-weight:700; color:var(--muted); background:rgba(29,28,29,.13); padding:1px 3px;
  border-radius:2px; }
.time, .size { font-size:12px; color:var(--muted); }
.size { margin-left:auto; }
.header { font-size:18px; font-weight:900; margin:4px 0; }
.section { margin:4px 0 8px; white-space:normal; overflow-wrap:anywhere; }
.context { font-size:12px; color:var(--muted); margin:4px 0; }
.divider { border:0; border-top:1px solid #dddddd; margin:10px 0; }
a { color:var(--link); text-decoration:none; }
a:hover { text-decoration:underline; }
code { font-family:Monaco,Menlo,Consolas,"Courier New",monospace; font-size:12px; color:#e01e5a;
  background:rgba(29,28,29,.04); border:1px solid rgba(29,28,29,.13); border-radius:3px; padding:2px 3px; }
.context code { font-size:11px; }
.actions { display:flex; gap:8px; margin:2px 0 10px; align-items:center; }
.menu { font-size:12px; color:#616061; }
.button { border:1px solid rgba(29,28,29,.3); border-radius:4px; padding:0 10px; font-size:13px;
  line-height:26px; font-weight:700; }
.chart { max-width:100%; border:1px solid var(--line); border-radius:8px; margin:4px 0; }
.mention { color:var(--link); background:rgba(29,155,209,.1); border-radius:3px; padding:0 2px; }
.replies { margin-top:4px; font-size:13px; font-weight:700; color:var(--link); }
.thread { margin:8px 20px 24px 64px; border-left:3px solid var(--line); }
.thread h2 { font-size:15px; margin:8px 20px; color:var(--muted); }
"""


def render_preview(
    messages: Sequence[SlackMessage],
    *,
    channel: str = "#llm-digest",
    bot: str = "digestbot",
    posted_at: datetime | None = None,
    tz: str = "Asia/Tokyo",
    chart_png: bytes | None = None,
    appendix: str = "",
) -> str:
    """The whole HTML page for the messages of one digest (first = channel post, rest = thread).

    `chart_png`, when given, is shown in the thread as the uploaded trends chart would be;
    `appendix` (trusted HTML, e.g. `preview_report.appendix_html`) goes below, outside the messages.
    """
    local = posted_at.astimezone(ZoneInfo(tz)) if posted_at else None
    when = f"{local.month}月{local.day}日 {local:%H:%M}" if local else "プレビュー"
    first, replies = messages[0], messages[1:]
    posts = [_message(m, bot=bot, when=when) for m in replies]
    if chart_png:
        posts.append(_chart(chart_png, bot=bot, when=when))
    summary = f'\n    <div class="replies">{len(posts)}件の返信</div>' if posts else ""
    thread = ""
    if posts:
        items = "\n".join(posts)
        thread = f'<section class="thread"><h2>スレッド</h2>\n{items}\n</section>'
    title = html.escape(unescape(first["text"]))
    return f"""<!DOCTYPE html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{_CSS}{APPENDIX_CSS if appendix else ""}</style>
</head>
<body>
<div class="channel"># {html.escape(channel.removeprefix("#"))}</div>
<div class="notice">通知に表示されるテキスト: {title}</div>
{_message(first, bot=bot, when=when, footer=summary)}
{thread}
{appendix}
</body>
</html>
"""
