"""Configuration mistakes: each gives exactly one line naming the file and the key, and a running
worker keeps its last valid configuration."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from digestbot.config_reload import ConfigHolder, post_admin_message
from digestbot.settings import load_settings
from reliability.harness import DAYS, ROOT, Stack

DIGESTBOT = "digestbot.toml"
CATEGORIES = "categories.toml"

BROKEN: dict[str, tuple[str, str, str, str]] = {
    # name: (file, text appended or "REPLACE:old=>new", what the one line must name, and must also say)
    "unknown-key": (
        DIGESTBOT,
        "[pipeline.judge]\nmin_relevence = 3\n",
        "pipeline.judge.min_relevence",
        "unknown key",
    ),
    "unknown-table": (DIGESTBOT, "[sloth]\nspeed = 1\n", "sloth", "unknown key"),
    "wrong-type": (
        DIGESTBOT,
        'REPLACE:max_concurrency = 4=>max_concurrency = "four"',
        "llm.max_concurrency",
        "integer",
    ),
    "out-of-range": (
        DIGESTBOT,
        "REPLACE:page_size = 100=>page_size = 0",
        "sources.arxiv.page_size",
        "greater than 0",
    ),
    "not-an-option": (
        DIGESTBOT,
        'REPLACE:min_seconds_between_posts = 0=>ondemand_visibility = "public"',
        "slack.ondemand_visibility",
        "public",
    ),
    "etiquette": (
        DIGESTBOT,
        'REPLACE:api_url = "http://127.0.0.1=>api_url = "https://arxiv.example.org/api/query#',
        "sources.arxiv",
        "delay_seconds must be at least 3.0",
    ),
    "unknown-category-reference": (
        DIGESTBOT,
        '[pipeline]\nother_category = "misc"\n',
        "pipeline.other_category",
        "'misc' is not a category id",
    ),
    "toml-syntax": (DIGESTBOT, "[general\n", DIGESTBOT, "not valid TOML"),
    "category-missing-description": (
        CATEGORIES,
        '[[category]]\nid = "newcat"\nname = "新"\n',
        "category[newcat].description",
        "required key is missing",
    ),
    "category-bad-id": (
        CATEGORIES,
        '[[category]]\nid = "Bad Id"\nname = "x"\ndescription = "x"\n',
        "category[Bad Id].id",
        "pattern",
    ),
    "category-duplicate-id": (
        CATEGORIES,
        '[[category]]\nid = "rag"\nname = "x"\ndescription = "x"\n',
        "category",
        "'rag' appears twice",
    ),
    "category-unknown-key": (
        CATEGORIES,
        '[[category]]\nid = "x2"\nname = "x"\ndescription = "x"\nkeywords = ["a"]\n',
        "category[x2].keywords",
        "unknown key",
    ),
    "schedule-weekday-number": (
        DIGESTBOT,
        '[schedule]\nweekly_digest = { day_of_week = "1", hour = "9", minute = "0" }\n',
        "schedule.weekly_digest.day_of_week",
        "weekday numbers",
    ),
}


def break_config(folder: Path, file: str, change: str) -> Path:
    path = folder / file
    text = path.read_text(encoding="utf-8")
    if change.startswith("REPLACE:"):
        old, new = change.removeprefix("REPLACE:").split("=>", 1)
        assert old in text, old
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    else:
        path.write_text(text + "\n" + change, encoding="utf-8")
    return path


@pytest.mark.parametrize("mistake", list(BROKEN))
def test_each_config_mistake_is_one_line_naming_file_and_key(stack: Stack, mistake: str) -> None:
    """`config check` exits 2 with a single line: the file's path, the key, and what is wrong."""
    file, change, key, says = BROKEN[mistake]
    path = break_config(stack.config_dir, file, change)

    result = stack.cli("config", "check")

    lines = result.stderr.strip().splitlines()
    expected = (2, 1, True, True, True, "")
    assert expected == (
        result.exit_code,
        len(lines),
        str(path) in lines[0],
        f"{key}:" in lines[0] or f"{key} " in lines[0],
        says in lines[0],
        result.stdout,
    ), result.stderr


def test_an_unknown_category_on_the_command_line_names_the_known_ones(stack: Stack) -> None:
    """`run --category misc` exits 2 in one line listing the category ids to use."""
    result = stack.cli("run", *DAYS, "--category", "misc", "--dry-run")
    lines = result.stderr.strip().splitlines()
    expected = (2, 1, True)
    assert expected == (
        result.exit_code,
        len(lines),
        "unknown category 'misc' (known: training, data" in lines[0],
    )


def test_a_running_worker_keeps_its_last_valid_config_and_reports_once(stack: Stack) -> None:
    """An invalid edit while serving: the last valid settings stay in use; the admin hears it once."""
    told: list[str] = []
    agents = stack.root / "agents"
    shutil.copytree(ROOT / "agents", agents)
    stack.env.setenv("DIGESTBOT_AGENTS_DIR", str(agents))
    holder = ConfigHolder(load_settings, notify=lambda _settings, message: told.append(message))
    good = holder.current()
    break_config(stack.config_dir, DIGESTBOT, "REPLACE:max_concurrency = 4=>max_concurrency = 0")

    during = [holder.current(), holder.current()]

    expected = (4, [4, 4], 1, True)
    assert expected == (
        good.app.llm.max_concurrency,
        [s.app.llm.max_concurrency for s in during],
        len(told),
        "llm.max_concurrency" in told[0] and str(stack.config_dir / DIGESTBOT) in told[0],
    )


SHIFT_JIS_COMMENT = "# 週次ダイジェストの設定（Shift-JISで保存）\n".encode("shift_jis")
NOT_UTF8 = {  # name: (the file a Shift-JIS comment is appended to, relative to the stack root)
    "config-file": f"config/{DIGESTBOT}",
    "categories-file": f"config/{CATEGORIES}",
    "agent-prompt": "agents/summarizer.md",
}


def spoil_with_shift_jis(path: Path) -> int:
    """Append a Shift-JIS comment; returns the byte position of its first non-UTF-8 byte."""
    data = path.read_bytes()
    path.write_bytes(data + b"\n" + SHIFT_JIS_COMMENT)
    return len(data) + 1 + len(b"# ")


@pytest.mark.parametrize("file", list(NOT_UTF8))
def test_a_non_utf8_config_or_agent_file_is_one_line_naming_the_file_and_byte(
    stack: Stack, file: str
) -> None:
    """`config check` (config files) and `run` (every file) exit 2 with one line naming the file and the
    byte position (was: a `UnicodeDecodeError` traceback)."""
    agents = stack.root / "agents"
    shutil.copytree(ROOT / "agents", agents)
    stack.env.setenv("DIGESTBOT_AGENTS_DIR", str(agents))
    path = stack.root / NOT_UTF8[file]
    position = spoil_with_shift_jis(path)

    results = [stack.cli("run", *DAYS, "--dry-run")]
    if file != "agent-prompt":  # `config check` reads the agent files once i14 extends it
        results.append(stack.cli("config", "check"))

    for result in results:
        lines = [line for line in result.stderr.splitlines() if "error" in line]
        expected = (2, None, True, True)
        assert expected == (
            result.exit_code,
            None if isinstance(result.exception, SystemExit) else result.exception,
            len(lines) == 1 and str(path) in lines[0],
            f"not UTF-8 text: byte {position} " in lines[0],
        ), result.output


def test_a_running_worker_keeps_its_last_valid_config_when_a_file_turns_non_utf8(stack: Stack) -> None:
    """A Shift-JIS comment saved into digestbot.toml, then into an agent prompt, while serving: the last
    valid settings keep running and the admin channel is told once per problem, naming the file (was:
    an uncaught `UnicodeDecodeError` in every job, no alert)."""
    stack.configure(extra='admin_channel = "#admin"')
    agents = stack.root / "agents"
    shutil.copytree(ROOT / "agents", agents)
    stack.env.setenv("DIGESTBOT_AGENTS_DIR", str(agents))
    holder = ConfigHolder(load_settings, notify=post_admin_message)
    good = holder.current()
    config = stack.config_dir / DIGESTBOT
    original = config.read_bytes()

    spoil_with_shift_jis(config)
    during = [holder.current(), holder.current()]
    config.write_bytes(original)
    spoil_with_shift_jis(agents / "judge.md")
    during += [holder.current(), holder.current()]

    posts = stack.slack.calls("chat.postMessage")
    alerts = [str(r.body.get("text", "")) for r in posts if r.body.get("channel") == "#admin"]
    expected = ([good] * 4, 2, True, True)
    assert expected == (
        during,
        len(alerts),
        str(config) in alerts[0] and "not UTF-8" in alerts[0],
        str(agents / "judge.md") in alerts[1] and "not UTF-8" in alerts[1],
    )
