"""The Kafka pipeline worker: one long-running Beam pipeline per process.

``newswatch pipeline --bus kafka://…`` runs :func:`run_worker`: an unbounded
pipeline on the FnApiRunner (or the runner ``Settings.runner`` names)::

    ReadFromKafka(news.raw, consumer group)          pipelines.kafka_source
      → ProcessArticles (decode → prepare → clusters → NER → topics → alerts)
      → stories      → WriteStoriesFn  (index upsert + commit, finish_bundle)
      → alerts       → ProduceAlertsFn (news.alerts, acks=all, flushed in finish_bundle)
      → dead letters → ProduceDeadLettersFn (news.deadletters, reason + payload)

Delivery promise: a Kafka offset is committed only after the stories of the
records below it are committed in the index and their alerts and dead letters
are acknowledged by Kafka — the reader commits in its bundle finalizer, and
the runner finalizes a bundle only after every DoFn fused with the reader has
finished the bundle. This needs the whole path to be ONE fused stage, which
the FnApiRunner breaks at every multi-input ``Flatten`` (it materialises the
Flatten's inputs and runs its consumers as a separate stage — on an unbounded
source only when the source ends). So each stage's dead-letter output of
:class:`pipelines.transforms.ProcessArticles` is written by its own sink
instead of being flattened first. Exactly-once *effect* in the index = at-least-once delivery + upserts by
story id; alerts on ``news.alerts`` are at-least-once, keyed by ``Alert.id``
(the notifier dedups).

The worker restarts its pipeline when ``topics.yaml`` changes (the reader
drains, the pipeline returns, a new one starts with the new topics) and after
a failed run (the consumer is closed so the uncommitted records are read
again; backoff doubles up to 60 s).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions

from newswatch import backends, metrics
from newswatch.bus.kafka import KafkaBus, KafkaSettings, consumer_config, ensure_topics
from newswatch.cluster import store_path
from newswatch.config import EntitiesFile, TopicSpec
from newswatch.records import Alert, DeadLetter
from newswatch.settings import Settings
from pipelines import kafka_source
from pipelines.sinks import BufferedSink, WriteStoriesFn
from pipelines.transforms import ProcessArticles

log = logging.getLogger("newswatch.worker")

NS = "newswatch"

#: Runner names that mean "in this process".
LOCAL_RUNNERS = ("FnApiRunner", "fnapi", "local")

_buses: dict[tuple[str, str], KafkaBus] = {}
_buses_lock = threading.Lock()


def kafka_bus(bus_url: str, ks: KafkaSettings) -> KafkaBus:
    """The process's producer side of the bus (one idempotent producer per process)."""
    key = (bus_url, ks.model_dump_json())
    with _buses_lock:
        b = _buses.get(key)
        if b is None:
            b = KafkaBus(bus=bus_url, kafka=ks, role="worker", create_topics=False)
            _buses[key] = b
        return b


def close_buses() -> None:
    with _buses_lock:
        items = list(_buses.values())
        _buses.clear()
    for b in items:
        b.close()


class _KafkaSink(BufferedSink):
    """Buffers a bundle and produces it in ``finish_bundle``; returns only when Kafka acked."""

    def __init__(self, bus_url: str, kafka: KafkaSettings) -> None:
        super().__init__()
        self.bus_url, self.kafka = bus_url, kafka

    def setup(self) -> None:
        self.bus = kafka_bus(self.bus_url, self.kafka)


class ProduceAlertsFn(_KafkaSink):
    """Alerts → the alerts topic (key = alert id), acknowledged before the bundle ends."""

    def setup(self) -> None:
        super().setup()
        self.count = Metrics.counter(NS, "alerts_new")

    def flush(self) -> None:
        alerts: list[Alert] = self.buffer
        self.bus.publish_alerts(alerts)
        self.count.inc(len(alerts))
        for a in alerts:
            metrics.ALERTS_FIRED.labels(a.topic_id).inc()
        self.buffer = []


class ProduceDeadLettersFn(_KafkaSink):
    """Dead letters (reason + original payload) → the dead-letter topic, acknowledged before the bundle ends."""

    def setup(self) -> None:
        super().setup()
        self.count = Metrics.counter(NS, "dead_letters")

    def flush(self) -> None:
        items: list[DeadLetter] = self.buffer
        self.bus.dead_letter(items)
        self.count.inc(len(items))
        for d in items:
            metrics.DEAD_LETTERS.labels(d.stage).inc()
        self.buffer = []


class WriteLiveOutputs(beam.PTransform):
    """Stories → index; alerts → alerts topic; each dead-letter part → dead-letter topic."""

    def __init__(self, settings: Settings, kafka: KafkaSettings) -> None:
        super().__init__()
        self.settings, self.kafka = settings, kafka

    def expand(self, outputs: dict[str, Any]) -> beam.pvalue.PDone:
        outputs["stories"] | "WriteStories" >> beam.ParDo(WriteStoriesFn(self.settings))
        outputs["alerts"] | "ProduceAlerts" >> beam.ParDo(ProduceAlertsFn(self.settings.bus, self.kafka))
        for i, part in enumerate(outputs["dead_letter_parts"]):
            part | f"ProduceDeadLetters{i}" >> beam.ParDo(ProduceDeadLettersFn(self.settings.bus, self.kafka))
        return beam.pvalue.PDone(outputs["stories"].pipeline)


def build(p: beam.Pipeline, settings: Settings, kafka: KafkaSettings, *, topics: Sequence[TopicSpec],
          entities: EntitiesFile | None, readers: int = 1) -> None:
    """Add the worker graph (read → process → write) to ``p``."""
    conf = consumer_config(settings.bus, kafka, group=kafka.group, role="worker")
    outputs = (p
               | "ReadKafka" >> kafka_source.ReadFromKafka(conf, [kafka.raw_topic], max_records=kafka.max_poll_records,
                                                           poll_timeout_ms=kafka.poll_timeout_ms, readers=readers)
               | "Process" >> ProcessArticles(model=settings.spacy_model, entities=entities, topics=topics,
                                              batch_size=settings.nlp_batch_size,
                                              topics_path=settings.config_dir / "topics.yaml",
                                              reload_s=settings.topics_reload_s,
                                              cluster_store=str(store_path(settings.data_dir))))
    outputs | "Write" >> WriteLiveOutputs(settings, kafka)


def make_pipeline(settings: Settings, beam_args: Sequence[str] = ()) -> beam.Pipeline:
    """A streaming pipeline on ``settings.runner``: the in-process FnApiRunner by default;
    any other name is passed as ``--runner`` with ``--streaming`` and ``beam_args``
    (e.g. ``PortableRunner --job_endpoint=HOST:8099`` for Flink; see docs/scaling.md)."""
    if settings.runner in LOCAL_RUNNERS:
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        return beam.Pipeline(runner=FnApiRunner(),
                             options=PipelineOptions(["--no_pipeline_type_check", *beam_args]))
    return beam.Pipeline(options=PipelineOptions([f"--runner={settings.runner}", "--streaming", *beam_args]))


@dataclass
class Worker:
    """Runs the worker pipeline until :meth:`stop`; restarts it on topic edits and failures.

    ``topics`` is a :class:`newswatch.monitor.TopicsWatcher`. ``max_runs``
    (tests) bounds how many pipeline runs are started.
    """

    settings: Settings
    kafka: KafkaSettings
    topics: Any
    entities: EntitiesFile | None
    beam_args: Sequence[str] = ()
    readers: int = 1
    stop_event: threading.Event = field(default_factory=threading.Event)
    runs: int = 0
    failures: int = 0

    def stop(self) -> None:
        self.stop_event.set()
        kafka_source.request_stop()

    def _watch_topics(self) -> None:
        while not self.stop_event.wait(self.settings.topics_reload_s):
            if self.topics.check():
                log.info("topics changed: restarting the pipeline with %d topic(s)", len(self.topics.current()))
                kafka_source.request_stop()

    def run(self, max_runs: int | None = None) -> None:
        ensure_topics(self.settings.bus, self.kafka)
        threading.Thread(target=self._watch_topics, name="newswatch-topics", daemon=True).start()
        backoff = 1.0
        try:
            while not self.stop_event.is_set() and (max_runs is None or self.runs < max_runs):
                kafka_source.clear_stop()
                self.runs += 1
                p = make_pipeline(self.settings, self.beam_args)
                build(p, self.settings, self.kafka, topics=self.topics.current(), entities=self.entities,
                      readers=self.readers)
                log.info("pipeline worker running (run %d, runner %s, group %s, topic %s)", self.runs,
                         self.settings.runner, self.kafka.group, self.kafka.raw_topic)
                try:
                    result = p.run()
                    result.wait_until_finish()
                    backoff = 1.0
                except Exception:
                    if self.stop_event.is_set():
                        break
                    self.failures += 1
                    log.exception("pipeline run failed; uncommitted records will be read again in %.0fs", backoff)
                    kafka_source.close_consumers()  # forget positions: restart from the committed offsets
                    close_buses()
                    backends.close_all()
                    self.stop_event.wait(backoff)
                    backoff = min(backoff * 2, 60.0)
        finally:
            kafka_source.close_consumers()
            close_buses()


def run_worker(settings: Settings, kafka: KafkaSettings, config: Any, *, beam_args: Sequence[str] = (),
               readers: int = 1, stop: threading.Event | None = None) -> Worker:
    """Build and run a :class:`Worker` for the loaded ``config`` (blocks until stopped)."""
    from newswatch.monitor import TopicsWatcher
    from newswatch.nlp import load_model
    from newswatch.process import compiled_topics

    load_model(settings.spacy_model)  # fail fast with the install hint
    watcher = TopicsWatcher(config.dir / "topics.yaml", config.topics)
    compiled_topics(watcher.current())
    worker = Worker(settings, kafka, watcher, config.entities, beam_args=beam_args, readers=readers,
                    stop_event=stop or threading.Event())
    t0 = time.monotonic()
    worker.run()
    log.info("pipeline worker stopped after %.0fs (%d run(s), %d failure(s))", time.monotonic() - t0,
             worker.runs, worker.failures)
    return worker
