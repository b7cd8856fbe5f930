"""A notifier wired to real parts (outbox, state, channels) with a fake clock, for tests."""

from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path

from newswatch.alerts.channels import open_channels
from newswatch.alerts.notifier import Notifier
from newswatch.alerts.outbox import AlertOutbox
from newswatch.alerts.settings import AlertsFile
from newswatch.alerts.source import NOTIFIER_CHANNEL, OutboxAlertSource
from newswatch.alerts.state import NotifyState
from newswatch.config import parse_model
from newswatch.ids import alert_id
from newswatch.records import Alert, MatchedTerm


class Clock:
    def __init__(self, start: datetime) -> None:
        self.t = start.timestamp()

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def set(self, when: datetime) -> None:
        self.t = when.timestamp()


def alert(topic: str, story: str, cluster: str | None = None, **kw) -> Alert:
    kw.setdefault("why", (MatchedTerm(term="russia", field="gpe"), MatchedTerm(term="taliban", field="org"),
                          MatchedTerm(term="bounties", field="text")))
    return Alert(id=alert_id(topic, story), topic_id=topic, topic_name=kw.pop("topic_name", f"Topic {topic}"),
                 story_id=story, cluster_id=cluster, title=kw.pop("title", f"Story {story}"),
                 url=kw.pop("url", f"https://news.example/{story}"), source_id=kw.pop("source_id", "meridian-wire"),
                 published=kw.pop("published", datetime(2020, 7, 2, 14, 3, tzinfo=timezone.utc)), **kw)


class Rig:
    """Outbox → OutboxAlertSource → Notifier(state, channels from YAML) under ``root``."""

    def __init__(self, root: Path, alerts_yaml: str, *, start: datetime | None = None) -> None:
        self.root = root
        self.clock = Clock(start or datetime(2026, 3, 2, 10, 15, tzinfo=timezone.utc))
        self.config: AlertsFile = parse_model(alerts_yaml, AlertsFile, path="alerts.yaml")
        self.outbox = AlertOutbox(root / "queue.sqlite3")
        self.source = OutboxAlertSource(self.outbox, backfill=True, poll_interval_s=0.01)
        self.console = io.StringIO()
        self.state = NotifyState(root / "notify.sqlite3", exclusive=True)
        self.notifier = Notifier(self.source, self.config, self.state, clock=self.clock,
                                 channels=open_channels(self.config.channel_urls(), data_dir=root,
                                                        console_stream=self.console))

    def fire(self, *alerts: Alert) -> None:
        self.outbox.add(list(alerts))

    def pending(self) -> int:
        """Alert events not yet acknowledged by the notifier."""
        return self.outbox.count_pending(NOTIFIER_CHANNEL)

    def close(self) -> None:
        self.notifier.close()
        self.outbox.close()
