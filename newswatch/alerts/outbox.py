"""The durable alert outbox: every alert the pipeline fires, once, until delivered.

The pipeline adds alerts here (never straight to a channel); consumers — the
alert log dispatcher (channel ``"log"``) and the notifier — read what is
pending *for them* and mark it delivered. Rows are keyed by ``Alert.id``
(= topic + story), inserted with ``INSERT OR IGNORE``: a batch redelivered after
a crash adds nothing twice, and a story re-processed later (edited, re-polled)
never re-fires a topic that already fired on it — one alert per (topic, story)
forever.

Sharing a file with the local bus
---------------------------------
Open the outbox on the bus's file (``AlertOutbox(settings.queue_path)``) and
the two share one SQLite handle in the process, so the pipeline can commit a
batch atomically::

    index.upsert(stories); index.commit()            # 1. idempotent by story id
    with bus.transaction():                           # 2. ONE SQLite transaction
        new = outbox.add(alerts)                      #    alerts keyed by id
        bus.dead_letter(bad)                          #    dead letters keyed by id
        bus.ack(offsets)                              #    the batch is done
    # (equivalently: new = bus.ack(offsets, alerts=alerts, dead_letters=bad))

A crash before step 2 commits leaves the batch leased; it is redelivered when
the lease expires (or at once when the consumer process is found dead), the
index upserts overwrite themselves and the alerts are inserted then. A crash
after the commit loses nothing and the batch is never redelivered. So kill -9
anywhere loses no alert and duplicates none.

With the Kafka bus the outbox lives in ``settings.state_path``; the sequence is
the same without the shared transaction (outbox commit, then offset commit):
a crash in between redelivers the batch and the ids absorb the duplicates.

Delivery promise to consumers: at-least-once per channel (a consumer that
crashes between delivering and :meth:`AlertOutbox.mark_delivered` sees the
alerts again — the alert log dedups by id, so it stays exactly-once).
"""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import Iterable, Sequence

from newswatch.bus.sqlite import SQLiteDB
from newswatch.records import Alert

SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    topic_id   TEXT NOT NULL,
    story_id   TEXT NOT NULL,
    created_ts REAL NOT NULL,
    added_ts   REAL NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_outbox_topic ON alert_outbox(topic_id, created_ts);
CREATE INDEX IF NOT EXISTS alert_outbox_created ON alert_outbox(created_ts);
CREATE TABLE IF NOT EXISTS alert_deliveries (
    channel      TEXT NOT NULL,
    alert_seq    INTEGER NOT NULL,
    delivered_ts REAL NOT NULL,
    PRIMARY KEY (channel, alert_seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alert_channels (
    channel   TEXT PRIMARY KEY,
    watermark INTEGER NOT NULL DEFAULT 0
)
"""
#: every alert with seq <= alert_channels.watermark is delivered on that channel;
#: it keeps ``pending`` from scanning the whole history.

LOG_CHANNEL = "log"


def ensure_schema(db: SQLiteDB) -> None:
    """Create the outbox tables in ``db`` if missing (idempotent)."""
    db.executescript(SCHEMA)


def insert_alerts(conn: sqlite3.Connection, alerts: Iterable[Alert]) -> list[Alert]:
    """INSERT OR IGNORE ``alerts`` on ``conn`` (caller's transaction); return the new ones."""
    now = time.time()
    new: list[Alert] = []
    for alert in alerts:
        cur = conn.execute(
            "INSERT OR IGNORE INTO alert_outbox (id, topic_id, story_id, created_ts, added_ts, body)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (alert.id, alert.topic_id, alert.story_id, alert.created_at.timestamp(), now, alert.to_json()))
        if cur.rowcount == 1:
            new.append(alert)
    return new


class AlertOutbox:
    """Durable alert outbox in SQLite (see the module docstring for the promises).

    Thread-safe (one connection per thread) and safe across processes.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._db = SQLiteDB.open(self.path)
        self._closed = False
        ensure_schema(self._db)

    # ------------------------------------------------------------- writing
    def add(self, alerts: Sequence[Alert]) -> list[Alert]:
        """Add alerts not seen before (by id) in one transaction; return only those.

        Joins the caller's ``transaction()`` when the outbox shares the bus's file.
        """
        if not alerts:
            return []
        with self._db.transaction() as conn:
            return insert_alerts(conn, alerts)

    def transaction(self):  # noqa: ANN201 - a context manager yielding the connection
        """One transaction for several writes; the bus on the same file shares it."""
        return self._db.transaction()

    def register_channel(self, channel: str, *, from_now: bool = False) -> None:
        """Make ``channel`` known. A new channel's pending alerts are the whole
        history, or — with ``from_now`` — only alerts added from now on."""
        with self._db.transaction() as conn:
            mark = 0
            if from_now:
                mark = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM alert_outbox").fetchone()[0]
            conn.execute("INSERT OR IGNORE INTO alert_channels (channel, watermark) VALUES (?, ?)",
                         (channel, mark))

    def mark_delivered(self, ids: Iterable[str], channel: str = LOG_CHANNEL) -> int:
        """Record that ``channel`` delivered these alerts (idempotent); return how many were new."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            return 0
        now = time.time()
        done = 0
        with self._db.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO alert_channels (channel, watermark) VALUES (?, 0)", (channel,))
            for chunk in _chunks(ids, 500):
                marks = ",".join("?" * len(chunk))
                cur = conn.execute(
                    "INSERT OR IGNORE INTO alert_deliveries (channel, alert_seq, delivered_ts)"
                    f" SELECT ?, seq, ? FROM alert_outbox WHERE id IN ({marks})", (channel, now, *chunk))
                done += max(cur.rowcount, 0)
            self._advance(conn, channel)
        return done

    def _advance(self, conn: sqlite3.Connection, channel: str) -> None:
        wm = self._watermark(conn, channel)
        first_open = conn.execute(
            "SELECT MIN(o.seq) FROM alert_outbox o WHERE o.seq > ? AND NOT EXISTS"
            " (SELECT 1 FROM alert_deliveries d WHERE d.channel = ? AND d.alert_seq = o.seq)",
            (wm, channel)).fetchone()[0]
        if first_open is None:
            first_open = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM alert_outbox").fetchone()[0] + 1
        if first_open - 1 > wm:
            conn.execute("UPDATE alert_channels SET watermark = ? WHERE channel = ?", (first_open - 1, channel))

    @staticmethod
    def _watermark(conn: sqlite3.Connection, channel: str) -> int:
        row = conn.execute("SELECT watermark FROM alert_channels WHERE channel = ?", (channel,)).fetchone()
        return row[0] if row else 0

    # ------------------------------------------------------------- reading
    def pending(self, limit: int = 100, channel: str = LOG_CHANNEL) -> list[Alert]:
        """Alerts not yet delivered on ``channel``, oldest first."""
        conn = self._db.connection()
        wm = self._watermark(conn, channel)
        rows = conn.execute(
            "SELECT o.body FROM alert_outbox o WHERE o.seq > ? AND NOT EXISTS"
            " (SELECT 1 FROM alert_deliveries d WHERE d.channel = ? AND d.alert_seq = o.seq)"
            " ORDER BY o.seq LIMIT ?", (wm, channel, int(limit))).fetchall()
        return [Alert.from_json(r[0]) for r in rows]

    def pending_after(self, after_seq: int, limit: int = 100,
                      channel: str = LOG_CHANNEL) -> list[tuple[int, Alert]]:
        """``(seq, alert)`` not yet delivered on ``channel`` with ``seq > after_seq``, oldest first.

        A reader that keeps its own cursor (the notifier's alert source) sees
        each pending alert once per process, however long it stays pending.
        """
        conn = self._db.connection()
        start = max(self._watermark(conn, channel), int(after_seq))
        rows = conn.execute(
            "SELECT o.seq, o.body FROM alert_outbox o WHERE o.seq > ? AND NOT EXISTS"
            " (SELECT 1 FROM alert_deliveries d WHERE d.channel = ? AND d.alert_seq = o.seq)"
            " ORDER BY o.seq LIMIT ?", (start, channel, int(limit))).fetchall()
        return [(r[0], Alert.from_json(r[1])) for r in rows]

    def count_pending(self, channel: str = LOG_CHANNEL) -> int:
        conn = self._db.connection()
        wm = self._watermark(conn, channel)
        return conn.execute(
            "SELECT COUNT(*) FROM alert_outbox o WHERE o.seq > ? AND NOT EXISTS"
            " (SELECT 1 FROM alert_deliveries d WHERE d.channel = ? AND d.alert_seq = o.seq)",
            (wm, channel)).fetchone()[0]

    def get(self, alert_id: str) -> Alert | None:
        row = self._db.execute("SELECT body FROM alert_outbox WHERE id = ?", (alert_id,)).fetchone()
        return Alert.from_json(row[0]) if row else None

    def delivered_on(self, alert_id: str) -> list[str]:
        """The channels that delivered this alert."""
        rows = self._db.execute(
            "SELECT d.channel FROM alert_deliveries d JOIN alert_outbox o ON o.seq = d.alert_seq"
            " WHERE o.id = ? ORDER BY d.channel", (alert_id,)).fetchall()
        return [r[0] for r in rows]

    def list(self, topic: str | None = None, since: datetime | None = None,
             limit: int = 100) -> list[Alert]:
        """Alerts newest first (by ``created_at``), optionally of one topic and since a time."""
        where, params = [], []
        if topic is not None:
            where.append("topic_id = ?")
            params.append(topic)
        if since is not None:
            where.append("created_ts >= ?")
            params.append(_ts(since))
        sql = "SELECT body FROM alert_outbox"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_ts DESC, seq DESC LIMIT ?"
        rows = self._db.execute(sql, (*params, int(limit))).fetchall()
        return [Alert.from_json(r[0]) for r in rows]

    def count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM alert_outbox").fetchone()[0]

    # ----------------------------------------------------------- lifecycle
    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._db.close()

    def __enter__(self) -> "AlertOutbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ts(when: datetime) -> float:
    if when.tzinfo is None:
        raise ValueError("since must be a tz-aware datetime")
    return when.timestamp()


def _chunks(items: list, n: int) -> Iterable[list]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


#: Short name used by :mod:`newswatch.backends`.
Outbox = AlertOutbox
