"""Several processes on one queue file: concurrent publishers, consumers, kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


from newswatch.alerts.outbox import AlertOutbox
from newswatch.bus.local import LocalBus

from tests.bus.factories import make_alert, make_article

WORKER = Path(__file__).with_name("worker.py")


def spawn(*args: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WORKER), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def kill9(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL


def expected_keys(prefix: str, n: int) -> set[str]:
    from newswatch.records import RawArticle
    return {RawArticle.create(source_id=prefix, title=f"{prefix} story {i}", url=f"https://ex.com/{prefix}/{i}").id
            for i in range(n)}


def test_two_publishers_one_consumer_every_message_once(queue_path):
    n = 300
    consumer_bus = LocalBus(queue_path, poll_s=0.02)
    pubs = [spawn("publish", queue_path, p, n, 10) for p in ("pa", "pb")]
    got: list[str] = []
    deadline = time.monotonic() + 25
    try:
        while time.monotonic() < deadline:
            msgs = consumer_bus.lease(32, 30)
            got += [m.key for m in msgs]
            consumer_bus.ack([m.offset for m in msgs])
            if not msgs:
                if all(p.poll() is not None for p in pubs) and not consumer_bus.wait(0.3):
                    break
                consumer_bus.wait(0.2)
        for p in pubs:
            out, err = p.communicate(timeout=10)
            assert p.returncode == 0, err
            assert out.strip() == "done"
        assert len(got) == 2 * n
        assert set(got) == expected_keys("pa", n) | expected_keys("pb", n)
        st = consumer_bus.stats()
        assert st["pending"] == st["leased"] == 0 and st["done"] == 2 * n
    finally:
        consumer_bus.close()


def test_two_consumer_processes_never_share_a_message(queue_path):
    bus = LocalBus(queue_path)
    try:
        bus.publish([make_article(i) for i in range(400)])
        cons = [spawn("consume", queue_path, 30) for _ in range(2)]
        outs = [c.communicate(timeout=25) for c in cons]
        keys = [[line for line in out.split() if line != "done"] for out, _ in outs]
        assert all(c.returncode == 0 for c in cons), [e for _, e in outs]
        assert not set(keys[0]) & set(keys[1])
        assert len(keys[0]) + len(keys[1]) == 400
        assert bus.stats()["done"] == 400
    finally:
        bus.close()


def test_kill9_consumer_lease_expires_then_redelivered(queue_path):
    bus = LocalBus(queue_path, reclaim_dead=False)  # only the lease clock
    try:
        bus.publish([make_article(i) for i in range(8)])
        proc = spawn("hold", queue_path, 5, 2.0)
        held = [int(x) for x in proc.stdout.readline().split()]
        assert len(held) == 5
        kill9(proc)
        assert [m.offset for m in bus.lease(10, 30)] == list(range(6, 9))  # the rest only
        assert bus.lease(10, 30) == []
        assert bus.wait(6) is True
        again = bus.lease(10, 30)
        assert [m.offset for m in again] == held and all(m.attempts == 2 for m in again)
    finally:
        bus.close()


def test_kill9_consumer_released_at_once_when_dead(queue_path):
    bus = LocalBus(queue_path)
    try:
        bus.publish([make_article(i) for i in range(4)])
        proc = spawn("hold", queue_path, 4, 600)
        held = [int(x) for x in proc.stdout.readline().split()]
        assert bus.lease(10, 30) == []  # the holder is alive: its lease stands
        kill9(proc)
        again = bus.lease(10, 30)  # owner process is gone: no need to wait 600 s
        assert [m.offset for m in again] == held
    finally:
        bus.close()


def test_kill9_inside_ack_transaction_loses_and_duplicates_nothing(queue_path):
    bus = LocalBus(queue_path)
    outbox = AlertOutbox(queue_path)
    try:
        bus.publish([make_article(i) for i in range(4)])
        proc = spawn("hold-in-tx", queue_path, 4, 600)
        held = [int(x) for x in proc.stdout.readline().split()]
        assert proc.stdout.readline().strip() == "in-tx"
        kill9(proc)  # alerts inserted and half the batch acked, never committed
        assert outbox.count() == 0
        again = bus.lease(10, 30)
        assert [m.offset for m in again] == held
        alerts = [make_alert("t", m.key) for m in again]
        assert bus.ack([m.offset for m in again], alerts=alerts) == alerts
        assert bus.ack([m.offset for m in again], alerts=alerts) == []
        assert outbox.count() == 4 and bus.stats()["pending"] == 0
    finally:
        outbox.close()
        bus.close()




def test_recover_releases_only_dead_consumers(queue_path):
    bus = LocalBus(queue_path)
    try:
        bus.publish([make_article(i) for i in range(6)])
        alive = spawn("hold", queue_path, 3, 600)
        alive_held = [int(x) for x in alive.stdout.readline().split()]
        dead = spawn("hold", queue_path, 3, 600)
        dead_held = [int(x) for x in dead.stdout.readline().split()]
        kill9(dead)
        assert bus.recover() == 3
        assert bus.recover() == 0
        assert [m.offset for m in bus.lease(10, 30)] == dead_held
        assert alive_held and bus.stats()["leased"] == 6
        kill9(alive)
    finally:
        bus.close()
