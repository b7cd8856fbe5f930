"""Sinks of the news pipeline: index, alert outbox, dead letters.

Each sink buffers a bundle and writes it in bulk in ``finish_bundle`` (or when
the buffer is full), with deterministic ids: stories by story id (upsert),
alerts by (topic, story), dead letters by content hash. Writes are therefore
idempotent, and a batch re-delivered after a crash changes nothing. A sink's
``finish_bundle`` returns only after its writes are durable, so the caller may
acknowledge the input once the pipeline run has finished.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable

import apache_beam as beam
from apache_beam.metrics import Metrics

from newswatch import backends, metrics
from newswatch.records import Alert, DeadLetter, Story
from newswatch.settings import Settings

NS = "newswatch"
log = logging.getLogger("newswatch.pipeline")


class BufferedSink(beam.DoFn):
    """Buffers a bundle's elements and writes them in bulk: in ``finish_bundle``,
    or earlier when ``max_buffer`` is reached. ``flush`` must return only when
    the write is durable (the source acks after the bundle)."""

    max_buffer = 500

    def start_bundle(self) -> None:
        self.buffer: list[Any] = []

    def process(self, element: Any) -> Iterable[None]:
        self.buffer.append(element)
        if len(self.buffer) >= self.max_buffer:
            self.flush()
        return ()

    def finish_bundle(self) -> None:
        if self.buffer:
            self.flush()

    def flush(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class _BufferedSink(BufferedSink):
    """A buffered sink configured by the process settings."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings


class WriteStoriesFn(_BufferedSink):
    """Upsert stories into the index and commit (durable and visible on return)."""

    def setup(self) -> None:
        self.index = backends.open_index(self.settings)
        self.bus = backends.open_bus(self.settings)
        self.count = Metrics.counter(NS, "stories_indexed")

    def flush(self) -> None:
        stories: list[Story] = self.buffer
        self.index.upsert(stories)
        self.index.commit()
        # stories the index refused for good (e.g. an Elasticsearch mapping error) are dead letters
        dead = self.index.take_dead_letters()
        if dead:
            self.bus.dead_letter(dead)
            for d in dead:
                metrics.DEAD_LETTERS.labels(d.stage).inc()
        log.debug("pipeline: %d story(ies) indexed", len(stories) - len(dead))
        self.count.inc(len(stories) - len(dead))
        metrics.STORIES_INDEXED.inc(len(stories) - len(dead))
        self.buffer = []


class WriteAlertsFn(_BufferedSink):
    """Add alerts to the durable outbox; an alert already there is not added again."""

    def setup(self) -> None:
        self.outbox = backends.open_outbox(self.settings)
        self.count = Metrics.counter(NS, "alerts_new")

    def flush(self) -> None:
        alerts: list[Alert] = self.buffer
        added = self.outbox.add(alerts)
        self.count.inc(len(added))
        for a in added:
            metrics.ALERTS_FIRED.labels(a.topic_id).inc()
        if added:
            log.info("pipeline: %d new alert(s): %s", len(added), ", ".join(sorted({a.topic_id for a in added})))
        self.buffer = []


class WriteDeadLettersFn(_BufferedSink):
    """Store dead letters durably on the bus's dead-letter store."""

    def setup(self) -> None:
        self.bus = backends.open_bus(self.settings)
        self.count = Metrics.counter(NS, "dead_letters")

    def flush(self) -> None:
        items: list[DeadLetter] = self.buffer
        self.bus.dead_letter(items)
        log.info("pipeline: %d dead letter(s) stored (%s)", len(items), ", ".join(sorted({d.stage for d in items})))
        self.count.inc(len(items))
        for d in items:
            metrics.DEAD_LETTERS.labels(d.stage).inc()
        self.buffer = []


class WriteOutputs(beam.PTransform):
    """Write the dict of outputs of :class:`ProcessArticles` to their sinks."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings

    def expand(self, outputs: dict[str, beam.PCollection]) -> beam.pvalue.PDone:
        outputs["stories"] | "WriteStories" >> beam.ParDo(WriteStoriesFn(self.settings))
        outputs["alerts"] | "WriteAlerts" >> beam.ParDo(WriteAlertsFn(self.settings))
        for i, part in enumerate(outputs["dead_letter_parts"]):
            part | f"WriteDeadLetters{i}" >> beam.ParDo(WriteDeadLettersFn(self.settings))
        return beam.pvalue.PDone(outputs["stories"].pipeline)
