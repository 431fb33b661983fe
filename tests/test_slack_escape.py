"""Escaping, defanging, clipping and URL checks for Slack mrkdwn."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from digestbot.slack.escape import clean, clean_inline, clip, defang, escape, link, safe_url, slack_len

ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")
INJECTIONS = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U123ABC>",
    "<#C123|general>",
    "<!subteam^S1>",
    "<https://evil.example|click>",
    "<mailto:a@b.c>",
    "&",
    "&amp;",
    ">",
    "@channel",
    "@here",
]
hostile_text = st.lists(st.one_of(st.sampled_from(INJECTIONS), st.text(max_size=30)), max_size=12).map(
    "".join
)


def test_escape_replaces_only_the_three_control_characters() -> None:
    """& < > become entities; nothing else is touched."""
    assert escape("a & b < c > d * _ ~ `") == "a &amp; b &lt; c &gt; d * _ ~ `"


def test_defang_broadcasts_case_insensitively() -> None:
    """@channel/@here/@everyone get a full-width ＠, wherever they stand; other mentions stay."""
    assert defang("@channel @Here @EVERYONE @channels mail@here.com @team @her") == (
        "＠channel ＠Here ＠EVERYONE ＠channels mail＠here.com @team @her"
    )


GLUED = ["@here全員", "@channelです", "@everyone_all", "お知らせ@here!", "x@Channel1"]


@pytest.mark.parametrize("glued", GLUED)
def test_defang_broadcasts_glued_to_the_next_word(glued: str) -> None:
    """Japanese text puts no space after a word: a glued @here/@channel/@everyone is defanged too."""
    assert "@" not in clean(glued) and "＠" in clean(glued)


@given(
    before=st.text(max_size=10),
    word=st.sampled_from(["channel", "here", "everyone", "HERE", "Channel"]),
    after=st.text(max_size=10),
)
def test_no_broadcast_survives_clean_whatever_surrounds_it(before: str, word: str, after: str) -> None:
    """Property: whatever text is around @channel/@here/@everyone, clean() leaves no ASCII-@ broadcast."""
    assert re.search(r"@(?:channel|here|everyone)", clean(before + "@" + word + after), re.I) is None


def test_clean_neutralises_injected_mentions_and_links() -> None:
    """A mention or link smuggled into an abstract is shown as text, not parsed."""
    assert clean("see <!channel> and <https://evil.example|here>") == (
        "see &lt;!channel&gt; and &lt;https://evil.example|here&gt;"
    )


def test_clean_drops_control_characters_but_keeps_newlines() -> None:
    """Control characters vanish; line breaks of a blurb survive."""
    assert clean("a\x00b\x1bc\nd") == "abc\nd"


def test_clean_drops_bidi_overrides_and_zero_width_spaces_but_keeps_joiners() -> None:
    """An unclosed RTL override cannot reverse the digest's line; emoji ZWJ sequences survive."""
    text = "paper \u202egnp.exe\u202c \u2066x\u2069 a\u200bb \ufeff👨\u200d👩\u200d👧"
    expected = "paper gnp.exe x ab 👨\u200d👩\u200d👧"
    assert expected == clean(text)


def test_clean_inline_collapses_whitespace_and_neutralises_bold_markers() -> None:
    """Titles are one line and cannot close our *bold*."""
    assert clean_inline("  Self-*  Reasoning\n\tat  Scale ") == "Self-＊ Reasoning at Scale"


def test_clip_keeps_short_text_whole() -> None:
    """Text within the limit is returned cleaned and uncut."""
    assert clip("短いテキスト & more", 100) == "短いテキスト &amp; more"


def test_clip_cuts_before_an_entity_not_inside_it() -> None:
    """The cut lands before `&amp;`, never in the middle of it."""
    assert clip("abcd&efgh", 8) == "abcd…"


def test_clip_counts_emoji_as_two_units() -> None:
    """Limits are measured in UTF-16 units, as conservative as Slack's counting."""
    assert clip("😀😀😀😀", 5) == "😀😀…"


@given(hostile_text, st.integers(min_value=1, max_value=200))
def test_clip_never_exceeds_the_limit_and_never_leaves_raw_markup(text: str, limit: int) -> None:
    """For any input the clipped text fits, has no < or >, and every & starts an entity."""
    result = clip(text, limit)
    assert slack_len(result) <= limit
    assert "<" not in result
    assert ">" not in result
    assert ENTITY.search(result) is None


@given(hostile_text)
def test_clean_never_lets_a_mention_or_link_through(text: str) -> None:
    """No <!…>, <@…>, <#…> or <url|…> survives cleaning, and no broadcast word is left armed."""
    result = clean(text)
    assert re.search(r"<[!@#]|<https?:", result) is None
    assert re.search(r"@(channel|here|everyone)\b", result, re.IGNORECASE) is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://arxiv.example/abs/2611.01234", "https://arxiv.example/abs/2611.01234"),
        ("http://example.com/a?b=1&c=2", "http://example.com/a?b=1&amp;c=2"),
        ("https://example.com/a|b>c", "https://example.com/a%7Cb%3Ec"),
        ("  https://zenn.example/x  ", "https://zenn.example/x"),
        ("javascript:alert(1)", None),
        ("ftp://example.com/file", None),
        ("/relative/path", None),
        ("https://", None),
        ("https://exa mple.com/", None),
        ("", None),
    ],
)
def test_safe_url_accepts_only_absolute_http_urls(url: str, expected: str | None) -> None:
    """http(s) with a host passes, escaped for <url|text>; anything else is refused."""
    assert safe_url(url) == expected


def test_link_falls_back_to_plain_text_for_a_bad_url() -> None:
    """An item with a non-http URL is shown unlinked."""
    assert (link("https://a.example/x", "T"), link("javascript:x", "T")) == ("<https://a.example/x|T>", "T")
