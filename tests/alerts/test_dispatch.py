from __future__ import annotations

import io
import threading

import pytest

from newswatch.alerts import AlertDispatcher, AlertLog, AlertOutbox
from newswatch.bus.local import LocalBus

from tests.bus.factories import make_alert, make_article


@pytest.fixture
def parts(tmp_path):
    bus = LocalBus(tmp_path / "queue.sqlite3")
    outbox = AlertOutbox(tmp_path / "queue.sqlite3")  # shares the bus's file
    log = AlertLog(tmp_path / "alerts.ndjson")
    console = io.StringIO()
    yield bus, outbox, log, console, AlertDispatcher(outbox, log, console=True, console_stream=console)
    log.close()
    outbox.close()
    bus.close()


def test_end_to_end_bus_to_log(parts):
    bus, outbox, log, console, dispatcher = parts
    bus.publish([make_article(i) for i in range(3)])
    msgs = bus.lease(10, 30)
    alerts = [make_alert("russia-taliban", m.key) for m in msgs]
    bus.ack([m.offset for m in msgs], alerts=alerts)
    assert dispatcher.run_once() == 3
    assert [a.id for a in log.read()] == [a.id for a in alerts]
    assert console.getvalue().count("\n") == 3 and "[russia-taliban]" in console.getvalue()
    assert outbox.pending() == []
    assert dispatcher.run_once() == 0
    # a redelivered batch fires nothing new
    assert bus.ack([m.offset for m in msgs], alerts=alerts) == []
    assert dispatcher.run_once() == 0 and len(list(log.read())) == 3


def test_crash_between_log_and_mark_delivered(parts, monkeypatch):
    bus, outbox, log, console, dispatcher = parts
    alerts = [make_alert("bounties", f"s{i}") for i in range(4)]
    outbox.add(alerts)

    def crash(*a, **k):
        raise RuntimeError("killed before mark_delivered")

    with monkeypatch.context() as m:
        m.setattr(outbox, "mark_delivered", crash)
        with pytest.raises(RuntimeError):
            dispatcher.run_once()
    assert len(outbox.pending()) == 4  # still pending: at-least-once from the outbox
    assert dispatcher.run_once() == 0   # ... but exactly once in the log
    assert outbox.pending() == []
    assert len(list(log.read())) == 4 and console.getvalue().count("\n") == 4


def test_batches_and_no_console(tmp_path):
    outbox = AlertOutbox(tmp_path / "o.db")
    log = AlertLog(tmp_path / "a.ndjson")
    try:
        outbox.add([make_alert("t", f"s{i}") for i in range(25)])
        d = AlertDispatcher(outbox, log, console=False, batch_size=10)
        assert d.run_once() == 25 and outbox.pending() == []
    finally:
        outbox.close()
        log.close()


def test_run_loop_stops(parts):
    _bus, outbox, log, _console, dispatcher = parts
    stop = threading.Event()
    t = threading.Thread(target=dispatcher.run, args=(stop, 0.02))
    t.start()
    outbox.add([make_alert("t", "s1")])
    stop.set()
    t.join(5)
    assert not t.is_alive()
    assert len(list(log.read())) == 1
