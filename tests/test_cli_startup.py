"""The CLI starts light: `--help` and `config check` load no pipeline, store or Slack modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from digestbot.cli import HELP, app, command_modules

ROOT = Path(__file__).resolve().parents[1]
HEAVY = (
    "langgraph",
    "langchain",
    "langchain_core",
    "sqlalchemy",
    "matplotlib",
    "slack_bolt",
    "slack_sdk",
    "openai",
)


def _loaded_after(code: str) -> list[str]:
    """The heavy top-level packages in `sys.modules` after running `code` in a fresh interpreter."""
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    env = {**os.environ, "DIGESTBOT_CONFIG_DIR": str(ROOT / "config")}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return [m for m in json.loads(done.stdout.strip().splitlines()[-1]) if m in HEAVY]


def test_importing_the_cli_loads_no_heavy_package() -> None:
    """`import digestbot.cli` (what every command pays) imports no langgraph, langchain, SQLAlchemy, Slack."""
    assert [] == _loaded_after("import digestbot.cli")


def test_help_and_config_check_load_no_heavy_package() -> None:
    """`digestbot --help` and `digestbot config check` run without the pipeline, the store or Slack."""
    code = (
        "from digestbot.cli import app\n"
        "for args in (['--help'], ['config', 'check']):\n"
        "    try:\n"
        "        app(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
    )
    assert [] == _loaded_after(code)


def test_the_listing_matches_every_command_module() -> None:
    """Every `cmd_*.py` has its line in HELP, equal to the first line of the command's own docstring."""
    assert sorted(HELP) == command_modules()
    for name in HELP:
        registry = typer.Typer()
        __import__(f"digestbot.cli.cmd_{name}", fromlist=["register"]).register(registry)
        command = typer.main.get_group(registry).commands[name]
        assert HELP[name] == (command.help or "").strip().splitlines()[0], name


def test_help_lists_commands_and_shows_no_bool_metavars() -> None:
    """The listing has every command; flags (--dry-run, --help) carry no `<bool>` type."""
    top = CliRunner().invoke(app, ["--help"])
    run = CliRunner().invoke(app, ["run", "--help"])
    assert (0, 0) == (top.exit_code, run.exit_code)
    assert [name for name in HELP if name in top.output] == list(HELP)
    assert ("<bool>" in top.output, "<bool>" in run.output, "--dry-run" in run.output) == (False, False, True)
