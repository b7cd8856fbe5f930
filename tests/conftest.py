"""Shared fixtures: paths to the repository, its config and the shared real data,
local servers bound to 127.0.0.1, and a runner for the real ``newswatch`` CLI."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config"
SAMPLES = REPO / "samples"
SHARED_DATA = REPO.parent / "shared" / "data"
SEED_STORY = SAMPLES / "seed-story.txt"
NEWSWATCH = Path(sys.executable).parent / "newswatch"


def require_shared() -> Path:
    """The shared real-data folder, or skip saying why."""
    if not (SHARED_DATA / "feeds").is_dir():
        pytest.skip(f"real feed corpus not found at {SHARED_DATA} (it sits beside the checkout in CI)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return require_shared()


@pytest.fixture(scope="session")
def seed_text() -> str:
    return SEED_STORY.read_text(encoding="utf-8")


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A private copy of the default config/ (tests may edit it)."""
    dest = tmp_path / "config"
    shutil.copytree(CONFIG, dest)
    return dest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep test output clean
        pass


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on 127.0.0.1 serving a temp directory: (base URL, directory)."""
    root = tmp_path / "www"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(QuietHandler, directory=str(root)))
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env.update(extra)
    return env


def run_cli(*args: str, timeout: float = 300, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the real ``newswatch`` command; returns the completed process."""
    proc = subprocess.run([str(NEWSWATCH), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env=cli_env(**env))
    if check and proc.returncode != 0:
        raise AssertionError(f"newswatch {' '.join(args)} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc
