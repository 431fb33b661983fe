"""The HTML preview: mrkdwn -> HTML, and the page as headless Chromium renders it."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from digestbot.slack.preview import mrkdwn_to_html, render_preview
from digestbot.slack.render import render_digest
from support.sample_digest import GENERATED_AT, large_digest, representative_digest

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SLACK_LINK_BLUE = (0x12, 0x64, 0xA3)


def chromium() -> str:
    """The Chromium binary; in CI its absence is a failure, locally a skip."""
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed (CI needs: apt-get install -y chromium fonts-noto-cjk)")
    pytest.skip("chromium is not installed")


def run_chromium(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def png_pixels(path: Path) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Width, height and RGB pixels of an 8-bit RGB/RGBA PNG (stdlib only)."""
    data = path.read_bytes()
    chunks, offset = {}, 8
    idat = b""
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        body = data[offset + 8 : offset + 8 + length]
        idat += body if kind == b"IDAT" else b""
        chunks.setdefault(kind, body)
        offset += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, color in (2, 6)) == (8, True)
    size = 4 if color == 6 else 3
    raw, stride, rows, previous = zlib.decompress(idat), width * size, [], bytearray(width * size)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - size] if i >= size else 0
            b, c = previous[i], previous[i - size] if i >= size else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(line)
        previous = line
    pixels = [tuple(row[x * size : x * size + 3]) for row in rows for x in range(width)]
    return width, height, pixels  # type: ignore[return-value]


def test_links_bold_and_code_become_html() -> None:
    """`*<url|title>*` is a bold link; backticks are code; entities are decoded once."""
    html = mrkdwn_to_html("*<https://a.example/x?b=1&amp;c=2|A &amp; B>*\n`arXiv` ・ 1 &lt; 2")
    expected = (
        '<b><a href="https://a.example/x?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">'
        "A &amp; B</a></b><br><code>arXiv</code> ・ 1 &lt; 2"
    )
    assert expected == html


def test_mentions_are_inert_and_markup_is_escaped() -> None:
    """Mentions render as plain labels; raw HTML in text is escaped, never interpreted."""
    html = mrkdwn_to_html("<!here> <@U1> <script>alert(1)</script> <javascript:x|y>")
    assert html == (
        '<span class="mention">@here</span> <span class="mention">@U1</span> '
        "&lt;script&gt;alert(1)&lt;/script&gt; &lt;javascript:x|y&gt;"
    )


def test_page_shows_the_thread_replies() -> None:
    """A multi-message digest: the first message in the channel, the others under スレッド."""
    messages = render_digest(large_digest(categories=3, per_category=25))
    page = render_preview(messages, posted_at=GENERATED_AT)
    assert (page.count('class="message"'), f"{len(messages) - 1}件の返信" in page, "スレッド" in page) == (
        len(messages),
        True,
        True,
    )


def test_chart_is_shown_in_the_thread() -> None:
    """A trends chart given to the preview appears in the thread as an embedded PNG."""
    png = b"\x89PNG\r\n\x1a\nfake"
    page = render_preview(render_digest(representative_digest()), chart_png=png, posted_at=GENERATED_AT)
    assert 'src="data:image/png;base64,iVBORw0KGgpmYWtl"' in page
    assert "スレッド" in page


def test_chromium_renders_the_preview_like_a_slack_message(tmp_path: Path) -> None:
    """Headless Chromium: the DOM holds every title, and the screenshot has text and Slack-blue links."""
    digest = representative_digest()
    page = tmp_path / "preview.html"
    page.write_text(render_preview(render_digest(digest), posted_at=GENERATED_AT), encoding="utf-8")
    dom = run_chromium(tmp_path, page, "--dump-dom").stdout
    titles = [
        e.item.title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        for s in digest.sections
        for e in s.entries
    ]
    assert [t for t in titles if t not in dom] == []
    shot = tmp_path / "preview.png"
    run_chromium(tmp_path, page, f"--screenshot={shot}", "--window-size=1000,2000")
    width, height, pixels = png_pixels(shot)
    dark = sum(1 for p in pixels if max(p) < 80)
    blue = sum(1 for p in pixels if all(abs(v - w) < 40 for v, w in zip(p, SLACK_LINK_BLUE, strict=True)))
    assert (width, height) == (1000, 2000)
    assert (dark > 5_000, blue > 500) == (True, True)


def test_vote_buttons_render_as_buttons() -> None:
    """The 👍/👎 actions block shows as two buttons, not as an unsupported block."""
    page = render_preview(render_digest(representative_digest()), posted_at=GENERATED_AT)
    assert ('<span class="button">👍</span><span class="button">👎</span>' in page, "[actions]" in page) == (
        True,
        False,
    )
