"""KafkaBus against a real broker: durable publish, topic creation, wire format, status."""

from __future__ import annotations

import json

import pytest
from kafka import KafkaConsumer, TopicPartition

from newswatch.bus.kafka import (
    KafkaBus,
    KafkaPublishError,
    KafkaSettings,
    _assignment,
    bootstrap_servers,
    kafka_status,
    make_admin,
    topic_offsets,
)
from newswatch.errors import ConfigError, NewswatchError
from newswatch.records import DeadLetter, RawArticle

from ..bus.factories import make_alert, make_article

pytestmark = pytest.mark.kafka


def read_all(bootstrap: str, topic: str, expect: int) -> list:
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest")
    try:
        parts = c.partitions_for_topic(topic) or set()
        c.assign([TopicPartition(topic, p) for p in parts])
        c.seek_to_beginning()
        out: list = []
        idle = 0
        while len(out) < expect and idle < 5:
            got = c.poll(1000)
            idle = 0 if got else idle + 1
            for recs in got.values():
                out.extend(recs)
        return out
    finally:
        c.close()


def test_bootstrap_servers_parse_and_name_the_fix() -> None:
    assert bootstrap_servers("kafka://a:9092,b:9093/") == ["a:9092", "b:9093"]
    with pytest.raises(ConfigError, match="NEWSWATCH_BUS.*HOST:PORT"):
        bootstrap_servers("kafka://nohost")
    with pytest.raises(ConfigError, match="not a Kafka URL"):
        bootstrap_servers("local")


def test_settings_reject_heartbeat_above_session() -> None:
    with pytest.raises(ValueError, match="heartbeat_interval_ms"):
        KafkaSettings(session_timeout_ms=3000, heartbeat_interval_ms=3000)


def test_publish_creates_topics_and_is_readable_json(tansu, kafka_settings) -> None:
    bus = KafkaBus(bus=tansu.bus, kafka=kafka_settings)
    articles = [make_article(i) for i in range(20)]
    try:
        assert bus.publish(articles) == 20
    finally:
        bus.close()
    admin = make_admin(tansu.bus, kafka_settings)
    try:
        assert set(kafka_settings.topics) <= set(admin.list_topics())
    finally:
        admin.close()
    offsets = topic_offsets(tansu.bus, kafka_settings, kafka_settings.raw_topic)
    assert sorted(offsets) == [0, 1, 2, 3]  # the configured partition count
    assert sum(o["end"] for o in offsets.values()) == 20
    records = read_all(tansu.bootstrap, kafka_settings.raw_topic, 20)
    assert sorted(r.key.decode() for r in records) == sorted(a.id for a in articles)  # key = article id
    for r in records:
        a = RawArticle.from_json(r.value)
        assert json.loads(r.value)["schema_version"] == 1
        assert dict(r.headers)["kind"] == b"raw_article"
        assert a.id == r.key.decode()
    # one key always lands on one partition (per-story order)
    by_key = {}
    for r in records:
        by_key.setdefault(r.key, set()).add(r.partition)
    assert all(len(p) == 1 for p in by_key.values())


def test_alerts_and_dead_letters_go_to_their_topics(tansu, kafka_settings) -> None:
    bus = KafkaBus(bus=tansu.bus, kafka=kafka_settings)
    try:
        bus.publish_alerts([make_alert("bounties", "s1"), make_alert("russia-taliban", "s1")])
        d = DeadLetter.of("decode", "not JSON", b"\xff{oops")
        bus.dead_letter([d])
        assert [x.id for x in bus.dead_letters()] == [d.id]
        assert bus.count_dead_letters() == 1
    finally:
        bus.close()
    alerts = read_all(tansu.bootstrap, kafka_settings.alerts_topic, 2)
    assert sorted(json.loads(r.value)["topic_id"] for r in alerts) == ["bounties", "russia-taliban"]


def test_publish_to_a_dead_broker_raises_instead_of_pretending(tansu, kafka_settings) -> None:
    ks = kafka_settings.model_copy(update={"delivery_timeout_ms": 3000, "request_timeout_ms": 1000,
                                           "flush_timeout_s": 5.0, "retries": 1})
    bus = KafkaBus(bus=tansu.bus, kafka=ks)
    try:
        bus.publish([make_article(1)])
        tansu.stop()
        with pytest.raises(KafkaPublishError, match="not acknowledged"):
            bus.publish([make_article(2)])
    finally:
        try:
            bus.close()
        except Exception:
            pass


def test_lease_is_refused_with_the_command_to_run(tansu, kafka_settings) -> None:
    bus = KafkaBus(bus=tansu.bus, kafka=kafka_settings, create_topics=False)
    with pytest.raises(NewswatchError, match="newswatch pipeline"):
        bus.lease(10, 1.0)


def test_status_reports_end_committed_and_lag(tansu, kafka_settings) -> None:
    bus = KafkaBus(bus=tansu.bus, kafka=kafka_settings)
    try:
        bus.publish([make_article(i) for i in range(12)])
    finally:
        bus.close()
    c = KafkaConsumer(bootstrap_servers=tansu.bootstrap, group_id=kafka_settings.group, enable_auto_commit=False,
                      auto_offset_reset="earliest", **{k: getattr(kafka_settings, k) for k in
                                                       ("max_poll_interval_ms", "session_timeout_ms",
                                                        "heartbeat_interval_ms")})
    try:
        tp = TopicPartition(kafka_settings.raw_topic, 0)
        c.assign([tp])
        recs = c.poll(5000).get(tp, [])
        c.commit({tp: __import__("kafka").OffsetAndMetadata(len(recs), "", -1)})
    finally:
        c.close()
    st = kafka_status(tansu.bus, kafka_settings)
    raw = st["topics"][kafka_settings.raw_topic]
    assert raw["end"] == 12
    rows = {r["partition"]: r for r in raw["partitions"]}
    assert rows[0]["committed"] == len(recs) and rows[0]["lag"] == rows[0]["end"] - len(recs)
    assert raw["lag"] == 12 - len(recs)
    for p in (1, 2, 3):
        assert rows[p]["committed"] is None and rows[p]["lag"] == rows[p]["end"]


def test_assignment_decoding_of_describe_groups() -> None:
    from kafka.protocol.consumer.metadata import ConsumerProtocolAssignment

    a = ConsumerProtocolAssignment.decode(
        ConsumerProtocolAssignment(0, [("news.raw", [0, 2])], b"").encode())
    assert _assignment(a) == {"news.raw": [0, 2]}
    assert _assignment(a.to_dict()) == {"news.raw": [0, 2]}
    assert _assignment("") == {}
