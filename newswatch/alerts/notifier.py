"""The notifier: alert events → (dedup, throttle, digest) → channels, durably.

One :meth:`Notifier.run_once` round:

1. **poll** the :class:`~newswatch.alerts.source.AlertSource` for new events;
2. **ingest** them in one transaction: one notice per (topic, cluster) —
   later copies of the cluster only raise its similar-story counter — routed
   by the subscriptions to immediate deliveries or digest items, with the
   per-topic throttle sending overflow to the next digest;
3. **roll** digests whose period has ended into digest deliveries;
4. **deliver** what is due: ``sending`` committed, the channel called,
   ``sent`` committed (or a backoff, or parked after ``retry.max_attempts``);
5. **ack** the events whose deliveries are all sent or parked.

Delivery promise: at-least-once per (alert, channel), never lost — an event
is acked only after its deliveries finished, and delivery state is committed
around every channel call. A crash (kill -9) re-sends only a delivery that was
``sending``; a channel that already answered is not called again, except in
the instant between its answer and our ``sent`` commit (documented window).
Rendering happens at send time, so a message carries the similar-story count
of that moment ("+11 similar stories" when the copies arrived together).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, TextIO

from newswatch.alerts.channels import Channel, DeliveryError, Message, open_channels
from newswatch.alerts.render import Renderer, alert_view
from newswatch.alerts.settings import AlertsFile
from newswatch.alerts.source import AlertSource
from newswatch.alerts.state import Delivery, NotifyState
from newswatch.errors import ConfigError
from newswatch.records import Alert

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 3600.0


@dataclass
class RoundStats:
    """What one :meth:`Notifier.run_once` did."""

    received: int = 0
    new_notices: int = 0
    similar: int = 0
    throttled: int = 0
    digests: int = 0
    sent: int = 0
    retried: int = 0
    parked: int = 0
    acked: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        return bool(self.received or self.sent or self.retried or self.parked or self.digests or self.acked)


class Notifier:
    """Deliver alert events from ``source`` to the channels of ``config``.

    ``channels``: name → :class:`Channel` (default: opened from the config).
    ``clock``: POSIX seconds (tests pass a fake one to drive throttle, digest
    and backoff without sleeping). Not thread-safe: one thread drives it.
    """

    def __init__(self, source: AlertSource, config: AlertsFile, state: NotifyState, *,
                 channels: Mapping[str, Channel] | None = None, renderer: Renderer | None = None,
                 clock: Callable[[], float] = time.time, batch_size: int = 200,
                 max_inflight: int = 20_000) -> None:
        self.source = source
        self.config = config
        self.state = state
        self.channels = dict(channels) if channels is not None else open_channels(config.channel_urls())
        self.renderer = renderer or Renderer()
        self.clock = clock
        self.batch_size = batch_size
        self.max_inflight = max_inflight
        self._inflight: dict[str, Alert] = {}
        self._next_prune = 0.0

    @classmethod
    def from_settings(cls, settings: Any, config: AlertsFile, *, config_dir: Path | None = None,
                      bus: str | None = None, backfill: bool = False, console_stream: TextIO | None = None,
                      **kw: Any) -> "Notifier":
        """The notifier of a data directory: its alert source (``bus``, default
        ``settings.bus``), channels, templates and state (locked: one notifier
        per state file). Checks the templates by rendering a sample."""
        from newswatch.alerts.source import open_alert_source

        data_dir = Path(settings.data_dir)
        state_path = config.state if config.state.is_absolute() else data_dir / config.state
        templates = config.templates
        if templates is not None and not templates.is_absolute():
            templates = Path(config_dir or settings.config_dir) / templates
        renderer = Renderer(templates)
        renderer.check()
        channels = open_channels(config.channel_urls(), data_dir=data_dir, console_stream=console_stream)
        state = NotifyState(state_path, exclusive=True)
        try:
            source = open_alert_source(settings, bus=bus, backfill=backfill)
        except BaseException:
            state.close()
            raise
        return cls(source, config, state, channels=channels, renderer=renderer, **kw)

    # ---------------------------------------------------------------- round
    def run_once(self, timeout_s: float = 0.0) -> RoundStats:
        """One round (see the module docstring); waits up to ``timeout_s`` for events."""
        stats = RoundStats()
        if len(self._inflight) < self.max_inflight:
            alerts = self.source.poll(self.batch_size, timeout_s)
            if alerts:
                ing = self.state.ingest(alerts, self.config, self.clock())
                for a in alerts:
                    self._inflight[a.id] = a
                stats.received, stats.new_notices = ing.received, ing.new_notices
                stats.similar, stats.throttled = ing.similar, ing.throttled
        stats.digests = self.state.roll_digests(self.config.subscriptions, self.clock())
        self._deliver_due(stats)
        self._ack(stats)
        now = self.clock()
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY_S
            gone = self.state.prune(now - self.config.retention_days * 86400)
            if gone:
                log.info("notifier state: forgot %d finished notice(s) older than %g day(s)",
                         gone, self.config.retention_days)
        return stats

    def drain(self, *, max_rounds: int = 10_000) -> RoundStats:
        """Rounds until nothing new arrives and nothing is due now (``notify --once``)."""
        total = RoundStats()
        for _ in range(max_rounds):
            st = self.run_once(0.0)
            for f in ("received", "new_notices", "similar", "throttled", "digests", "sent", "retried",
                      "parked", "acked"):
                setattr(total, f, getattr(total, f) + getattr(st, f))
            total.errors.extend(st.errors)
            if not st.received and not st.sent and not st.digests and not st.parked:
                break
        return total

    def run(self, stop: threading.Event, interval_s: float = 0.5) -> None:
        """Rounds until ``stop`` is set. Waits for events in ``poll`` (so a new
        alert goes out within one poll interval), at most until the next retry is due."""
        while not stop.is_set():
            wait = interval_s
            nxt = self.state.next_due()
            if nxt is not None:
                wait = max(0.0, min(interval_s, nxt - self.clock()))
            try:
                st = self.run_once(wait)
            except Exception:  # the state and the source keep everything; try again
                log.exception("notifier round failed; retrying in %.1fs", interval_s)
                stop.wait(interval_s)
                continue
            if not st.busy and wait == 0.0:
                stop.wait(min(interval_s, 0.05))

    # ------------------------------------------------------------- delivery
    def _deliver_due(self, stats: RoundStats) -> None:
        down: dict[str, str] = {}  # channel → reason, for this round
        while True:
            batch = self.state.due(self.clock(), limit=100)
            batch = [d for d in batch if d.channel not in down]
            if not batch:
                return
            for d in batch:
                if d.channel in down:
                    continue
                self._deliver(d, stats, down)

    def _deliver(self, d: Delivery, stats: RoundStats, down: dict[str, str]) -> None:
        policy = self.config.retry
        channel = self.channels.get(d.channel)
        if channel is None:
            reason = f"channel {d.channel!r} is no longer defined in alerts.yaml"
            self.state.mark_failed(d.id, reason, self.clock(), policy, park=True)
            stats.parked += 1
            stats.errors.append(reason)
            return
        try:
            message = self._message(d)
        except ConfigError as exc:  # a template broke after start-up: keep the reason, do not spin
            self.state.mark_failed(d.id, str(exc), self.clock(), policy, park=True)
            stats.parked += 1
            stats.errors.append(str(exc))
            return
        self.state.mark_sending(d.id)
        try:
            channel.send(message)
        except DeliveryError as exc:
            reason = str(exc)
        except Exception as exc:  # a channel bug must not stop other deliveries
            log.exception("channel %s raised", d.channel)
            reason = f"{type(exc).__name__}: {exc}"
        else:
            self.state.mark_sent(d.id, self.clock())
            stats.sent += 1
            return
        new_state = self.state.mark_failed(d.id, reason, self.clock(), policy)
        down[d.channel] = reason
        stats.errors.append(f"{d.channel}: {reason}")
        if new_state == "parked":
            stats.parked += 1
            log.error("delivery %d to %s parked after %d attempts: %s", d.id, d.channel, d.attempts + 1, reason)
        else:
            stats.retried += 1
            log.warning("delivery %d to %s failed (attempt %d), will retry: %s",
                        d.id, d.channel, d.attempts + 1, reason)

    def _message(self, d: Delivery) -> Message:
        if d.notice_id is not None:
            alert, similar = self.state.notice(d.notice_id)
            return self.renderer.alert(alert_view(alert, similar=similar, severity=d.severity),
                                       subscription=d.subscription)
        end, items = self.state.digest(d.digest_id)
        views = [alert_view(a, similar=s, severity=d.severity, reason=r) for a, s, r in items]
        return self.renderer.digest(views, subscription=d.subscription,
                                    period_end=datetime.fromtimestamp(end, timezone.utc), severity=d.severity)

    # ------------------------------------------------------------------ ack
    def _ack(self, stats: RoundStats) -> None:
        if not self._inflight:
            return
        done = self.state.finished(list(self._inflight))
        if not done:
            return
        alerts = [self._inflight[i] for i in done]
        self.source.ack(alerts)
        for i in done:
            self._inflight.pop(i, None)
        stats.acked += len(alerts)

    @property
    def inflight(self) -> int:
        """Events received and not yet acknowledged."""
        return len(self._inflight)

    def close(self) -> None:
        for ch in self.channels.values():
            try:
                ch.close()
            except Exception:  # closing one channel must not keep the state open
                log.warning("closing channel %s failed", getattr(ch, "name", "?"), exc_info=True)
        self.source.close()
        self.state.close()
