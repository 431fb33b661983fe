"""Plain Markdown rendering of a digest (for `digest.md` and the terminal)."""

from __future__ import annotations

from digestbot.domain import Digest, DigestEntry

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


def _md_escape(text: str) -> str:
    return text.replace("[", "\\[").replace("]", "\\]")


def to_markdown(digest: Digest) -> str:
    lines = [f"# {digest.title}", ""]
    counts = " / ".join(
        f"{SOURCE_LABEL.get(name, name)} {count.fetched}件中{count.kept}件"
        + ("（取得失敗）" if count.failed else "")
        for name, count in digest.sources.items()
    )
    mode = "　※オフラインモード（LLMなし・ヒューリスティック要約）" if digest.offline else ""
    lines += [f"_{counts}　掲載 {digest.entry_count}件{mode}_", ""]
    for note in digest.notes:
        lines.append(f"> ⚠️ {note}")
    if digest.notes:
        lines.append("")
    if not digest.sections:
        lines += ["今週は掲載できる項目がありませんでした。", ""]
    for section in digest.sections:
        lines += [f"## {section.emoji} {section.name} ({section.total}件)", ""]
        for entry in section.entries:
            lines.append(f"- [{_md_escape(entry.item.title)}]({entry.item.url}) `{_badge(entry)}`  ")
            lines.append(f"  {entry.blurb}")
        if section.hidden:
            lines.append(f"- 他{section.hidden}件")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
