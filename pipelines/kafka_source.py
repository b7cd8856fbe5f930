"""An unbounded Beam source over kafka-python: a splittable DoFn reading a consumer group.

Beam's ``ReadFromKafka`` is a Java cross-language transform (it needs jars from
Maven); this is a pure-Python reader that runs on the FnApiRunner in the
worker's own process. One worker process = one consumer in the group; Kafka
spreads the partitions over the group (``subscribe``), so starting another
worker rebalances the partitions and a dead worker's partitions move to the
others after ``session_timeout_ms``.

How it reads
------------
* ``ReadFromKafka`` expands to ``Impulse`` → :class:`ReadKafkaFn`. The one
  impulse element carries an infinite restriction ``OffsetRange(0, ∞)`` over a
  *bundle counter* (not a Kafka offset: partitions come and go with
  rebalances). Each ``process`` call polls once (at most ``max_poll_records``
  records, waiting up to ``poll_timeout_ms``), claims one counter position per
  record, emits ``((topic, partition, offset), key, value)`` tuples and
  checkpoints itself (``defer_remainder``), so every poll is one bundle.
* Offsets are committed in the **bundle finalizer**, which the runner calls
  only after the bundle — every fused downstream DoFn's ``finish_bundle``
  included — succeeded. The worker pipeline keeps the whole path from this
  source to its sinks element-wise in one fused stage (no GroupByKey, no
  windows: on the FnApiRunner windowed grouping emits nothing until an
  unbounded source ends), so "finalized" means "stories in the index, alerts
  and dead letters acknowledged by Kafka". ``tests/kafka`` checks that order.
* A failed bundle is never finalized: its offsets stay uncommitted, the
  pipeline run fails and the worker drops its consumer (:func:`close_consumers`),
  so the records are read again from the committed offsets. A worker killed
  with -9 leaves them uncommitted too and the partition's next owner reads
  them again. Delivery is at-least-once; the sinks are idempotent.
* A commit that fails because the group rebalanced meanwhile
  (``CommitFailedError``) is logged and skipped: the new owner re-reads those
  records — duplicates absorbed by the idempotent sinks, never a loss.
* :func:`request_stop` makes the reader claim the end of its restriction, so
  the pipeline drains and ``run()`` returns (SIGTERM, topic reload).

The consumer lives in a per-process registry, not in the DoFn: the runner may
re-create DoFn instances, but the group membership and positions must persist
across bundles. Gotcha (Beam 2.77): ``BundleFinalizerParam`` must come before
``RestrictionParam`` in ``process``'s signature.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Iterable, Iterator

import apache_beam as beam
from apache_beam.utils.timestamp import Duration

from pipelines.restrictions import END, EndlessRestrictions

log = logging.getLogger("newswatch.kafka.source")

#: What the reader emits: ((topic, partition, offset), key, value bytes).
KafkaMessage = tuple[tuple[str, int, int], str, bytes]


_lock = threading.RLock()
_consumers: dict[tuple[Any, ...], "_GroupConsumer"] = {}
_generation = 0  #: bumped by close_consumers(); readers of an older generation stop
_stop = threading.Event()


def request_stop() -> None:
    """Make every reader in this process finish its restriction (the pipeline then drains)."""
    _stop.set()


def clear_stop() -> None:
    _stop.clear()


def stop_requested() -> bool:
    return _stop.is_set()


class _GroupConsumer:
    """One kafka-python consumer in the group, shared by the bundles of this process.

    ``assigned`` is the current partition assignment (kept by the rebalance
    listener, logged on every change); ``assignment_log`` records each
    assignment as (topic, sorted partitions) tuples.
    """

    def __init__(self, config: dict[str, Any], topics: tuple[str, ...]) -> None:
        from kafka import KafkaConsumer

        self.config, self.topics = config, topics
        self.consumer = KafkaConsumer(**config)
        self.assigned: tuple[tuple[str, int], ...] = ()
        self.assignment_log: list[tuple[tuple[str, int], ...]] = []
        self.lock = threading.RLock()
        outer = self

        from kafka import ConsumerRebalanceListener

        class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
            def on_partitions_revoked(self, revoked: Any) -> None:
                if revoked:
                    log.info("revoked partitions: %s", _fmt(revoked))

            def on_partitions_assigned(self, assigned: Any) -> None:
                outer.assigned = tuple(sorted((tp.topic, tp.partition) for tp in assigned))
                outer.assignment_log.append(outer.assigned)
                log.info("assigned partitions: %s (client %s)", _fmt(assigned) or "none",
                         config.get("client_id"))

        self.consumer.subscribe(list(topics), listener=_Listener())

    def poll(self, timeout_ms: int, max_records: int) -> list[Any]:
        with self.lock:
            got = self.consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        records = [r for batch in got.values() for r in batch]
        records.sort(key=lambda r: (r.topic, r.partition, r.offset))
        return records

    def rewind(self, records: Iterable[Any]) -> None:
        """Seek back to the first of ``records`` per partition (records polled but not emitted)."""
        from kafka import TopicPartition

        first: dict[tuple[str, int], int] = {}
        for r in records:
            key = (r.topic, r.partition)
            first[key] = min(first.get(key, r.offset), r.offset)
        with self.lock:
            for (topic, partition), offset in first.items():
                try:
                    self.consumer.seek(TopicPartition(topic, partition), offset)
                except Exception:  # partition revoked meanwhile: its new owner reads from the commit
                    log.debug("rewind of %s-%d skipped", topic, partition, exc_info=True)

    def commit(self, next_offsets: dict[tuple[str, int], int]) -> bool:
        """Commit ``{(topic, partition): next offset}``; False (logged) if the group moved on."""
        from kafka import OffsetAndMetadata, TopicPartition
        from kafka.errors import KafkaError

        offsets = {TopicPartition(t, p): OffsetAndMetadata(o, "", -1) for (t, p), o in next_offsets.items()}
        try:
            with self.lock:
                self.consumer.commit(offsets)
        except KafkaError as exc:
            log.warning("offset commit of %s failed (%s: %s); those records will be read again by the "
                        "partition's owner — the sinks are idempotent", _fmt_offsets(next_offsets),
                        type(exc).__name__, exc)
            return False
        log.debug("committed %s", _fmt_offsets(next_offsets))
        return True

    def close(self) -> None:
        with self.lock:
            try:
                self.consumer.close(autocommit=False)
            except TypeError:
                self.consumer.close()


def _fmt(tps: Iterable[Any]) -> str:
    by: dict[str, list[int]] = {}
    for tp in tps:
        by.setdefault(tp.topic, []).append(tp.partition)
    return ", ".join(f"{t}[{','.join(str(p) for p in sorted(ps))}]" for t, ps in sorted(by.items()))


def _fmt_offsets(o: dict[tuple[str, int], int]) -> str:
    return ", ".join(f"{t}-{p}@{off}" for (t, p), off in sorted(o.items()))


def group_consumer(config: dict[str, Any], topics: tuple[str, ...], reader: int = 0) -> _GroupConsumer:
    """The process's consumer number ``reader`` for (brokers, group, topics), created on first use."""
    key = (tuple(config["bootstrap_servers"]), config["group_id"], topics, reader)
    with _lock:
        c = _consumers.get(key)
        if c is None:
            conf = dict(config)
            if reader:
                conf["client_id"] = f"{conf.get('client_id') or 'newswatch'}-r{reader}"
            c = _GroupConsumer(conf, topics)
            _consumers[key] = c
        return c


def consumers() -> list[_GroupConsumer]:
    with _lock:
        return list(_consumers.values())


def close_consumers() -> None:
    """Leave the group (positions not committed are read again by the next owner).

    Also ends every reader of an earlier pipeline run that is still being
    called (a failed run's bundle can outlive the run): such a reader must not
    open a new consumer that would join the group and hold partitions no live
    pipeline reads.
    """
    global _generation
    with _lock:
        items = list(_consumers.values())
        _consumers.clear()
        _generation += 1
    for c in items:
        try:
            c.close()
        except Exception:
            log.warning("closing the Kafka consumer failed", exc_info=True)


class ReadKafkaFn(beam.DoFn):
    """Impulse → Kafka records of the group's assigned partitions, forever (see module docstring)."""

    def __init__(self, consumer_config: dict[str, Any], topics: tuple[str, ...], *,
                 max_records: int, poll_timeout_ms: int) -> None:
        super().__init__()
        self.consumer_config = dict(consumer_config)
        self.topics = tuple(topics)
        self.max_records = max_records
        self.poll_timeout_ms = poll_timeout_ms

    def setup(self) -> None:
        self.generation = _generation

    @beam.DoFn.unbounded_per_element()
    def process(self, element: Any,
                finalizer: Any = beam.DoFn.BundleFinalizerParam,
                tracker: Any = beam.DoFn.RestrictionParam(EndlessRestrictions())) -> Iterator[KafkaMessage]:
        if _stop.is_set() or self.generation != _generation:
            tracker.try_claim(END)  # done: the pipeline drains and run() returns
            return
        group = group_consumer(self.consumer_config, self.topics, _reader_index(element))
        position = tracker.current_restriction().start
        records = group.poll(self.poll_timeout_ms, self.max_records)
        next_offsets: dict[tuple[str, int], int] = {}
        split = False
        for i, rec in enumerate(records):
            if not tracker.try_claim(position):  # the runner split the restriction off us
                group.rewind(records[i:])
                split = True
                break
            position += 1
            key = rec.key.decode("utf-8", "replace") if rec.key is not None else ""
            value = rec.value if rec.value is not None else b""
            next_offsets[(rec.topic, rec.partition)] = rec.offset + 1
            yield ((rec.topic, rec.partition, rec.offset), key, value)
        if next_offsets:
            committed = dict(next_offsets)
            finalizer.register(lambda: group.commit(committed))
        if not split:
            tracker.defer_remainder(Duration.of(0))


def _reader_index(element: Any) -> int:
    return element if isinstance(element, int) else 0


class ReadFromKafka(beam.PTransform):
    """Read ``topics`` as consumer group ``consumer_config["group_id"]``: a PCollection of
    ``((topic, partition, offset), key, value)``. At-least-once; offsets are committed
    after the bundle that carried them (and every fused sink) succeeded.

    ``readers`` > 1 starts that many consumers (restrictions) in the pipeline, for
    runners that process restrictions in parallel (Flink, Dataflow); the
    FnApiRunner runs them one after another in one thread, so keep 1 there and
    scale with worker processes instead."""

    def __init__(self, consumer_config: dict[str, Any], topics: Iterable[str], *, max_records: int = 64,
                 poll_timeout_ms: int = 500, readers: int = 1) -> None:
        super().__init__()
        if readers < 1:
            raise ValueError("readers must be >= 1")
        self.readers = readers
        self.fn = ReadKafkaFn(consumer_config, tuple(topics), max_records=max_records,
                              poll_timeout_ms=poll_timeout_ms)

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        if self.readers == 1:
            seeds = pbegin | "Impulse" >> beam.Impulse()
        else:
            seeds = pbegin | "Readers" >> beam.Create(list(range(self.readers)), reshuffle=False)
        return seeds | "Poll" >> beam.ParDo(self.fn)
