"""The source lifecycle shared by every connector, and where sources keep cursors.

A source is a small object with a documented lifecycle::

    source.setup()                       # once: open sessions, create folders
    while running:
        if now >= source.next_due(now):
            result = source.poll(now)    # fetch + parse; never raises
            bus.publish(result.articles, result.dead_letters)   # durably
            source.ack(result)           # only now is the cursor advanced
    source.close()

Delivery promise: **at least once**. ``poll`` never advances the part of the
cursor that decides what counts as "already delivered" (ETag, body hash, seen
article ids, files moved out of a drop folder); ``ack`` does, after the caller
has durably enqueued the result. A crash between ``poll`` and ``ack`` means the
next poll after restart returns the same articles again (the stable article ids
make that harmless downstream); nothing is lost. Bookkeeping that cannot lose
data (failure counts, backoff, next due time) is stored by ``poll`` itself so a
restart keeps backing off a failing feed. Ack results in the order they were
polled; acking a result twice is harmless.

Cursors are small JSON dicts per source id, kept in a :class:`CursorStore`:
:class:`MemoryCursorStore` for tests and one-shot runs, :class:`SqliteCursorStore`
for the long-running monitor (WAL mode, safe to share between threads).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from newswatch.records import DeadLetter, RawArticle, utcnow

__all__ = [
    "PollStatus", "PollResult", "Source", "CursorStore", "MemoryCursorStore", "SqliteCursorStore",
]

#: ``ok``: fetched and parsed (``articles`` may still be empty when nothing is new);
#: ``not-modified``: the server answered 304; ``unchanged``: the body hash equals the
#: last one, parsing was skipped; ``error``: fetch failed, see ``error`` (backoff applies).
PollStatus = Literal["ok", "not-modified", "unchanged", "error"]


@dataclass
class PollResult:
    """What one poll of one source produced.

    ``articles`` are new or changed since the last acknowledged poll;
    ``dead_letters`` are inputs that could not become articles (with the reason
    and the original payload) and must be stored like articles, never dropped.
    ``pending`` is opaque state the source needs in :meth:`Source.ack` (the
    cursor to commit, the files to move); callers pass the result back as is.
    """

    source_id: str
    status: PollStatus
    articles: list[RawArticle] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    error: str | None = None
    problem: str | None = None
    http_status: int | None = None
    bytes: int = 0
    duration_s: float = 0.0
    polled_at: datetime = field(default_factory=utcnow)
    next_due: datetime | None = None
    pending: Any = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """False only when the poll failed (``status == "error"``)."""
        return self.status != "error"

    @property
    def needs_ack(self) -> bool:
        """True when :meth:`Source.ack` has something to commit."""
        return self.pending is not None


@runtime_checkable
class Source(Protocol):
    """A pollable source of articles (RSS/Atom feed, wire drop folder, ...).

    Lifecycle: ``setup()`` once, then ``poll(now)`` whenever ``next_due(now)`` has
    passed, ``ack(result)`` after the result is durably enqueued, ``close()`` at
    the end. ``poll`` never raises for source-side problems (network, HTTP,
    parse errors): they come back as ``status="error"`` or dead letters.
    """

    id: str

    def setup(self) -> None:
        """Acquire resources (HTTP session, folders). Idempotent."""

    def poll(self, now: datetime | None = None) -> PollResult:
        """Fetch and parse once; return new articles and dead letters. Never raises."""

    def ack(self, result: PollResult) -> None:
        """Commit the cursor of ``result`` after its contents were durably enqueued."""

    def next_due(self, now: datetime | None = None) -> datetime:
        """When the next poll should happen (tz-aware; ``<= now`` means poll now)."""

    def close(self) -> None:
        """Release resources. Idempotent."""


class CursorStore(Protocol):
    """Where sources keep their resumable cursor: one JSON dict per source id.

    ``get`` returns a fresh copy (``{}`` when unknown); mutating it changes
    nothing until ``put``. ``put`` replaces the whole cursor and is durable when
    it returns (for persistent stores).
    """

    def get(self, source_id: str) -> dict[str, Any]: ...

    def put(self, source_id: str, cursor: dict[str, Any]) -> None: ...


class MemoryCursorStore:
    """Cursors in a dict: for tests and one-shot commands. Thread-safe."""

    def __init__(self) -> None:
        self._data: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, source_id: str) -> dict[str, Any]:
        with self._lock:
            raw = self._data.get(source_id)
        return json.loads(raw) if raw else {}

    def put(self, source_id: str, cursor: dict[str, Any]) -> None:
        raw = json.dumps(cursor, ensure_ascii=False)
        with self._lock:
            self._data[source_id] = raw

    def ids(self) -> list[str]:
        with self._lock:
            return sorted(self._data)


class SqliteCursorStore:
    """Cursors in SQLite (``cursors(source_id, cursor, updated_at)``), WAL mode.

    One connection guarded by a lock, so one store can be shared by the poll
    threads of many sources; each ``put`` is its own committed transaction. A
    cursor that is not valid JSON (hand-edited, truncated disk) reads as ``{}``:
    the source then re-fetches and re-delivers, which is safe (at least once).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            str(self.path), check_same_thread=False, timeout=30.0, isolation_level=None)
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS cursors ("
                " source_id TEXT PRIMARY KEY, cursor TEXT NOT NULL, updated_at TEXT NOT NULL)")

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"cursor store {self.path} is closed")
        return self._conn

    def get(self, source_id: str) -> dict[str, Any]:
        with self._lock:
            row = self._db().execute("SELECT cursor FROM cursors WHERE source_id = ?",
                                     (source_id,)).fetchone()
        if not row:
            return {}
        try:
            value = json.loads(row[0])
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def put(self, source_id: str, cursor: dict[str, Any]) -> None:
        raw = json.dumps(cursor, ensure_ascii=False)
        with self._lock:
            self._db().execute(
                "INSERT INTO cursors (source_id, cursor, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(source_id) DO UPDATE SET cursor = excluded.cursor, "
                "updated_at = excluded.updated_at",
                (source_id, raw, utcnow().isoformat()))

    def ids(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db().execute("SELECT source_id FROM cursors ORDER BY 1")]

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> SqliteCursorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
