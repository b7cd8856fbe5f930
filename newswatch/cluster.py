"""Near-duplicate clustering: syndicated copies and light rewrites share a ``cluster_id``.

Twelve outlets running the same wire story should reach an analyst as one
alert, not twelve. Every story gets a ``cluster_id``: the cluster of the
earliest-seen stored story it is similar to, else its own story id.

How similarity is found
-----------------------
* **Shingles**: runs of ``shingle_words`` consecutive tokens of
  :func:`newswatch.fields.tokenize` (the tokenizer the matcher and the index
  use), so case, punctuation and markup do not matter.
* **MinHash** (``datasketch``, ``num_perm`` = 128, fixed seed): a 128-value
  signature whose fraction of equal values estimates the Jaccard similarity of
  two shingle sets.
* **LSH banding**: the signature is cut into ``bands`` bands of ``rows``
  values; two stories that agree on all values of any one band become
  *candidates*. Candidates are then **verified** by their estimated Jaccard
  (≥ ``threshold``), so banding only decides recall and cost, never a match.

Tuned on the project's twelve rewrites of the seed story
(``samples/syndicated/``): with 3-word shingles their Jaccard against the full
wire copy is 0.42–0.76 (trimmed copies sit at the low end), 94 % of all pairs
of copies are ≥ 0.30, while unrelated stories (the demo's near misses) stay
≤ 0.03. Hence ``threshold`` = 0.35 (margin on both sides) and 42 bands × 3
rows: a pair at J = 0.42 becomes a candidate with probability 0.96 (at 0.5:
0.995; at 0.35: 0.84 — a copy usually has several stored siblings to be found
through), an unrelated pair at J = 0.02 with 0.0003. In 40 random arrival
orders of the twelve copies, 35 form one cluster; the other 5 split in two
because a heavily trimmed copy arrived first and a differently trimmed one
shares < 0.2 with it (no threshold fixes that; the wire original arriving
first, the usual case, always gives one cluster).

Why our own banded table instead of ``datasketch.MinHashLSH``
--------------------------------------------------------------
``MinHashLSH`` keeps its buckets in process memory (or Redis/Cassandra, which
are not part of the embedded deployment): it neither survives a restart nor is
shared by the pipeline workers of a machine. :class:`SqliteClusterStore`
keeps the same band buckets as rows of a SQLite table (WAL: many processes
read, one writes at a time), so every worker sees every story, a restart keeps
all clusters, and the lookup-then-insert of one story is a single
``BEGIN IMMEDIATE`` transaction — two workers assigning two copies at the same
instant cannot both found a cluster.

Promises of :func:`assign_cluster`
----------------------------------
* Idempotent: a story id already stored returns its stored cluster (also when
  its text changed since), so a batch redelivered after a crash gets the same
  clusters.
* Bounded: stories first seen more than ``horizon_days`` ago are pruned (with
  their buckets); a copy arriving later starts a new cluster.
* Durability: commits use ``synchronous=NORMAL`` in WAL mode: a killed process
  loses nothing; an OS crash or power loss may forget the last assignments,
  in which case a later copy of such a story starts its own cluster (one
  extra alert, never a lost one).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import zlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Literal, Protocol, Sequence

import numpy as np
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from newswatch.errors import ConfigError
from newswatch.fields import tokenize
from newswatch.records import Story

if TYPE_CHECKING:
    from newswatch.cluster_es import ElasticsearchClusterStore

log = logging.getLogger(__name__)

SEED = 1  #: MinHash permutation seed; part of the stored signature format


class ClusterSettings(BaseSettings):
    """Clustering parameters (``NEWSWATCH_CLUSTER_*``).

    ``shingle_words``, ``num_perm``, ``bands`` and ``rows`` define the stored
    signature format: changing them needs a fresh store (the store refuses to
    open with different values). ``threshold`` and ``horizon_days`` may change
    at any time.
    """

    model_config = SettingsConfigDict(env_prefix="NEWSWATCH_CLUSTER_", frozen=True, extra="forbid")

    threshold: float = Field(0.35, gt=0, le=1, description="Estimated Jaccard a candidate needs to join a cluster.")
    shingle_words: int = Field(3, ge=1, le=10, description="Words per shingle.")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations.")
    bands: int = Field(42, ge=1, description="LSH bands (bands × rows ≤ num_perm).")
    rows: int = Field(3, ge=1, description="Signature values per LSH band.")
    min_tokens: int = Field(8, ge=1, description="Stories with fewer tokens are never clustered with others.")
    horizon_days: float = Field(14.0, gt=0, description="Stories first seen longer ago are pruned.")
    prune_every_s: float = Field(3600.0, gt=0, description="How often a store checks for entries to prune.")
    path: Path | None = Field(None, description="Store file (default: DATA_DIR/clusters.sqlite3).")
    backend: Literal["sqlite", "elasticsearch"] = Field(
        "sqlite", description="'sqlite' (one file shared by the workers of one machine) or 'elasticsearch' "
                              "(one index shared by workers on many machines; NEWSWATCH_ES_* as for the index).")

    @model_validator(mode="after")
    def _fits(self) -> "ClusterSettings":
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"NEWSWATCH_CLUSTER_BANDS × NEWSWATCH_CLUSTER_ROWS = {self.bands * self.rows} exceeds"
                             f" NEWSWATCH_CLUSTER_NUM_PERM = {self.num_perm}; lower bands or rows")
        return self


def store_path(data_dir: Path, settings: ClusterSettings | None = None) -> Path:
    """Where the cluster store lives: ``NEWSWATCH_CLUSTER_PATH`` or ``DATA_DIR/clusters.sqlite3``."""
    settings = settings or ClusterSettings()
    return settings.path or Path(data_dir) / "clusters.sqlite3"


# ------------------------------------------------------------------ pure part
def shingles(text: str, k: int = 3) -> set[bytes]:
    """The set of ``k``-word shingles of ``text`` (tokens as the index makes them)."""
    return word_shingles([t.text for t in tokenize(text)], k)


def word_shingles(words: Sequence[str], k: int = 3) -> set[bytes]:
    """The set of ``k``-word shingles of a token list (all of it when shorter than ``k``)."""
    if not words:
        return set()
    if len(words) <= k:
        return {" ".join(words).encode("utf-8")}
    return {" ".join(words[i:i + k]).encode("utf-8") for i in range(len(words) - k + 1)}


_PERMS: dict[int, np.ndarray] = {}
_PERMS_LOCK = threading.Lock()
SCHEME = "affine32"  #: datasketch ≥ 2.0 permutation scheme (bijective, uint32 values)
ITEM_HASH = "crc32-mix3"  #: how shingles are hashed (part of the stored signature format)


def _permutations(num_perm: int) -> np.ndarray:
    with _PERMS_LOCK:
        perms = _PERMS.get(num_perm)
        if perms is None:
            from datasketch import MinHash

            perms = _PERMS[num_perm] = MinHash(num_perm=num_perm, seed=SEED, scheme=SCHEME).permutations
        return perms


def signature(shingle_set: Iterable[bytes], num_perm: int = 128) -> np.ndarray:
    """MinHash signature (``uint32[num_perm]``) of a set of shingles given as bytes.

    ``datasketch.MinHash`` (seed 1, ``affine32`` scheme) over 32-bit CRC item
    hashes. For story text use :func:`text_signature`, which hashes shingles
    from token hashes without building the strings (same scheme).
    """
    hashes = [zlib.crc32(item) for item in shingle_set]
    return _minhash(np.asarray(hashes, dtype=np.uint64), num_perm)


def _minhash(item_hashes: np.ndarray, num_perm: int) -> np.ndarray:
    from datasketch import MinHash

    m = MinHash(num_perm=num_perm, seed=SEED, scheme=SCHEME, permutations=_permutations(num_perm),
                hashfunc=int)
    if len(item_hashes):
        m.update_batch(np.unique(item_hashes).tolist())
    return np.asarray(m.hashvalues, dtype=np.uint32)


_M1, _M2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F)


def shingle_hashes(words: Sequence[str], k: int = 3) -> np.ndarray:
    """32-bit hashes of the ``k``-word shingles of ``words``, vectorized.

    Each token is hashed once (CRC-32 of its UTF-8), then each window of ``k``
    token hashes is mixed position-dependently (so "a b c" ≠ "c b a") and
    finalized with a 64→32-bit avalanche. A text shorter than ``k`` words is
    one shingle.
    """
    if not words:
        return np.zeros(0, dtype=np.uint64)
    th = np.fromiter((zlib.crc32(w.encode("utf-8")) for w in words), dtype=np.uint64, count=len(words))
    if len(th) < k:
        k = len(th)
    n = len(th) - k + 1
    with np.errstate(over="ignore"):
        h = np.zeros(n, dtype=np.uint64)
        for j in range(k):
            h = (h ^ th[j:j + n]) * _M1 + np.uint64(j + 1)
        h ^= h >> np.uint64(29)
        h *= _M2
        h ^= h >> np.uint64(32)
    return h & np.uint64(0xFFFFFFFF)


def text_signature(words: Sequence[str], k: int, num_perm: int = 128) -> np.ndarray:
    """MinHash signature of the ``k``-word shingles of a token list."""
    return _minhash(shingle_hashes(words, k), num_perm)


def jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures."""
    return float(np.count_nonzero(sig_a == sig_b)) / len(sig_a)


def band_keys(sig: np.ndarray, bands: int, rows: int) -> list[int]:
    """One signed 64-bit bucket key per band (band index folded in)."""
    raw = sig.astype("<u4").tobytes()
    width = rows * 4
    keys = []
    for i in range(bands):
        h = hashlib.blake2b(raw[i * width:(i + 1) * width], digest_size=8, person=i.to_bytes(2, "little"))
        keys.append(int.from_bytes(h.digest(), "little", signed=True))
    return keys


class Signed:
    """A story's clustering input: id, signature, bucket keys (``None`` = not clusterable)."""

    __slots__ = ("story_id", "sig", "keys")

    def __init__(self, story_id: str, sig: np.ndarray | None, keys: list[int]) -> None:
        self.story_id, self.sig, self.keys = story_id, sig, keys


def sign(story_id: str, text: str, settings: ClusterSettings) -> Signed:
    """Signature and band keys of one story's text (pure; done outside any lock)."""
    words = [t.text for t in tokenize(text)]
    if len(words) < settings.min_tokens:
        return Signed(story_id, None, [])
    sig = text_signature(words, settings.shingle_words, settings.num_perm)
    return Signed(story_id, sig, band_keys(sig, settings.bands, settings.rows))


# ------------------------------------------------------------------ the store
class ClusterStore(Protocol):
    """Where clusters live, shared by every pipeline worker that uses the same store.

    Contract: :meth:`assign` is atomic per story (lookup and insert cannot
    interleave with another worker's) and idempotent per story id.
    """

    settings: ClusterSettings

    def assign(self, signed: Signed, *, now: float | None = None) -> str:
        """The cluster id of the story (stored, joined or founded)."""
        ...

    def cluster_of(self, story_id: str) -> str | None:
        """The stored cluster of a story id, if any."""
        ...

    def prune(self, *, now: float | None = None) -> int:
        """Forget stories first seen before the horizon; return how many."""
        ...

    def close(self) -> None: ...


def assign_cluster(story: Story, store: ClusterStore) -> str:
    """The cluster id of ``story``: the cluster of the earliest-seen similar story
    in ``store``, else the story's own id (see the module docstring)."""
    known = store.cluster_of(story.id)
    if known is not None:
        return known
    return store.assign(sign(story.id, story.text or story.title, store.settings))


def with_cluster(story: Story, store: ClusterStore) -> Story:
    """``story`` with its ``cluster_id`` set."""
    return story.model_copy(update={"cluster_id": assign_cluster(story, store)})


SCHEMA = """
CREATE TABLE IF NOT EXISTS cluster_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cluster_stories (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    story_id   TEXT NOT NULL UNIQUE,
    cluster_id TEXT NOT NULL,
    seen_ts    REAL NOT NULL,
    minhash    BLOB
);
CREATE INDEX IF NOT EXISTS cluster_stories_seen ON cluster_stories(seen_ts);
CREATE TABLE IF NOT EXISTS cluster_bands (
    band INTEGER NOT NULL,
    seq  INTEGER NOT NULL,
    PRIMARY KEY (band, seq)
) WITHOUT ROWID
"""
_FORMAT_KEYS = ("scheme", "shingle_words", "num_perm", "bands", "rows")


class SqliteClusterStore:
    """The cluster store in one SQLite file (WAL), shared by all processes on a machine.

    Tables: ``cluster_stories`` (seq → story id, cluster id, first-seen time,
    the MinHash as ``uint32`` bytes for verification) and ``cluster_bands``
    (band bucket key → story seq, one row per band). Thread-safe (one
    connection per thread) and process-safe (``BEGIN IMMEDIATE`` per assign).
    """

    def __init__(self, path: Path | str, settings: ClusterSettings | None = None) -> None:
        from newswatch.bus.sqlite import SQLiteDB

        self.path = Path(path)
        self.settings = settings or ClusterSettings()
        self._db = SQLiteDB.open(self.path)
        self._tuned: set[int] = set()
        self._tuned_lock = threading.Lock()
        self._next_prune = 0.0
        with self._tx() as conn:
            for stmt in SCHEMA.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            self._check_format(conn)

    # ------------------------------------------------------------- plumbing
    def _conn(self):  # noqa: ANN202
        conn = self._db.connection()
        if id(conn) not in self._tuned:
            conn.execute("PRAGMA synchronous=NORMAL")  # see "Durability" in the module docstring
            with self._tuned_lock:
                self._tuned.add(id(conn))
        return conn

    def _tx(self):  # noqa: ANN202
        self._conn()
        return self._db.transaction()

    def _check_format(self, conn) -> None:  # noqa: ANN001
        want = {"scheme": SCHEME, "item_hash": ITEM_HASH,
                **{k: str(getattr(self.settings, k)) for k in _FORMAT_KEYS if k != "scheme"}}
        have = dict(conn.execute("SELECT key, value FROM cluster_meta").fetchall())
        if not have:
            conn.executemany("INSERT INTO cluster_meta (key, value) VALUES (?, ?)", list(want.items()))
            return
        diff = {k: (have.get(k), v) for k, v in want.items() if have.get(k) != v}
        if diff:
            what = ", ".join(f"{k}: store {a} vs settings {b}" for k, (a, b) in diff.items())
            raise ConfigError(f"cluster store was built with other signature parameters ({what})",
                              path=str(self.path), key="NEWSWATCH_CLUSTER_*",
                              fix="restore the old settings, or delete the store file to start new clusters.")

    # ------------------------------------------------------------------ API
    def cluster_of(self, story_id: str) -> str | None:
        row = self._conn().execute("SELECT cluster_id FROM cluster_stories WHERE story_id = ?",
                                   (story_id,)).fetchone()
        return row[0] if row else None

    def assign(self, signed: Signed, *, now: float | None = None) -> str:
        now = time.time() if now is None else now
        if now >= self._next_prune:
            self._next_prune = now + self.settings.prune_every_s
            self.prune(now=now)
        with self._tx() as conn:
            row = conn.execute("SELECT cluster_id FROM cluster_stories WHERE story_id = ?",
                               (signed.story_id,)).fetchone()
            if row:
                return row[0]
            cluster = signed.story_id
            if signed.sig is not None:
                found = self._similar(conn, signed, now)
                if found is not None:
                    cluster = found
            blob = signed.sig.astype("<u4").tobytes() if signed.sig is not None else None
            seq = conn.execute("INSERT INTO cluster_stories (story_id, cluster_id, seen_ts, minhash)"
                               " VALUES (?, ?, ?, ?)", (signed.story_id, cluster, now, blob)).lastrowid
            if signed.keys:
                conn.executemany("INSERT OR IGNORE INTO cluster_bands (band, seq) VALUES (?, ?)",
                                 [(k, seq) for k in signed.keys])
            return cluster

    def assign_many(self, signed: Sequence[Signed], *, now: float | None = None) -> list[str]:
        """:meth:`assign` for many stories, in order, in one transaction (backfills)."""
        with self._tx():
            return [self.assign(s, now=now) for s in signed]

    def _similar(self, conn, signed: Signed, now: float) -> str | None:  # noqa: ANN001
        marks = ",".join("?" * len(signed.keys))
        cutoff = now - self.settings.horizon_days * 86400
        rows = conn.execute(
            "SELECT s.cluster_id, s.minhash FROM cluster_stories s WHERE s.seq IN"
            f" (SELECT DISTINCT seq FROM cluster_bands WHERE band IN ({marks}))"
            " AND s.minhash IS NOT NULL AND s.seen_ts >= ? ORDER BY s.seq",
            (*signed.keys, cutoff)).fetchall()
        for cluster_id, blob in rows:  # earliest-seen first
            if jaccard(signed.sig, np.frombuffer(blob, dtype="<u4")) >= self.settings.threshold:
                return cluster_id
        return None

    def prune(self, *, now: float | None = None) -> int:
        """Delete stories first seen before the horizon, then their bucket rows.

        The bucket delete scans the bucket table once (rows are keyed by band,
        not by time); it runs at most every ``prune_every_s`` per process and
        only when stories were removed. Lookups ignore stale buckets anyway.
        """
        now = time.time() if now is None else now
        cutoff = now - self.settings.horizon_days * 86400
        with self._tx() as conn:
            last = conn.execute("SELECT MAX(seq) FROM cluster_stories WHERE seen_ts < ?", (cutoff,)).fetchone()[0]
            if last is None:
                return 0
            gone = conn.execute("DELETE FROM cluster_stories WHERE seen_ts < ?", (cutoff,)).rowcount
            first_kept = conn.execute("SELECT MIN(seq) FROM cluster_stories").fetchone()[0]
            bound = first_kept if first_kept is not None else last + 1
            conn.execute("DELETE FROM cluster_bands WHERE seq < ?", (bound,))
        if gone:
            log.info("cluster store %s: pruned %d stor(ies) first seen over %.0f day(s) ago",
                     self.path, gone, self.settings.horizon_days)
        return gone

    def stats(self) -> dict[str, int]:
        conn = self._conn()
        stories = conn.execute("SELECT COUNT(*) FROM cluster_stories").fetchone()[0]
        clusters = conn.execute("SELECT COUNT(DISTINCT cluster_id) FROM cluster_stories").fetchone()[0]
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
        return {"stories": stories, "clusters": clusters, "bytes": size}

    def members(self, cluster_id: str) -> list[str]:
        """Story ids of a cluster, earliest first."""
        rows = self._conn().execute("SELECT story_id FROM cluster_stories WHERE cluster_id = ? ORDER BY seq",
                                    (cluster_id,)).fetchall()
        return [r[0] for r in rows]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "SqliteClusterStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------- per-process cache
_stores: dict[str, SqliteClusterStore] = {}
_stores_lock = threading.Lock()


def open_store(path: Path | str, settings: ClusterSettings | None = None
               ) -> "SqliteClusterStore | ElasticsearchClusterStore":
    """The process-wide store of ``path`` (DoFn ``setup()`` calls this; never closed by callers).

    With ``backend="elasticsearch"`` (``NEWSWATCH_CLUSTER_BACKEND``) ``path`` is
    ignored: the store is the ``newswatch-clusters`` index of the cluster that
    ``NEWSWATCH_ES_URL`` / ``NEWSWATCH_ES_*`` name (:mod:`newswatch.cluster_es`).
    """
    if (settings or ClusterSettings()).backend == "elasticsearch":
        from newswatch.cluster_es import open_es_store

        return open_es_store(settings or ClusterSettings())
    key = str(Path(path).resolve())
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = SqliteClusterStore(path, settings)
        return store


def assign_clusters(stories: Sequence[Story], store: ClusterStore) -> list[Story]:
    """Clusters for a sequence of stories, in order (earlier ones can found clusters later ones join)."""
    return [with_cluster(s, store) for s in stories]
