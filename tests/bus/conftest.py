from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from newswatch.bus.local import LocalBus


@pytest.fixture
def queue_path(tmp_path: Path) -> Path:
    return tmp_path / "queue.sqlite3"


@pytest.fixture
def bus(queue_path: Path) -> Iterator[LocalBus]:
    b = LocalBus(queue_path, poll_s=0.02)
    yield b
    b.close()
