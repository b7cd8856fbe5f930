"""Beam DoFns and PTransforms of the news pipeline.

Each DoFn is a thin wrapper over a pure stage function in
:mod:`newswatch.process`; heavy state (spaCy model, compiled topics) is built
in ``setup()`` through per-process caches, so every bundle and every micro-batch
of a worker shares one model. Every DoFn splits bad records off to the
``dead`` output as :class:`~newswatch.records.DeadLetter` (reason + original
payload) instead of failing the bundle: bad input never crashes the pipeline
and never vanishes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterable, Sequence

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from newswatch import process
from newswatch.config import EntitiesFile, TopicSpec
from newswatch.records import Alert, DeadLetter, RawArticle, Story

log = logging.getLogger("newswatch.pipeline")

DEAD = "dead"
NS = "newswatch"

#: What flows in: (offset, key, payload bytes) from the bus.
Message = tuple[Any, str, bytes]


def _payload_of(element: Any) -> Any:
    if isinstance(element, tuple) and len(element) == 3 and isinstance(element[2], (bytes, str)):
        return element[2]
    return element


class SafeDoFn(beam.DoFn):
    """A DoFn whose ``handle`` errors become dead letters tagged with ``stage``."""

    stage = "pipeline"

    def __init__(self) -> None:
        super().__init__()
        self._dead = Metrics.counter(NS, f"dead_letters_{self.stage}")

    def handle(self, element: Any) -> Iterable[Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def dead(self, element: Any, reason: str) -> pvalue.TaggedOutput:
        self._dead.inc()
        source = getattr(element, "source_id", "") or ""
        return pvalue.TaggedOutput(DEAD, DeadLetter.of(self.stage, reason, _payload_of(element), source))

    def process(self, element: Any) -> Iterable[Any]:
        try:
            yield from self.handle(element)
        except process.RecordError as exc:
            yield self.dead(element, str(exc))
        except Exception as exc:  # unexpected: keep the pipeline alive, keep the record
            log.exception("stage %s failed on a record", self.stage)
            yield self.dead(element, f"{type(exc).__name__}: {exc}")


class DecodeFn(SafeDoFn):
    """Bus message (offset, key, JSON bytes) → RawArticle."""

    stage = "decode"

    def handle(self, element: Message) -> Iterable[RawArticle]:
        _offset, _key, payload = element
        yield process.decode_article(payload)


class PrepareFn(SafeDoFn):
    """RawArticle → Story with clean text and language."""

    stage = "prepare"

    def handle(self, article: RawArticle) -> Iterable[Story]:
        yield process.prepare(article)


class ExtractEntitiesFn(SafeDoFn):
    """Batches of Stories → Stories with entities (one ``nlp.pipe`` per batch).

    The model loads once per worker process in ``setup()``. If a batch fails,
    its stories are retried one by one so only the bad one becomes a dead letter.
    """

    stage = "entities"

    def __init__(self, model: str, entities: EntitiesFile | None, batch_size: int = 32) -> None:
        super().__init__()
        self.model, self.entities, self.batch_size = model, entities, batch_size
        self._count = Metrics.counter(NS, "stories_ner")

    def setup(self) -> None:
        from newswatch.entities import Gazetteer
        from newswatch.nlp import load_model

        self.nlp = load_model(self.model)
        self.gazetteer = Gazetteer.from_config(self.entities)

    def process(self, batch: Sequence[Story]) -> Iterable[Any]:
        try:
            out = process.add_entities(list(batch), self.nlp, self.gazetteer, self.batch_size)
        except Exception:
            log.warning("NER failed on a batch of %d; retrying one by one", len(batch), exc_info=True)
            for story in batch:
                yield from super().process([story])
            return
        self._count.inc(len(out))
        yield from out

    def handle(self, batch: Sequence[Story]) -> Iterable[Story]:
        yield from process.add_entities(list(batch), self.nlp, self.gazetteer, self.batch_size)

    def dead(self, element: Any, reason: str) -> pvalue.TaggedOutput:
        story = element[0] if isinstance(element, list) and len(element) == 1 else element
        return super().dead(story, reason)


class _TopicsAware:
    """Gives a DoFn the live topic set: fixed, or reloaded from ``topics_path``.

    With a path, each bundle starts with a cheap reload check (at most every
    ``reload_s``): an edited topics.yaml goes live in a running pipeline; a
    broken edit is rejected and the previous topics stay live.
    """

    topics: tuple[TopicSpec, ...]
    topics_path: Path | None
    reload_s: float

    def current_topics(self) -> tuple[TopicSpec, ...]:
        if self.topics_path is None:
            return self.topics
        from newswatch.live_topics import LiveTopics

        return LiveTopics.poll(self.topics_path, self.topics, self.reload_s).current()


class MatchTopicsFn(_TopicsAware, SafeDoFn):
    """Story → Story with the watch topics that fire (compiled once per topic set)."""

    stage = "topics"

    def __init__(self, topics: Sequence[TopicSpec], topics_path: Path | None = None, reload_s: float = 5.0) -> None:
        super().__init__()
        self.topics, self.topics_path, self.reload_s = tuple(topics), topics_path, reload_s

    def start_bundle(self) -> None:
        self.matcher = process.compiled_topics(self.current_topics())

    def handle(self, story: Story) -> Iterable[Story]:
        yield process.with_topics(story, self.matcher)


class AlertsFn(_TopicsAware, beam.DoFn):
    """Story → one Alert per topic that fired."""

    def __init__(self, topics: Sequence[TopicSpec], topics_path: Path | None = None, reload_s: float = 5.0) -> None:
        super().__init__()
        self.topics, self.topics_path, self.reload_s = tuple(topics), topics_path, reload_s

    def start_bundle(self) -> None:
        self.names = {t.id: t.name for t in self.current_topics()}

    def process(self, story: Story) -> Iterable[Alert]:
        yield from process.alerts_for(story, self.names)


def all_dead_letters(outputs: dict[str, Any], label: str = "AllDeadLetters") -> beam.PCollection:
    """The dead-letter parts of :class:`ProcessArticles` as one PCollection (a fusion break)."""
    return tuple(outputs["dead_letter_parts"]) | label >> beam.Flatten()


class ProcessArticles(beam.PTransform):
    """Bus messages → stories, alerts and dead letters.

    Output: a dict with ``stories`` and ``alerts`` PCollections and
    ``dead_letter_parts``, the per-stage dead-letter PCollections. Sinks write
    each part separately: on the FnApiRunner a multi-input Flatten is a fusion
    break, and everything from the source to the sinks must stay in one fused
    stage so the source's bundle finalizer (the ack) runs after every sink has
    committed. Use :func:`all_dead_letters` where one PCollection is wanted
    (tests, bounded runs). Element-wise throughout (no windows or GroupByKey):
    the same transform runs on bounded batches and on an unbounded bus source.
    With ``topics_path`` the topics are reloaded from that file while running;
    with ``cluster_store`` every story joins its near-duplicate cluster
    (MinHash/LSH, :mod:`newswatch.cluster`; one store transaction per batch).
    """

    def __init__(self, *, model: str, entities: EntitiesFile | None, topics: Sequence[TopicSpec],
                 batch_size: int = 32, topics_path: Path | None = None, reload_s: float = 5.0,
                 cluster_store: str | None = None) -> None:
        super().__init__()
        self.model, self.entities, self.topics, self.batch_size = model, entities, tuple(topics), batch_size
        self.topics_path, self.reload_s, self.cluster_store = topics_path, reload_s, cluster_store

    def expand(self, messages: beam.PCollection) -> dict[str, beam.PCollection]:
        decoded = messages | "Decode" >> beam.ParDo(DecodeFn()).with_outputs(DEAD, main="ok")
        prepared = decoded.ok | "Prepare" >> beam.ParDo(PrepareFn()).with_outputs(DEAD, main="ok")
        batched = prepared.ok | "BatchForNER" >> beam.BatchElements(
            min_batch_size=self.batch_size, max_batch_size=self.batch_size)
        if self.cluster_store:
            from pipelines.cluster import AssignClustersFn

            batched = batched | "AssignClusters" >> beam.ParDo(AssignClustersFn(self.cluster_store))
        ents = batched | "ExtractEntities" >> beam.ParDo(
            ExtractEntitiesFn(self.model, self.entities, self.batch_size)).with_outputs(DEAD, main="ok")
        matched = ents.ok | "MatchTopics" >> beam.ParDo(
            MatchTopicsFn(self.topics, self.topics_path, self.reload_s)).with_outputs(DEAD, main="ok")
        alerts = matched.ok | "MakeAlerts" >> beam.ParDo(AlertsFn(self.topics, self.topics_path, self.reload_s))
        parts = (decoded[DEAD], prepared[DEAD], ents[DEAD], matched[DEAD])
        return {"stories": matched.ok, "alerts": alerts, "dead_letter_parts": parts}
