"""The test session's throwaway PostgreSQL: a server left behind by a killed test run is removed at the
next start, a live session's server never is."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from support.postgres_server import EmbeddedPostgres, remove_abandoned

TESTS = Path(__file__).resolve().parent
LEAVE_ONE_BEHIND = (
    "import os, sys; sys.path.insert(0, sys.argv[1]);"
    "from support.postgres_server import EmbeddedPostgres;"
    "s = EmbeddedPostgres.start(); print(s.root, s.port); os._exit(0)"  # dies without cleaning up
)


def _accepting(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.postgres
def test_a_server_left_by_a_killed_run_is_removed_and_a_live_one_is_kept() -> None:
    try:
        live = EmbeddedPostgres.start()
    except ImportError as exc:
        pytest.skip(str(exc))
    try:
        out = subprocess.run(
            [sys.executable, "-c", LEAVE_ONE_BEHIND, str(TESTS)], check=True, capture_output=True, text=True
        ).stdout.split()
        left, port = Path(out[0]), int(out[1])
        was_running = _accepting(port)

        remove_abandoned()

        expected = (True, False, False, True, True)
        assert expected == (
            was_running,
            left.exists(),
            _accepting(port),
            live.root.exists(),
            _accepting(live.port),
        )
    finally:
        live.close()
