"""kill -9 of a real ``newswatch notify`` process in the middle of a batch: no alert is
lost, and no channel that already answered is called again."""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter

import pytest

from newswatch.alerts.outbox import AlertOutbox
from newswatch.alerts.source import NOTIFIER_CHANNEL
from newswatch.alerts.state import NotifyState

from tests.alerts.rig import alert
from tests.conftest import NEWSWATCH, REPO, cli_env, run_cli

pytestmark = pytest.mark.alerts


def test_kill_9_mid_batch_loses_nothing_and_duplicates_nothing(tmp_path, webhook):
    cfg, data = tmp_path / "config", tmp_path / "data"
    cfg.mkdir()
    (cfg / "alerts.yaml").write_text(
        f'channels:\n  hook: "{webhook.url(rto="60")}"\n'
        "subscriptions:\n  - topics: ['*']\n    channels: [hook]\n"
        "retry: {max_attempts: 5, backoff_s: 0.1}\n")
    with AlertOutbox(data / "queue.sqlite3") as outbox:
        outbox.add([alert("russia-taliban", f"s{i:02d}", title=f"Story {i:02d}") for i in range(12)])
    webhook.block_at = 5  # the 5th request is held open, never answered: the notifier dies waiting
    proc = subprocess.Popen([str(NEWSWATCH), "notify", "--backfill", "--config", str(cfg), "--data", str(data)],
                            cwd=REPO, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert webhook.blocked.wait(60), proc.stderr.read() if proc.poll() is not None else "notifier stuck"
        answered_before = webhook.titles()
        assert len(answered_before) == 4
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert proc.returncode == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
    webhook.release.set()

    with NotifyState(data / "notify.sqlite3") as state:
        counts = state.counts()
    assert counts["sent"] == 4 and counts["sending"] == 1  # the interrupted one

    run_cli("notify", "--once", "--config", str(cfg), "--data", str(data))

    answered = Counter(webhook.titles())
    assert answered == Counter({f"Topic russia-taliban: Story {i:02d}": 1 for i in range(12)})
    received = Counter(webhook.titles("received"))
    blocked_title = webhook.received[4]["title"]
    assert received[blocked_title] == 2       # never answered the first time: sent again
    for title in answered_before:             # answered before the crash: never sent again
        assert received[title] == 1
    assert sum(received.values()) == 13
    with AlertOutbox(data / "queue.sqlite3") as outbox:
        assert outbox.count_pending(NOTIFIER_CHANNEL) == 0
    with NotifyState(data / "notify.sqlite3") as state:
        assert state.counts()["sent"] == 12
