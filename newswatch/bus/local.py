"""The embedded durable bus: a SQLite queue file under the data directory.

Connectors (threads of ``newswatch run`` or separate processes on the same
machine) publish into it; the pipeline leases micro-batches from it. It keeps
the promises of :mod:`newswatch.bus.base`: a publish is on disk when it returns
(one transaction, WAL with ``synchronous=FULL``), a lease that is neither acked
nor nacked before it expires is delivered again, and an ack is final.

How it works
------------
* ``messages`` holds un-acked messages. A message is *available* when its
  ``visible_ts`` is in the past: a lease sets ``visible_ts`` to the lease expiry
  and ``owner`` to the leasing process (host, pid, process start time), so an
  expired lease makes the message available again without anyone touching it.
  Ack deletes the row; nack clears ``owner`` and sets ``visible_ts`` to now +
  delay.
* A consumer killed with -9 holds its lease until it expires, unless another
  process on the same host leases or waits first: leases whose owner process
  is gone are released at once (so ``newswatch run`` restarted after a crash
  resumes its batch immediately, not after the lease time).
* Every lease that ended without ack or nack (expired, owner died) counts in
  ``expired``; a message that reaches ``max_expiries`` (it keeps killing or
  stalling its consumer) is moved to the dead letters instead of being
  delivered again. A message nacked for a transient error is not counted.
* ``seen`` remembers (key, content hash, last seen) of published messages for
  ``dedup_window_s``; ``publish(..., dedup=True)`` skips an article whose key
  and hash were seen within the window. Connectors dedup too; this is defence
  in depth and makes a re-polled unchanged feed cost no pipeline work.
* ``dead_letters`` stores :class:`DeadLetter` records keyed by id
  (``INSERT OR IGNORE``: a redelivered batch does not duplicate them).
* The alert outbox tables (:mod:`newswatch.alerts.outbox`) may live in the same
  file; :meth:`LocalBus.ack` with ``alerts=`` / ``dead_letters=`` and
  :meth:`LocalBus.transaction` commit them with the ack in ONE transaction.

Processes and threads: any number of processes and threads may publish, lease
and ack concurrently; SQLite serializes the writers (``BEGIN IMMEDIATE`` with a
busy timeout) and a lease claims rows atomically. :meth:`LocalBus.wait` polls
the file cheaply (every ``poll_s``) and wakes at once for publishers in the same
process. The file must be on a local filesystem (WAL needs shared memory).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from newswatch.bus.base import Message
from newswatch.bus.sqlite import SQLiteDB
from newswatch.records import Alert, DeadLetter, RawArticle

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    key         TEXT NOT NULL,
    payload     BLOB NOT NULL,
    enqueued_ts REAL NOT NULL,
    visible_ts  REAL NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    expired     INTEGER NOT NULL DEFAULT 0,
    owner       TEXT
);
CREATE INDEX IF NOT EXISTS messages_visible ON messages(visible_ts);
CREATE INDEX IF NOT EXISTS messages_owner ON messages(owner) WHERE owner IS NOT NULL;
CREATE TABLE IF NOT EXISTS seen (
    key  TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    ts   REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_ts ON seen(ts);
CREATE TABLE IF NOT EXISTS dead_letters (
    id         TEXT PRIMARY KEY,
    stage      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    source     TEXT NOT NULL,
    created_ts REAL NOT NULL,
    body       TEXT NOT NULL,
    raw        BLOB
);
CREATE INDEX IF NOT EXISTS dead_letters_created ON dead_letters(created_ts);
CREATE TABLE IF NOT EXISTS bus_counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID
"""

_SQL_VARS = 500  # ids per IN (...) statement, well under SQLite's variable limit


class _Notifier:
    """Wakes same-process waiters when something is published or nacked."""

    _by_path: dict[str, "_Notifier"] = {}
    _guard = threading.Lock()

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.gen = 0

    @classmethod
    def for_path(cls, path: Path) -> "_Notifier":
        key = os.path.realpath(path)
        with cls._guard:
            return cls._by_path.setdefault(key, cls())

    def notify(self) -> None:
        with self.cond:
            self.gen += 1
            self.cond.notify_all()

    def wait(self, gen: int, timeout: float) -> None:
        with self.cond:
            if self.gen == gen:
                self.cond.wait(timeout)


def _proc_start(pid: int) -> str | None:
    """The start time of ``pid`` (Linux ``/proc``), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2:].split()
    # fields[0] is the state (field 3); starttime is field 22
    if fields and fields[0] in (b"Z", b"X"):
        return None
    return fields[19].decode() if len(fields) > 19 else None


def _owner_alive(owner: str, host: str) -> bool:
    """Whether the process that holds a lease may still be running.

    Only owners on this host can be checked; anything uncertain counts as alive
    (the lease then simply expires).
    """
    try:
        o_host, o_pid, o_start = owner.rsplit(":", 2)
        pid = int(o_pid)
    except ValueError:
        return True
    if o_host != host:
        return True
    if os.path.isdir("/proc/self"):
        start = _proc_start(pid)
        return start is not None and (not o_start or start == o_start)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _ts_to_dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def _chunks(items: list, n: int = _SQL_VARS) -> Iterable[list]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


class LocalBus:
    """Durable local queue in one SQLite file (see the module docstring).

    ``path``: the queue file (``settings.queue_path``). ``poll_s``: how often
    :meth:`wait` looks at the file for other processes' publishes.
    ``dedup_window_s``: how long a published (key, hash) suppresses the same
    publish. ``max_expiries``: leases a message may lose (consumer crash or
    timeout) before it is dead-lettered; ``None`` never. ``reclaim_dead``:
    release at once the leases of consumer processes on this host that no
    longer exist (otherwise they wait for their lease to expire).
    """

    def __init__(self, path: Path | str, *, poll_s: float = 0.1,
                 dedup_window_s: float = 7 * 24 * 3600.0, max_expiries: int | None = 5,
                 reclaim_dead: bool = True, busy_timeout_s: float = 30.0) -> None:
        if poll_s <= 0:
            raise ValueError("poll_s must be > 0")
        if max_expiries is not None and max_expiries < 1:
            raise ValueError("max_expiries must be >= 1 or None")
        self.path = Path(path)
        self.poll_s = poll_s
        self.dedup_window_s = dedup_window_s
        self.max_expiries = max_expiries
        self.reclaim_dead = reclaim_dead
        self._db = SQLiteDB.open(self.path, busy_timeout_s=busy_timeout_s)
        self._closed = False
        self._db.executescript(SCHEMA)
        self._notifier = _Notifier.for_path(self.path)
        self._host = socket.gethostname()
        self._owner_pid = -1
        self._owner_id = ""
        self._last_prune = 0.0
        self._last_reclaim = 0.0
        self._outbox_ready = False

    # ----------------------------------------------------------- publishing
    def publish(self, articles: Sequence[RawArticle], *, dedup: bool = True) -> int:
        """Enqueue ``articles`` in one durable transaction; return how many were
        enqueued (fewer than given when ``dedup`` skipped unchanged ones)."""
        items = [(a.id, a.to_json().encode("utf-8"), a.content_hash()) for a in articles]
        return self._enqueue(items, dedup)

    def publish_raw(self, key: str, payload: bytes, *, dedup: bool = False) -> int:
        """Enqueue arbitrary bytes under ``key`` (any bytes: poison messages must be
        representable). Dedup, when asked, is by (key, sha256 of payload)."""
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise TypeError(f"payload must be bytes, not {type(payload).__name__}")
        payload = bytes(payload)
        return self._enqueue([(str(key), payload, hashlib.sha256(payload).hexdigest()[:16])], dedup)

    def _enqueue(self, items: list[tuple[str, bytes, str]], dedup: bool) -> int:
        if not items:
            return 0
        now = time.time()
        fresh_after = now - self.dedup_window_s
        added = skipped = 0
        with self._db.transaction() as conn:
            for key, payload, digest in items:
                if dedup:
                    row = conn.execute("SELECT hash, ts FROM seen WHERE key = ?", (key,)).fetchone()
                    if row is not None and row[0] == digest and row[1] >= fresh_after:
                        conn.execute("UPDATE seen SET ts = ? WHERE key = ?", (now, key))
                        skipped += 1
                        continue
                conn.execute("INSERT INTO messages (key, payload, enqueued_ts, visible_ts) VALUES (?, ?, ?, ?)",
                             (key, payload, now, now))
                conn.execute("INSERT INTO seen (key, hash, ts) VALUES (?, ?, ?) ON CONFLICT(key)"
                             " DO UPDATE SET hash = excluded.hash, ts = excluded.ts", (key, digest, now))
                added += 1
            self._count(conn, published=added, deduplicated=skipped)
            if now - self._last_prune > 600:
                conn.execute("DELETE FROM seen WHERE ts < ?", (fresh_after,))
                self._last_prune = now
        if added:
            self._notifier.notify()
        return added

    # --------------------------------------------------------------- leasing
    def _owner(self) -> str:
        pid = os.getpid()
        if pid != self._owner_pid:  # after fork the child is a different owner
            self._owner_pid = pid
            self._owner_id = f"{self._host}:{pid}:{_proc_start(pid) or ''}"
        return self._owner_id

    def lease(self, max_n: int, lease_s: float) -> list[Message]:
        """Claim up to ``max_n`` available messages (offset order) for ``lease_s``
        seconds, atomically across processes; ``[]`` when none are available."""
        if max_n < 1:
            raise ValueError("max_n must be >= 1")
        if lease_s <= 0:
            raise ValueError("lease_s must be > 0")
        self._reclaim_dead_owners(force=True)
        owner = self._owner()
        with self._db.transaction() as conn:
            now = time.time()
            if self.max_expiries is not None:
                self._dead_letter_poison(conn, now)
            rows = conn.execute(
                "SELECT seq, key, payload, attempts, enqueued_ts, owner FROM messages"
                " WHERE visible_ts <= ? ORDER BY seq LIMIT ?", (now, int(max_n))).fetchall()
            if not rows:
                return []
            until = now + lease_s
            expired = [r[0] for r in rows if r[5] is not None]
            fresh = [r[0] for r in rows if r[5] is None]
            for ids, bump in ((expired, 1), (fresh, 0)):
                for chunk in _chunks(ids):
                    marks = ",".join("?" * len(chunk))
                    conn.execute(f"UPDATE messages SET visible_ts = ?, owner = ?, attempts = attempts + 1,"
                                 f" expired = expired + ? WHERE seq IN ({marks})", (until, owner, bump, *chunk))
            if expired:
                self._count(conn, redelivered=len(expired))
        return [Message(offset=r[0], key=r[1], payload=bytes(r[2]), attempts=r[3] + 1,
                        enqueued_at=_ts_to_dt(r[4])) for r in rows]

    def _dead_letter_poison(self, conn: Any, now: float) -> None:
        """Move available messages whose leases expired ``max_expiries`` times to dead letters.

        A lease that ends without ack/nack has expired once more when the message
        is available again with an owner still set (the counter is bumped when it
        is re-leased, so count that pending expiry here too)."""
        # Only rows with an owner can have reached the limit (a row is dead-lettered
        # before it is re-leased at the limit), so the partial index on owner suffices.
        rows = conn.execute(
            "SELECT seq, key, payload, attempts, expired + 1 FROM messages INDEXED BY messages_owner"
            " WHERE owner IS NOT NULL AND visible_ts <= ? AND expired + 1 >= ? LIMIT 1000",
            (now, self.max_expiries)).fetchall()
        for seq, key, payload, attempts, n in rows:
            dl = DeadLetter.of("bus", f"lease expired {n} times without ack or nack ({attempts} deliveries): "
                               "the message keeps crashing or stalling its consumer", bytes(payload), source=key)
            self._insert_dead_letters(conn, [dl], raw=bytes(payload))
            conn.execute("DELETE FROM messages WHERE seq = ?", (seq,))
            log.error("bus: message %s (key %s) dead-lettered after %d expired leases", seq, key, n)
        if rows:
            self._count(conn, poisoned=len(rows))

    def _reclaim_dead_owners(self, force: bool = False) -> int:
        """Release leases held by processes on this host that no longer exist."""
        now = time.time()
        if not self.reclaim_dead or (not force and now - self._last_reclaim < 1.0):
            return 0
        self._last_reclaim = now
        me = self._owner()
        owners = [r[0] for r in self._db.execute(
            "SELECT DISTINCT owner FROM messages INDEXED BY messages_owner"
            " WHERE owner IS NOT NULL AND visible_ts > ?", (now,))]
        dead = [o for o in owners if o != me and not _owner_alive(o, self._host)]
        released = 0
        if dead:
            with self._db.transaction() as conn:
                for o in dead:
                    cur = conn.execute("UPDATE messages SET visible_ts = ? WHERE owner = ? AND visible_ts > ?",
                                       (now, o, now))
                    released += cur.rowcount
            log.warning("bus: released %d message(s) leased by dead consumer(s) %s", released, ", ".join(dead))
            self._notifier.notify()
        return released

    def recover(self) -> int:
        """Release now the leases of consumer processes on this host that are gone
        (call at startup: a batch held by a crashed run is redelivered at once
        instead of after its lease). Returns how many messages were released.
        ``lease`` and ``wait`` also do this; leases of live processes are kept."""
        if not self.reclaim_dead:
            return 0
        return self._reclaim_dead_owners(force=True)

    def wait(self, timeout_s: float) -> bool:
        """Block until a message is available to lease (True) or ``timeout_s``
        passes (False). Wakes at once for same-process publishes, within
        ``poll_s`` for other processes and for expiring leases."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            gen = self._notifier.gen
            self._reclaim_dead_owners()
            now = time.time()
            row = self._db.execute("SELECT MIN(visible_ts) FROM messages").fetchone()
            nxt = row[0] if row else None
            if nxt is not None and nxt <= now:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            pause = min(self.poll_s, remaining)
            if nxt is not None:
                pause = min(pause, max(0.0, nxt - now) + 0.001)
            self._notifier.wait(gen, pause)

    # ------------------------------------------------------------ acknowledging
    def ack(self, offsets: Iterable[int], *, alerts: Sequence[Alert] = (),
            dead_letters: Sequence[DeadLetter] = ()) -> list[Alert]:
        """Delete acked messages and, in the same transaction, store
        ``dead_letters`` and add ``alerts`` to the alert outbox in this file.
        Returns the alerts that were new (not already in the outbox)."""
        offsets = list(dict.fromkeys(int(o) for o in offsets))
        if alerts:
            self._ensure_outbox()
        new: list[Alert] = []
        with self._db.transaction() as conn:
            if alerts:
                from newswatch.alerts.outbox import insert_alerts
                new = insert_alerts(conn, alerts)
            if dead_letters:
                self._insert_dead_letters(conn, dead_letters)
            acked = 0
            for chunk in _chunks(offsets):
                marks = ",".join("?" * len(chunk))
                acked += conn.execute(f"DELETE FROM messages WHERE seq IN ({marks})", chunk).rowcount
            self._count(conn, acked=acked)
        return new

    def _ensure_outbox(self) -> None:
        if not self._outbox_ready:
            from newswatch.alerts.outbox import ensure_schema
            ensure_schema(self._db)
            self._outbox_ready = True

    def nack(self, offsets: Iterable[int], delay_s: float = 0.0) -> None:
        """Return leased messages: available again after ``delay_s`` seconds.
        Messages not currently leased (acked, already nacked) are left alone."""
        offsets = list(dict.fromkeys(int(o) for o in offsets))
        if not offsets:
            return
        until = time.time() + max(0.0, delay_s)
        with self._db.transaction() as conn:
            n = 0
            for chunk in _chunks(offsets):
                marks = ",".join("?" * len(chunk))
                n += conn.execute(f"UPDATE messages SET visible_ts = ?, owner = NULL"
                                  f" WHERE owner IS NOT NULL AND seq IN ({marks})", (until, *chunk)).rowcount
            self._count(conn, nacked=n)
        self._notifier.notify()

    def transaction(self) -> AbstractContextManager[Any]:
        """One SQLite transaction around several calls on this thread: ack,
        dead_letter, publish, and ``AlertOutbox.add`` on the same file."""
        return self._db.transaction()

    # --------------------------------------------------------------- dead letters
    def dead_letter(self, items: Sequence[DeadLetter]) -> int:
        """Store dead letters durably; a repeated id is ignored. Returns how many were new."""
        if not items:
            return 0
        with self._db.transaction() as conn:
            return self._insert_dead_letters(conn, items)

    def _insert_dead_letters(self, conn: Any, items: Iterable[DeadLetter], raw: bytes | None = None) -> int:
        n = 0
        for dl in items:
            n += conn.execute(
                "INSERT OR IGNORE INTO dead_letters (id, stage, reason, source, created_ts, body, raw)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (dl.id, dl.stage, dl.reason, dl.source, dl.created_at.timestamp(), dl.to_json(), raw)).rowcount
        return n

    def dead_letters(self, limit: int = 100, since: datetime | None = None) -> list[DeadLetter]:
        """Stored dead letters, newest first; only those created at/after ``since`` if given."""
        if since is not None and since.tzinfo is None:
            raise ValueError("since must be a tz-aware datetime")
        sql, params = "SELECT body FROM dead_letters", []
        if since is not None:
            sql += " WHERE created_ts >= ?"
            params.append(since.timestamp())
        sql += " ORDER BY created_ts DESC, id LIMIT ?"
        rows = self._db.execute(sql, (*params, int(limit))).fetchall()
        return [DeadLetter.from_json(r[0]) for r in rows]

    def count_dead_letters(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0]

    def replay_dead_letters(self, ids: Iterable[str]) -> int:
        """Re-publish dead letters (original bytes where the bus kept them) and
        remove them from the dead letters, in one transaction. Returns how many."""
        ids = list(dict.fromkeys(ids))
        n = 0
        now = time.time()
        with self._db.transaction() as conn:
            for dl_id in ids:
                row = conn.execute("SELECT body, raw, source FROM dead_letters WHERE id = ?", (dl_id,)).fetchone()
                if row is None:
                    continue
                dl = DeadLetter.from_json(row[0])
                payload = bytes(row[1]) if row[1] is not None else dl.payload.encode("utf-8")
                conn.execute("INSERT INTO messages (key, payload, enqueued_ts, visible_ts) VALUES (?, ?, ?, ?)",
                             (row[2] or dl.id, payload, now, now))
                conn.execute("DELETE FROM dead_letters WHERE id = ?", (dl_id,))
                n += 1
            self._count(conn, replayed=n)
        if n:
            self._notifier.notify()
        return n

    # -------------------------------------------------------------------- stats
    @staticmethod
    def _count(conn: Any, **deltas: int) -> None:
        for name, delta in deltas.items():
            if delta:
                conn.execute("INSERT INTO bus_counters (name, value) VALUES (?, ?) ON CONFLICT(name)"
                             " DO UPDATE SET value = value + excluded.value", (name, delta))

    def stats(self) -> dict[str, Any]:
        """Queue health: ``pending`` (available now, incl. expired leases),
        ``leased``, ``delayed`` (nacked with a delay), ``done`` (acked, ever),
        ``dead_letters``, ``oldest_pending_age_s`` (age of the oldest un-acked
        message: the pipeline's lag), and lifetime counters ``published``,
        ``deduplicated``, ``redelivered``, ``nacked``, ``poisoned``, ``replayed``."""
        conn = self._db.connection()
        now = time.time()
        row = conn.execute(
            "SELECT COALESCE(SUM(visible_ts <= ?), 0), COALESCE(SUM(visible_ts > ? AND owner IS NOT NULL), 0),"
            " COALESCE(SUM(visible_ts > ? AND owner IS NULL), 0), MIN(enqueued_ts) FROM messages",
            (now, now, now)).fetchone()
        counters = dict(conn.execute("SELECT name, value FROM bus_counters").fetchall())
        return {
            "backend": "local",
            "path": str(self.path),
            "pending": row[0],
            "leased": row[1],
            "delayed": row[2],
            "done": counters.get("acked", 0),
            "dead_letters": self.count_dead_letters(),
            "oldest_pending_age_s": round(now - row[3], 3) if row[3] is not None else None,
            **{k: counters.get(k, 0) for k in ("published", "deduplicated", "redelivered",
                                                "nacked", "poisoned", "replayed")},
        }

    # ---------------------------------------------------------------- lifecycle
    def close(self) -> None:
        """Close this handle (the file stays open while other handles in the process use it)."""
        if not self._closed:
            self._closed = True
            self._db.close()

    def __enter__(self) -> "LocalBus":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LocalBus({str(self.path)!r})"
