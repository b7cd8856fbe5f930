from __future__ import annotations

from datetime import timedelta

from newswatch.alerts.outbox import AlertOutbox
from newswatch.records import utcnow

from tests.bus.factories import make_alert


def test_add_is_idempotent_by_alert_id(tmp_path):
    with AlertOutbox(tmp_path / "o.db") as outbox:
        a, b = make_alert("russia-taliban", "s1"), make_alert("bounties", "s1")
        assert outbox.add([a, b, a]) == [a, b]
        assert outbox.add([a, b]) == []
        # the same (topic, story) fired again later (story re-processed): still one alert
        again = make_alert("russia-taliban", "s1", title="edited title")
        assert again.id == a.id and outbox.add([again]) == []
        assert outbox.count() == 2 and outbox.get(a.id) == a


def test_survives_reopen(tmp_path):
    path = tmp_path / "o.db"
    with AlertOutbox(path) as outbox:
        outbox.add([make_alert("t", "s1")])
    with AlertOutbox(path) as outbox:
        assert [a.story_id for a in outbox.pending()] == ["s1"]
        assert outbox.add([make_alert("t", "s1")]) == []


def test_pending_and_mark_delivered_per_channel(tmp_path):
    with AlertOutbox(tmp_path / "o.db") as outbox:
        alerts = [make_alert("t", f"s{i}") for i in range(5)]
        outbox.add(alerts)
        assert [a.id for a in outbox.pending(limit=2)] == [a.id for a in alerts[:2]]
        assert outbox.mark_delivered([alerts[1].id, alerts[3].id], "log") == 2
        assert outbox.mark_delivered([alerts[1].id], "log") == 0  # idempotent
        assert [a.id for a in outbox.pending()] == [alerts[i].id for i in (0, 2, 4)]
        assert len(outbox.pending(channel="slack")) == 5  # channels are independent
        outbox.mark_delivered([a.id for a in alerts], "log")
        assert outbox.pending() == [] and outbox.count_pending() == 0
        assert outbox.delivered_on(alerts[0].id) == ["log"]
        later = make_alert("t", "s9")
        outbox.add([later])
        assert outbox.pending() == [later]


def test_new_channel_from_now(tmp_path):
    with AlertOutbox(tmp_path / "o.db") as outbox:
        outbox.add([make_alert("t", "old")])
        outbox.register_channel("teams", from_now=True)
        assert outbox.pending(channel="teams") == []
        new = make_alert("t", "new")
        outbox.add([new])
        assert outbox.pending(channel="teams") == [new]


def test_list_filters(tmp_path):
    with AlertOutbox(tmp_path / "o.db") as outbox:
        old = make_alert("a", "s1", created_at=utcnow() - timedelta(days=2))
        mid = make_alert("b", "s2", created_at=utcnow() - timedelta(hours=1))
        new = make_alert("a", "s3")
        outbox.add([old, mid, new])
        assert outbox.list() == [new, mid, old]
        assert outbox.list(topic="a") == [new, old]
        assert outbox.list(since=utcnow() - timedelta(days=1)) == [new, mid]
        assert outbox.list(limit=1) == [new]
