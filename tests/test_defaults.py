"""The packaged defaults: used without a config folder (and said so), copied out by `digestbot init`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from digestbot import defaults
from digestbot.agents.spec import AGENT_NAMES
from digestbot.cli import app
from digestbot.settings import ConfigError, load_settings

REPO = Path(__file__).resolve().parents[1]


def test_the_package_carries_the_repository_config_and_agents() -> None:
    """One copy in git: the packaged files are the repository's config/ and agents/, every agent included."""
    packaged = {
        p.relative_to(defaults.HERE).as_posix(): p.read_bytes() for p in defaults.files(defaults.CONFIG)
    }
    packaged |= {
        p.relative_to(defaults.HERE).as_posix(): p.read_bytes() for p in defaults.files(defaults.AGENTS)
    }
    in_repo = {
        p.relative_to(REPO).as_posix(): p.read_bytes()
        for folder in ("config", "agents")
        for p in sorted((REPO / folder).iterdir())
        if p.is_file()
    }
    assert in_repo == packaged
    assert {f"agents/{name}.md" for name in AGENT_NAMES} <= set(packaged)


def test_without_a_config_folder_the_packaged_defaults_are_used_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    expected = (defaults.CONFIG, defaults.AGENTS, True, True)
    assert expected == (
        settings.config_dir,
        settings.agents_dir,
        "no config/ and agents/ folders here: using the packaged defaults" in settings.defaults_notice,
        "digestbot init" in settings.defaults_notice,
    )


def test_own_config_without_agents_uses_the_packaged_prompts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    CliRunner().invoke(app, ["init"])
    for path in (tmp_path / "agents").iterdir():
        path.unlink()
    (tmp_path / "agents").rmdir()
    settings = load_settings(environ={})
    expected = (Path("config"), defaults.AGENTS, True)
    assert expected == (
        settings.config_dir,
        settings.agents_dir,
        settings.defaults_notice.startswith("no agents/ folder here"),
    )


def test_own_folders_give_no_notice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    CliRunner().invoke(app, ["init"])
    settings = load_settings(environ={})
    assert ("", Path("config"), Path("agents")) == (
        settings.defaults_notice,
        settings.config_dir,
        settings.agents_dir,
    )


def test_a_named_config_folder_that_is_missing_is_an_error_not_the_defaults(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(environ={"DIGESTBOT_CONFIG_DIR": str(tmp_path / "nowhere")})


def test_init_writes_editable_copies_and_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "judge.md").write_text("my own judge", encoding="utf-8")

    result = CliRunner().invoke(app, ["init", str(tmp_path)])

    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    expected_files = sorted(
        [f"config/{p.name}" for p in defaults.files(defaults.CONFIG)]
        + [f"agents/{p.name}" for p in defaults.files(defaults.AGENTS)]
    )
    expected = (0, expected_files, "my own judge", True, True)
    assert expected == (
        result.exit_code,
        written,
        (tmp_path / "agents" / "judge.md").read_text(encoding="utf-8"),
        f"kept {tmp_path / 'agents' / 'judge.md'} (it exists; not overwritten)" in result.output,
        (tmp_path / "config" / "digestbot.toml").read_bytes()
        == (defaults.CONFIG / "digestbot.toml").read_bytes(),
    )


def test_config_check_says_when_it_uses_the_packaged_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DIGESTBOT_CONFIG_DIR", raising=False)
    monkeypatch.delenv("DIGESTBOT_AGENTS_DIR", raising=False)
    result = CliRunner().invoke(app, ["config", "check"])
    assert (0, True) == (result.exit_code, "using the packaged defaults" in result.output)


def test_init_where_a_file_blocks_the_folder_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "config").write_text("not a folder", encoding="utf-8")
    result = CliRunner().invoke(app, ["init", str(tmp_path)])
    assert (1, 1, True) == (
        result.exit_code,
        len(result.output.strip().splitlines()),
        result.output.startswith(f"init: cannot write into {tmp_path}"),
    )
