"""The bus interface between connectors and the pipeline, and its delivery promises.

Connectors *publish* raw articles; the pipeline *leases* a micro-batch, processes
it, writes the index and the alerts, and only then *acks* it. Implementations:
:class:`newswatch.bus.local.LocalBus` (durable SQLite queue, embedded
deployment) and a Kafka bus (scaled-out deployment).

Delivery promises (every implementation must keep them)
-------------------------------------------------------
* **Durable publish.** When :meth:`Bus.publish` returns, the messages survive a
  crash of the publisher (kill -9) and of the machine (fsync'd).
* **At-least-once delivery.** A leased message that is not acked before its
  lease expires (the consumer was slow, crashed or was killed) is delivered
  again, with ``attempts`` incremented. Consumers must therefore be idempotent:
  index upserts by story id, alerts keyed by ``Alert.id``, dead letters keyed by
  ``DeadLetter.id``.
* **No ordering promise per key.** Leases hand out messages in offset order,
  but a redelivered message comes after newer ones and two consumers may hold
  two versions of one story at once. Consumers must not rely on order (the
  index keeps the latest ``fetched_at``/content; alerts are keyed).
* **Ack is final.** An acked message is never delivered again. ``nack`` makes a
  message available again after a delay (a retry, counted in ``attempts``).
* **Nothing is silently dropped.** Payloads the pipeline cannot parse (poison
  messages) are delivered like any other (:meth:`Bus.publish_raw` exists so
  tests and tools can produce them) and the pipeline stores them with
  :meth:`Bus.dead_letter`. A message delivered ``max_attempts`` times without an
  ack (it keeps killing its consumer) is moved to the dead letters by the bus.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ContextManager, Iterable, Protocol, Sequence, runtime_checkable

from newswatch.records import Alert, DeadLetter, RawArticle


@dataclass(frozen=True, slots=True, repr=False)
class Message:
    """One leased message.

    ``offset`` is unique and increasing in publish order (the ack handle);
    ``key`` is the article id (or any key given to ``publish_raw``); ``payload``
    is the raw bytes as published (UTF-8 JSON of a :class:`RawArticle` for
    ``publish``); ``attempts`` counts deliveries including this one (1 on the
    first); ``enqueued_at`` is when it was published (tz-aware UTC).
    """

    offset: int
    key: str
    payload: bytes
    attempts: int
    enqueued_at: datetime

    def __repr__(self) -> str:
        return (f"Message(offset={self.offset}, key={self.key!r}, payload=<{len(self.payload)} bytes>, "
                f"attempts={self.attempts}, enqueued_at={self.enqueued_at.isoformat()})")

    def article(self) -> RawArticle:
        """Parse the payload as a RawArticle (raises ``pydantic.ValidationError``)."""
        return RawArticle.from_json(self.payload)


@runtime_checkable
class Bus(Protocol):
    """A durable, at-least-once queue of raw articles (see the module docstring)."""

    def publish(self, articles: Sequence[RawArticle], *, dedup: bool = True) -> int:
        """Enqueue articles durably (one transaction); return how many were enqueued.

        With ``dedup`` an article whose (id, content hash) was already published
        within the dedup window is skipped: the same unchanged story polled
        twice is enqueued once; a changed one is enqueued again.
        """
        ...

    def publish_raw(self, key: str, payload: bytes, *, dedup: bool = False) -> int:
        """Enqueue arbitrary bytes under ``key`` (tools, replays, poison-message
        tests); dedup, when asked, is by (key, hash of payload). Returns 0 or 1."""
        ...

    def lease(self, max_n: int, lease_s: float) -> list[Message]:
        """Atomically claim up to ``max_n`` available messages for ``lease_s``
        seconds, in offset order. Never blocks; returns ``[]`` when none."""
        ...

    def wait(self, timeout_s: float) -> bool:
        """Block until a message is available to lease (True) or the timeout passes (False)."""
        ...

    def ack(self, offsets: Iterable[int], *, alerts: Sequence[Alert] = (),
            dead_letters: Sequence[DeadLetter] = ()) -> list[Alert]:
        """Mark messages done, and — in the same transaction where the backend
        can — store ``dead_letters`` and add ``alerts`` to the alert outbox.
        Returns the alerts that were new. Acking an unknown/acked offset is a no-op."""
        ...

    def nack(self, offsets: Iterable[int], delay_s: float = 0.0) -> None:
        """Give leased messages back: available again after ``delay_s``."""
        ...

    def dead_letter(self, items: Sequence[DeadLetter]) -> int:
        """Store dead letters durably; idempotent by ``DeadLetter.id``. Returns how many were new."""
        ...

    def dead_letters(self, limit: int = 100, since: datetime | None = None) -> list[DeadLetter]:
        """The most recent dead letters (newest first), optionally only those created at/after ``since``."""
        ...

    def count_dead_letters(self) -> int:
        ...

    def stats(self) -> dict[str, Any]:
        """Queue health for ``newswatch status``: at least ``pending``, ``leased``,
        ``done``, ``dead_letters`` and ``oldest_pending_age_s``."""
        ...

    def transaction(self) -> ContextManager[Any]:
        """Group bus writes (and, for a shared SQLite file, outbox writes) in
        one transaction. Backends without transactions return a no-op context."""
        ...

    def close(self) -> None:
        ...
