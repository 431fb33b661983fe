"""The built wheel runs outside a checkout: `digestbot demo` from an empty folder makes a digest with the
packaged config and prompts, and the test-only helpers are not in the wheel."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BUILD_INPUTS = ("pyproject.toml", "README.md", "src", "config", "agents")


def _run(
    *command: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(c) for c in command], check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert 0 == done.returncode, f"{command}: {done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the source (a build writes build/ and egg-info into its tree)."""
    source = tmp_path_factory.mktemp("source")
    for name in BUILD_INPUTS:
        if (REPO / name).is_dir():
            shutil.copytree(
                REPO / name,
                source / name,
                symlinks=True,
                ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"),
            )
        else:
            shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", out, source, cwd=source)
    return next(out.glob("digestbot-*.whl"))


@pytest.mark.slow
def test_the_wheel_carries_the_defaults_and_not_the_test_helpers(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    packaged = {n.removeprefix("digestbot/defaults/") for n in names if n.startswith("digestbot/defaults/")}
    in_repo = {f"{d}/{p.name}" for d in ("config", "agents") for p in (REPO / d).iterdir() if p.is_file()}
    expected = (True, set(), set())
    assert expected == (
        in_repo <= packaged,
        {n for n in names if n.startswith("tests/") or "support/" in n},
        {n for n in names if n.endswith(("worker_env.py", "sample_digest.py"))},
    )


@pytest.mark.slow
def test_the_installed_wheel_runs_the_demo_from_an_empty_folder(wheel: Path, tmp_path: Path) -> None:
    """A fresh venv with only the wheel installed (its dependencies are reused from this venv through a
    .pth file, so nothing is downloaded); `digestbot demo` in an empty folder writes a digest."""
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel, cwd=tmp_path)
    site = _run(
        python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path
    ).stdout.strip()
    (Path(site) / "reuse-test-venv.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGESTBOT_", "PYTHON"))}

    where = _run(python, "-c", "import digestbot; print(digestbot.__file__)", cwd=empty, env=env).stdout
    check = _run(venv / "bin" / "digestbot", "config", "check", cwd=empty, env=env)
    demo = _run(venv / "bin" / "digestbot", "demo", cwd=empty, env=env)

    digest = json.loads((empty / "demo-out" / "digest" / "digest.json").read_text(encoding="utf-8"))
    expected = (True, True, True, True)
    assert expected == (
        where.startswith(site),
        "using the packaged defaults" in check.stderr,
        sum(len(section["entries"]) for section in digest["sections"]) > 0,
        "Traceback" not in demo.stderr,
    ), demo.stderr[-3000:]
