"""The embedded monitor: poll sources, run the pipeline, deliver alerts.

Three loops in one process (``newswatch run``):

* the **poller** thread polls each feed and wire folder when due and publishes
  new or changed articles to the durable local bus (wire files are moved to
  ``processed/`` only after their articles are on the bus);
* the **pipeline** is one long-running Beam pipeline (FnApiRunner) whose source
  leases messages from the bus and acks them once the index, alert outbox and
  dead-letter sinks of their bundle have committed;
* the **dispatcher** moves new alerts from the outbox to the alert log and the
  console.

Every hand-off is durable and every write idempotent, so ``kill -9`` at any
moment loses nothing and duplicates nothing on restart. Topics are reloaded
from ``topics.yaml`` when the file changes; a broken edit is rejected with the
error and the previous topics stay live.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from newswatch import backends, metrics
from newswatch.config import ConfigSet
from newswatch.live_topics import LiveTopics, TopicsWatcher
from newswatch.settings import Settings

__all__ = ["Monitor", "Poller", "TopicsWatcher", "build_sources", "LEASE_S"]

log = logging.getLogger("newswatch.monitor")

#: A leased batch is redelivered if not acked within this time by a worker
#: that hangs (a worker that died is detected at once). Long enough for a large
#: batch on a slow machine.
LEASE_S = 600.0


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


# ------------------------------------------------------------------ sources
def build_sources(settings: Settings, config: ConfigSet) -> list[Any]:
    """The feed and wire sources of ``feeds.yaml`` (enabled ones), ready to poll."""
    from connectors.base import SqliteCursorStore
    from connectors.rss import RssSource
    from connectors.wire import WireDropSource

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    cursors = SqliteCursorStore(settings.state_path)
    sources: list[Any] = []
    for spec in config.feeds.feeds:
        if spec.enabled:
            sources.append(RssSource(spec, cursors=cursors, settings=settings,
                                     default_interval=config.feeds.defaults.interval))
    for wspec in config.feeds.wire:
        if wspec.enabled:
            sources.append(WireDropSource(wspec, data_dir=settings.data_dir, settings=settings))
    return sources


@dataclass
class Poller:
    """Polls due sources and publishes their articles to the bus.

    Delivery promise: an article returned by a source is on the bus (durably)
    before the source's cursor or wire file is committed; a crash in between
    re-reads it, and the bus and sinks drop the duplicate.
    """

    sources: list[Any]
    bus: Any
    stop: threading.Event
    on_poll: Callable[[Any, Any], None] | None = None
    _due: dict[str, datetime] = field(default_factory=dict)

    def setup(self) -> None:
        for s in self.sources:
            s.setup()

    def poll_due(self, now: datetime | None = None) -> int:
        """Poll every source that is due; returns articles published."""
        now = now or now_utc()
        published = 0
        for source in self.sources:
            if self.stop.is_set():
                break
            due = self._due.get(source.id)
            if due is not None and due > now:
                continue
            published += self.poll_one(source, now)
        return published

    def poll_one(self, source: Any, now: datetime) -> int:
        try:
            result = source.poll(now)
        except Exception as exc:  # a connector bug must not stop the other feeds
            log.exception("poll of %s raised; backing off", source.id)
            metrics.FEED_POLLS.labels(source.id, "crash").inc()
            self._due[source.id] = now_utc().replace(microsecond=0) + _seconds(60)
            return 0
        n = 0
        if result.articles:
            n = self.bus.publish(result.articles)
            metrics.ARTICLES_FETCHED.labels(source.id).inc(n)
        if result.dead_letters:
            self.bus.dead_letter(result.dead_letters)
            for d in result.dead_letters:
                metrics.DEAD_LETTERS.labels(d.stage).inc()
        commit = getattr(source, "ack", None)
        if commit is not None:
            commit(result)
        metrics.FEED_POLLS.labels(source.id, result.status).inc()
        self._due[source.id] = source.next_due(now_utc())
        if self.on_poll:
            self.on_poll(source, result)
        if result.status == "error":
            log.warning("poll %s: %s (next try %s)", source.id, result.error,
                        self._due[source.id].strftime("%H:%M:%S"))
        elif result.articles or result.dead_letters:
            log.info("poll %s: %s, %d new/changed article(s), %d dead letter(s)", source.id,
                     result.status, len(result.articles), len(result.dead_letters))
        else:
            log.debug("poll %s: %s", source.id, result.status)
        return n

    def next_wakeup(self) -> float:
        """Seconds until the next source is due (at most 1 s, so stop is prompt)."""
        if not self._due:
            return 0.2
        soonest = min(self._due.values())
        return max(0.05, min(1.0, (soonest - now_utc()).total_seconds()))

    def run(self) -> None:
        while not self.stop.is_set():
            self.poll_due()
            self.stop.wait(self.next_wakeup())

    def close(self) -> None:
        for s in self.sources:
            try:
                s.close()
            except Exception:
                log.warning("closing %s failed", s.id, exc_info=True)


def _seconds(n: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=n)


# ------------------------------------------------------------------- facade
class Monitor:
    """Everything ``newswatch run`` does, startable and stoppable from code and tests.

    The poller and the alert dispatcher run in threads; the streaming Beam
    pipeline (:mod:`pipelines.live`) runs in the thread that calls :meth:`run`.
    :meth:`request_stop` (SIGINT/SIGTERM) lets the pipeline finish its current
    bundle, delivers pending alerts and returns.
    """

    def __init__(self, settings: Settings, config: ConfigSet, *, console: Any = None) -> None:
        from newswatch.alerts.dispatch import AlertDispatcher
        from newswatch.alerts.log import AlertLog

        self.settings, self.config = settings, config
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.stop = threading.Event()
        self.bus = backends.open_bus(settings)
        self.outbox = backends.open_outbox(settings)
        self.alert_log = AlertLog(backends.data_path(settings, config.alerts.log))
        self.notifier = self._open_notifier(console)
        # when the notifier prints to the console itself, the dispatcher only writes the log
        console_too = config.alerts.console and not (self.notifier and config.alerts.uses_channel("console"))
        self.dispatcher = AlertDispatcher(self.outbox, self.alert_log, console=console_too,
                                          console_stream=console)
        topics_path = config.dir / "topics.yaml"
        self.topics = LiveTopics.watcher(topics_path, config.topics.topics)
        self.poller = Poller(build_sources(settings, config), self.bus, self.stop)
        self._threads: list[threading.Thread] = []

    def _open_notifier(self, console: Any) -> Any:
        """The channel notifier of alerts.yaml's subscriptions, run inside the monitor;
        None without subscriptions or when a separate ``newswatch notify`` holds its lock."""
        if not self.config.alerts.subscriptions:
            return None
        from newswatch.alerts.notifier import Notifier
        from newswatch.alerts.state import NotifierBusy

        try:
            return Notifier.from_settings(self.settings, self.config.alerts, config_dir=self.config.dir,
                                          console_stream=console)
        except NotifierBusy as exc:
            log.info("channel delivery left to the running notifier: %s", exc)
            return None

    def _loop(self, name: str, body: Callable[[], Any], idle_s: float) -> None:
        while not self.stop.is_set():
            try:
                if not body():
                    self.stop.wait(idle_s)
            except Exception:
                log.exception("%s loop failed; continuing", name)
                self.stop.wait(1.0)

    def drained(self) -> bool:
        """Nothing pending, delayed or in flight on the bus."""
        st = self.bus.stats()
        return not st.get("pending", 0) and not st.get("leased", 0) and not st.get("delayed", 0)

    def request_stop(self) -> None:
        """Graceful stop: threads end, the pipeline finishes its bundle and returns."""
        from pipelines.live import stop_live

        self.stop.set()
        stop_live(self.settings)

    def start(self, *, poll_thread: bool = True, until: Callable[[], bool] | None = None) -> None:
        """Start the poller, dispatcher and stop-condition threads."""
        from newswatch.nlp import load_model
        from newswatch.process import compiled_topics
        from pipelines.live import reset_stop

        load_model(self.settings.spacy_model)  # fail fast with the install hint
        compiled_topics(self.topics.current())
        metrics.TOPICS_LOADED.set(len(self.topics.current()))
        released = self.bus.recover()
        if released:
            log.info("recovered %d message(s) leased by a process that is gone; they are processed again", released)
        reset_stop(self.settings)
        self.poller.setup()

        def watch_until() -> bool:
            metrics.QUEUE_PENDING.set(self.bus.stats().get("pending", 0))
            if until is not None and until():
                self.request_stop()
            return False

        specs: list[tuple[str, Callable[[], None]]] = [
            ("dispatcher", lambda: self._loop("dispatcher", self.dispatcher.run_once, 0.2)),
            ("until", lambda: self._loop("until", watch_until, 0.5)),
        ]
        if self.notifier is not None:
            notifier = self.notifier
            specs.append(("notifier", lambda: self._loop("notifier", lambda: notifier.run_once(0.2).busy, 0.2)))
        if poll_thread:
            specs.insert(0, ("poller", self.poller.run))
        for name, target in specs:
            t = threading.Thread(target=target, name=f"newswatch-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        log.info("monitor started: %d source(s), %d topic(s), data in %s (pid %d)",
                 len(self.poller.sources), len(self.topics.current()), self.settings.data_dir, os.getpid())

    def run(self, *, until: Callable[[], bool] | None = None, once: bool = False) -> None:
        """Run until stopped (:meth:`request_stop`, SIGINT/SIGTERM) or ``until()`` is true.

        With ``once``, poll every source once, process everything queued, and return.
        """
        from pipelines.bus_source import take_inflight
        from pipelines.live import run_live

        if once:
            self.start(poll_thread=False, until=self.drained)
            self.poller.poll_due()
        else:
            self.start(until=until)
        try:
            while not self.stop.is_set():
                try:
                    run_live(self.settings, topics=self.topics.current(), entities=self.config.entities)
                except Exception:
                    if self.stop.is_set():
                        break
                    inflight = take_inflight(self.settings)
                    log.exception("pipeline failed; %d in-flight message(s) will be retried; restarting in 2 s",
                                  len(inflight))
                    if inflight:
                        self.bus.nack(inflight, 2.0)
                    self.stop.wait(2.0)
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Stop the loops, deliver what is in the outbox, close handles."""
        self.request_stop()
        for t in self._threads:
            t.join(timeout=10)
        self._threads.clear()
        try:
            self.dispatcher.run_once()
        except Exception:
            log.warning("final alert dispatch failed; alerts stay in the outbox", exc_info=True)
        if self.notifier is not None:
            try:
                self.notifier.drain()
            except Exception:
                log.warning("final channel delivery failed; alerts stay pending for the next start", exc_info=True)
            self.notifier.close()
        self.poller.close()
        log.info("monitor stopped")
