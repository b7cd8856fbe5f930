"""The poller: a connector that raises does not stop the others, articles reach the
durable bus before the source's cursor is committed, dead letters are stored."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

from connectors.base import PollResult
from newswatch.bus.local import LocalBus
from newswatch.monitor import Poller
from newswatch.records import DeadLetter, RawArticle

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


class Crashing:
    id = "crashing"

    def setup(self) -> None: ...
    def close(self) -> None: ...
    def next_due(self, now=None):  # pragma: no cover - never reached: poll raises first
        return T0

    def poll(self, now=None):
        raise RuntimeError("connector bug")


class Recording:
    """A source whose ack records what the bus held at that moment."""

    id = "recording"

    def __init__(self, bus: LocalBus) -> None:
        self.bus, self.acked_with_pending = bus, None

    def setup(self) -> None: ...
    def close(self) -> None: ...
    def next_due(self, now=None):
        return (now or T0) + timedelta(seconds=60)

    def poll(self, now=None):
        arts = [RawArticle.create(source_id=self.id, title=f"t{i}", url=f"https://e.com/{i}") for i in range(3)]
        return PollResult(source_id=self.id, status="ok", articles=arts,
                          dead_letters=[DeadLetter.of("parse", "entry has no title", "<item/>", self.id)])

    def ack(self, result) -> None:
        self.acked_with_pending = self.bus.stats()["pending"]


def test_crashing_source_is_isolated_and_articles_are_durable_before_ack(tmp_path: Path):
    bus = LocalBus(tmp_path / "q.sqlite3")
    rec = Recording(bus)
    poller = Poller([Crashing(), rec], bus, threading.Event())
    assert poller.poll_due(T0) == 3
    assert rec.acked_with_pending == 3  # on the bus before the cursor moved
    assert bus.count_dead_letters() == 1
    # the crashing source is backed off, the healthy one is due again at its interval
    assert poller._due["crashing"] > datetime.now(timezone.utc)
    assert poller._due["recording"] > datetime.now(timezone.utc)
    # polling again before anything is due publishes nothing
    assert poller.poll_due(datetime.now(timezone.utc)) == 0
