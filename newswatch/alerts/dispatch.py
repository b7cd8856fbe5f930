"""Move alerts from the durable outbox into the alert log (and the console).

Delivery promise: at-least-once out of the outbox (alerts are marked delivered
on the ``"log"`` channel only after the log fsync'd them), exactly-once into
the log (it skips ids it already holds). A crash between the log write and
``mark_delivered`` therefore re-reads the same alerts next time and writes
nothing twice. The console shows an alert when it is first written to the log,
so a restart does not re-print it either.

The notifier (Apprise channels) reads the same outbox under its own channel
name and keeps its own at-least-once promise; the dispatcher does not block on
slow channels.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import TextIO

from newswatch.alerts.log import AlertLog, format_alert
from newswatch.alerts.outbox import LOG_CHANNEL, AlertOutbox

logger = logging.getLogger(__name__)


class AlertDispatcher:
    """Outbox → alert log (+ console). ``console_stream`` defaults to stdout."""

    def __init__(self, outbox: AlertOutbox, log: AlertLog, console: bool = True,
                 console_stream: TextIO | None = None, *, channel: str = LOG_CHANNEL,
                 batch_size: int = 200) -> None:
        self.outbox = outbox
        self.log = log
        self.console = console
        self.console_stream = console_stream
        self.channel = channel
        self.batch_size = batch_size

    def run_once(self) -> int:
        """Drain what is pending now; return how many alerts were newly logged."""
        written = 0
        while True:
            pending = self.outbox.pending(self.batch_size, channel=self.channel)
            if not pending:
                return written
            fresh = self.log.append(pending)  # fsync'd before we mark anything
            written += len(fresh)
            if self.console and fresh:
                self._print(fresh)
            self.outbox.mark_delivered([a.id for a in pending], self.channel)
            if len(pending) < self.batch_size:
                return written

    def _print(self, alerts: list) -> None:
        stream = self.console_stream or sys.stdout
        try:
            for alert in alerts:
                stream.write(format_alert(alert) + "\n")
            stream.flush()
        except (OSError, ValueError) as exc:  # closed/broken console must not stop logging
            logger.warning("could not print alerts to the console: %s", exc)

    def run(self, stop: threading.Event, interval_s: float = 0.5) -> None:
        """Call :meth:`run_once` every ``interval_s`` until ``stop`` is set (then once more)."""
        while True:
            try:
                self.run_once()
            except Exception:  # keep the loop alive; the outbox keeps the alerts
                logger.exception("alert dispatch failed; retrying in %.1fs", interval_s)
            if stop.wait(interval_s):
                break
        self.run_once()
