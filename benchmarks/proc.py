"""Running one scenario in a fresh interpreter, with a clean environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.knobs import ROOT
from benchmarks.week import Week

_PRIVATE = ("DIGESTBOT_", "SLACK_")
_SECRETS = {"DATABASE_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "QIITA_TOKEN"}


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def base_env() -> dict[str, str]:
    """The parent's environment without any digestbot setting or secret, plus the repo on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_PRIVATE) and k not in _SECRETS}
    paths = [str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")]  # the children run this very tree
    env["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
    return env


def window_spec(week: Week) -> dict[str, str]:
    return {"start": week.window.start.isoformat(), "end": week.window.end.isoformat()}


def child(name: str, tmp: Path, env: dict[str, str], **spec: Any) -> dict[str, Any]:
    """Run one scenario (`benchmarks.scenario`) in a fresh interpreter and return its JSON result."""
    out = tmp / f"{name}.out.json"
    spec_path = tmp / f"{name}.spec.json"
    spec_path.write_text(json.dumps({**spec, "out": str(out)}), encoding="utf-8")
    command = [sys.executable, "-m", "benchmarks.scenario", str(spec_path)]
    done = subprocess.run(command, env=env, cwd=tmp, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"benchmark run {name!r} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return result
