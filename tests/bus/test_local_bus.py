"""LocalBus: publish/lease/ack, expiry, nack, dedup, dead letters, poison, wait, stats."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pydantic
import pytest

from newswatch import registry
from newswatch.bus import Bus, LocalBus, Message
from newswatch.records import DeadLetter, utcnow

from tests.bus.factories import make_article


def test_implements_protocol_and_registry(queue_path):
    b = registry.create("bus", "local", path=queue_path)
    try:
        assert isinstance(b, LocalBus)
        assert isinstance(b, Bus)
    finally:
        b.close()


def test_publish_lease_ack_roundtrip(bus):
    arts = [make_article(i) for i in range(5)]
    assert bus.publish(arts) == 5
    msgs = bus.lease(10, lease_s=30)
    assert [m.key for m in msgs] == [a.id for a in arts]
    assert [m.offset for m in msgs] == sorted(m.offset for m in msgs)
    assert all(isinstance(m, Message) and m.attempts == 1 for m in msgs)
    assert msgs[0].enqueued_at.tzinfo is not None
    assert msgs[2].article() == arts[2]
    assert bus.lease(10, 30) == []  # all leased
    bus.ack([m.offset for m in msgs])
    st = bus.stats()
    assert (st["pending"], st["leased"], st["done"], st["published"]) == (0, 0, 5, 5)
    assert st["oldest_pending_age_s"] is None


def test_lease_respects_max_n_and_order(bus):
    bus.publish([make_article(i) for i in range(10)])
    a = bus.lease(3, 30)
    b = bus.lease(3, 30)
    assert len(a) == len(b) == 3
    assert max(m.offset for m in a) < min(m.offset for m in b)
    with pytest.raises(ValueError):
        bus.lease(0, 30)


def test_publish_is_durable_across_reopen(queue_path):
    b = LocalBus(queue_path)
    b.publish([make_article(i) for i in range(3)])
    b.close()
    b2 = LocalBus(queue_path)
    try:
        assert len(b2.lease(10, 30)) == 3
    finally:
        b2.close()


def test_lease_expiry_redelivers(bus):
    bus.publish([make_article(1), make_article(2)])
    first = bus.lease(10, lease_s=0.15)
    assert bus.lease(10, 30) == []
    time.sleep(0.2)
    again = bus.lease(10, 30)
    assert [m.offset for m in again] == [m.offset for m in first]
    assert all(m.attempts == 2 for m in again)
    assert bus.stats()["redelivered"] == 2
    bus.ack([m.offset for m in again])
    assert bus.lease(10, 30) == []


def test_ack_is_final_and_unknown_offsets_are_noops(bus):
    bus.publish([make_article(1)])
    (m,) = bus.lease(1, 0.05)
    bus.ack([m.offset])
    bus.ack([m.offset, 999_999])  # late/duplicate ack
    time.sleep(0.1)
    assert bus.lease(10, 30) == []
    assert bus.stats()["done"] == 1


def test_nack_now_and_with_delay(bus):
    bus.publish([make_article(1), make_article(2)])
    m1, m2 = bus.lease(2, 30)
    bus.nack([m1.offset])
    (again,) = bus.lease(5, 30)
    assert again.offset == m1.offset and again.attempts == 2
    bus.nack([m2.offset, again.offset], delay_s=0.2)
    assert bus.lease(5, 30) == []
    assert bus.stats()["delayed"] == 2
    time.sleep(0.25)
    assert {m.offset for m in bus.lease(5, 30)} == {m1.offset, m2.offset}


def test_nack_does_not_count_towards_poison(queue_path):
    b = LocalBus(queue_path, max_expiries=1)
    try:
        b.publish([make_article(1)])
        for attempt in range(1, 4):
            (m,) = b.lease(1, 30)
            assert m.attempts == attempt
            b.nack([m.offset])
        assert b.count_dead_letters() == 0
    finally:
        b.close()


def test_dedup_same_story_once(bus):
    a = make_article(1)
    assert bus.publish([a, a]) == 1          # duplicate within one batch
    assert bus.publish([a]) == 0             # unchanged re-poll
    changed = a.model_copy(update={"summary": "updated text"})
    assert changed.id == a.id
    assert bus.publish([changed]) == 1       # changed content is new work
    assert bus.publish([a], dedup=False) == 1  # explicit re-publish
    st = bus.stats()
    assert st["published"] == 3 and st["deduplicated"] == 2
    assert [m.key for m in bus.lease(10, 30)] == [a.id] * 3


def test_dedup_window_expires(queue_path):
    b = LocalBus(queue_path, dedup_window_s=0.1)
    try:
        a = make_article(1)
        assert b.publish([a]) == 1
        assert b.publish([a]) == 0
        time.sleep(0.15)
        assert b.publish([a]) == 1
    finally:
        b.close()


def test_poison_raw_payload_survives_and_is_dead_lettered(bus):
    poison = b"\xff\xfe\x00{not json at all\n\x80"
    assert bus.publish_raw("poison-key", poison) == 1
    bus.publish([make_article(1)])
    msgs = bus.lease(10, 30)
    assert msgs[0].payload == poison and msgs[0].key == "poison-key"
    with pytest.raises(pydantic.ValidationError):
        msgs[0].article()
    dl = DeadLetter.of("parse", "not a RawArticle", msgs[0].payload, source=msgs[0].key)
    bus.ack([m.offset for m in msgs], dead_letters=[dl])
    assert bus.count_dead_letters() == 1
    (stored,) = bus.dead_letters()
    assert stored == dl and stored.payload.startswith("\ufffd")
    with pytest.raises(TypeError):
        bus.publish_raw("k", "text is not bytes")  # type: ignore[arg-type]


def test_dead_letters_idempotent_and_listing(bus):
    old = DeadLetter.of("parse", "bad json", b"{", source="a").model_copy(
        update={"created_at": utcnow() - timedelta(hours=2)})
    new = DeadLetter.of("ner", "model crashed", {"x": 1}, source="b")
    assert bus.dead_letter([old, new]) == 2
    assert bus.dead_letter([old, new]) == 0  # redelivered batch: no duplicates
    assert bus.count_dead_letters() == 2
    assert [d.id for d in bus.dead_letters()] == [new.id, old.id]  # newest first
    assert [d.id for d in bus.dead_letters(since=utcnow() - timedelta(hours=1))] == [new.id]
    assert len(bus.dead_letters(limit=1)) == 1
    assert bus.stats()["dead_letters"] == 2


def test_message_that_keeps_killing_its_consumer_is_dead_lettered(queue_path):
    b = LocalBus(queue_path, max_expiries=2, poll_s=0.02)
    try:
        raw = b"\x00crash-me\xff"
        b.publish_raw("k1", raw)
        assert b.lease(1, 0.05)[0].attempts == 1
        time.sleep(0.07)
        assert b.lease(1, 0.05)[0].attempts == 2
        time.sleep(0.07)
        assert b.lease(1, 30) == []           # 2nd expiry: dead-lettered, not delivered
        (dl,) = b.dead_letters()
        assert dl.stage == "bus" and dl.source == "k1" and "expired 2 times" in dl.reason
        assert b.stats()["poisoned"] == 1
        assert b.replay_dead_letters([dl.id]) == 1  # operator replays: original bytes back
        (m,) = b.lease(1, 30)
        assert m.payload == raw and m.key == "k1"
        assert b.count_dead_letters() == 0
    finally:
        b.close()


def test_wait_times_out_and_wakes_on_publish(bus):
    t0 = time.monotonic()
    assert bus.wait(0.1) is False
    assert 0.09 <= time.monotonic() - t0 < 1.0

    other = LocalBus(bus.path, poll_s=10)  # same process, other handle: nudged, not polled
    try:
        threading.Timer(0.1, lambda: bus.publish([make_article(1)])).start()
        t0 = time.monotonic()
        assert other.wait(5) is True
        assert time.monotonic() - t0 < 1.0
    finally:
        other.close()


def test_wait_wakes_when_a_lease_expires(bus):
    bus.publish([make_article(1)])
    bus.lease(1, 0.2)
    t0 = time.monotonic()
    assert bus.wait(0.05) is False
    assert bus.wait(2) is True
    assert 0.1 < time.monotonic() - t0 < 1.0


def test_threads_share_one_bus(bus):
    def pub(k: int) -> None:
        for i in range(20):
            bus.publish([make_article(k * 100 + i)])

    threads = [threading.Thread(target=pub, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    got: list[str] = []
    deadline = time.monotonic() + 10
    while len(got) < 80 and time.monotonic() < deadline:
        msgs = bus.lease(16, 30)
        got += [m.key for m in msgs]
        bus.ack([m.offset for m in msgs])
        if not msgs:
            bus.wait(0.2)
    for t in threads:
        t.join()
    assert len(got) == len(set(got)) == 80


def test_stats_shape(bus):
    bus.publish([make_article(i) for i in range(3)])
    bus.lease(1, 30)
    time.sleep(0.01)
    st = bus.stats()
    assert {"pending", "leased", "done", "dead_letters", "oldest_pending_age_s"} <= st.keys()
    assert (st["pending"], st["leased"]) == (2, 1)
    assert st["oldest_pending_age_s"] > 0
