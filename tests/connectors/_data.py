"""Where the shared real-data corpus lives, and a skip helper for when it is absent.

The repository root's parent holds ``shared/`` (``/work/main`` → ``/work/shared``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"
FEEDS = SHARED_DATA / "feeds"
NEWS = FEEDS / "news"
NEWSML = NEWS / "newsml-g2"
FEEDPARSER_TESTS = FEEDS / "feedparser-tests"


def require_shared(path: Path = FEEDS) -> Path:
    """Return ``path``, or skip the test when the shared corpus is not on this machine."""
    if not path.exists():
        pytest.skip(f"shared real-data corpus not found at {path} (expected next to the repository)")
    return path
