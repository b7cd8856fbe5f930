"""An unbounded Beam source over the embedded durable bus.

``ReadFromLocalBus`` is a splittable DoFn that runs for the life of the
pipeline: it waits for messages on the local bus, leases up to ``max_n`` and
emits them as ``(offset, key, payload)``; it acks them in a **bundle
finalizer**, which the runner calls only after the bundle — including the
index, outbox and dead-letter sinks fused into the same stage — has
committed. A crash before that leaves the messages leased by a dead process;
the bus hands them out again on restart, and the idempotent sinks absorb the
repeat. So one long-running pipeline replaces per-batch pipeline runs (no
fixed cost per batch), and the live path stays element-wise (DESIGN.md: no
windows on FnApiRunner's unbounded path).

The local bus lives in one machine's files: this source is for the in-process
FnApiRunner. Scaled out, the Kafka source plays the same role.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Iterable

import apache_beam as beam
from apache_beam.io.watermark_estimators import WalltimeWatermarkEstimator
from apache_beam.utils.timestamp import Duration

from newswatch import backends
from newswatch.settings import Settings
from pipelines.restrictions import END, EndlessRestrictions

log = logging.getLogger("newswatch.pipeline")

_lock = threading.Lock()
_stops: dict[str, threading.Event] = {}
_inflight: dict[str, set[int]] = {}


def _key(settings: Settings) -> str:
    return str(settings.queue_path.resolve())


def stop_event(settings: Settings) -> threading.Event:
    """The event that makes every local-bus reader of this bus finish (graceful stop)."""
    with _lock:
        return _stops.setdefault(_key(settings), threading.Event())


def take_inflight(settings: Settings) -> list[int]:
    """Offsets leased by readers in this process and not yet acked (after a failed run: nack them)."""
    with _lock:
        offs = _inflight.pop(_key(settings), set())
    return sorted(offs)


class ReadLocalBusFn(beam.DoFn):
    """Lease → emit → ack in the bundle finalizer. Delivery: at-least-once."""

    def __init__(self, settings: Settings, *, max_n: int, wait_s: float = 0.5, lease_s: float = 600.0) -> None:
        super().__init__()
        self.settings, self.max_n, self.wait_s, self.lease_s = settings, max_n, wait_s, lease_s

    def setup(self) -> None:
        self.bus = backends.open_bus(self.settings)
        self.stop = stop_event(self.settings)
        self.key = _key(self.settings)

    def _acker(self, offsets: list[int], started: float) -> Any:
        def finalize() -> None:
            self.bus.ack(offsets)
            with _lock:
                _inflight.get(self.key, set()).difference_update(offsets)
            log.info("pipeline: %d message(s) processed and acked in %.2fs", len(offsets),
                     time.monotonic() - started)
        return finalize

    @beam.DoFn.unbounded_per_element()
    def process(self, element: Any,
                finalizer: Any = beam.DoFn.BundleFinalizerParam,
                tracker: Any = beam.DoFn.RestrictionParam(EndlessRestrictions()),
                watermark: Any = beam.DoFn.WatermarkEstimatorParam(WalltimeWatermarkEstimator.default_provider()),
                ) -> Iterable[tuple[int, str, bytes]]:
        pos = tracker.current_restriction().start
        if self.stop.is_set():
            tracker.try_claim(END)  # claim the rest: the reader is done
            return
        if not self.bus.wait(self.wait_s):
            tracker.defer_remainder(Duration.of(0))
            return
        msgs = self.bus.lease(self.max_n, self.lease_s)
        if not msgs:
            tracker.defer_remainder(Duration.of(0))
            return
        if not tracker.try_claim(pos):
            self.bus.nack([m.offset for m in msgs])
            return
        offsets = [m.offset for m in msgs]
        with _lock:
            _inflight.setdefault(self.key, set()).update(offsets)
        finalizer.register(self._acker(offsets, time.monotonic()))
        for m in msgs:
            yield (m.offset, m.key, m.payload)
        tracker.defer_remainder(Duration.of(0))


class ReadFromLocalBus(beam.PTransform):
    """Unbounded PCollection of ``(offset, key, payload)`` from the local bus."""

    def __init__(self, settings: Settings, *, max_n: int | None = None, wait_s: float = 0.5) -> None:
        super().__init__()
        self.settings, self.max_n, self.wait_s = settings, max_n or settings.batch_max, wait_s

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return (pbegin | "Start" >> beam.Impulse()
                | "Lease" >> beam.ParDo(ReadLocalBusFn(self.settings, max_n=self.max_n, wait_s=self.wait_s)))
