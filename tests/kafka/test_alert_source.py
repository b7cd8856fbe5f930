"""KafkaAlertSource: the notifier's at-least-once view of news.alerts."""

from __future__ import annotations

import pytest

from newswatch.alerts.source import AlertSource
from newswatch.bus.kafka import KafkaBus
from newswatch.bus.kafka_alerts import KafkaAlertSource

from ..bus.factories import make_alert

pytestmark = pytest.mark.kafka


def drain(src: KafkaAlertSource, want: int, timeout_s: float = 60.0) -> list:
    got: list = []
    for _ in range(int(timeout_s / 2) + 1):
        got.extend(src.poll(100, 2.0))
        if len(got) >= want:
            break
    return got


@pytest.fixture
def alerts_on_topic(tansu, kafka_settings):
    ks = kafka_settings.model_copy(update={"partitions": 1})  # one partition: offsets in publish order
    bus = KafkaBus(bus=tansu.bus, kafka=ks)
    alerts = [make_alert("bounties", f"s{i}") for i in range(6)]
    try:
        bus.publish_alerts(alerts)
    finally:
        bus.close()
    return ks, alerts


def test_out_of_order_acks_commit_up_to_the_lowest_open_alert(tansu, alerts_on_topic) -> None:
    ks, alerts = alerts_on_topic
    src = KafkaAlertSource(tansu.bus, kafka=ks)
    assert isinstance(src, AlertSource)
    try:
        got = drain(src, 6)
        assert [a.id for a in got] == [a.id for a in alerts]
        assert src.poll(10, 0.5) == []  # each alert once per instance
        src.ack([got[0], got[1], got[3], got[4]])  # got[2] waits for a retry, got[5] for a digest
        assert src.pending() == 2
    finally:
        src.close()
    again = KafkaAlertSource(tansu.bus, kafka=ks)  # a restarted notifier
    try:
        redelivered = drain(again, 4)
        # committed up to the lowest open one (got[2]); everything after it comes again
        assert [a.id for a in redelivered] == [a.id for a in alerts[2:]]
        again.ack(redelivered)
    finally:
        again.close()
    last = KafkaAlertSource(tansu.bus, kafka=ks)
    try:
        assert last.poll(10, 4.0) == []
    finally:
        last.close()


def test_a_record_that_is_not_an_alert_becomes_a_dead_letter(tansu, kafka_settings) -> None:
    ks = kafka_settings.model_copy(update={"partitions": 1})
    bus = KafkaBus(bus=tansu.bus, kafka=ks)
    try:
        bus.publish_raw("x", b"{\"kind\": \"alert\"}", topic=ks.alerts_topic)
        good = make_alert("bounties", "s1")
        bus.publish_alerts([good])
        src = KafkaAlertSource(tansu.bus, kafka=ks)
        try:
            got = drain(src, 1)
            assert [a.id for a in got] == [good.id]
            src.ack(got)
        finally:
            src.close()
        dead = bus.dead_letters()
        assert len(dead) == 1 and dead[0].stage == "alert-source" and '"kind"' in dead[0].payload
    finally:
        bus.close()
