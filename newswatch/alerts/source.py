"""Where the notifier reads alert events from: the :class:`AlertSource` protocol.

Embedded deployment: :class:`OutboxAlertSource` over the local durable outbox
(the pipeline's ``alert_outbox`` table, under its own channel name).
Scaled-out deployment: a source over the ``news.alerts`` Kafka topic,
``newswatch.bus.kafka_alerts:KafkaAlertSource(settings)``, selected when the
bus is ``kafka://…`` and imported only then.

Delivery promise every implementation keeps (at-least-once):

* :meth:`AlertSource.poll` returns alerts not yet acknowledged; within one
  source instance an alert is returned once (the notifier tracks it until it
  acknowledges it), after a restart every unacknowledged alert comes again.
* :meth:`AlertSource.ack` is durable when it returns. The notifier acks
  alerts **out of order** (an alert waiting for a retry or a digest stays
  unacknowledged while later ones are acked); a log-based source such as
  Kafka commits an offset only up to its lowest unacknowledged alert and
  relies on the notifier's dedup (by alert id) for what it re-reads.
"""

from __future__ import annotations

import importlib
import threading
import time
from typing import Any, Protocol, Sequence, runtime_checkable

from newswatch.errors import ConfigError
from newswatch.records import Alert

#: The outbox channel under which the notifier reads (and marks) alerts.
NOTIFIER_CHANNEL = "notifier"
KAFKA_SOURCE = "newswatch.bus.kafka_alerts:KafkaAlertSource"


@runtime_checkable
class AlertSource(Protocol):
    """A stream of alert events with acknowledgement (see the module docstring)."""

    def poll(self, max_n: int, timeout_s: float) -> list[Alert]:
        """Up to ``max_n`` alerts not returned before by this instance; waits up
        to ``timeout_s`` for the first one, returns ``[]`` on timeout."""
        ...

    def ack(self, alerts: Sequence[Alert]) -> None:
        """These alerts are done (delivered or parked); never return them again."""
        ...

    def close(self) -> None: ...


class OutboxAlertSource:
    """Alerts from the local :class:`~newswatch.alerts.outbox.AlertOutbox`.

    Reads what is pending for ``channel`` (default ``"notifier"``) past an
    in-memory cursor, and acks by marking them delivered on that channel. The
    first time the channel is used it starts *from now* unless ``backfill``:
    a notifier started on an old data directory does not re-send its history.
    """

    def __init__(self, outbox: Any, *, channel: str = NOTIFIER_CHANNEL, backfill: bool = False,
                 poll_interval_s: float = 0.05) -> None:
        self.outbox = outbox
        self.channel = channel
        self.poll_interval_s = poll_interval_s
        self._cursor = 0
        self._lock = threading.Lock()
        outbox.register_channel(channel, from_now=not backfill)

    def poll(self, max_n: int, timeout_s: float) -> list[Alert]:
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            with self._lock:
                rows = self.outbox.pending_after(self._cursor, max_n, channel=self.channel)
                if rows:
                    self._cursor = rows[-1][0]
                    return [a for _seq, a in rows]
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            time.sleep(min(self.poll_interval_s, left))

    def ack(self, alerts: Sequence[Alert]) -> None:
        if alerts:
            self.outbox.mark_delivered([a.id for a in alerts], self.channel)

    def rewind(self) -> None:
        """Return every unacknowledged alert again on the next polls (as after a restart)."""
        with self._lock:
            self._cursor = 0

    def close(self) -> None:
        """The outbox belongs to the caller (``backends.open_outbox``); nothing to release."""


def open_alert_source(settings: Any, *, bus: str | None = None, backfill: bool = False) -> AlertSource:
    """The alert source for ``bus`` (default ``settings.bus``): ``local`` → the
    outbox under the data directory; ``kafka://…`` → ``KafkaAlertSource(settings)``."""
    bus = bus or settings.bus
    if bus == "local":
        from newswatch import backends

        return OutboxAlertSource(backends.open_outbox(settings), backfill=backfill)
    if bus.startswith("kafka://"):
        module_name, _, attr = KAFKA_SOURCE.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                raise ConfigError(
                    f"the Kafka alert source ({KAFKA_SOURCE}) is not part of this installation",
                    key="--bus / NEWSWATCH_BUS",
                    fix="use --bus local (the embedded outbox), or install the Kafka bus "
                        "(newswatch/bus/kafka_alerts.py).") from None
            raise
        if settings.bus != bus:
            settings = settings.with_overrides(bus=bus)
        return getattr(module, attr)(settings)
    raise ConfigError(f"unknown bus {bus!r}", key="--bus / NEWSWATCH_BUS",
                      fix="use 'local' or 'kafka://HOST:PORT'.")
