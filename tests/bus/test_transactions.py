"""Ack + alerts + dead letters in one SQLite transaction (the kill -9 promise)."""

from __future__ import annotations

import pytest

from newswatch.alerts.outbox import AlertOutbox
from newswatch.records import DeadLetter

from tests.bus.factories import make_alert, make_article


def test_ack_with_alerts_and_dead_letters(bus, queue_path):
    bus.publish([make_article(i) for i in range(3)])
    msgs = bus.lease(10, 30)
    alerts = [make_alert("russia-taliban", m.key) for m in msgs[:2]]
    dl = DeadLetter.of("ner", "boom", msgs[2].payload, source=msgs[2].key)
    new = bus.ack([m.offset for m in msgs], alerts=alerts, dead_letters=[dl])
    assert new == alerts
    outbox = AlertOutbox(queue_path)
    try:
        assert [a.id for a in outbox.pending()] == [a.id for a in alerts]
    finally:
        outbox.close()
    assert bus.count_dead_letters() == 1 and bus.stats()["done"] == 3
    # the same batch redelivered and processed again adds nothing
    assert bus.ack([m.offset for m in msgs], alerts=alerts, dead_letters=[dl]) == []
    assert bus.count_dead_letters() == 1


def test_transaction_context_is_all_or_nothing(bus, queue_path):
    outbox = AlertOutbox(queue_path)
    try:
        bus.publish([make_article(1), make_article(2)])
        msgs = bus.lease(10, 0.1)
        alerts = [make_alert("bounties", m.key) for m in msgs]
        with pytest.raises(RuntimeError), bus.transaction():
            outbox.add(alerts)
            bus.dead_letter([DeadLetter.of("x", "y", b"z")])
            bus.ack([m.offset for m in msgs])
            raise RuntimeError("crash before commit")
        assert outbox.count() == 0 and bus.count_dead_letters() == 0
        import time
        time.sleep(0.15)
        again = bus.lease(10, 30)  # not acked: redelivered
        assert [m.offset for m in again] == [m.offset for m in msgs]
        with bus.transaction():
            assert outbox.add(alerts) == alerts
            bus.ack([m.offset for m in again])
        assert outbox.count() == 2 and bus.stats()["pending"] == 0
    finally:
        outbox.close()
