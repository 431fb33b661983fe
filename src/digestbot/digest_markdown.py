"""Plain Markdown rendering of a digest (for `digest.md` and the terminal).

Every string from outside (titles, blurbs, notes, names) is text, never markup: `&`, `<`, `>` become
HTML entities (a `<script>` in a title stays inert wherever the file is rendered), Markdown's
punctuation is backslash-escaped, line breaks are folded; a link is made only for an http(s) URL,
with the characters that would end it percent-encoded.
"""

from __future__ import annotations

import re

from digestbot.domain import Digest, DigestEntry, LinkedItem

_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!|~])")
_URL_UNSAFE = {" ": "%20", "(": "%28", ")": "%29", "<": "%3C", ">": "%3E", '"': "%22", "`": "%60"}

SOURCE_LABEL = {"arxiv": "arXiv", "qiita": "Qiita", "zenn": "Zenn"}


def _badge(entry: DigestEntry) -> str:
    item = entry.item
    label = SOURCE_LABEL.get(str(item.source), str(item.source))
    pop = item.popularity
    extras = []
    if pop.likes is not None:
        extras.append(f"♥{pop.likes}")
    if pop.stocks is not None:
        extras.append(f"ストック{pop.stocks}")
    if pop.bookmarks is not None:
        extras.append(f"🔖{pop.bookmarks}")
    return f"{label} {' '.join(extras)}".strip()


def md_text(text: str) -> str:
    """Outside text as inert Markdown: one line, HTML-escaped, Markdown punctuation escaped."""
    flat = " ".join(text.split())
    escaped = "".join(_HTML.get(ch, ch) for ch in flat)
    return _MARKDOWN.sub(r"\\\1", escaped)


def md_link(title: str, url: str) -> str:
    """`[title](url)` for an http(s) URL; the bare escaped title otherwise (no javascript: links)."""
    if not url.lower().startswith(("https://", "http://")):
        return md_text(title)
    safe = "".join(_URL_UNSAFE.get(ch, ch) for ch in url if ch not in "\r\n\t")
    return f"[{md_text(title)}]({safe})"


def to_markdown(digest: Digest) -> str:
    lines = [f"# {md_text(digest.title)}", ""]
    counts = " / ".join(
        f"{SOURCE_LABEL.get(name, name)} {count.fetched}件中{count.kept}件"
        + ("（取得失敗）" if count.failed else "")
        for name, count in digest.sources.items()
    )
    mode = "　※オフラインモード（LLMなし・ヒューリスティック要約）" if digest.offline else ""
    lines += [f"_{counts}　掲載 {digest.entry_count}件{mode}_", ""]
    for note in digest.notes:
        lines.append(f"> ⚠️ {md_text(note)}")
    if digest.notes:
        lines.append("")
    if not digest.sections:
        lines += ["今週は掲載できる項目がありませんでした。", ""]
    for section in digest.sections:
        lines += [f"## {section.emoji} {md_text(section.name)} ({section.total}件)", ""]
        for entry in section.entries:
            lines.append(f"- {md_link(entry.item.title, entry.item.url)} `{_badge(entry)}`  ")
            if entry.blurb:
                lines.append(f"  {md_text(entry.blurb)}")
            lines += [f"  {line}" for line in link_lines(entry)]
            if entry.watch:  # a 注目 entry: what it matched
                lines.append(f"  🔎 {md_text(' ・ '.join(m.label for m in entry.watch))}")
        if section.hidden:
            extra = f"（{md_text('[watch] max_items')} を超えた分）" if section.is_watch else ""
            lines.append(f"- 他{section.hidden}件{extra}")
        lines.append("")
    if digest.explained:
        lines += ["## 📝 今週の解説記事", ""]
        for pair in digest.explained:
            article, paper = pair.article, pair.paper
            lines.append(f"- {md_link(article.title, article.url)}{_linked_badge(article)}  ")
            lines.append(f"  → 元論文: {md_link(paper.title, paper.url)}{_earlier(paper)}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _linked_badge(article: LinkedItem) -> str:
    likes = f", ♥ {article.likes}" if article.likes is not None else ""
    return f"（{SOURCE_LABEL.get(article.source, md_text(article.source))}{likes}）"


def _earlier(paper: LinkedItem) -> str:
    if not paper.digest_period:
        return ""
    period = paper.digest_period
    shown = md_link(period, paper.digest_permalink) if paper.digest_permalink else md_text(period)
    return f"（{shown} のダイジェストで紹介）"


def link_lines(entry: DigestEntry) -> list[str]:
    """`解説記事: [title](url)（Zenn, ♥ 42）` and `元論文: [title](url)（… のダイジェストで紹介）` lines."""
    lines = [f"解説記事: {md_link(a.title, a.url)}{_linked_badge(a)}  " for a in entry.explainers]
    return lines + [f"元論文: {md_link(p.title, p.url)}{_earlier(p)}  " for p in entry.papers]
