"""The real ``newswatch notify`` / ``alerts list|retry|test`` commands."""

from __future__ import annotations

import json

import pytest

from newswatch.alerts.outbox import AlertOutbox

from tests.alerts.rig import alert
from tests.conftest import run_cli

pytestmark = pytest.mark.alerts


@pytest.fixture
def dirs(tmp_path, webhook):
    cfg, data = tmp_path / "config", tmp_path / "data"
    cfg.mkdir()
    (cfg / "alerts.yaml").write_text(
        f'channels:\n  hook: "{webhook.url()}"\n'
        "subscriptions:\n  - topics: ['*']\n    channels: [hook]\n"
        "retry: {max_attempts: 1, backoff_s: 1}\n")
    return cfg, data


def test_alerts_test_sends_a_sample(dirs, webhook):
    cfg, data = dirs
    p = run_cli("alerts", "test", "hook", "--config", str(cfg), "--data", str(data))
    assert "sent a sample alert through hook" in p.stderr
    (payload,) = webhook.answered
    assert payload["title"].startswith("[TEST] Russia and the Taliban: Pompeo Never Complained")
    assert "+11 similar stories" in payload["message"]
    bad = run_cli("alerts", "test", "nope", "--config", str(cfg), "--data", str(data), check=False)
    assert bad.returncode == 2 and "unknown channel 'nope'" in bad.stderr and "hook" in bad.stderr


def test_notify_list_retry(dirs, webhook):
    cfg, data = dirs
    with AlertOutbox(data / "queue.sqlite3") as outbox:
        outbox.add([alert("russia-taliban", "s1", cluster="c"), alert("russia-taliban", "s2", cluster="c"),
                    alert("bounties", "s3")])
    listed = run_cli("alerts", "list", "--config", str(cfg), "--data", str(data))
    assert "notifier has not run" in listed.stderr and "+1 similar" in listed.stdout
    webhook.fail_codes = [503, 503]  # both deliveries fail once: max_attempts 1 parks them
    p = run_cli("notify", "--once", "--backfill", "--config", str(cfg), "--data", str(data))
    assert "3 alert(s) received, 2 new, 1 similar" in p.stderr and "2 parked" in p.stderr
    rows = [json.loads(line) for line in
            run_cli("alerts", "list", "--json", "--config", str(cfg), "--data", str(data)).stdout.splitlines()]
    assert {r["story_id"]: r["similar"] for r in rows} == {"s1": 1, "s3": 0}
    assert all(r["deliveries"][0]["state"] == "parked" and "503" in r["deliveries"][0]["error"] for r in rows)
    only = run_cli("alerts", "list", "--topic", "bounties", "--since", "1h", "--config", str(cfg), "--data", str(data))
    assert "Story s3" in only.stdout and "Story s1" not in only.stdout
    r = run_cli("alerts", "retry", "--channel", "hook", "--config", str(cfg), "--data", str(data))
    assert "re-queued 2 parked deliveries to hook" in r.stdout
    run_cli("notify", "--once", "--config", str(cfg), "--data", str(data))
    assert sorted(webhook.titles()) == ["Topic bounties: Story s3", "Topic russia-taliban: Story s1"]
