"""The production story index: Elasticsearch behind a write alias.

Registered as the ``elasticsearch`` index backend (:mod:`newswatch.registry`);
``newswatch index setup`` (:mod:`newswatch.index.es_setup`) installs the
template and the alias first. Documents are :func:`~newswatch.index.base.story_fields`
plus the story date, ``fetched_at`` and the whole Story (``doc``), with
``_id`` = story id.

Delivery promises (:class:`~newswatch.index.base.StoryIndex`), as kept here:

* **Idempotent by story id**: ``_id`` is the story id; the last upsert of an id
  before a flush wins (one action per id and flush). Re-sending is always safe.
* **Durable on commit**: :meth:`ElasticsearchIndex.commit` returns only when
  every buffered action was acknowledged by the cluster (translog fsync'd,
  ``index.translog.durability: request``), then refreshes the alias
  (``refresh_on_commit``) so the writes are searchable. Actions the cluster
  refuses for good (400 mapping errors...) are not lost: they are collected as
  :class:`~newswatch.records.DeadLetter` (:meth:`take_dead_letters`). If the
  cluster stays unavailable longer than ``retry_max_time_s`` commit raises
  :class:`~newswatch.index.es_bulk.BulkRetryExhaustedError`; the caller must
  not acknowledge its input (re-sending is idempotent).
* **Invisible until commit — weaker than tantivy**: Elasticsearch has no
  transactions. :meth:`upsert` blocks and flushes early when the buffer
  exceeds ``buffer_max_docs``/``buffer_max_bytes`` (back-pressure instead of
  unbounded memory); actions flushed that way become visible at the cluster's
  next refresh (1 s by default), before ``commit()``.
* **Rollover**: the alias may span several dated indices; a story written
  again after a rollover would otherwise exist twice (``_id`` is unique per
  index). Each flush therefore deletes older copies of the flushed ids from the
  non-write indices (one ``_search`` + bulk delete, only when the alias spans
  more than one index).

Thread-safe: one lock around the buffer and the flushes.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Iterator, Mapping

from pydantic import SecretStr

from newswatch.errors import NewswatchError
from newswatch.index.base import (
    MAX_WINDOW,
    Facets,
    Hit,
    IndexBackendError,
    IndexMissingError,
    QueryError,
    SearchParams,
    SearchResult,
    Sort,
    StoryIndex,
    story_date,
    story_fields,
)
from newswatch.index.es_bulk import (
    Action,
    BulkPolicy,
    BulkRejectedError,
    BulkSender,
    ItemFailure,
    TransientError,
    delete_action,
    index_action,
    retry_transient,
)
from newswatch.index.es_query import es_date, facets_from_aggs, search_body, translate
from newswatch.index.es_settings import ElasticsearchSettings, make_client, redact_url
from newswatch.index.es_setup import IndexLayout, alias_indices
from newswatch.records import DeadLetter, Story

log = logging.getLogger(__name__)

_VERSION_HINT = ("the cluster refused elasticsearch-py's compatibility headers: elasticsearch-py 9 needs an "
                 "Elasticsearch 9 cluster; for an 8.x cluster install 'elasticsearch>=8.13,<9' "
                 "(see docs/elasticsearch.md)")

#: Stage name of the dead letters this backend produces.
DEAD_LETTER_STAGE = "index"


def _indexed(story: Story) -> dict[str, Any]:
    doc: dict[str, Any] = {k: (v[0] if k in ("id", "title", "text") else v)
                           for k, v in story_fields(story).items() if v}
    doc["published"] = es_date(story_date(story))
    doc["fetched_at"] = es_date(story.fetched_at)
    if story.url:
        doc["url"] = story.url
    return doc


def story_document(story: Story) -> dict[str, Any]:
    """The Elasticsearch document of a story (see :mod:`newswatch.index.es_setup` for the mapping)."""
    doc = _indexed(story)
    doc["doc"] = story.model_dump(mode="json")
    return doc


def story_action(story: Story) -> Action:
    """The bulk ``index`` action of a story (``_id`` = story id); the Story is kept for a dead letter.

    Same document as :func:`story_document`, built faster: the stored Story is
    its own JSON (``Story.to_json``) spliced in.
    """
    return index_action(story.id, _indexed(story), record=story, raw={"doc": story.to_json()})


@dataclass(frozen=True, slots=True)
class Page:
    """A page of a ``search_after`` walk: the result and the cursor of the next page (None at the end)."""

    result: SearchResult
    after: list[Any] | None


def _status(exc: Exception) -> int | None:
    meta = getattr(exc, "meta", None)
    return getattr(meta, "status", None)


class ElasticsearchIndex(StoryIndex):
    """A :class:`~newswatch.index.base.StoryIndex` on an Elasticsearch alias.

    Explicit keyword arguments win over ``settings`` (``Settings.es_url``,
    ``Settings.es_api_key``) which win over :class:`ElasticsearchSettings`
    (``NEWSWATCH_ES_*``). ``client`` injects a ready client (tests); ``es``
    injects ElasticsearchSettings; ``sleep``/``clock`` go to the bulk retries.
    Nothing is requested from the cluster until the first read or write.
    """

    name = "elasticsearch"

    def __init__(self, settings: Any | None = None, *, url: str | None = None,
                 api_key: SecretStr | str | None = None, basic_auth: tuple[str, str] | None = None,
                 ca_certs: str | None = None, verify_certs: bool | None = None,
                 index_alias: str | None = None, server_mode: str | None = None, client: Any | None = None,
                 es: ElasticsearchSettings | None = None, readonly: bool = False, **policy: Any) -> None:
        es = es or ElasticsearchSettings()
        overrides = {k: v for k, v in policy.items() if k in ElasticsearchSettings.model_fields and k not in
                     ("url", "api_key")}
        unknown = set(policy) - set(overrides) - {"sleep", "clock", "rng"}
        if unknown:
            raise TypeError(f"unknown ElasticsearchIndex option(s): {', '.join(sorted(unknown))}")
        if index_alias is not None:
            overrides["index_alias"] = index_alias
        if server_mode is not None:
            overrides["server_mode"] = server_mode
        if verify_certs is not None:
            overrides["verify_certs"] = verify_certs
        if overrides:  # validated like the environment would be
            es = ElasticsearchSettings(**{**es.model_dump(), **overrides})
        self.es = es
        self.url = url or getattr(settings, "es_url", None) or es.url or ""
        self.readonly = readonly
        self.layout = IndexLayout.from_settings(es)
        self.alias = es.index_alias
        if client is None:
            key = api_key if api_key is not None else (getattr(settings, "es_api_key", None) or es.api_key)
            client = make_client(self.url, api_key=key, basic_auth=basic_auth or es.basic_auth(),
                                 ca_certs=ca_certs or es.ca_certs, verify_certs=es.verify_certs,
                                 request_timeout_s=es.request_timeout_s, server_mode=es.server_mode)
        self.client = client
        self.policy = BulkPolicy(max_docs=es.bulk_max_docs, max_bytes=es.bulk_max_bytes,
                                 retry_max_time_s=es.retry_max_time_s, retry_initial_s=es.retry_initial_s,
                                 retry_max_delay_s=es.retry_max_delay_s)
        extra = {k: policy[k] for k in ("sleep", "clock", "rng") if k in policy}
        self.sender = BulkSender(self._send, self.policy, **extra)
        self._lock = threading.RLock()
        self._buffer: dict[str, Action] = {}
        self._buffer_bytes = 0
        self._dirty = False
        self._dead: list[DeadLetter] = []
        self._closed = False
        #: Totals since opening: acknowledged actions, bulk requests, retries, refused items.
        self.stats = {"acknowledged": 0, "requests": 0, "retries": 0, "failed": 0}

    @classmethod
    def from_settings(cls, settings: Any, **kw: Any) -> "ElasticsearchIndex":
        return cls(settings, **kw)

    def __repr__(self) -> str:  # never shows credentials
        return f"ElasticsearchIndex({redact_url(self.url)!r}, alias={self.alias!r})"

    # ------------------------------------------------------------- transport
    def _send(self, body: bytes) -> Mapping[str, Any]:
        """POST one bulk body to the alias; classify failures for :class:`BulkSender`."""
        from elastic_transport import ConnectionError as TransportConnectionError
        from elastic_transport import ConnectionTimeout, SerializationError
        from elasticsearch import ApiError

        try:
            resp = self.client.bulk(operations=body, index=self.alias)
        except (ConnectionTimeout, TransportConnectionError) as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc
        except ApiError as exc:
            status = _status(exc) or 0
            if status in (408, 429) or (status >= 500 and status != 501):
                raise TransientError(f"HTTP {status}: {exc}", status) from exc
            if status in (401, 403):
                raise BulkRejectedError(f"Elasticsearch refused the credentials (HTTP {status}); check "
                                        "NEWSWATCH_ES_API_KEY or NEWSWATCH_ES_USERNAME/PASSWORD") from exc
            if status == 404:
                raise IndexMissingError(f"no index or alias {self.alias!r} on {redact_url(self.url)}: run "
                                        "`newswatch index setup` first") from exc
            if "compatible-with" in str(exc) or "media_type" in str(exc):
                raise BulkRejectedError(_VERSION_HINT + f" ({exc})") from exc
            raise BulkRejectedError(f"bulk request refused (HTTP {status}): {exc}") from exc
        except SerializationError as exc:
            raise TransientError(f"unreadable bulk response: {exc}") from exc
        return resp.body if hasattr(resp, "body") else resp

    def _call(self, what: str, fn: Any, *args: Any, **kw: Any) -> Any:
        """A read/admin request with the same bounded backoff as bulk writes (transient errors only)."""
        from elastic_transport import ConnectionError as TransportConnectionError
        from elastic_transport import ConnectionTimeout
        from elasticsearch import ApiError

        def attempt() -> Any:
            try:
                return fn(*args, **kw)
            except (ConnectionTimeout, TransportConnectionError) as exc:
                raise TransientError(f"{type(exc).__name__}: {exc}") from exc
            except ApiError as exc:
                status = _status(exc) or 0
                if status in (408, 429) or (status >= 500 and status != 501):
                    raise TransientError(f"HTTP {status}", status) from exc
                raise

        return retry_transient(attempt, self.policy, what=what, sleep=self.sender.sleep,
                               clock=self.sender.clock, rng=self.sender.rng)

    # ------------------------------------------------------------- writing
    def _check_writable(self) -> None:
        if self._closed:
            raise IndexBackendError(f"{self!r} is closed")
        if self.readonly:
            from newswatch.index.base import ReadOnlyIndexError
            raise ReadOnlyIndexError(f"{self!r} was opened read-only; it cannot be written")

    def _buffer_action(self, action: Action) -> None:
        old = self._buffer.pop(action.id, None)
        if old is not None:
            self._buffer_bytes -= old.size
        self._buffer[action.id] = action
        self._buffer_bytes += action.size
        if len(self._buffer) >= self.es.buffer_max_docs or self._buffer_bytes >= self.es.buffer_max_bytes:
            self._flush()  # back-pressure: the caller waits for the cluster

    def upsert(self, stories: Iterable[Story]) -> int:
        """Buffer ``stories`` as ``index`` actions (last one per id wins); flushes when the buffer is full."""
        self._check_writable()
        seen: dict[str, None] = {}
        with self._lock:
            for story in stories:
                seen[story.id] = None
                self._buffer_action(story_action(story))
        return len(seen)

    def delete(self, ids: Iterable[str]) -> None:
        """Buffer deletes of these ids (unknown ids are fine); on all indices of the alias at flush."""
        self._check_writable()
        with self._lock:
            for sid in dict.fromkeys(ids):
                self._buffer_action(delete_action(sid))

    def _flush(self) -> None:
        if not self._buffer:
            return
        actions = list(self._buffer.values())
        outcome = self.sender.write(actions)
        self._buffer.clear()
        self._buffer_bytes = 0
        self._dirty = True
        self.stats["acknowledged"] += outcome.acknowledged
        self.stats["requests"] += outcome.requests
        self.stats["retries"] += outcome.retries
        self.stats["failed"] += len(outcome.failures)
        for failure in outcome.failures:
            self._dead.append(self._dead_letter(failure))
        if outcome.failures:
            log.warning("elasticsearch refused %d action(s) for good; kept as dead letters (first: %s)",
                        len(outcome.failures), outcome.failures[0].describe())
        self._remove_older_copies([a.id for a in actions])

    @staticmethod
    def _dead_letter(failure: ItemFailure) -> DeadLetter:
        return DeadLetter.of(DEAD_LETTER_STAGE, f"{failure.describe()} [id {failure.id}]",
                             failure.payload or failure.id)

    def _remove_older_copies(self, ids: list[str]) -> None:
        """After a rollover, delete copies of ``ids`` left in non-write indices (see module docstring)."""
        indices = self._call("get alias", alias_indices, self.client, self.alias)
        old = [i for i, write in indices.items() if not write]
        if not old or not ids:
            return
        copies: list[Action] = []
        for start in range(0, len(ids), 1000):
            chunk = ids[start:start + 1000]
            resp = self._call("search old copies", self.client.search, index=",".join(old),
                              query={"ids": {"values": chunk}}, size=len(chunk) * len(old), _source=False)
            for hit in resp["hits"]["hits"]:
                copies.append(Action("delete", hit["_id"], (
                    '{"delete":{"_index":%s,"_id":%s}}\n' % (_json(hit["_index"]), _json(hit["_id"]))).encode()))
        if copies:
            self.sender.write(copies)
            log.info("removed %d older cop(ies) of re-indexed stories from rolled-over indices", len(copies))

    def commit(self) -> None:
        """Flush every buffered action and wait until acknowledged, then refresh (see module docstring)."""
        with self._lock:
            self._check_writable()
            self._flush()
            if not self._dirty:
                return
            if self.es.refresh_on_commit:
                self._call("refresh", self.client.indices.refresh, index=self.alias)
            self._dirty = False

    def take_dead_letters(self) -> list[DeadLetter]:
        """Dead letters of refused actions since the last call (the pipeline sink stores them)."""
        with self._lock:
            out, self._dead = self._dead, []
        return out

    @property
    def dead_letters(self) -> list[DeadLetter]:
        """Dead letters not yet taken (read-only view)."""
        return list(self._dead)

    def close(self) -> None:
        """Drop unflushed actions (commit first) and close the HTTP connections."""
        with self._lock:
            if self._closed:
                return
            if self._buffer:
                log.warning("closing %r with %d uncommitted action(s); they are discarded", self, len(self._buffer))
            self._buffer.clear()
            self._closed = True
        close = getattr(self.client, "close", None)
        if close:
            close()

    # ------------------------------------------------------------- reading
    def _read(self, what: str, fn: Any, **kw: Any) -> Any:
        from elasticsearch import ApiError

        if self._closed:
            raise IndexBackendError(f"{self!r} is closed")
        try:
            resp = self._call(what, fn, **kw)
        except ApiError as exc:
            status = _status(exc)
            if status == 404:
                raise IndexMissingError(f"no index or alias {self.alias!r} on {redact_url(self.url)}: run "
                                        "`newswatch index setup` first") from exc
            if "compatible-with" in str(exc) or "media_type" in str(exc):
                raise IndexBackendError(_VERSION_HINT + f" ({exc})") from exc
            if status == 400:
                raise QueryError(f"Elasticsearch rejected the {what}: {exc}") from exc
            raise IndexBackendError(f"{what} failed: {exc}") from exc
        return resp.body if hasattr(resp, "body") else resp

    def count(self) -> int:
        return int(self._read("count", self.client.count, index=self.alias)["count"])

    def get(self, story_id: str) -> Story | None:
        resp = self._read("get", self.client.search, index=self.alias, query={"ids": {"values": [story_id]}},
                          size=1, _source=["doc"])
        hits = resp["hits"]["hits"]
        return Story.model_validate(hits[0]["_source"]["doc"]) if hits else None

    def translate(self, query: str | None) -> dict[str, Any] | None:
        """The DSL clause of a topic-language query string (None for blank); raises QueryError."""
        if query is None or not query.strip():
            return None
        try:
            return translate(query)
        except NewswatchError:
            raise
        except ValueError as exc:
            raise QueryError(f"invalid query {query!r}: {exc}") from exc

    def _native_query(self, query: str) -> dict[str, Any]:
        return translate(query)

    def _search(self, native: dict[str, Any] | None, params: SearchParams) -> SearchResult:
        return self.search_dsl(native, params).result

    def search_dsl(self, query: dict[str, Any] | None, params: SearchParams, *,
                   after: list[Any] | None = None) -> Page:
        """Run a DSL clause with ``params``; ``after`` continues a ``search_after`` walk."""
        body = search_body(query, params, search_after=after)
        resp = self._read("search", self.client.search, index=self.alias, **body)
        hits_raw = resp["hits"]["hits"]
        newest = params.sort == "newest"
        hits = [Hit(Story.model_validate(h["_source"]["doc"]), 0.0 if newest else float(h.get("_score") or 0.0))
                for h in hits_raw]
        total = resp["hits"]["total"]
        total = int(total["value"] if isinstance(total, Mapping) else total)
        fac = facets_from_aggs(resp.get("aggregations")) if params.facets and total else Facets.empty()
        nxt = list(hits_raw[-1]["sort"]) if hits_raw and len(hits_raw) == params.limit and "sort" in hits_raw[-1] \
            else None
        return Page(SearchResult(total=total, hits=hits, facets=fac), nxt)

    def search_after(self, query: str | None = None, *, after: list[Any] | None = None, limit: int = 100,
                     sort: Sort = "newest", facets: bool = False, **filters: Any) -> Page:
        """One page of a deep walk: the page after the hit whose sort values are ``after``."""
        params = SearchParams.build(limit=min(limit, MAX_WINDOW), sort=sort, facets=facets, **filters)
        return self.search_dsl(self.translate(query), params, after=after)

    def iter_stories(self, query: str | None = None, *, page_size: int = 500, sort: Sort = "newest",
                     **filters: Any) -> Iterator[Story]:
        """Every matching story (beyond :data:`MAX_WINDOW`: backtests), paged with ``search_after``."""
        after: list[Any] | None = None
        while True:
            page = self.search_after(query, after=after, limit=page_size, sort=sort, **filters)
            for hit in page.result.hits:
                yield hit.story
            if page.after is None:
                return
            after = page.after


def _json(value: str) -> str:
    return json.dumps(value)
