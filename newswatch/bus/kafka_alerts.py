"""The notifier's alert source on Kafka: :class:`KafkaAlertSource` over ``news.alerts``.

Pipeline workers produce one JSON :class:`~newswatch.records.Alert` per
(topic, story) to the alerts topic (key = alert id); the notifier reads them
in its own consumer group (``KafkaSettings.notifier_group``) through this
class, which implements :class:`newswatch.alerts.source.AlertSource`.

Delivery promise (at-least-once, as the protocol asks):

* :meth:`KafkaAlertSource.poll` returns each record once per instance; after
  a restart (or when a partition moves to another notifier) every record
  above the partition's committed offset comes again.
* :meth:`KafkaAlertSource.ack` accepts alerts in any order and commits, per
  partition, the offset of the lowest record not yet acknowledged (a
  synchronous commit: durable when it returns). Records of one alert id seen
  twice (a redelivered story) are acknowledged together. The notifier dedups
  by alert id what it reads again.
* A record that is not a valid Alert is produced to the dead-letter topic
  (reason + original payload) and counts as acknowledged: never a crash, never
  a silent drop.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Sequence

from newswatch.bus.kafka import KafkaBus, KafkaSettings, consumer_config, ensure_topics
from newswatch.records import Alert, DeadLetter

log = logging.getLogger("newswatch.kafka.alerts")


class KafkaAlertSource:
    """Alerts from the alerts topic, as consumer group ``notifier_group`` (see module docstring).

    ``settings``: the process Settings (``bus`` = ``kafka://…``); ``kafka``:
    :class:`KafkaSettings` (from ``NEWSWATCH_KAFKA_*`` when omitted).
    """

    def __init__(self, settings: Any, *, kafka: KafkaSettings | None = None) -> None:
        from kafka import ConsumerRebalanceListener, KafkaConsumer

        self.bus_url = settings if isinstance(settings, str) else settings.bus
        self.kafka = kafka or KafkaSettings()
        ensure_topics(self.bus_url, self.kafka)
        self._lock = threading.RLock()  # the bookkeeping below (also taken by the rebalance listener)
        self._io = threading.Lock()  # consumer calls from this side (never held by the listener)
        #: (topic, partition) → {offset: alert id or None once done}
        self._open: dict[tuple[str, int], dict[int, str | None]] = {}
        #: (topic, partition) → next offset after the highest record returned
        self._next: dict[tuple[str, int], int] = {}
        self._by_id: dict[str, list[tuple[tuple[str, int], int]]] = {}
        self._dead_bus: KafkaBus | None = None
        source = self

        class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
            def on_partitions_revoked(self, revoked: Any) -> None:
                # Runs on kafka-python's network thread: no commit here (it would wait on
                # that very thread). Acked-but-uncommitted alerts of revoked partitions
                # come again at the new owner, which dedups by alert id.
                with source._lock:
                    for tp in revoked:
                        key = (tp.topic, tp.partition)
                        source._open.pop(key, None)
                        source._next.pop(key, None)
                    source._by_id = {k: [x for x in v if x[0] in source._open]
                                     for k, v in source._by_id.items()}

            def on_partitions_assigned(self, assigned: Any) -> None:
                log.info("notifier assigned partitions: %s", ", ".join(f"{tp.topic}-{tp.partition}"
                                                                     for tp in sorted(assigned)) or "none")

        conf = consumer_config(self.bus_url, self.kafka, group=self.kafka.notifier_group, role="notifier")
        self.consumer = KafkaConsumer(**conf)
        self.consumer.subscribe([self.kafka.alerts_topic], listener=_Listener())

    # ------------------------------------------------------------- reading
    def poll(self, max_n: int, timeout_s: float) -> list[Alert]:
        """Up to ``max_n`` alerts not returned before; waits up to ``timeout_s`` for the first."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            left_ms = max(0, int((deadline - time.monotonic()) * 1000))
            with self._io:
                got = self.consumer.poll(timeout_ms=min(left_ms, 1000), max_records=max_n)
            alerts, dead = self._take([r for batch in got.values() for r in batch])
            if dead:
                self._dead_letter(dead)
            if alerts or time.monotonic() >= deadline:
                return alerts

    def _take(self, records: list[Any]) -> tuple[list[Alert], list[tuple[Any, DeadLetter]]]:
        alerts: list[Alert] = []
        dead: list[tuple[Any, DeadLetter]] = []
        with self._lock:
            for r in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
                key = (r.topic, r.partition)
                self._next[key] = max(self._next.get(key, 0), r.offset + 1)
                try:
                    alert = Alert.from_json(r.value or b"")
                except ValueError as exc:
                    dead.append((r, DeadLetter.of("alert-source", f"not an Alert on {r.topic}: {exc}",
                                                  r.value or b"", source=f"{r.topic}-{r.partition}@{r.offset}")))
                    self._open.setdefault(key, {})[r.offset] = None
                    continue
                self._open.setdefault(key, {})[r.offset] = alert.id
                self._by_id.setdefault(alert.id, []).append((key, r.offset))
                alerts.append(alert)
        return alerts, dead

    def _dead_letter(self, dead: list[tuple[Any, DeadLetter]]) -> None:
        if self._dead_bus is None:
            self._dead_bus = KafkaBus(bus=self.bus_url, kafka=self.kafka, role="notifier", create_topics=False)
        self._dead_bus.dead_letter([d for _, d in dead])
        log.warning("%d record(s) on %s were not alerts: sent to %s", len(dead), self.kafka.alerts_topic,
                    self.kafka.dead_letter_topic)
        self._commit_done()

    # ------------------------------------------------------------- acking
    def ack(self, alerts: Sequence[Alert]) -> None:
        """Mark ``alerts`` done (any order) and commit each partition up to its lowest open record."""
        with self._lock:
            for a in alerts:
                for key, offset in self._by_id.pop(a.id, []):
                    part = self._open.get(key)
                    if part is not None and offset in part:
                        part[offset] = None
        self._commit_done()

    def _commit_targets(self) -> dict[tuple[str, int], int]:
        targets: dict[tuple[str, int], int] = {}
        with self._lock:
            for key, part in self._open.items():
                open_offsets = [o for o, aid in part.items() if aid is not None]
                target = min(open_offsets) if open_offsets else self._next.get(key, 0)
                for o in [o for o in part if o < target]:
                    del part[o]
                targets[key] = target
        return targets

    def _commit_done(self) -> None:
        from kafka import OffsetAndMetadata, TopicPartition

        targets = {TopicPartition(t, p): OffsetAndMetadata(o, "", -1)
                   for (t, p), o in self._commit_targets().items() if o > 0}
        if targets:
            with self._io:
                self.consumer.commit(targets)

    def pending(self) -> int:
        """Alerts returned by :meth:`poll` and not acknowledged yet."""
        with self._lock:
            return sum(1 for part in self._open.values() for aid in part.values() if aid is not None)

    def close(self) -> None:
        """Commit what is acknowledged and leave the group (the rest comes again)."""
        try:
            self._commit_done()
        except Exception:
            log.warning("final commit of the alert source failed; those alerts come again", exc_info=True)
        with self._io:
            self.consumer.close()
        if self._dead_bus is not None:
            self._dead_bus.close()
