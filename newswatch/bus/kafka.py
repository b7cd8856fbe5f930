"""The Kafka bus of the scaled-out deployment (kafka-python).

Connectors publish :class:`~newswatch.records.RawArticle` JSON to ``news.raw``;
pipeline workers (``newswatch pipeline --bus kafka://…``) read it with the
unbounded reader in :mod:`pipelines.kafka_source`, a consumer group sharing the
partitions; stories go to the index, alerts to ``news.alerts`` (read by the
notifier through :class:`newswatch.bus.kafka_alerts.KafkaAlertSource`) and dead
letters to ``news.deadletters``.

Delivery promises (those of :mod:`newswatch.bus.base` that apply to Kafka)
------------------------------------------------------------------------
* **Durable publish.** :meth:`KafkaBus.publish`, :meth:`KafkaBus.publish_raw`,
  :meth:`KafkaBus.publish_alerts` and :meth:`KafkaBus.dead_letter` return only
  after every record was acknowledged by all in-sync replicas (``acks=all``,
  flushed, each send checked); a failure raises :class:`KafkaPublishError` and
  the caller must not commit its cursor. Retries are automatic and — with the
  idempotent producer — do not duplicate records within one producer session.
* **At-least-once delivery.** Workers commit a partition's offset only after
  the stories, alerts and dead letters of the records below it are durable
  (see :mod:`pipelines.streaming`); a worker that dies hands its uncommitted
  records to the next owner of the partition. Consumers must be idempotent.
* **Per-key order only within a partition.** The key is the article id, so
  versions of one story land on one partition in publish order; a record
  redelivered after a rebalance may still overtake nothing but its own
  partition's successors. Sinks do not rely on order (upserts, keyed alerts).
* **No dedup store.** ``publish(..., dedup=True)`` is accepted for interface
  compatibility but Kafka keeps no (id, hash) memory: the connectors' cursors
  (ETag, content hash, seen GUIDs) suppress unchanged re-polls and the index
  upsert absorbs the rest.
* **Leasing is not offered.** Kafka consumers read through the consumer group
  in :mod:`pipelines.kafka_source`; :meth:`KafkaBus.lease`, ``ack`` and
  ``nack`` raise :class:`~newswatch.errors.NewswatchError` naming the command
  to run instead.

Settings are :class:`KafkaSettings` (``NEWSWATCH_KAFKA_*``); the broker list
comes from ``Settings.bus`` (``kafka://HOST:PORT[,HOST:PORT]``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from contextlib import nullcontext
from datetime import datetime
from typing import Any, ContextManager, Iterable, Literal, Sequence

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from newswatch.errors import ConfigError, NewswatchError
from newswatch.records import SCHEMA_VERSION, Alert, DeadLetter, RawArticle

log = logging.getLogger("newswatch.kafka")

#: Record header naming the payload's schema version (the JSON carries it too).
SCHEMA_HEADER = "schema_version"
#: Record header naming the payload's record kind (raw_article, alert, dead_letter).
KIND_HEADER = "kind"


class KafkaPublishError(NewswatchError):
    """A record was not acknowledged by the broker (the caller must retry later)."""


class KafkaSettings(BaseSettings):
    """Kafka topics, producer and consumer settings. Override with ``NEWSWATCH_KAFKA_<NAME>``.

    The consumer timeouts default to production values (Apache Kafka's own
    defaults). Tansu, the broker of the test suite, only completes a group join
    quickly with short ones, so test fixtures — and only they — shorten them.
    ``max_poll_interval_ms`` must exceed the time one bundle (``max_poll_records``
    articles through spaCy) takes, or the worker is dropped from the group.
    """

    model_config = SettingsConfigDict(env_prefix="NEWSWATCH_KAFKA_", frozen=True, extra="forbid")

    raw_topic: str = Field("news.raw", description="Topic connectors publish RawArticle JSON to.")
    alerts_topic: str = Field("news.alerts", description="Topic pipeline workers publish Alert JSON to.")
    dead_letter_topic: str = Field("news.deadletters", description="Topic of DeadLetter JSON (reason + payload).")
    partitions: int = Field(6, ge=1, description="Partitions of topics created when missing (= most useful workers).")
    replication: int = Field(1, ge=1, description="Replication factor of topics created when missing (3 in production).")
    group: str = Field("newswatch-pipeline", description="Consumer group of the pipeline workers.")
    notifier_group: str = Field("newswatch-notifier", description="Consumer group of the alert notifier.")
    client_id: str = Field("newswatch", description="Client id prefix; host and pid are appended.")
    compression: Literal["gzip", "zstd", "none"] = Field(
        "gzip", description="Producer compression (snappy/lz4 need extra libraries and are not offered).")
    retries: int = Field(10, ge=0, description="Producer retries per record (acks=all, idempotent).")
    idempotent: bool = Field(True, description="Idempotent producer (no duplicates from retries).")
    delivery_timeout_ms: int = Field(120_000, ge=1000, description="Upper bound for one record's delivery.")
    linger_ms: int = Field(5, ge=0, description="Producer batching delay.")
    flush_timeout_s: float = Field(60.0, gt=0, description="How long publish waits for the broker's acks.")
    max_poll_records: int = Field(64, ge=1, description="Records one worker bundle takes (one spaCy batch or two).")
    poll_timeout_ms: int = Field(500, ge=10, description="How long an idle worker waits for records per bundle.")
    max_poll_interval_ms: int = Field(300_000, ge=1000, description="Max time between polls before the group drops a worker.")
    session_timeout_ms: int = Field(45_000, ge=1000, description="Heartbeat silence after which a worker is dead.")
    heartbeat_interval_ms: int = Field(3_000, ge=100, description="Consumer heartbeat interval (< session/3).")
    request_timeout_ms: int = Field(30_000, ge=1000)
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        "earliest", description="Where a new group starts: earliest reads the topic's whole retention.")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None

    @field_validator("heartbeat_interval_ms")
    @classmethod
    def _heartbeat(cls, v: int, info: Any) -> int:
        session = info.data.get("session_timeout_ms")
        if session is not None and v >= session:
            raise ValueError(f"heartbeat_interval_ms ({v}) must be below session_timeout_ms ({session}); "
                             f"use about a third of it")
        return v

    @property
    def topics(self) -> tuple[str, str, str]:
        return (self.raw_topic, self.alerts_topic, self.dead_letter_topic)


def bootstrap_servers(bus: str) -> list[str]:
    """``kafka://h1:9092,h2:9092`` → ``["h1:9092", "h2:9092"]``; errors name the setting and the fix."""
    if not bus.startswith("kafka://"):
        raise ConfigError(f"bus {bus!r} is not a Kafka URL", key="NEWSWATCH_BUS",
                          fix="use kafka://HOST:PORT[,HOST:PORT] (e.g. kafka://127.0.0.1:9092).")
    hosts = [h.strip().rstrip("/") for h in bus[len("kafka://"):].split(",") if h.strip()]
    for h in hosts:
        host, sep, port = h.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ConfigError(f"broker address {h!r} in {bus!r} has no HOST:PORT", key="NEWSWATCH_BUS",
                              fix="write every broker as HOST:PORT, e.g. kafka://kafka-0:9092,kafka-1:9092.")
    if not hosts:
        raise ConfigError(f"bus {bus!r} names no broker", key="NEWSWATCH_BUS", fix="use kafka://HOST:PORT.")
    return hosts


def client_id(ks: KafkaSettings, role: str) -> str:
    """A client id that tells workers apart in the group: ``prefix-role-host-pid``."""
    return f"{ks.client_id}-{role}-{socket.gethostname()}-{os.getpid()}"


def _security(ks: KafkaSettings) -> dict[str, Any]:
    conf: dict[str, Any] = {"security_protocol": ks.security_protocol}
    if ks.sasl_mechanism:
        conf.update(sasl_mechanism=ks.sasl_mechanism, sasl_plain_username=ks.sasl_username,
                    sasl_plain_password=ks.sasl_password.get_secret_value() if ks.sasl_password else None)
    return conf


def producer_config(bus: str, ks: KafkaSettings, role: str) -> dict[str, Any]:
    """kafka-python producer options: acks=all, retries, compression, idempotence."""
    conf: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers(bus), "client_id": client_id(ks, role), "acks": "all",
        "retries": ks.retries, "enable_idempotence": ks.idempotent, "linger_ms": ks.linger_ms,
        "delivery_timeout_ms": ks.delivery_timeout_ms, "request_timeout_ms": ks.request_timeout_ms,
        "compression_type": None if ks.compression == "none" else ks.compression,
        "allow_auto_create_topics": False,
    }
    if ks.delivery_timeout_ms < ks.linger_ms + ks.request_timeout_ms:
        conf["delivery_timeout_ms"] = ks.linger_ms + ks.request_timeout_ms
    conf.update(_security(ks))
    return conf


def consumer_config(bus: str, ks: KafkaSettings, *, group: str, role: str) -> dict[str, Any]:
    """kafka-python consumer options: manual commits, the configured group timeouts."""
    conf: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers(bus), "client_id": client_id(ks, role), "group_id": group,
        "enable_auto_commit": False, "auto_offset_reset": ks.auto_offset_reset,
        "max_poll_records": ks.max_poll_records, "max_poll_interval_ms": ks.max_poll_interval_ms,
        "session_timeout_ms": ks.session_timeout_ms, "heartbeat_interval_ms": ks.heartbeat_interval_ms,
        "request_timeout_ms": max(ks.request_timeout_ms, ks.session_timeout_ms + 5000),
        "allow_auto_create_topics": False,
    }
    conf.update(_security(ks))
    return conf


def admin_config(bus: str, ks: KafkaSettings) -> dict[str, Any]:
    conf: dict[str, Any] = {"bootstrap_servers": bootstrap_servers(bus), "client_id": client_id(ks, "admin"),
                            "request_timeout_ms": ks.request_timeout_ms}
    conf.update(_security(ks))
    return conf


def make_admin(bus: str, ks: KafkaSettings) -> Any:
    """An admin client that tolerates brokers reporting unknown ACL operation bits.

    kafka-python 3.0 decodes ``authorized_operations`` of DescribeGroups into
    its ACL enum and crashes on bits it does not know (Tansu 0.6 sets them); we
    neither request nor decode them.
    """
    from kafka import KafkaAdminClient

    class _Admin(KafkaAdminClient):  # type: ignore[misc]
        def _describe_groups_request(self, group_ids: Any) -> Any:
            request = super()._describe_groups_request(group_ids)
            request.include_authorized_operations = False
            return request

        def _process_acl_operations(self, obj: dict[str, Any]) -> dict[str, Any]:
            obj.pop("authorized_operations", None)
            return obj

    return _Admin(**admin_config(bus, ks))


def ensure_topics(bus: str, ks: KafkaSettings, topics: Iterable[str] | None = None) -> list[str]:
    """Create the missing ones of ``topics`` (default: all three) with the configured
    partitions and replication; return the names created. Existing topics are left
    as they are (their partition count is not changed)."""
    from kafka.errors import TopicAlreadyExistsError

    wanted = list(topics or ks.topics)
    admin = make_admin(bus, ks)
    try:
        existing = set(admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        if not missing:
            return []
        spec = {t: {"num_partitions": ks.partitions, "replication_factor": ks.replication} for t in missing}
        try:
            admin.create_topics(spec, timeout_ms=ks.request_timeout_ms)
        except TopicAlreadyExistsError:  # another process won the race
            pass
        log.info("created topic(s) %s with %d partition(s), replication %d", ", ".join(missing),
                 ks.partitions, ks.replication)
        return missing
    finally:
        admin.close()


def _headers(kind: str) -> list[tuple[str, bytes]]:
    return [(SCHEMA_HEADER, str(SCHEMA_VERSION).encode()), (KIND_HEADER, kind.encode())]


class KafkaBus:
    """Publish side of the Kafka bus (see the module docstring for its promises).

    ``settings`` is the process :class:`~newswatch.settings.Settings` (its ``bus``
    names the brokers); ``kafka`` the :class:`KafkaSettings` (read from the
    environment when omitted). Topics are created on first use when missing.
    Thread-safe: the producer is shared and each call waits for its own records.
    """

    def __init__(self, settings: Any = None, *, kafka: KafkaSettings | None = None, bus: str | None = None,
                 role: str = "bus", create_topics: bool = True) -> None:
        self.bus_url = bus or settings.bus
        self.kafka = kafka or KafkaSettings()
        bootstrap_servers(self.bus_url)  # validate early, with the fix in the message
        self.role = role
        self._producer: Any = None
        self._lock = threading.Lock()
        self._topics_ready = not create_topics

    # ------------------------------------------------------------ plumbing
    def _ensure(self) -> Any:
        with self._lock:
            if not self._topics_ready:
                ensure_topics(self.bus_url, self.kafka)
                self._topics_ready = True
            if self._producer is None:
                from kafka import KafkaProducer

                self._producer = KafkaProducer(**producer_config(self.bus_url, self.kafka, self.role))
            return self._producer

    def _send_all(self, topic: str, records: Sequence[tuple[str, bytes]], kind: str) -> int:
        """Send and wait until every record is acknowledged (acks=all); raise otherwise."""
        if not records:
            return 0
        producer = self._ensure()
        futures = [producer.send(topic, key=key.encode("utf-8"), value=value, headers=_headers(kind))
                   for key, value in records]
        producer.flush(timeout=self.kafka.flush_timeout_s)
        failed: list[str] = []
        for (key, _), fut in zip(records, futures):
            try:
                fut.get(timeout=0 if fut.is_done else self.kafka.flush_timeout_s)
            except Exception as exc:  # KafkaError or timeout: the record is not durable
                failed.append(f"{key}: {type(exc).__name__}: {exc}")
        if failed:
            raise KafkaPublishError(f"{len(failed)} of {len(records)} record(s) to {topic!r} on {self.bus_url} were "
                                    f"not acknowledged (first: {failed[0]}); nothing is lost — the caller retries")
        return len(records)

    # ----------------------------------------------------------- publishing
    def publish(self, articles: Sequence[RawArticle], *, dedup: bool = True) -> int:
        """Produce ``articles`` to the raw topic (key = article id); return when all are
        acknowledged. ``dedup`` is accepted but Kafka keeps no dedup memory."""
        return self._send_all(self.kafka.raw_topic,
                              [(a.id, a.to_json().encode("utf-8")) for a in articles], "raw_article")

    def publish_raw(self, key: str, payload: bytes, *, dedup: bool = False, topic: str | None = None) -> int:
        """Produce arbitrary bytes (tools, replays, poison-message tests) to the raw topic."""
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise TypeError(f"payload must be bytes, not {type(payload).__name__}")
        return self._send_all(topic or self.kafka.raw_topic, [(str(key), bytes(payload))], "raw")

    def publish_alerts(self, alerts: Sequence[Alert]) -> int:
        """Produce alerts to the alerts topic (key = alert id); durable on return."""
        return self._send_all(self.kafka.alerts_topic, [(a.id, a.to_json().encode("utf-8")) for a in alerts], "alert")

    def dead_letter(self, items: Sequence[DeadLetter]) -> int:
        """Produce dead letters (reason + original payload) to the dead-letter topic; durable on return.

        Kafka cannot tell which are new, so this returns how many were produced;
        readers dedup by ``DeadLetter.id``."""
        return self._send_all(self.kafka.dead_letter_topic,
                              [(d.id, d.to_json().encode("utf-8")) for d in items], "dead_letter")

    # -------------------------------------------------------------- reading
    def dead_letters(self, limit: int = 100, since: datetime | None = None) -> list[DeadLetter]:
        """The newest ``limit`` dead letters on the topic (newest first), deduplicated by id."""
        records = read_tail(self.bus_url, self.kafka, self.kafka.dead_letter_topic, limit)
        out: dict[str, DeadLetter] = {}
        for rec in records:
            try:
                d = DeadLetter.from_json(rec.value)
            except ValueError:
                continue
            if since is None or d.created_at >= since:
                out.setdefault(d.id, d)
        return sorted(out.values(), key=lambda d: d.created_at, reverse=True)[:limit]

    def count_dead_letters(self) -> int:
        """Records on the dead-letter topic (within retention; may count a redelivered one twice)."""
        return sum(p["end"] - p["start"] for p in topic_offsets(self.bus_url, self.kafka,
                                                                self.kafka.dead_letter_topic).values())

    def stats(self) -> dict[str, Any]:
        """Queue health in the shape of ``LocalBus.stats``: ``pending`` is the pipeline
        group's total lag; ``leased`` is not known on Kafka (reported as None)."""
        st = kafka_status(self.bus_url, self.kafka)
        raw = st["topics"].get(self.kafka.raw_topic, {})
        return {"pending": raw.get("lag"), "leased": None, "delayed": 0, "done": raw.get("committed"),
                "dead_letters": self.count_dead_letters(), "oldest_pending_age_s": None, "kafka": st}

    # ------------------------------------------------- not offered on Kafka
    def _no_lease(self, *_: Any, **__: Any) -> Any:
        raise NewswatchError("the Kafka bus is read by pipeline workers in a consumer group, not leased: run "
                             "`newswatch pipeline --bus kafka://…` (and `newswatch poll --bus kafka://…`) instead "
                             "of `newswatch run`")

    lease = wait = ack = nack = _no_lease

    def transaction(self) -> ContextManager[Any]:
        """Kafka writes here are not grouped: a no-op context (each publish is durable on its own)."""
        return nullcontext()

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                try:
                    self._producer.flush(timeout=self.kafka.flush_timeout_s)
                finally:
                    self._producer.close()
                    self._producer = None


# ----------------------------------------------------------------- reading
def topic_offsets(bus: str, ks: KafkaSettings, topic: str) -> dict[int, dict[str, int]]:
    """``{partition: {"start": earliest, "end": latest}}`` of ``topic`` ({} if it does not exist)."""
    from kafka import TopicPartition
    from kafka.admin import OffsetSpec

    admin = make_admin(bus, ks)
    try:
        if topic not in set(admin.list_topics()):
            return {}
        tps = [TopicPartition(topic, p) for p in _partitions(admin, topic)]
        if not tps:
            return {}
        ends = end_offsets(admin, bus, ks, tps)
        starts = admin.list_partition_offsets({tp: OffsetSpec.EARLIEST for tp in tps})
        return {tp.partition: {"start": max(0, starts[tp].offset), "end": ends[tp]} for tp in tps}
    finally:
        admin.close()


def end_offsets(admin: Any, bus: str, ks: KafkaSettings, tps: Sequence[Any]) -> dict[Any, int]:
    """The offset after the last record of each partition.

    Asks ListOffsets(LATEST), then reads the record just below each answer: on
    Apache Kafka that is the last record and changes nothing; Tansu 0.6 answers
    with the base offset of the last *batch* + 1, and the fetch returns that
    whole batch, whose last record gives the true end.
    """
    from kafka import KafkaConsumer
    from kafka.admin import OffsetSpec

    reported = {tp: max(0, o.offset) for tp, o in admin.list_partition_offsets(
        {tp: OffsetSpec.LATEST for tp in tps}).items()}
    probe = [tp for tp in tps if reported[tp] > 0]
    if not probe:
        return reported
    conf = consumer_config(bus, ks, group="", role="status")
    conf.update(group_id=None, fetch_max_wait_ms=100)
    consumer = KafkaConsumer(**conf)
    ends = dict(reported)
    try:
        consumer.assign(probe)
        for tp in probe:
            consumer.seek(tp, reported[tp] - 1)
        pending, idle = set(probe), 0
        while pending and idle < 3:
            got = consumer.poll(timeout_ms=500)
            idle = 0 if got else idle + 1
            for tp, records in got.items():
                if records:
                    ends[tp] = max(ends[tp], records[-1].offset + 1)
                    pending.discard(tp)
                    consumer.pause(tp)
    finally:
        consumer.close()
    return ends


def _partitions(admin: Any, topic: str) -> list[int]:
    desc = admin.describe_topics([topic])
    for t in desc:
        if t.get("topic", t.get("name")) == topic:
            return sorted(p["partition_index"] if "partition_index" in p else p["partition"]
                          for p in t.get("partitions", []))
    return []


def read_tail(bus: str, ks: KafkaSettings, topic: str, limit: int) -> list[Any]:
    """The last ``limit`` records of each partition of ``topic`` (no group, nothing committed)."""
    from kafka import KafkaConsumer, TopicPartition

    offsets = topic_offsets(bus, ks, topic)
    if not offsets:
        return []
    conf = consumer_config(bus, ks, group="", role="reader")
    conf["group_id"] = None
    consumer = KafkaConsumer(**conf)
    try:
        tps = [TopicPartition(topic, p) for p in offsets]
        consumer.assign(tps)
        want = 0
        for tp in tps:
            o = offsets[tp.partition]
            start = max(o["start"], o["end"] - limit)
            want += o["end"] - start
            consumer.seek(tp, start)
        records: list[Any] = []
        idle = 0
        while len(records) < want and idle < 3:
            got = consumer.poll(timeout_ms=1000)
            idle = 0 if got else idle + 1
            for batch in got.values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


# ------------------------------------------------------------------ status
def kafka_status(settings: Any, kafka: KafkaSettings | None = None) -> dict[str, Any]:
    """Per-partition end offset, committed offset and lag of the pipeline group (and
    of the notifier group on the alerts topic), and the group's members.

    ``settings`` is the :class:`~newswatch.settings.Settings` (or a ``kafka://`` URL).
    Partition owners come from the group's member assignments as the broker
    reports them (DescribeGroups). Apache Kafka reports them; Tansu 0.6 reports
    the members but empty assignments — then ``owner`` is None and
    ``assignments_reported`` is False (the workers log their assignments).
    A JSON-able dict: ``{"bus", "groups": {group: {"state", "members": [...]}},
    "topics": {topic: {"group", "end", "committed", "lag", "partitions": [...]}},
    "assignments_reported", "problems"}``.
    """
    from kafka import TopicPartition

    bus = settings if isinstance(settings, str) else settings.bus
    ks = kafka or KafkaSettings()
    st: dict[str, Any] = {"bus": bus, "groups": {}, "topics": {}, "assignments_reported": False, "problems": []}
    admin = make_admin(bus, ks)
    try:
        existing = set(admin.list_topics())
        watched = [(ks.raw_topic, ks.group), (ks.alerts_topic, ks.notifier_group), (ks.dead_letter_topic, None)]
        owners: dict[tuple[str, int], str] = {}
        for group in (ks.group, ks.notifier_group):
            try:
                desc = admin.describe_groups([group]).get(group, {})
            except Exception as exc:  # a broker without the API: report, do not crash status
                st["problems"].append(f"describe group {group}: {type(exc).__name__}: {exc}")
                desc = {}
            members = []
            for m in desc.get("members") or []:
                assigned = _assignment(m.get("member_assignment"))
                if assigned:
                    st["assignments_reported"] = True
                for topic, parts in assigned.items():
                    for p in parts:
                        owners[(topic, p)] = m.get("client_id") or m.get("member_id", "")
                members.append({"member_id": m.get("member_id", ""), "client_id": m.get("client_id") or "",
                                "host": m.get("client_host") or "",
                                "partitions": {t: sorted(ps) for t, ps in assigned.items()}})
            st["groups"][group] = {"state": desc.get("group_state") or desc.get("state") or "Unknown",
                                   "members": members}
        for topic, group in watched:
            if topic not in existing:
                st["problems"].append(f"topic {topic} does not exist yet (created by the first poll/pipeline)")
                continue
            tps = [TopicPartition(topic, p) for p in _partitions(admin, topic)]
            ends = end_offsets(admin, bus, ks, tps) if tps else {}
            committed: dict[Any, Any] = {}
            if group:
                try:
                    committed = admin.list_group_offsets({group: tps}).get(group, {})
                except Exception as exc:
                    st["problems"].append(f"committed offsets of {group}: {type(exc).__name__}: {exc}")
            rows = []
            for tp in tps:
                end = ends[tp]
                c = committed.get(tp)
                off = c.offset if c is not None and c.offset is not None and c.offset >= 0 else None
                rows.append({"partition": tp.partition, "end": end, "committed": off,
                             "lag": end - (off or 0) if group else None,
                             "owner": owners.get((topic, tp.partition))})
            st["topics"][topic] = {
                "group": group, "end": sum(r["end"] for r in rows),
                "committed": sum(r["committed"] or 0 for r in rows) if group else None,
                "lag": sum(r["lag"] for r in rows) if group else None, "partitions": rows}
        if not st["assignments_reported"] and any(g["members"] for g in st["groups"].values()):
            st["problems"].append("the broker reports group members but not their partition assignments "
                                  "(Tansu does not); each worker logs 'assigned partitions' when they change")
    finally:
        admin.close()
    return st


def _assignment(raw: Any) -> dict[str, list[int]]:
    """A decoded ConsumerProtocolAssignment (or its dict form) → {topic: [partitions]}."""
    if not raw:
        return {}
    if hasattr(raw, "assigned_partitions"):
        parts = raw.assigned_partitions
    elif isinstance(raw, dict):
        parts = raw.get("assigned_partitions") or raw.get("partitions") or []
    else:
        return {}
    out: dict[str, list[int]] = {}
    for item in parts:
        if isinstance(item, (tuple, list)) and len(item) == 2:
            out.setdefault(str(item[0]), []).extend(int(p) for p in item[1])
            continue
        topic = getattr(item, "topic", None) or (item.get("topic") if isinstance(item, dict) else None)
        ps = getattr(item, "partitions", None)
        if ps is None and isinstance(item, dict):
            ps = item.get("partitions", [])
        if topic:
            out.setdefault(topic, []).extend(int(p) for p in ps or [])
    return out
