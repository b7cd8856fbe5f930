"""A small SQLite helper shared by the local bus and the alert outbox.

Why a helper: the embedded bus and the alert outbox may live in one database
file so that "write the alerts, store the dead letters, ack the batch" is ONE
SQLite transaction. For that both must use the *same connection* on the thread
that runs the transaction. :func:`SQLiteDB.open` therefore hands out one shared,
reference-counted :class:`SQLiteDB` per (process, file); every thread gets its
own connection from it, and :meth:`SQLiteDB.transaction` nests (an inner
``transaction()`` on the same thread joins the outer one).

Settings applied to every connection: WAL journal (readers never block the
writer, several processes can share the file), ``synchronous=FULL`` (a commit
is on disk when it returns, also across power loss), ``busy_timeout`` (writers
from other processes queue instead of failing with "database is locked").
Write transactions start with ``BEGIN IMMEDIATE`` so two writers never deadlock
on a read→write lock upgrade.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

_REGISTRY: dict[tuple[int, str], "SQLiteDB"] = {}
_REGISTRY_LOCK = threading.Lock()


class SQLiteDB:
    """Per-thread connections to one SQLite file with nesting transactions.

    Use :meth:`open` (shared per process and file) rather than the constructor,
    and :meth:`close` when done; the file is really closed when its last user
    closes it.
    """

    def __init__(self, path: Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._conns: list[tuple[int, sqlite3.Connection]] = []
        self._lock = threading.Lock()
        self._refs = 0
        self._pid = os.getpid()
        self._closed = False

    # ------------------------------------------------------------ lifecycle
    @classmethod
    def open(cls, path: Path | str, *, busy_timeout_s: float = 30.0) -> "SQLiteDB":
        """The shared handle of ``path`` in this process (created on first use)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        key = (os.getpid(), os.path.realpath(path))
        with _REGISTRY_LOCK:
            db = _REGISTRY.get(key)
            if db is None or db._closed:
                db = cls(path, busy_timeout_s=busy_timeout_s)
                _REGISTRY[key] = db
            db._refs += 1
        db.connection()  # fail early (bad path, not a database)
        return db

    def close(self) -> None:
        """Release one reference; the last one closes every connection."""
        with _REGISTRY_LOCK:
            self._refs -= 1
            if self._refs > 0:
                return
            self._closed = True
            for key, db in list(_REGISTRY.items()):
                if db is self:
                    del _REGISTRY[key]
        with self._lock:
            conns, self._conns = self._conns, []
        for pid, conn in conns:
            if pid != os.getpid():
                continue  # inherited across fork: the parent owns it, never touch it
            try:
                conn.close()
            except sqlite3.Error as exc:  # closing must not mask the caller's error
                log.warning("closing %s: %s", self.path, exc)

    @property
    def closed(self) -> bool:
        return self._closed

    # ---------------------------------------------------------- connections
    def connection(self) -> sqlite3.Connection:
        """This thread's connection (autocommit mode; use :meth:`transaction`)."""
        if self._closed:
            raise sqlite3.ProgrammingError(f"{self.path} is closed")
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        # New thread, or a forked child inheriting the parent's thread-locals:
        # a SQLite connection must never cross a fork, so open a fresh one.
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None,
                               check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("%s: journal_mode is %s, not WAL (network filesystem?)", self.path, mode)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        self._local.conn, self._local.pid, self._local.depth = conn, os.getpid(), 0
        with self._lock:
            self._conns.append((os.getpid(), conn))
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` … ``COMMIT``), rolled back on error.

        Nested calls on the same thread join the outermost transaction: nothing
        is committed until it ends, and an error anywhere rolls all of it back.
        """
        conn = self.connection()
        depth = self._local.depth
        if depth:
            self._local.depth = depth + 1
            try:
                yield conn
            finally:
                self._local.depth = depth
            return
        conn.execute("BEGIN IMMEDIATE")
        self._local.depth = 1
        try:
            yield conn
        except BaseException:
            self._local.depth = 0
            if conn.in_transaction:
                conn.rollback()
            raise
        self._local.depth = 0
        try:
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise

    def in_transaction(self) -> bool:
        """Whether this thread is inside :meth:`transaction`."""
        return bool(getattr(self._local, "depth", 0)) and self._local.pid == os.getpid()

    def execute(self, sql: str, params: tuple | list = ()) -> sqlite3.Cursor:
        """Run one statement on this thread's connection (its own implicit transaction)."""
        return self.connection().execute(sql, params)

    def executescript(self, script: str) -> None:
        """Run DDL (idempotent ``CREATE … IF NOT EXISTS``) inside a transaction."""
        with self.transaction() as conn:
            for stmt in script.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
