"""The notifier against real channel servers: payloads, dedup, retries, parking,
throttle and digests (a fake clock drives time; no sleeping, no wall-clock thresholds)."""

from __future__ import annotations

import email
import json
from datetime import datetime, timedelta, timezone
from email import policy

import pytest

from newswatch.alerts.render import Renderer
from newswatch.alerts.state import NotifierBusy, NotifyState
from newswatch.errors import ConfigError

from tests.alerts.conftest import Webhook, free_port
from tests.alerts.rig import Rig, alert

pytestmark = pytest.mark.alerts


def hook_yaml(url: str, extra: str = "", sub: str = "") -> str:
    return (f'channels:\n  hook: "{url}"\n'
            f"subscriptions:\n  - name: desk\n    topics: ['*']\n    channels: [hook]\n{sub}"
            f"retry: {{max_attempts: 3, backoff_s: 10, backoff_max_s: 100}}\n{extra}")


@pytest.fixture
def rig_factory(tmp_path):
    rigs: list[Rig] = []

    def make(yaml_text: str, **kw) -> Rig:
        r = Rig(tmp_path, yaml_text, **kw)
        rigs.append(r)
        return r

    yield make
    for r in rigs:
        r.close()


def test_one_message_per_topic_and_cluster_with_similar_count(rig_factory, webhook):
    rig = rig_factory(hook_yaml(webhook.url()))
    rig.fire(*[alert("russia-taliban", f"copy{i}", cluster="copy0", title=f"Copy {i}") for i in range(4)],
             alert("russia-taliban", "other", title="Another story"),
             alert("bounties", "copy0", cluster="copy0", title="Copy 0"))
    st = rig.notifier.drain()
    assert (st.received, st.new_notices, st.similar, st.sent) == (6, 3, 3, 3)
    assert sorted(webhook.titles()) == sorted(["Topic russia-taliban: Copy 0", "Topic russia-taliban: Another story",
                                               "Topic bounties: Copy 0"])
    first = next(p for p in webhook.answered if p["title"] == "Topic russia-taliban: Copy 0")
    assert first["_path"] == "/hook" and first["type"] == "info"
    body = first["message"]
    for part in ("Copy 0", "meridian-wire", "2020-07-02 14:03 UTC", "https://news.example/copy0",
                 "Topic: Topic russia-taliban (russia-taliban)", "Matched terms: bounties",
                 "Matched entities: russia (gpe), taliban (org)", "+3 similar stories"):
        assert part in body, part
    other = next(p for p in webhook.answered if p["title"].endswith("Another story"))
    assert "similar" not in other["message"]
    assert rig.pending() == 0  # every event acknowledged
    # a later copy only raises the counter: no new message
    rig.fire(alert("russia-taliban", "copy9", cluster="copy0"))
    assert rig.notifier.drain().sent == 0 and len(webhook.answered) == 3
    notices = rig.state.notices(topic="russia-taliban")
    assert {n["alert"].story_id: n["similar"] for n in notices} == {"copy0": 4, "other": 0}


def test_events_seen_again_change_nothing(rig_factory, webhook):
    rig = rig_factory(hook_yaml(webhook.url()))
    rig.fire(alert("t", "a", cluster="c"), alert("t", "b", cluster="c"))
    rig.notifier.drain()
    # as after a crash between delivery and ack: the source returns the same events again
    rig.outbox._db.execute("DELETE FROM alert_deliveries")
    rig.outbox._db.execute("UPDATE alert_channels SET watermark = 0")
    rig.source.rewind()
    st = rig.notifier.drain()
    assert st.received == 2 and st.new_notices == 0 and st.similar == 0 and st.sent == 0
    assert len(webhook.answered) == 1 and rig.state.notices()[0]["similar"] == 1
    assert rig.pending() == 0


def test_email_over_real_smtp(rig_factory, smtp):
    rig = rig_factory(f'channels:\n  email: "{smtp.url()}"\n'
                      "subscriptions:\n  - topics: [russia-taliban]\n    channels: [email]\n    severity: high\n")
    rig.fire(alert("russia-taliban", "s1", title="Russia denies arming the Taliban",
                   topic_name="Russia and the Taliban"),
             alert("bounties", "s1", title="Russia denies arming the Taliban"))  # not subscribed
    st = rig.notifier.drain()
    assert st.sent == 1 and rig.pending() == 0
    assert len(smtp.messages) == 1
    env = smtp.messages[0]
    assert env.mail_from == "newswatch@example.org" and env.rcpt_tos == ["analyst@example.org"]
    msg = email.message_from_bytes(env.content, policy=policy.default)
    assert msg["Subject"] == "[HIGH] Russia and the Taliban: Russia denies arming the Taliban"
    text = msg.get_body(("plain",)).get_content()
    assert "https://news.example/s1" in text and "Matched entities: russia (gpe), taliban (org)" in text
    assert "severity high" in text


def test_channel_down_for_a_while_then_delivered(rig_factory):
    port = free_port()  # nothing listens yet: connection refused
    hook = Webhook(port)
    rig = rig_factory(hook_yaml(hook.url(cto="2", rto="5")).replace("max_attempts: 3", "max_attempts: 6"))
    rig.fire(alert("t", "s1"))
    st = rig.notifier.run_once()
    assert st.sent == 0 and st.retried == 1 and rig.pending() == 1  # not acked while undelivered
    (d,) = [r for r in rig.state.notices()[0]["deliveries"]]
    assert d["state"] == "pending" and d["attempts"] == 1 and d["error"]
    assert rig.notifier.run_once().retried == 0  # backoff: nothing due yet
    rig.clock.advance(10)
    assert rig.notifier.run_once().retried == 1  # second attempt, still down
    rig.clock.advance(15)
    assert rig.notifier.run_once().retried == 0  # backoff doubled to 20 s
    hook.start()
    try:
        rig.clock.advance(5)
        st = rig.notifier.run_once()
        assert st.sent == 1 and st.acked == 1 and rig.pending() == 0
        assert hook.titles() == ["Topic t: Story s1"] and len(hook.received) == 1
        assert rig.state.notices()[0]["deliveries"][0] == {"channel": "hook", "state": "sent", "attempts": 3,
                                                           "error": None, "via": "immediate"}
    finally:
        hook.stop()


def test_parked_after_retries_then_requeued(rig_factory, webhook):
    webhook.fail_codes = [503] * 3
    rig = rig_factory(hook_yaml(webhook.url()))
    rig.fire(alert("t", "s1"))
    for _ in range(3):
        rig.notifier.run_once()
        rig.clock.advance(100)
    (d,) = rig.state.notices()[0]["deliveries"]
    assert d["state"] == "parked" and d["attempts"] == 3 and "503" in d["error"]
    assert rig.pending() == 0  # parked with its reason: the event is done
    assert webhook.answered == [] and len(webhook.received) == 3
    assert rig.state.requeue_parked(rig.clock(), channel="hook") == 1
    assert rig.notifier.run_once().sent == 1
    assert webhook.titles() == ["Topic t: Story s1"]


def test_throttle_overflow_goes_into_the_next_digest(rig_factory, webhook):
    rig = rig_factory(hook_yaml(webhook.url(), extra="throttle:\n  russia-taliban: {max_alerts: 2, per_seconds: 3600}\n",
                                sub="    digest: hourly\n"),
                      start=datetime(2026, 3, 2, 10, 15, tzinfo=timezone.utc))
    rig.fire(*[alert("russia-taliban", f"s{i}", title=f"Story {i}") for i in range(5)],
             alert("bounties", "b1", title="Bounty story"))  # another topic is not throttled
    st = rig.notifier.drain()
    assert st.sent == 3 and st.throttled == 3
    assert sorted(webhook.titles()) == ["Topic bounties: Bounty story", "Topic russia-taliban: Story 0",
                                        "Topic russia-taliban: Story 1"]
    assert rig.pending() == 3  # the throttled ones wait for their digest
    rig.clock.set(datetime(2026, 3, 2, 10, 59, tzinfo=timezone.utc))
    assert rig.notifier.run_once().digests == 0
    rig.clock.set(datetime(2026, 3, 2, 11, 0, 1, tzinfo=timezone.utc))
    st = rig.notifier.run_once()
    assert st.digests == 1 and st.sent == 1 and rig.pending() == 0
    digest = webhook.answered[-1]
    assert digest["title"] == "newswatch digest: 3 alerts on russia-taliban until 2026-03-02 11:00 UTC"
    body = digest["message"]
    assert "(3 held back by the throttle)" in body and "== Topic russia-taliban (3) ==" in body
    assert [line.split(" — ")[0] for line in body.splitlines() if line.startswith("- ")] == \
        ["- Story 2", "- Story 3", "- Story 4"]
    # the window slides: an hour after the first two, immediate alerts flow again
    rig.clock.set(datetime(2026, 3, 2, 11, 16, tzinfo=timezone.utc))
    rig.fire(alert("russia-taliban", "s9", title="Story 9"))
    assert rig.notifier.run_once().sent == 1 and webhook.titles()[-1] == "Topic russia-taliban: Story 9"


def test_daily_digest_groups_by_topic(rig_factory, webhook):
    rig = rig_factory(hook_yaml(webhook.url(), sub="    mode: digest\n    digest: daily\n    digest_at: '08:00'\n"),
                      start=datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
    rig.fire(alert("russia-taliban", "s1", cluster="c1", title="Moscow denies arming Taliban"),
             alert("russia-taliban", "s2", cluster="c1", title="Copy"),
             alert("bounties", "s3", title="Bounties report", topic_name="Bounties on US troops"))
    st = rig.notifier.drain()
    assert st.sent == 0 and webhook.received == [] and rig.pending() == 2  # the copy is acked at once
    rig.clock.set(datetime(2026, 3, 3, 7, 59, tzinfo=timezone.utc))
    assert rig.notifier.run_once().digests == 0
    rig.clock.set(datetime(2026, 3, 3, 8, 0, tzinfo=timezone.utc))
    assert rig.notifier.run_once().sent == 1 and rig.pending() == 0
    (digest,) = webhook.answered
    assert digest["title"] == ("newswatch digest: 2 alerts on russia-taliban, bounties until 2026-03-03 08:00 UTC")
    body = digest["message"]
    assert "== Topic russia-taliban (1) ==" in body and "== Bounties on US troops (1) ==" in body
    assert "- Moscow denies arming Taliban — meridian-wire, 2020-07-02 14:03 UTC (+1 similar)" in body
    assert "held back" not in body
    assert rig.notifier.run_once().digests == 0  # nothing left for the next day


def test_unsubscribed_topics_are_acknowledged_without_delivery(rig_factory, webhook):
    rig = rig_factory(f'channels:\n  hook: "{webhook.url()}"\n'
                      "subscriptions:\n  - topics: ['russia-*']\n    channels: [hook, console]\n")
    rig.fire(alert("bounties", "s1"), alert("russia-taliban", "s2"))
    st = rig.notifier.drain()
    assert st.sent == 2 and rig.pending() == 0
    assert webhook.titles() == ["Topic russia-taliban: Story s2"]
    assert rig.console.getvalue().startswith("Topic russia-taliban: Story s2\nStory s2\n")


def test_file_channel_writes_ndjson(rig_factory, tmp_path):
    rig = rig_factory("channels:\n  file: ndjson://out/notifications.ndjson\n"
                      "subscriptions:\n  - channels: [file]\n")
    rig.fire(alert("t", "s1", cluster="c"), alert("t", "s2", cluster="c"))
    rig.notifier.drain()
    lines = (tmp_path / "out" / "notifications.ndjson").read_text().splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert rec["kind"] == "alert" and rec["alert"]["similar"] == 1 and rec["alert"]["link"] == "https://news.example/s1"


def test_one_notifier_per_state_file(tmp_path):
    with NotifyState(tmp_path / "n.sqlite3", exclusive=True):
        with pytest.raises(NotifierBusy, match="another notifier"):
            NotifyState(tmp_path / "n.sqlite3", exclusive=True)
        NotifyState(tmp_path / "n.sqlite3").close()  # readers (alerts list/retry) need no lock
    NotifyState(tmp_path / "n.sqlite3", exclusive=True).close()  # released with its holder


def test_template_overrides_and_errors(tmp_path):
    tdir = tmp_path / "templates"
    tdir.mkdir()
    (tdir / "alert_title.j2").write_text("ALERT {{ a.topic_id }} / {{ a.similar }}\n")
    r = Renderer(tdir)
    r.check()
    from newswatch.alerts.render import alert_view, sample_alert
    assert r.alert(alert_view(sample_alert(), similar=2)).title == "ALERT russia-taliban / 2"
    (tdir / "digest_body.j2").write_text("line one\n{% for x in items %}{{ x.nope }}{% endfor %}\n")
    with pytest.raises(ConfigError, match="digest_body.j2"):
        Renderer(tdir).check()
    (tdir / "digest_body.j2").write_text("line one\n{% for x in items %}\n")
    with pytest.raises(ConfigError) as exc:
        Renderer(tdir).check()
    assert "digest_body.j2:" in str(exc.value) and exc.value.line == 2
    with pytest.raises(ConfigError, match="templates directory not found"):
        Renderer(tmp_path / "missing")


def test_digest_schedule_boundaries():
    from newswatch.alerts.schedule import next_boundary

    t = datetime(2026, 3, 2, 10, 15, tzinfo=timezone.utc)
    assert next_boundary(t.timestamp(), "hourly") == (t.replace(minute=0) + timedelta(hours=1)).timestamp()
    assert next_boundary(t.timestamp(), "daily", "08:00") == datetime(2026, 3, 3, 8, 0, tzinfo=timezone.utc).timestamp()
    assert next_boundary(t.timestamp(), "daily", "23:30") == datetime(2026, 3, 2, 23, 30, tzinfo=timezone.utc).timestamp()


def test_state_forgets_finished_notices_after_retention(rig_factory, webhook):
    rig = rig_factory(hook_yaml(webhook.url(), extra="retention_days: 30\n"))
    rig.fire(alert("t", "done"))
    rig.notifier.run_once()
    webhook.fail_codes = [503]
    rig.fire(alert("t", "waiting"))
    rig.notifier.run_once()  # failed → waits for a retry
    states = {n["alert"].story_id: n["deliveries"][0]["state"] for n in rig.state.notices()}
    assert sorted(states.values()) == ["pending", "sent"]
    assert rig.state.prune(rig.clock() + 31 * 86400) == 1  # only the finished one
    assert [n["alert"].story_id for n in rig.state.notices()] == [k for k, v in states.items() if v == "pending"]
    assert rig.state.counts()["events"] == 1
