"""The notifier's durable state (SQLite, WAL, ``synchronous=FULL``).

Tables
------
``notify_events``      every alert event received, by alert id (idempotent
                       ingest: an event seen again after a crash changes nothing)
``notify_notices``     one row per (topic, cluster): the first alert, how many
                       similar stories followed, whether it went out immediately
``notify_deliveries``  one row per (notice or digest, channel):
                       ``pending`` → ``sending`` → ``sent`` | back to ``pending``
                       with a backoff | ``parked`` with the last reason
``notify_digest_items`` notices waiting for (or included in) a subscription's digest
``notify_digests``     the digests built, one per subscription and period

Every transition is one transaction. ``sending`` is committed *before* the
channel is called and ``sent`` right after it answers, so after a crash a
``sending`` row is the only ambiguous one: it is sent again (at-least-once).
The remaining duplicate window is the instant between the channel's answer
(HTTP 200, SMTP 250) and our ``sent`` commit.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from newswatch.alerts.schedule import Route, is_throttled, next_boundary, plan_routes
from newswatch.alerts.settings import AlertsFile, RetryPolicy, Subscription
from newswatch.bus.sqlite import SQLiteDB
from newswatch.errors import NewswatchError
from newswatch.records import Alert

SCHEMA = """
CREATE TABLE IF NOT EXISTS notify_events (
    alert_id    TEXT PRIMARY KEY,
    notice_id   INTEGER NOT NULL,
    first       INTEGER NOT NULL,
    received_ts REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS notify_events_notice ON notify_events(notice_id);
CREATE TABLE IF NOT EXISTS notify_notices (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    topic_id    TEXT NOT NULL,
    cluster_key TEXT NOT NULL,
    alert_id    TEXT NOT NULL,
    body        TEXT NOT NULL,
    similar     INTEGER NOT NULL DEFAULT 0,
    immediate   INTEGER NOT NULL DEFAULT 0,
    throttled   INTEGER NOT NULL DEFAULT 0,
    created_ts  REAL NOT NULL,
    UNIQUE (topic_id, cluster_key)
);
CREATE INDEX IF NOT EXISTS notify_notices_topic ON notify_notices(topic_id, created_ts);
CREATE INDEX IF NOT EXISTS notify_notices_created ON notify_notices(created_ts);
CREATE TABLE IF NOT EXISTS notify_deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    notice_id    INTEGER,
    digest_id    INTEGER,
    subscription TEXT NOT NULL,
    channel      TEXT NOT NULL,
    severity     TEXT NOT NULL,
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_ts      REAL NOT NULL,
    last_error   TEXT,
    created_ts   REAL NOT NULL,
    sent_ts      REAL,
    UNIQUE (notice_id, channel),
    UNIQUE (digest_id, channel)
);
CREATE INDEX IF NOT EXISTS notify_deliveries_due ON notify_deliveries(state, next_ts);
CREATE INDEX IF NOT EXISTS notify_deliveries_digest ON notify_deliveries(digest_id);
CREATE TABLE IF NOT EXISTS notify_digest_items (
    subscription TEXT NOT NULL,
    notice_id    INTEGER NOT NULL,
    reason       TEXT NOT NULL,
    queued_ts    REAL NOT NULL,
    digest_id    INTEGER,
    PRIMARY KEY (subscription, notice_id)
);
CREATE INDEX IF NOT EXISTS notify_digest_items_notice ON notify_digest_items(notice_id);
CREATE INDEX IF NOT EXISTS notify_digest_items_open ON notify_digest_items(subscription, digest_id);
CREATE TABLE IF NOT EXISTS notify_digests (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription TEXT NOT NULL,
    period_end   REAL NOT NULL,
    created_ts   REAL NOT NULL,
    items        INTEGER NOT NULL
)
"""

TERMINAL = ("sent", "parked")


@dataclass(frozen=True)
class Delivery:
    """One due delivery: a notice (immediate alert) or a digest, to one channel."""

    id: int
    notice_id: int | None
    digest_id: int | None
    subscription: str
    channel: str
    severity: str
    state: str
    attempts: int


@dataclass
class IngestStats:
    received: int = 0
    new_notices: int = 0
    similar: int = 0
    throttled: int = 0
    deliveries: int = 0
    digest_items: int = 0


class NotifierBusy(NewswatchError):
    """Another notifier process holds the state file."""


class NotifyState:
    """The notifier's SQLite state at ``path`` (see the module docstring).

    With ``exclusive`` the instance takes an exclusive lock on ``PATH.lock``
    for its lifetime (one notifier per state file; the OS releases it when the
    process dies, also on kill -9). CLI readers (``alerts list``/``retry``)
    open it without the lock.
    """

    def __init__(self, path: Path | str, *, exclusive: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_fh = None
        if exclusive:
            self._take_lock()
        self._db = SQLiteDB.open(self.path)
        self._db.executescript(SCHEMA)

    def _take_lock(self) -> None:
        lock_path = self.path.with_name(self.path.name + ".lock")
        fh = open(lock_path, "a+")  # noqa: SIM115 - held for the state's lifetime
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            fh.close()
            raise NotifierBusy(f"another notifier (pid {holder}) is using {self.path}; "
                               "run one notifier per data directory") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._lock_fh = fh

    # ------------------------------------------------------------- ingest
    def ingest(self, alerts: Sequence[Alert], config: AlertsFile, now: float) -> IngestStats:
        """Record alert events (one transaction): dedup by (topic, cluster), route
        new notices to deliveries or digest items, count similar stories."""
        stats = IngestStats()
        with self._db.transaction() as conn:
            for alert in alerts:
                stats.received += 1
                if conn.execute("SELECT 1 FROM notify_events WHERE alert_id = ?", (alert.id,)).fetchone():
                    continue  # seen before (redelivered after a crash): nothing changes
                key = alert.cluster_id or alert.story_id
                row = conn.execute("SELECT id FROM notify_notices WHERE topic_id = ? AND cluster_key = ?",
                                   (alert.topic_id, key)).fetchone()
                if row:
                    conn.execute("UPDATE notify_notices SET similar = similar + 1 WHERE id = ?", (row[0],))
                    conn.execute("INSERT INTO notify_events (alert_id, notice_id, first, received_ts)"
                                 " VALUES (?, ?, 0, ?)", (alert.id, row[0], now))
                    stats.similar += 1
                    continue
                subs = config.subscriptions_for(alert.topic_id)
                throttle = config.throttle_for(alert.topic_id)
                recent = 0
                if throttle is not None and any(s.mode == "immediate" for s in subs):
                    recent = conn.execute(
                        "SELECT COUNT(*) FROM notify_notices WHERE topic_id = ? AND immediate = 1"
                        " AND created_ts > ?", (alert.topic_id, now - throttle.per_seconds)).fetchone()[0]
                throttled = is_throttled(recent, throttle) and any(s.mode == "immediate" for s in subs)
                routes = plan_routes(subs, throttled=throttled)
                immediate = any(r.how == "immediate" for r in routes)
                notice_id = conn.execute(
                    "INSERT INTO notify_notices (topic_id, cluster_key, alert_id, body, immediate, throttled,"
                    " created_ts) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (alert.topic_id, key, alert.id, alert.to_json(), int(immediate), int(throttled), now)).lastrowid
                conn.execute("INSERT INTO notify_events (alert_id, notice_id, first, received_ts)"
                             " VALUES (?, ?, 1, ?)", (alert.id, notice_id, now))
                stats.new_notices += 1
                stats.throttled += int(throttled)
                for r in routes:
                    self._add_route(conn, notice_id, r, now, stats)
        return stats

    @staticmethod
    def _add_route(conn, notice_id: int, r: Route, now: float, stats: IngestStats) -> None:  # noqa: ANN001
        if r.how == "immediate":
            cur = conn.execute(
                "INSERT OR IGNORE INTO notify_deliveries (notice_id, subscription, channel, severity, state,"
                " next_ts, created_ts) VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                (notice_id, r.subscription, r.channel, r.severity, now, now))
            stats.deliveries += max(cur.rowcount, 0)
        else:
            cur = conn.execute(
                "INSERT OR IGNORE INTO notify_digest_items (subscription, notice_id, reason, queued_ts)"
                " VALUES (?, ?, ?, ?)", (r.subscription, notice_id, r.reason, now))
            stats.digest_items += max(cur.rowcount, 0)

    # ------------------------------------------------------------ digests
    def roll_digests(self, subscriptions: Iterable[Subscription], now: float) -> int:
        """Close every subscription's digest whose period has ended: one digest
        row with its items and one pending delivery per channel. Returns how many."""
        made = 0
        by_key = {s.key: s for s in subscriptions}
        with self._db.transaction() as conn:
            rows = conn.execute("SELECT subscription, MIN(queued_ts) FROM notify_digest_items"
                                " WHERE digest_id IS NULL GROUP BY subscription").fetchall()
            for key, oldest in rows:
                sub = by_key.get(key)
                if sub is None:
                    continue  # subscription removed from alerts.yaml: its items wait (see `alerts list`)
                due = next_boundary(oldest, sub.digest, sub.digest_at)
                if now < due:
                    continue
                digest_id = conn.execute(
                    "INSERT INTO notify_digests (subscription, period_end, created_ts, items) VALUES (?, ?, ?, 0)",
                    (key, due, now)).lastrowid
                n = conn.execute("UPDATE notify_digest_items SET digest_id = ? WHERE subscription = ?"
                                 " AND digest_id IS NULL AND queued_ts < ?", (digest_id, key, due)).rowcount
                conn.execute("UPDATE notify_digests SET items = ? WHERE id = ?", (n, digest_id))
                for ch in sub.channels:
                    conn.execute(
                        "INSERT INTO notify_deliveries (digest_id, subscription, channel, severity, state,"
                        " next_ts, created_ts) VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                        (digest_id, key, ch, sub.severity, now, now))
                made += 1
        return made

    def digest(self, digest_id: int) -> tuple[float, list[tuple[Alert, int, str]]]:
        """(period end, [(first alert, similar count, reason)]) of a digest, oldest first."""
        conn = self._db.connection()
        end = conn.execute("SELECT period_end FROM notify_digests WHERE id = ?", (digest_id,)).fetchone()
        rows = conn.execute(
            "SELECT n.body, n.similar, i.reason FROM notify_digest_items i JOIN notify_notices n"
            " ON n.id = i.notice_id WHERE i.digest_id = ? ORDER BY n.created_ts, n.id", (digest_id,)).fetchall()
        return (end[0] if end else 0.0), [(Alert.from_json(b), s, r) for b, s, r in rows]

    # --------------------------------------------------------- deliveries
    def due(self, now: float, limit: int = 100) -> list[Delivery]:
        """Deliveries to attempt now, oldest first (``sending`` = interrupted by a crash)."""
        rows = self._db.execute(
            "SELECT id, notice_id, digest_id, subscription, channel, severity, state, attempts"
            " FROM notify_deliveries WHERE state IN ('pending', 'sending') AND next_ts <= ?"
            " ORDER BY id LIMIT ?", (now, int(limit))).fetchall()
        return [Delivery(*r) for r in rows]

    def next_due(self) -> float | None:
        """When the earliest waiting delivery becomes due (None: nothing waits)."""
        row = self._db.execute("SELECT MIN(next_ts) FROM notify_deliveries"
                               " WHERE state IN ('pending', 'sending')").fetchone()
        return row[0]

    def notice(self, notice_id: int) -> tuple[Alert, int]:
        """The first alert of a notice and its similar-story count now."""
        body, similar = self._db.execute("SELECT body, similar FROM notify_notices WHERE id = ?",
                                         (notice_id,)).fetchone()
        return Alert.from_json(body), similar

    def mark_sending(self, delivery_id: int) -> None:
        """Committed before the channel is called (see the module docstring)."""
        with self._db.transaction() as conn:
            conn.execute("UPDATE notify_deliveries SET state = 'sending', attempts = attempts + 1 WHERE id = ?",
                         (delivery_id,))

    def mark_sent(self, delivery_id: int, now: float) -> None:
        with self._db.transaction() as conn:
            conn.execute("UPDATE notify_deliveries SET state = 'sent', sent_ts = ?, last_error = NULL"
                         " WHERE id = ?", (now, delivery_id))

    def mark_failed(self, delivery_id: int, reason: str, now: float, policy: RetryPolicy,
                    *, park: bool = False) -> str:
        """Record a failed attempt: back to ``pending`` after a backoff, or ``parked``
        once ``policy.max_attempts`` attempts failed (or at once with ``park``).
        Returns the new state."""
        with self._db.transaction() as conn:
            attempts = conn.execute("SELECT attempts FROM notify_deliveries WHERE id = ?",
                                    (delivery_id,)).fetchone()[0]
            if park or attempts >= policy.max_attempts:
                conn.execute("UPDATE notify_deliveries SET state = 'parked', last_error = ? WHERE id = ?",
                             (reason[:2000], delivery_id))
                return "parked"
            conn.execute("UPDATE notify_deliveries SET state = 'pending', last_error = ?, next_ts = ?"
                         " WHERE id = ?", (reason[:2000], now + policy.delay(attempts), delivery_id))
            return "pending"

    def requeue_parked(self, now: float, channel: str | None = None) -> int:
        """Parked deliveries (of one channel, or all) back to ``pending`` with fresh attempts."""
        sql = "UPDATE notify_deliveries SET state = 'pending', attempts = 0, next_ts = ? WHERE state = 'parked'"
        params: list = [now]
        if channel is not None:
            sql += " AND channel = ?"
            params.append(channel)
        with self._db.transaction() as conn:
            return conn.execute(sql, params).rowcount

    # --------------------------------------------------------------- acks
    def finished(self, alert_ids: Sequence[str]) -> set[str]:
        """The alert events that may be acknowledged: duplicates, notices without
        routes, and notices whose every delivery (immediate and via digests) is
        sent or parked."""
        done: set[str] = set()
        conn = self._db.connection()
        for i in range(0, len(alert_ids), 500):
            chunk = list(alert_ids[i:i + 500])
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT e.alert_id FROM notify_events e WHERE e.alert_id IN ({marks}) AND ("
                " e.first = 0 OR ("
                "  NOT EXISTS (SELECT 1 FROM notify_deliveries d WHERE d.notice_id = e.notice_id"
                "              AND d.state NOT IN ('sent', 'parked'))"
                "  AND NOT EXISTS (SELECT 1 FROM notify_digest_items i WHERE i.notice_id = e.notice_id"
                "              AND i.digest_id IS NULL)"
                "  AND NOT EXISTS (SELECT 1 FROM notify_digest_items i JOIN notify_deliveries d"
                "              ON d.digest_id = i.digest_id WHERE i.notice_id = e.notice_id"
                "              AND d.state NOT IN ('sent', 'parked'))))", chunk).fetchall()
            done.update(r[0] for r in rows)
        return done

    # ------------------------------------------------------------ reading
    def notices(self, *, topic: str | None = None, since: float | None = None,
                limit: int = 100) -> list[dict]:
        """Notices newest first with their similar count and per-channel delivery states."""
        where, params = [], []
        if topic is not None:
            where.append("topic_id = ?")
            params.append(topic)
        if since is not None:
            where.append("created_ts >= ?")
            params.append(since)
        sql = "SELECT id, body, similar, throttled, created_ts FROM notify_notices"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_ts DESC, id DESC LIMIT ?"
        conn = self._db.connection()
        out = []
        for nid, body, similar, throttled, created in conn.execute(sql, (*params, int(limit))).fetchall():
            deliveries = [
                {"channel": ch, "state": st, "attempts": at, "error": er, "via": via}
                for ch, st, at, er, via in conn.execute(
                    "SELECT channel, state, attempts, last_error, 'immediate' FROM notify_deliveries"
                    " WHERE notice_id = ? UNION ALL"
                    " SELECT d.channel, d.state, d.attempts, d.last_error, 'digest' FROM notify_digest_items i"
                    " JOIN notify_deliveries d ON d.digest_id = i.digest_id WHERE i.notice_id = ?",
                    (nid, nid)).fetchall()]
            waiting = conn.execute("SELECT subscription FROM notify_digest_items WHERE notice_id = ?"
                                   " AND digest_id IS NULL", (nid,)).fetchall()
            out.append({"alert": Alert.from_json(body), "similar": similar, "throttled": bool(throttled),
                        "received_ts": created, "deliveries": deliveries,
                        "digest_waiting": [w[0] for w in waiting]})
        return out

    def counts(self) -> dict[str, int]:
        """Deliveries by state, plus notices and events (for status and tests)."""
        conn = self._db.connection()
        out = {st: n for st, n in conn.execute("SELECT state, COUNT(*) FROM notify_deliveries GROUP BY state")}
        out["notices"] = conn.execute("SELECT COUNT(*) FROM notify_notices").fetchone()[0]
        out["events"] = conn.execute("SELECT COUNT(*) FROM notify_events").fetchone()[0]
        out["digest_waiting"] = conn.execute(
            "SELECT COUNT(*) FROM notify_digest_items WHERE digest_id IS NULL").fetchone()[0]
        return out

    def parked(self, channel: str | None = None) -> list[tuple[int, str, str]]:
        """(delivery id, channel, reason) of parked deliveries."""
        sql = "SELECT id, channel, COALESCE(last_error, '') FROM notify_deliveries WHERE state = 'parked'"
        params: tuple = ()
        if channel is not None:
            sql += " AND channel = ?"
            params = (channel,)
        return [tuple(r) for r in self._db.execute(sql + " ORDER BY id", params).fetchall()]

    # ------------------------------------------------------------ pruning
    def prune(self, before_ts: float) -> int:
        """Forget notices created before ``before_ts`` whose deliveries are all
        finished (with their events, deliveries and digest items), and digests
        left without items. Returns how many notices went. Keep the retention
        longer than the cluster store's horizon, or a late copy of an old
        cluster would alert again."""
        done_old = (
            "SELECT n.id FROM notify_notices n WHERE n.created_ts < ?"
            " AND NOT EXISTS (SELECT 1 FROM notify_deliveries d WHERE d.notice_id = n.id"
            "                 AND d.state NOT IN ('sent', 'parked'))"
            " AND NOT EXISTS (SELECT 1 FROM notify_digest_items i WHERE i.notice_id = n.id"
            "                 AND i.digest_id IS NULL)"
            " AND NOT EXISTS (SELECT 1 FROM notify_digest_items i JOIN notify_deliveries d"
            "                 ON d.digest_id = i.digest_id WHERE i.notice_id = n.id"
            "                 AND d.state NOT IN ('sent', 'parked'))")
        with self._db.transaction() as conn:
            ids = [r[0] for r in conn.execute(done_old, (before_ts,)).fetchall()]
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                marks = ",".join("?" * len(chunk))
                for table, col in (("notify_events", "notice_id"), ("notify_deliveries", "notice_id"),
                                   ("notify_digest_items", "notice_id"), ("notify_notices", "id")):
                    conn.execute(f"DELETE FROM {table} WHERE {col} IN ({marks})", chunk)
            conn.execute("DELETE FROM notify_deliveries WHERE digest_id IN (SELECT g.id FROM notify_digests g"
                         " WHERE g.created_ts < ? AND NOT EXISTS (SELECT 1 FROM notify_digest_items i"
                         " WHERE i.digest_id = g.id)) AND state IN ('sent', 'parked')", (before_ts,))
            conn.execute("DELETE FROM notify_digests WHERE created_ts < ? AND NOT EXISTS (SELECT 1 FROM"
                         " notify_digest_items i WHERE i.digest_id = notify_digests.id) AND NOT EXISTS"
                         " (SELECT 1 FROM notify_deliveries d WHERE d.digest_id = notify_digests.id)",
                         (before_ts,))
        return len(ids)

    # ---------------------------------------------------------- lifecycle
    def close(self) -> None:
        self._db.close()
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None

    def __enter__(self) -> "NotifyState":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
