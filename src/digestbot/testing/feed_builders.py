"""Realistic Qiita Atom and Zenn RSS documents, and seeded synthetic articles, for the fake feed server.

Articles are plain dicts shaped like the real APIs (data-sources.md §3-4): a Qiita item has the
API v2 field set (`id`, `title`, `url`, `created_at`, `likes_count`, `tags: [{name, versions}]`,
`user: {id, name, ...}`, `body` ...); a Zenn article has the `/api/articles` field set (`slug`, `path`,
`liked_count`, `published_at`, `user: {username, name}` ...). Builder-only keys: Qiita `summary`
(the feed excerpt; derived from `body` if absent), Zenn `description` and `topics`.
"""

from __future__ import annotations

import html
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape as xml_escape

__all__ = [
    "ZENN_ONLY_KEYS",
    "render_qiita_tag_feed",
    "render_zenn_topic_feed",
    "synthetic_qiita_items",
    "synthetic_zenn_articles",
]

Article = Mapping[str, Any]
ZENN_ONLY_KEYS = frozenset({"description", "topics"})  # builder keys the JSON API does not have


_JST = timezone(timedelta(hours=9), "JST")


def _iso_jst(moment: datetime) -> str:
    """`2025-11-19T23:30:00+09:00`, as both Qiita and Zenn write times."""
    return moment.astimezone(_JST).isoformat(timespec="seconds")


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def qiita_excerpt(item: Article) -> str:
    """The feed's ~100-character plain-text excerpt, with newlines, ending in `…`."""
    if "summary" in item:
        return str(item["summary"])
    body = re.sub(r"^(```|~~~).*?^\1\s*$", "", str(item.get("body", "")), flags=re.M | re.S)
    body = re.sub(r"^#+\s*", "", body, flags=re.M).replace("**", "")
    text = "\n".join(line.strip() for line in body.strip().splitlines() if line.strip())
    return text[:100] + "…" if len(text) > 100 else text


def render_qiita_tag_feed(tag: str, items: Iterable[Article], *, display: str | None = None) -> bytes:
    """A Qiita tag feed like `https://qiita.com/tags/<tag>/feed`.

    `<content type="html">` holds the excerpt HTML-escaped and then XML-escaped (`->` is written
    `-&amp;gt;`), plus the non-Atom `<url>`, channel `<description>` and bare `<link>` elements.
    """
    name, slug = display or tag, quote(tag.lower(), safe="")
    entries = sorted(items, key=lambda i: str(i["created_at"]), reverse=True)
    updated = max(
        (str(i.get("updated_at") or i["created_at"]) for i in entries), default="2025-01-01T00:00:00+09:00"
    )
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<feed xml:lang="ja-JP" xmlns="http://www.w3.org/2005/Atom">\n',
        f"  <id>tag:qiita.com,2005:/tags/{slug}/feed</id>\n",
        f'  <link rel="alternate" type="text/html" href="https://qiita.com/tags/{slug}"/>\n',
        f'  <link rel="self" type="application/atom+xml" href="https://qiita.com/tags/{slug}/feed"/>\n',
        f"  <title>{xml_escape(name)}タグが付けられた新着記事 - Qiita</title>\n",
        f"  <description>Qiitaで{xml_escape(name)}タグが付けられた新着記事</description>\n",
        f"  <updated>{updated}</updated>\n  <link>https://qiita.com/tags/{slug}</link>\n",
    ]
    for item in entries:
        url = xml_escape(str(item["url"]))
        number = int(str(item["id"])[:7], 16) % 9_000_000 + 100_000
        author = (item.get("user") or {}).get("id", "unknown")
        out.append(
            f"  <entry>\n    <id>tag:qiita.com,2005:PublicArticle/{number}</id>\n"
            f"    <published>{item['created_at']}</published>\n"
            f"    <updated>{item.get('updated_at') or item['created_at']}</updated>\n"
            f'    <link rel="alternate" type="text/html" href="{url}"/>\n    <url>{url}</url>\n'
            f"    <title>{xml_escape(str(item['title']))}</title>\n"
            f'    <content type="html">{xml_escape(html.escape(qiita_excerpt(item)))}</content>\n'
            f"    <author>\n      <name>{xml_escape(str(author))}</name>\n    </author>\n  </entry>\n"
        )
    out.append("</feed>\n")
    return "".join(out).encode()


def _rfc822(value: str) -> str:
    return format_datetime(datetime.fromisoformat(value).astimezone(UTC), usegmt=True)


def render_zenn_topic_feed(topic: str, articles: Iterable[Article], *, display: str | None = None) -> bytes:
    """A Zenn topic feed like `https://zenn.dev/topics/<topic>/feed`: one line, CDATA text, `dc:creator`."""
    name, slug = display or topic, quote(topic.lower(), safe="")
    entries = sorted(articles, key=lambda a: str(a["published_at"]), reverse=True)
    built = _rfc822(str(entries[0]["published_at"])) if entries else "Mon, 01 Jan 2024 00:00:00 GMT"
    out = [
        '<?xml version="1.0" encoding="UTF-8"?><rss xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:atom="http://www.w3.org/2005/Atom" '
        f'version="2.0"><channel><title>{_cdata(f"Zennの「{name}」のフィード")}</title>'
        f"<description>{_cdata(f'Zennのトピック「{name}」のRSSフィードです')}</description>"
        f"<link>https://zenn.dev/topics/{slug}</link><image><url>https://storage.googleapis.com/zenn-user-upload/"
        f"topics/84dd786118.png</url><title>Zennの「{xml_escape(name)}」のフィード</title>"
        f"<link>https://zenn.dev/topics/{slug}</link></image><generator>zenn.dev</generator>"
        f'<lastBuildDate>{built}</lastBuildDate><atom:link href="https://zenn.dev/topics/{slug}/feed" '
        f'rel="self" type="application/rss+xml"/><language>{_cdata("ja")}</language>'
    ]
    for art in entries:
        url = "https://zenn.dev" + str(art["path"])
        description = str(art.get("description") or f"{art['title']}について解説します。...")
        image = "https://res.cloudinary.com/zenn/image/upload/s--x--/c_fit%2Cg_north_west%2Cl_text:" + quote(
            quote(str(art["title"]), safe=""), safe=""
        )
        out.append(
            f"<item><title>{_cdata(str(art['title']))}</title><description>{_cdata(description)}</description>"
            f'<link>{url}</link><guid isPermaLink="true">{url}</guid>'
            f"<pubDate>{_rfc822(str(art['published_at']))}</pubDate>"
            f'<enclosure url="{xml_escape(image)}/og-base-w1200-v2.png" length="0" type="image/png"/>'
            f"<dc:creator>{xml_escape(str((art.get('user') or {}).get('name', '')))}</dc:creator></item>"
        )
    out.append("</channel></rss>")
    return "".join(out).encode()


# --- synthetic articles ---------------------------------------------------------------------------

_SUBJECTS = (
    "RAG",
    "LangChain",
    "LangGraph",
    "Llama 3",
    "GPT-4o",
    "Claude",
    "LoRA",
    "vLLM",
    "Embedding",
    "プロンプトエンジニアリング",
    "ファインチューニング",
    "エージェント",
    "量子化",
    "評価指標",
    "Transformer",
)
_ACTIONS = (
    "入門",
    "を試してみた",
    "で社内ドキュメント検索を作る",
    "の精度を上げる5つの工夫",
    "を徹底比較してみた",
    "をローカルで動かす",
    "の仕組みを図解で理解する",
    "でハマったポイントまとめ",
    "の論文を読んだ",
)
_EN_TITLES = ("Notes on {s} for production", "A practical guide to {s}", "Benchmarking {s} on a laptop")
_USERS = (
    ("taro_ml", "山田太郎"),
    ("hanako-dev", "佐藤花子"),
    ("kenji_ai", ""),
    ("yuki", "Yuki"),
    ("SNQ-2001", ""),
    ("Ri__", "り"),
    ("nlp_ojisan", "NLPおじさん"),
    ("mlops-jp", "MLOps勉強会"),
)
_EXTRA_TAGS = ("Python", "OpenAI", "LangChain", "ChatGPT", "Azure", "AWS", "初心者")
_ARXIV = ("2401.10491", "2312.00752", "2305.14314", "2005.11401", "1706.03762")


def _body(rng: random.Random, subject: str, english: bool) -> str:
    if english:
        intro = f"This post explains {subject} step by step. Input -> output & <T> generics stay literal."
    else:
        intro = f"この記事では{subject}について、手を動かしながら解説します。\n"
        intro += "入力 -> 出力 & <T> の扱いにも注意します。"
    paper = f"\n参考論文: https://arxiv.org/abs/{rng.choice(_ARXIV)}v2\n" if rng.random() < 0.3 else ""
    code = "```python\nfrom langchain import hub\nprint(hub.pull('rlm/rag-prompt'))\n```"
    return f"# はじめに\n{intro}\n{paper}\n## 実装\n{code}\n\n## まとめ\n{subject}は**便利**です。"


def _spread(rng: random.Random, n: int, end: datetime, days: float) -> list[datetime]:
    span = days * 86400
    return sorted((end - timedelta(seconds=rng.uniform(1, span)) for _ in range(n)), reverse=True)


def _title(rng: random.Random) -> tuple[str, str, bool]:
    subject, english = rng.choice(_SUBJECTS), rng.random() < 0.1
    if english:
        return rng.choice(_EN_TITLES).format(s=subject), subject, True
    return f"{subject}{rng.choice(_ACTIONS)}", subject, False


def synthetic_qiita_items(
    n: int, *, seed: int = 0, end: datetime, days: float = 7.0, tags: Sequence[str] = ("LLM", "生成AI", "RAG")
) -> list[dict[str, Any]]:
    """`n` Qiita API v2 items created in the `days` before `end`, newest first; same seed, same items."""
    rng = random.Random(seed)
    items = []
    for created in _spread(rng, n, end, days):
        title, subject, english = _title(rng)
        user_id, user_name = rng.choice(_USERS)
        item_id = "".join(rng.choice("0123456789abcdef") for _ in range(20))
        names = [rng.choice(tags), *rng.sample(_EXTRA_TAGS, rng.randint(0, 2))]
        updated = created + timedelta(hours=rng.choice((0, 0, 2, 30)))
        items.append({
            "rendered_body": "<p>省略</p>", "body": _body(rng, subject, english), "coediting": False,
            "comments_count": rng.randint(0, 3), "created_at": _iso_jst(created), "group": None,
            "id": item_id,
            "likes_count": int(rng.paretovariate(1.3)) - 1, "private": False, "reactions_count": 0,
            "stocks_count": int(rng.paretovariate(1.5)) - 1,
            "tags": [{"name": name, "versions": []} for name in dict.fromkeys(names)],
            "title": title, "updated_at": _iso_jst(min(updated, end)),
            "url": f"https://qiita.com/{user_id}/items/{item_id}",
            "user": {"id": user_id, "name": user_name, "permanent_id": rng.randint(10_000, 999_999),
                     "description": "", "followers_count": rng.randint(0, 500),
                     "items_count": rng.randint(1, 80),
                     "github_login_name": None, "location": "東京", "organization": "", "team_only": False},
            "page_views_count": None, "team_membership": None, "organization_url_name": None, "slide": False,
        })  # fmt: skip
    return items


def synthetic_zenn_articles(
    n: int,
    *,
    seed: int = 0,
    end: datetime,
    days: float = 7.0,
    topics: Sequence[str] = ("llm", "生成ai", "rag"),
) -> list[dict[str, Any]]:
    """`n` Zenn `/api/articles` entries (+ `description`, `topics`) published before `end`, newest first."""
    rng = random.Random(seed)
    articles = []
    for index, published in enumerate(_spread(rng, n, end, days)):
        title, subject, english = _title(rng)
        username, name = rng.choice(_USERS)
        slug = "".join(rng.choice("0123456789abcdef") for _ in range(14))
        owner = rng.choice((username, username, username, "dena", "cybozu"))  # publications own some articles
        text = _body(rng, subject, english).replace("```python", "").replace("```", "").replace("#", "")
        article: dict[str, Any] = {
            "id": 300_000 + index, "post_type": "Article", "title": title, "slug": slug,
            "comments_count": rng.randint(0, 3), "liked_count": int(rng.paretovariate(1.2)) - 1,
            "bookmarked_count": int(rng.paretovariate(1.6)) - 1,
            "body_letters_count": rng.randint(800, 20_000),
            "article_type": rng.choice(("tech", "tech", "idea")), "emoji": rng.choice("🤖🦜📚🔥🧠"),
            "is_suspending_private": False, "published_at": _iso_jst(published),
            "body_updated_at": _iso_jst(published), "source_repo_updated_at": None, "pinned": False,
            "path": f"/{owner}/articles/{slug}",
            "user": {"id": rng.randint(1000, 99_999), "username": username, "name": name or username,
                     "avatar_small_url": "https://storage.googleapis.com/zenn-user-upload/avatar/x.jpeg"},
            "publication": None,
            "description": text[:150].rstrip() + "...",
            "topics": list(dict.fromkeys([rng.choice(topics), rng.choice(topics)])),
        }  # fmt: skip
        articles.append(article)
    return articles
