"""The embedded monitor: poll sources, run the pipeline, deliver alerts.

Three loops in one process (``newswatch run``):

* the **poller** thread polls each feed and wire folder when due and publishes
  new or changed articles to the durable local bus (wire files are moved to
  ``processed/`` only after their articles are on the bus);
* the **pipeline** loop leases micro-batches from the bus, runs the Beam
  pipeline over them (index, alert outbox, dead letters) and acks them after;
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
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from newswatch import backends, metrics
from newswatch.config import ConfigSet, TopicsFile, TopicSpec, load_model
from newswatch.errors import ConfigError, NewswatchError
from newswatch.settings import Settings

log = logging.getLogger("newswatch.monitor")

#: A leased batch is redelivered if not acked within this time (a worker that
#: died). Long enough for a large batch on a slow machine.
LEASE_S = 600.0


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


# ------------------------------------------------------------------- topics
class TopicsWatcher:
    """The live topic set, reloaded when topics.yaml changes on disk.

    ``current()`` is cheap; ``check()`` stats the file and, on change, loads and
    compiles the new topics. A broken file is reported and ignored: the
    previous topics stay live until the file is fixed.
    """

    def __init__(self, path: Path, initial: TopicsFile) -> None:
        self.path = path
        self._topics: tuple[TopicSpec, ...] = tuple(initial.topics)
        self._stamp = self._stat()
        self._lock = threading.Lock()
        self.last_error: str | None = None

    def _stat(self) -> tuple[float, int] | None:
        try:
            st = self.path.stat()
            return (st.st_mtime, st.st_size)
        except OSError:
            return None

    def current(self) -> tuple[TopicSpec, ...]:
        with self._lock:
            return self._topics

    def check(self) -> bool:
        """Reload if the file changed; True when a new topic set went live."""
        stamp = self._stat()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            topics = load_model(self.path, TopicsFile, missing_ok=False)
            from newswatch.process import compiled_topics

            compiled_topics(topics.topics)  # raises on a bad query
        except (ConfigError, NewswatchError) as exc:
            self.last_error = str(exc)
            log.error("topics not reloaded, keeping the previous %d topic(s): %s", len(self.current()), exc)
            return False
        with self._lock:
            self._topics = tuple(topics.topics)
        self.last_error = None
        metrics.TOPICS_LOADED.set(len(topics.topics))
        log.info("topics reloaded from %s: %d topic(s) live", self.path, len(topics.topics))
        return True


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


# ----------------------------------------------------------------- pipeline
@dataclass
class PipelineLoop:
    """Leases micro-batches from the local bus, runs the pipeline, acks.

    Delivery promise: a message is acked only after the pipeline run over it has
    returned, i.e. its story is committed in the index, its alerts are in the
    outbox and its dead letters stored.
    """

    settings: Settings
    config: ConfigSet
    bus: Any
    topics: TopicsWatcher
    stop: threading.Event
    on_batch: Callable[[Any], None] | None = None

    def run_once(self, wait_s: float = 1.0) -> int:
        from pipelines.run import run_batch

        if not self.bus.wait(wait_s):
            return 0
        if self.settings.batch_wait_s:
            # let a burst from one poll gather into one batch
            self.stop.wait(min(self.settings.batch_wait_s, 2.0))
        msgs = self.bus.lease(self.settings.batch_max, LEASE_S)
        if not msgs:
            return 0
        batch = [(m.offset, m.key, m.payload) for m in msgs]
        try:
            stats = run_batch(batch, self.settings, topics=self.topics.current(),
                              entities=self.config.entities)
        except Exception:
            log.exception("pipeline run over %d message(s) failed; they will be retried", len(msgs))
            self.bus.nack([m.offset for m in msgs], 5.0)
            return 0
        self.bus.ack([m.offset for m in msgs])
        metrics.BATCH_SECONDS.observe(stats.seconds)
        metrics.BATCH_SIZE.observe(stats.messages)
        log.info("pipeline: %d message(s) → %d story(ies) indexed, %d new alert(s), %d dead letter(s) in %.2fs",
                 stats.messages, stats.stories, stats.alerts_new, stats.dead_letters, stats.seconds)
        if self.on_batch:
            self.on_batch(stats)
        return len(msgs)


# ------------------------------------------------------------------- facade
class Monitor:
    """Everything ``newswatch run`` does, startable and stoppable from code and tests."""

    def __init__(self, settings: Settings, config: ConfigSet, *, console: Any = None) -> None:
        from newswatch.alerts.dispatch import AlertDispatcher
        from newswatch.alerts.log import AlertLog

        self.settings, self.config = settings, config
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.stop = threading.Event()
        self.bus = backends.open_bus(settings)
        self.outbox = backends.open_outbox(settings)
        self.alert_log = AlertLog(backends.data_path(settings, config.alerts.log))
        self.dispatcher = AlertDispatcher(self.outbox, self.alert_log, console=config.alerts.console,
                                          console_stream=console)
        self.topics = TopicsWatcher(config.dir / "topics.yaml", config.topics)
        self.poller = Poller(build_sources(settings, config), self.bus, self.stop)
        self.pipeline = PipelineLoop(settings, config, self.bus, self.topics, self.stop)
        self._threads: list[threading.Thread] = []

    def _loop(self, name: str, body: Callable[[], Any], idle_s: float) -> None:
        while not self.stop.is_set():
            try:
                if not body():
                    self.stop.wait(idle_s)
            except Exception:
                log.exception("%s loop failed; continuing", name)
                self.stop.wait(1.0)

    def start(self, *, poll_thread: bool = True) -> None:
        """Start poller, topic watcher and dispatcher threads (the pipeline runs in :meth:`run`)."""
        from newswatch.nlp import load_model
        from newswatch.process import compiled_topics

        load_model(self.settings.spacy_model)  # fail fast with the install hint
        compiled_topics(self.topics.current())
        metrics.TOPICS_LOADED.set(len(self.topics.current()))
        if hasattr(self.bus, "recover"):
            self.bus.recover()
        self.poller.setup()
        last_topic_check = [0.0]

        def topics_tick() -> bool:
            if time.monotonic() - last_topic_check[0] >= self.settings.topics_reload_s:
                last_topic_check[0] = time.monotonic()
                self.topics.check()
            return False

        specs = [("dispatcher", lambda: self._loop("dispatcher", self.dispatcher.run_once, 0.2)),
                 ("topics", lambda: self._loop("topics", topics_tick, 0.5))]
        if poll_thread:
            specs.insert(0, ("poller", self.poller.run))
        for name, target in specs:
            t = threading.Thread(target=target, name=f"newswatch-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        log.info("monitor started: %d source(s), %d topic(s), data in %s (pid %d)",
                 len(self.poller.sources), len(self.topics.current()), self.settings.data_dir, os.getpid())

    def drained(self) -> bool:
        """Nothing pending or leased on the bus."""
        st = self.bus.stats()
        return not st.get("pending", 0) and not st.get("leased", 0) and not st.get("delayed", 0)

    def run(self, *, until: Callable[[], bool] | None = None, once: bool = False) -> None:
        """Run the pipeline loop in this thread until stopped (Ctrl-C) or ``until()``.

        With ``once``, poll every source once, process everything queued, and return.
        """
        self.start(poll_thread=not once)
        if once:
            self.poller.poll_due()
            until = self.drained
        try:
            while not self.stop.is_set():
                self.pipeline.run_once(wait_s=0.5)
                metrics.QUEUE_PENDING.set(self.bus.stats().get("pending", 0))
                if until is not None and until():
                    break
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Stop the loops, deliver what is in the outbox, close handles."""
        self.stop.set()
        for t in self._threads:
            t.join(timeout=10)
        try:
            self.dispatcher.run_once()
        except Exception:
            log.warning("final alert dispatch failed; alerts stay in the outbox", exc_info=True)
        self.poller.close()
        log.info("monitor stopped")
