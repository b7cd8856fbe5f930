"""The cluster store on Elasticsearch: one store shared by workers on many machines.

:class:`~newswatch.cluster.SqliteClusterStore` serializes assignments with a
SQLite write lock, which only exists on one machine. Scaled-out workers (the
Kafka deployment, docs/scaling.md) share this store instead: the same MinHash
signatures and LSH band keys (:func:`newswatch.cluster.sign`), kept as
documents of one index (default ``newswatch-clusters``), with first-writer-wins
claims instead of a lock. Every read is a realtime ``GET``/``mget`` by ``_id``
and every claim an ``op_type=create``, so no refresh is ever needed and
workers converge without coordination.

Documents (``_id`` → fields)
----------------------------
* ``meta`` → the signature format (scheme, item hash, shingle words, num_perm,
  bands, rows); a store opened with other values raises
  :class:`~newswatch.errors.ConfigError`, as the SQLite store does.
* ``s:{story_id}`` → ``cluster_id``, ``seen_ts``: the story's assignment
  (idempotency: if it exists, it is the answer).
* ``b:{band_key}`` → ``cluster_id``, ``story_id``, ``minhash`` (base64 of the
  ``uint32`` signature, not indexed), ``seen_ts``: the *claim* of an LSH band
  bucket by the first story seen with that band.

Assigning one story
-------------------
1. ``s:{id}`` exists → its ``cluster_id``.
2. ``mget`` the claims of the story's bands; among those within the horizon,
   earliest ``(seen_ts, story_id)`` first, join the cluster of the first whose
   MinHash has estimated Jaccard ≥ ``threshold``; else found a cluster (= the
   story id).
3. ``create`` claims for the bands nobody claimed. A 409 means another worker
   claimed the band in the meantime. When this story founded its own cluster
   and that rival claim is similar, one of the two founders gives way: the
   rival's shared bands are recomputed from its MinHash; if the rival won all
   of them it never saw us, so we join it; otherwise both saw each other and
   the earlier ``(seen_ts, story_id)`` keeps its cluster. The one giving way
   rewrites the claims it already created. Two workers racing on two copies
   therefore always converge on one cluster.
4. ``create`` ``s:{id}``; on 409 (the same story assigned concurrently) the
   stored cluster wins.

A claim whose ``cluster_id`` is its own story's id may belong to a founder
still in step 3; before joining it the store reads that founder's ``s:`` doc
(waiting up to ``founder_wait_s`` for it) so a founder that gave way is
followed to the cluster it joined.

Differences from the SQLite store
---------------------------------
* A band bucket holds one claim (its first story), not every story with that
  band: a copy is found through the *first* story of each bucket it shares.
  Copies of one story usually share many buckets with the cluster's founder,
  so this rarely matters; a copy similar only to a later member that shares no
  bucket with earlier ones starts its own cluster.
* Claims older than the horizon are ignored (never joined) and are not
  replaced until :meth:`prune` deletes them.
* Writes are acknowledged but not refreshed; there is no transaction around a
  story, so a worker killed between its claims and its ``s:`` doc leaves claims
  that the redelivered story recognizes as its own.
* Elasticsearch errors (unreachable cluster, 429...) propagate: the pipeline
  fails the bundle and the bus redelivers it (assignment is idempotent).
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from typing import Any, Sequence

import numpy as np

from newswatch.cluster import ITEM_HASH, SCHEME, ClusterSettings, Signed, band_keys, jaccard
from newswatch.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_INDEX = "newswatch-clusters"
_FORMAT_KEYS = ("shingle_words", "num_perm", "bands", "rows")

#: Mapping of the cluster index: ids and clusters are keywords, the MinHash is stored only.
MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "kind": {"type": "keyword"},
        "story_id": {"type": "keyword"},
        "cluster_id": {"type": "keyword"},
        "seen_ts": {"type": "double"},
        "minhash": {"type": "keyword", "index": False, "doc_values": False},
        "format": {"type": "object", "enabled": False},
    },
}


def _status(exc: BaseException) -> int | None:
    meta = getattr(exc, "meta", None)
    return getattr(meta, "status", None)


def _encode(sig: np.ndarray) -> str:
    return base64.b64encode(sig.astype("<u4").tobytes()).decode("ascii")


def _decode(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<u4")


def _story_doc_id(story_id: str) -> str:
    return f"s:{story_id}"


def _band_doc_id(key: int) -> str:
    return f"b:{key}"


class ElasticsearchClusterStore:
    """A :class:`~newswatch.cluster.ClusterStore` in an Elasticsearch index, shared by any number of workers.

    ``client``: an ``elasticsearch.Elasticsearch`` (see :func:`client_from_settings`);
    ``close_client``: whether :meth:`close` closes it too. The index, its
    mapping and the ``meta`` format doc are created on first use (here).
    Thread-safe (the client is; the store keeps no per-story state).
    """

    def __init__(self, client: Any, index: str = DEFAULT_INDEX, settings: ClusterSettings | None = None, *,
                 close_client: bool = False, founder_wait_s: float = 2.0) -> None:
        self.client = client
        self.index = index
        self.settings = settings or ClusterSettings()
        self.close_client = close_client
        self.founder_wait_s = founder_wait_s
        self._next_prune = 0.0
        self._prune_lock = threading.Lock()
        self._ensure_index()
        self._check_format()

    def __repr__(self) -> str:
        return f"ElasticsearchClusterStore(index={self.index!r})"

    # ------------------------------------------------------------- plumbing
    def _ensure_index(self) -> None:
        if self.client.indices.exists(index=self.index):
            return
        try:
            self.client.indices.create(index=self.index, mappings=MAPPINGS)
        except Exception as exc:  # noqa: BLE001 - another worker created it first
            if _status(exc) == 400 and "already_exists" in str(exc):
                return
            raise

    def _format(self) -> dict[str, str]:
        return {"scheme": SCHEME, "item_hash": ITEM_HASH,
                **{k: str(getattr(self.settings, k)) for k in _FORMAT_KEYS}}

    def _check_format(self) -> None:
        want = self._format()
        if self._create("meta", {"kind": "meta", "format": want}):
            return
        have = (self._mget(["meta"]).get("meta") or {}).get("format") or {}
        diff = {k: (have.get(k), v) for k, v in want.items() if have.get(k) != v}
        if diff:
            what = ", ".join(f"{k}: store {a} vs settings {b}" for k, (a, b) in diff.items())
            raise ConfigError(f"cluster index {self.index!r} was built with other signature parameters ({what})",
                              key="NEWSWATCH_CLUSTER_*",
                              fix="restore the old settings, or delete the cluster index to start new clusters.")

    def _mget(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Realtime multi-get: ``_id`` → source of the documents that exist."""
        if not ids:
            return {}
        resp = self.client.mget(index=self.index, ids=list(dict.fromkeys(ids)), realtime=True)
        out: dict[str, dict[str, Any]] = {}
        for doc in resp["docs"]:
            if doc.get("error"):
                raise RuntimeError(f"cluster index {self.index!r}: mget of {doc.get('_id')!r} failed: "
                                   f"{doc['error']}")
            if doc.get("found"):
                out[doc["_id"]] = doc["_source"]
        return out

    def _create(self, doc_id: str, doc: dict[str, Any]) -> bool:
        """Create one document; False when it already exists (409)."""
        from elasticsearch import ConflictError

        try:
            self.client.create(index=self.index, id=doc_id, document=doc, refresh=False)
            return True
        except ConflictError:
            return False

    def _bulk(self, op: str, docs: dict[str, dict[str, Any]]) -> set[str]:
        """Bulk ``create``/``index`` of ``docs``; the ids that conflicted (409). Other failures raise."""
        if not docs:
            return set()
        ops: list[dict[str, Any]] = []
        for doc_id, doc in docs.items():
            ops.append({op: {"_index": self.index, "_id": doc_id}})
            ops.append(doc)
        resp = self.client.bulk(operations=ops, refresh=False)
        conflicts: set[str] = set()
        for item in resp["items"]:
            res = next(iter(item.values()))
            status = res.get("status", 0)
            if status == 409:
                conflicts.add(res["_id"])
            elif status >= 300:
                raise RuntimeError(f"cluster index {self.index!r}: {op} {res.get('_id')!r} failed "
                                   f"(HTTP {status}): {res.get('error')}")
        return conflicts

    # ------------------------------------------------------------------ API
    def cluster_of(self, story_id: str) -> str | None:
        doc = self._mget([_story_doc_id(story_id)]).get(_story_doc_id(story_id))
        return doc["cluster_id"] if doc else None

    def assign(self, signed: Signed, *, now: float | None = None) -> str:
        return self.assign_many([signed], now=now)[0]

    def assign_many(self, signed: Sequence[Signed], *, now: float | None = None) -> list[str]:
        """:meth:`assign` for many stories, in order (earlier ones can found clusters later ones join).

        The stored assignments of the whole batch are read with one ``mget``;
        each new story then costs an ``mget`` of its band claims, one bulk
        ``create`` of its claims and one ``create`` of its assignment.
        """
        now = time.time() if now is None else now
        self._maybe_prune(now)
        stored = self._mget([_story_doc_id(s.story_id) for s in signed])
        done: dict[str, str] = {}
        out = []
        for s in signed:
            if s.story_id not in done:
                doc = stored.get(_story_doc_id(s.story_id))
                done[s.story_id] = doc["cluster_id"] if doc else self._assign_new(s, now)
            out.append(done[s.story_id])
        return out

    def _assign_new(self, signed: Signed, now: float) -> str:
        sid = signed.story_id
        cluster = sid
        claims: dict[str, dict[str, Any]] = {}
        if signed.sig is not None and signed.keys:
            cutoff = now - self.settings.horizon_days * 86400
            band_ids = [_band_doc_id(k) for k in signed.keys]
            found = self._mget(band_ids)
            mine = [i for i, c in found.items() if c.get("story_id") == sid]  # a crashed earlier attempt
            candidates = sorted((c for c in found.values()
                                 if c.get("story_id") != sid and c.get("seen_ts", 0.0) >= cutoff
                                 and c.get("minhash")),
                                key=lambda c: (c["seen_ts"], c["story_id"]))
            verified: dict[str, bool] = {}
            for c in candidates:
                if c["story_id"] not in verified:
                    verified[c["story_id"]] = jaccard(signed.sig, _decode(c["minhash"])) >= self.settings.threshold
                if verified[c["story_id"]]:
                    cluster = self._settled_cluster(c)
                    break
            minhash = _encode(signed.sig)

            def claim(cl: str) -> dict[str, Any]:
                return {"kind": "band", "cluster_id": cl, "story_id": sid, "minhash": minhash, "seen_ts": now}

            free = [i for i in band_ids if i not in found]
            claims = {i: claim(cluster) for i in free}
            lost = self._bulk("create", claims)
            for i in lost:
                claims.pop(i)
            if lost and cluster == sid:
                rival = self._rival(signed, now, lost, set(free), set(claims))
                if rival is not None:
                    cluster = self._settled_cluster(rival)
            stale = {i: claim(cluster) for i in [*claims, *mine]
                     if (claims.get(i) or found.get(i, {})).get("cluster_id") != cluster}
            self._bulk("index", stale)  # our own claims: point them at the cluster we ended in
        if self._create(_story_doc_id(sid), {"kind": "story", "story_id": sid, "cluster_id": cluster,
                                             "seen_ts": now}):
            return cluster
        doc = self._mget([_story_doc_id(sid)]).get(_story_doc_id(sid))
        return doc["cluster_id"] if doc else cluster

    def _rival(self, signed: Signed, now: float, lost: set[str], tried: set[str],
               won: set[str]) -> dict[str, Any] | None:
        """The claim of the concurrent similar founder this founder gives way to, if any.

        Another worker created some of the claims this story tried to create
        (``lost``). For each similar rival, the bands both stories share are
        recomputed from the rival's MinHash. If the rival won every shared
        band we tried, it saw no conflict with us and keeps its cluster, so we
        give way. If we won some, the rival lost those to us and applies this
        same rule: the earlier ``(seen_ts, story_id)`` keeps its cluster. Either
        way exactly one of the two gives way.
        """
        sid = signed.story_id
        yielding = []
        seen: set[str] = set()
        for c in self._mget(sorted(lost)).values():
            rid = c.get("story_id")
            if rid == sid or rid in seen or not c.get("minhash"):
                continue
            seen.add(rid)
            rsig = _decode(c["minhash"])
            if len(rsig) != len(signed.sig) or jaccard(signed.sig, rsig) < self.settings.threshold:
                continue
            shared = {_band_doc_id(k) for k in band_keys(rsig, self.settings.bands, self.settings.rows)} & tried
            if not shared & won or (c["seen_ts"], rid) < (now, sid):
                yielding.append(c)
        return min(yielding, key=lambda c: (c["seen_ts"], c["story_id"])) if yielding else None

    def _settled_cluster(self, claim: dict[str, Any]) -> str:
        """The cluster a claim stands for; a founder's claim is confirmed by its ``s:`` doc.

        A claim whose cluster is its own story's id may come from a founder
        that is about to give way to an earlier rival (step 3 of the module
        docstring); its ``s:`` doc, once written, has the final answer.
        """
        cluster, founder = claim["cluster_id"], claim["story_id"]
        if cluster != founder:
            return cluster
        deadline = time.monotonic() + self.founder_wait_s
        delay = 0.005
        while True:
            doc = self._mget([_story_doc_id(founder)]).get(_story_doc_id(founder))
            if doc is not None:
                return doc["cluster_id"]
            if time.monotonic() >= deadline:
                return cluster
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def _maybe_prune(self, now: float) -> None:
        with self._prune_lock:
            if now < self._next_prune:
                return
            self._next_prune = now + self.settings.prune_every_s
        self.prune(now=now)

    def prune(self, *, now: float | None = None) -> int:
        """Delete stories and band claims first seen before the horizon; return how many stories."""
        now = time.time() if now is None else now
        cutoff = now - self.settings.horizon_days * 86400
        old = {"range": {"seen_ts": {"lt": cutoff}}}
        count = self.client.count(index=self.index, query={"bool": {"filter": [old, {"term": {"kind": "story"}}]}})
        stories = int(count["count"])
        resp = self.client.delete_by_query(index=self.index, query=old, conflicts="proceed", refresh=True)
        if resp.get("deleted"):
            log.info("cluster index %s: pruned %d stor(ies) (%d docs) first seen over %.0f day(s) ago",
                     self.index, stories, resp["deleted"], self.settings.horizon_days)
        return stories

    def stats(self) -> dict[str, int]:
        """Stories and clusters (search-based: counts what the last refresh made visible)."""
        self.client.indices.refresh(index=self.index)
        q = {"term": {"kind": "story"}}
        stories = int(self.client.count(index=self.index, query=q)["count"])
        resp = self.client.search(index=self.index, query=q, size=0,
                                  aggs={"c": {"cardinality": {"field": "cluster_id"}}})
        return {"stories": stories, "clusters": int(resp["aggregations"]["c"]["value"])}

    def close(self) -> None:
        if self.close_client:
            self.client.close()

    def __enter__(self) -> "ElasticsearchClusterStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------- wiring
def client_from_settings(settings: Any | None = None, es: Any | None = None) -> Any:
    """A client for the process's Elasticsearch, as :class:`~newswatch.index.es_index.ElasticsearchIndex` builds it.

    ``settings``: the process :class:`~newswatch.settings.Settings` (its
    ``es_url``/``es_api_key`` win); ``es``: :class:`~newswatch.index.es_settings.ElasticsearchSettings`
    (``NEWSWATCH_ES_*``: auth, CA, TLS, timeout, ``server_mode``).
    """
    from newswatch.index.es_settings import ElasticsearchSettings, make_client

    if settings is None:
        from newswatch.settings import Settings

        settings = Settings()
    es = es or ElasticsearchSettings()
    url = getattr(settings, "es_url", None) or es.url or ""
    key = getattr(settings, "es_api_key", None) or es.api_key
    return make_client(url, api_key=key, basic_auth=es.basic_auth(), ca_certs=es.ca_certs,
                       verify_certs=es.verify_certs, request_timeout_s=es.request_timeout_s,
                       server_mode=es.server_mode)


_stores: dict[tuple[str, str], ElasticsearchClusterStore] = {}
_stores_lock = threading.Lock()


def open_es_store(settings: ClusterSettings, index: str = DEFAULT_INDEX) -> ElasticsearchClusterStore:
    """The process-wide Elasticsearch cluster store (what :func:`newswatch.cluster.open_store` returns
    for ``NEWSWATCH_CLUSTER_BACKEND=elasticsearch``); never closed by callers."""
    from newswatch.index.es_settings import ElasticsearchSettings
    from newswatch.settings import Settings

    proc, es = Settings(), ElasticsearchSettings()
    key = (proc.es_url or es.url or "", index)
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = ElasticsearchClusterStore(client_from_settings(proc, es), index, settings,
                                                             close_client=True)
        return store
