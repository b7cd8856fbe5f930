"""The embedded story index: tantivy on disk under ``data_dir/index``.

Registered as the ``tantivy`` index backend (:mod:`newswatch.registry`). One
process writes (``newswatch run``); any number of processes read
(``newswatch search``, the web UI) with ``readonly=True``.

Schema (see :func:`build_schema`):

========================  ===========================================================
field                     contents
========================  ===========================================================
``id``                    story id; raw, indexed, stored — the upsert/delete key
``title``, ``text``       analysed with tantivy's ``default`` tokenizer (same as
                          :func:`newswatch.fields.tokenize`), positions for phrases;
                          not stored
``source`` ``lang``       raw, lower-cased exact values (``keyword_value``); fast:
``topic`` ``cluster``     ``source``, ``topic`` (faceted); ``topic`` is multi-valued
``person`` ``org`` ...    one multi-valued raw fast field per entity label, values
``entity``                :func:`newswatch.fields.entity_value` of canonical names;
                          ``entity`` holds the values of every label
``published``             date (indexed, fast, stored): ``published``, falling back
                          to ``fetched_at`` when the story has none, whole seconds
``fetched_at``            date (indexed, fast, stored), whole seconds
``doc``                   the whole Story as JSON (stored bytes, not indexed): what
                          :meth:`TantivyIndex.get` and hits return
========================  ===========================================================

tantivy pitfalls handled here (see DESIGN.md): there is no primary key, so an
upsert is ``delete_documents_by_term("id", id)`` + ``add_document`` in the same
writer transaction; only one process may hold the writer (a second one gets
``LockBusy``, turned into :class:`~newswatch.index.base.IndexLockedError`), so
the writer is opened lazily on the first write; readers do not see new commits
until they ``reload()``, so a read-only index reloads before every read. Query
strings are never handed to tantivy's own parser (``weapon*`` would silently be
an exact term, ``a AND NOT b`` silently empty): they go through the topic
language's translator.

Facets are computed with tantivy's aggregation API (``Searcher.aggregate``: one
``terms`` aggregation per faceted fast field plus a ``date_histogram`` on
``published``), in one pass over the matching documents.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import tantivy

from newswatch.fields import ENTITY_FIELDS, KEYWORD_FIELDS, TEXT_FIELDS
from newswatch.index.base import (
    ENTITY_FILTER_FIELDS,
    FACET_SIZE,
    Facets,
    Hit,
    IndexBackendError,
    IndexLockedError,
    IndexMissingError,
    IndexSchemaError,
    ReadOnlyIndexError,
    SearchParams,
    SearchResult,
    Sort,
    StoryIndex,
    story_date,
    story_fields,
    top_counts,
)
from newswatch.records import Story

log = logging.getLogger(__name__)

#: Translates a topic-language query string into a tantivy query for a schema.
QueryTranslator = Callable[[str, tantivy.Schema], tantivy.Query]

#: Written by the process holding the writer lock, read to name it in errors.
PID_FILE = ".newswatch-writer.pid"
#: tantivy refuses less than 15 MB of indexing memory per writer thread.
_MIN_THREAD_HEAP = 15_000_000
#: Fields with a ``terms`` facet (all entity labels, source, topic).
FACET_FIELDS: tuple[str, ...] = (*ENTITY_FIELDS, "source", "topic")
#: Values a terms facet asks tantivy for before keeping the top ``FACET_SIZE``:
#: tantivy breaks count ties arbitrarily, so ask for more and order ties by value.
_FACET_CANDIDATES = 5 * FACET_SIZE
#: Per-segment candidates of a terms facet. tantivy counts every term of a
#: segment exactly, then keeps this many per segment before merging segments:
#: counts shown are exact unless a value falls outside a segment's top
#: ``_SEGMENT_SIZE`` (practically never for a top-10 facet).
_SEGMENT_SIZE = 1000


def build_schema() -> tantivy.Schema:
    """The tantivy schema of the story index (see the module docstring).

    Public so the topic-language translator (``to_tantivy(node, schema)``) and
    its tests can build queries without an index.
    """
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    for name in TEXT_FIELDS:
        sb.add_text_field(name, stored=False, tokenizer_name="default", index_option="position")
    for name in KEYWORD_FIELDS:
        sb.add_text_field(name, stored=False, tokenizer_name="raw", index_option="basic",
                          fast=name in FACET_FIELDS)
    for name in ENTITY_FILTER_FIELDS:
        sb.add_text_field(name, stored=False, tokenizer_name="raw", index_option="basic",
                          fast=name in FACET_FIELDS)
    sb.add_date_field("published", stored=True, indexed=True, fast=True)
    sb.add_date_field("fetched_at", stored=True, indexed=True, fast=True)
    sb.add_bytes_field("doc", stored=True, indexed=False)
    return sb.build()


def topics_translator(text: str, schema: tantivy.Schema) -> tantivy.Query:
    """The default :data:`QueryTranslator`: ``newswatch.topics`` parse + ``to_tantivy``.

    Imported lazily so the index does not depend on the topic package at import
    time (and tests of either can run alone).
    """
    try:
        from newswatch.topics.parse import parse_query
        from newswatch.topics.tantivy_query import to_tantivy
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("newswatch.topics"):
            raise IndexBackendError(
                "query strings need the topic language (newswatch.topics.parse / "
                "newswatch.topics.tantivy_query), which is not available; search with "
                "filters only or pass a tantivy.Query to search_query()") from exc
        raise
    return to_tantivy(parse_query(text), schema)


#: tantivy dates are i64 nanoseconds: 1677-09-21 .. 2262-04-11 (whole seconds inside that).
_MIN_DATE = (tantivy.MIN_DATETIME + timedelta(seconds=1)).replace(microsecond=0)
_MAX_DATE = tantivy.MAX_DATETIME.replace(microsecond=0)


def _second(value: datetime) -> datetime:
    """UTC, truncated to whole seconds (tantivy's date precision), clamped to tantivy's range.

    A feed's absurd date (year 1, year 9999) is indexed at the edge of the range
    instead of failing the whole batch; the stored Story keeps the original.
    """
    if value <= _MIN_DATE:
        return _MIN_DATE
    if value >= _MAX_DATE:
        return _MAX_DATE
    return value.astimezone(timezone.utc).replace(microsecond=0)


class TantivyIndex(StoryIndex):
    """A story index in a tantivy directory at ``path``.

    * ``writer_heap_mb``: indexing memory of the writer (≥ 15 MB; split over up
      to ``min(cpus, 8)`` threads, at least 15 MB each).
    * ``readonly``: never take the writer lock (a reader next to a running
      ``newswatch run``). Every read reloads first (~0.1 ms) so it sees new
      commits; so does a write-mode index that has not opened its writer yet.
      Opening read-only where no index exists raises
      :class:`~newswatch.index.base.IndexMissingError`.
    * ``translate``: how ``search(query=str)`` becomes a tantivy query
      (default :func:`topics_translator`).

    In write mode the directory and index are created when missing, and the
    writer (and its lock) is taken lazily on the first ``upsert``/``delete``
    and held until :meth:`close`. Opening an index built with another schema
    raises :class:`~newswatch.index.base.IndexSchemaError`.
    """

    name = "tantivy"

    def __init__(self, path: Path | str, *, writer_heap_mb: int = 128, readonly: bool = False,
                 translate: QueryTranslator | None = None) -> None:
        if writer_heap_mb < _MIN_THREAD_HEAP // 1_000_000:
            raise ValueError("writer_heap_mb must be >= 15 (tantivy's minimum per writer thread)")
        self.path = Path(path)
        self.readonly = readonly
        self.writer_heap_mb = writer_heap_mb
        self.schema = build_schema()
        self._translate = translate or topics_translator
        self._lock = threading.RLock()
        self._writer: tantivy.IndexWriter | None = None
        self._dirty = False
        self._closed = False
        self._index = self._open()

    @classmethod
    def from_settings(cls, settings: Any, *, readonly: bool = False, **kw: Any) -> "TantivyIndex":
        """The index at ``settings.index_path``."""
        return cls(settings.index_path, readonly=readonly, **kw)

    # ------------------------------------------------------------- opening
    def _open(self) -> tantivy.Index:
        where = str(self.path)
        if self.readonly:
            if not (self.path.is_dir() and tantivy.Index.exists(where)):
                raise IndexMissingError(
                    f"no index at {self.path}: nothing has been indexed there yet. Start "
                    "`newswatch run` first, or point --data at the directory it writes to.")
        else:
            self.path.mkdir(parents=True, exist_ok=True)
        try:
            index = tantivy.Index(self.schema, path=where, reuse=True)
        except ValueError as exc:
            if "schema does not match" in str(exc):
                raise IndexSchemaError(
                    f"the index at {self.path} was built with a different schema (another "
                    "newswatch version). Move it away and re-index (replay the bus or re-run "
                    "the feeds), or use another --data dir.") from exc
            raise IndexBackendError(f"cannot open the index at {self.path}: {exc}") from exc
        index.config_reader(reload_policy="manual")
        return index

    def _writer_(self) -> tantivy.IndexWriter:
        """The writer, opened on first use (takes tantivy's single-writer lock)."""
        if self._closed:
            raise IndexBackendError(f"the index at {self.path} is closed")
        if self.readonly:
            raise ReadOnlyIndexError(f"the index at {self.path} was opened read-only; it cannot be written")
        if self._writer is None:
            heap = self.writer_heap_mb * 1_000_000
            threads = max(1, min(os.cpu_count() or 1, 8, heap // _MIN_THREAD_HEAP))
            try:
                self._writer = self._index.writer(heap_size=heap, num_threads=threads)
            except ValueError as exc:
                if "LockBusy" in str(exc):
                    raise self._locked_error() from exc
                raise IndexBackendError(f"cannot open a writer on the index at {self.path}: {exc}") from exc
            self._write_pid()
        return self._writer

    def _locked_error(self) -> IndexLockedError:
        pid = self._holder_pid()
        who = f" (pid {pid})" if pid else ""
        return IndexLockedError(
            f"the index at {self.path} is being written by another newswatch process{who}; "
            "search works read-only (readonly=True / `newswatch search`). Stop that process "
            "or use another --data dir.")

    def _write_pid(self) -> None:
        try:
            (self.path / PID_FILE).write_text(f"{os.getpid()}\n", encoding="ascii")
        except OSError as exc:  # only used to name the lock holder in an error
            log.debug("cannot write %s: %s", self.path / PID_FILE, exc)

    def _holder_pid(self) -> int | None:
        """The pid in the pid file, if that process is alive (else unknown)."""
        try:
            pid = int((self.path / PID_FILE).read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return None
        if pid == os.getpid():
            return pid
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    # ------------------------------------------------------------- writing
    def _document(self, story: Story) -> tantivy.Document:
        values: dict[str, Any] = {k: v for k, v in story_fields(story).items() if v}
        values["published"] = _second(story_date(story))
        values["fetched_at"] = _second(story.fetched_at)
        values["doc"] = story.to_json().encode("utf-8")
        return tantivy.Document.from_dict(values, self.schema)

    def upsert(self, stories: Iterable[Story]) -> int:
        """Index ``stories`` (delete-by-id then add, per story, in the open transaction).

        The last story of an id in ``stories`` wins; nothing is visible until
        :meth:`commit`. Takes the writer lock on first use
        (:class:`~newswatch.index.base.IndexLockedError` if another process has it).
        """
        batch: dict[str, Story] = {}
        for story in stories:
            batch.pop(story.id, None)
            batch[story.id] = story
        docs = [(sid, self._document(story)) for sid, story in batch.items()]
        if not docs:
            return 0
        with self._lock:
            writer = self._writer_()
            for sid, doc in docs:
                writer.delete_documents_by_term("id", sid)
                writer.add_document(doc)
            self._dirty = True
        return len(docs)

    def delete(self, ids: Iterable[str]) -> None:
        """Delete the stories with these ids in the open transaction (visible after :meth:`commit`)."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            return
        with self._lock:
            writer = self._writer_()
            for sid in ids:
                writer.delete_documents_by_term("id", sid)
            self._dirty = True

    def commit(self) -> None:
        """Commit the open transaction (fsync'd by tantivy) and reload this process's reader.

        If the commit fails, the writer is dropped and every write since the
        last successful commit is lost: upsert them again (the bus redelivers
        unacknowledged batches).
        """
        with self._lock:
            if self._writer is None or not self._dirty:
                return
            try:
                self._writer.commit()
            except ValueError as exc:
                self._drop_writer(rollback=False)
                raise IndexBackendError(f"commit to the index at {self.path} failed: {exc}") from exc
            self._dirty = False
            self._index.reload()

    def _drop_writer(self, *, rollback: bool) -> None:
        writer, self._writer, self._dirty = self._writer, None, False
        if writer is None:
            return
        try:
            if rollback:
                writer.rollback()
            writer.wait_merging_threads()  # finishes merges, then drops the writer and its lock
        except ValueError as exc:
            log.warning("closing the writer of %s: %s", self.path, exc)
        del writer
        try:
            pid_file = self.path / PID_FILE
            if pid_file.read_text(encoding="ascii").strip() == str(os.getpid()):
                pid_file.unlink()
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        """Discard uncommitted writes, wait for merges, release the writer lock."""
        with self._lock:
            if self._closed:
                return
            if self._dirty:
                log.warning("closing the index at %s with uncommitted writes; they are discarded", self.path)
            self._drop_writer(rollback=self._dirty)
            self._closed = True

    # ------------------------------------------------------------- reading
    def _searcher(self) -> tantivy.Searcher:
        if self._closed:
            raise IndexBackendError(f"the index at {self.path} is closed")
        if self._writer is None:  # someone else may be writing: see their latest commit
            self._index.reload()
        return self._index.searcher()

    def reload(self) -> None:
        """See the latest commit now (reads do this themselves unless this index holds the writer)."""
        self._index.reload()

    def count(self) -> int:
        return self._searcher().num_docs

    def get(self, story_id: str) -> Story | None:
        searcher = self._searcher()
        found = searcher.search(tantivy.Query.term_query(self.schema, "id", story_id), 1)
        if not found.hits:
            return None
        return self._story(searcher, found.hits[0][1])

    @staticmethod
    def _story(searcher: tantivy.Searcher, address: tantivy.DocAddress) -> Story:
        raw = searcher.doc(address).get_first("doc")
        return Story.from_json(raw)

    def _native_query(self, query: str) -> tantivy.Query:
        return self._translate(query, self.schema)

    def _search(self, native: tantivy.Query | None, params: SearchParams) -> SearchResult:
        return self._run(native, params)

    def search_query(self, query: tantivy.Query | None = None, *,
                     entities: Mapping[str, Sequence[str] | str] | None = None,
                     topic: str | None = None, source: str | None = None,
                     since: datetime | None = None, until: datetime | None = None,
                     limit: int = 20, offset: int = 0, sort: Sort = "relevance",
                     facets: bool = True) -> SearchResult:
        """:meth:`search` with a ready ``tantivy.Query`` (built against :attr:`schema`)."""
        params = SearchParams.build(entities=entities, topic=topic, source=source, since=since,
                                    until=until, limit=limit, offset=offset, sort=sort, facets=facets)
        return self._run(query, params)

    def build_query(self, query: tantivy.Query | None, params: SearchParams) -> tantivy.Query:
        """``query`` (scored) AND the filters of ``params`` (not scored)."""
        Q = tantivy.Query
        filters: list[tantivy.Query] = []
        for name, values in params.entities:
            filters.extend(Q.term_query(self.schema, name, v) for v in values)
        if params.topic:
            filters.append(Q.term_query(self.schema, "topic", params.topic))
        if params.source:
            filters.append(Q.term_query(self.schema, "source", params.source))
        if params.since or params.until:
            # an unbounded side must stay "inclusive" for tantivy
            filters.append(Q.range_query(
                self.schema, "published", tantivy.FieldType.Date,
                _second(params.since) if params.since else None,
                _second(params.until) if params.until else None,
                include_lower=True, include_upper=params.until is None))
        if not filters:
            return query if query is not None else Q.all_query()
        filt = filters[0] if len(filters) == 1 else Q.boolean_query([(tantivy.Occur.Must, f) for f in filters])
        filt = Q.const_score_query(filt, 0.0)
        if query is None:
            return filt
        return Q.boolean_query([(tantivy.Occur.Must, query), (tantivy.Occur.Must, filt)])

    def _run(self, query: tantivy.Query | None, params: SearchParams) -> SearchResult:
        full = self.build_query(query, params)
        searcher = self._searcher()  # one searcher: hits, total and facets agree
        newest = params.sort == "newest"
        found = searcher.search(full, limit=max(1, params.limit), offset=params.offset, count=True,
                                order_by_field="published" if newest else None,
                                order=tantivy.Order.Desc)
        total = found.count if found.count is not None else 0
        hits = [Hit(self._story(searcher, address), 0.0 if newest else float(score))
                for score, address in found.hits[:params.limit]]
        facets = self._facets(searcher, full) if params.facets and total else Facets.empty()
        return SearchResult(total=total, hits=hits, facets=facets)

    # ------------------------------------------------------------- facets
    def _facets(self, searcher: tantivy.Searcher, query: tantivy.Query) -> Facets:
        aggs: dict[str, Any] = {
            name: {"terms": {"field": name, "size": _FACET_CANDIDATES, "segment_size": _SEGMENT_SIZE}}
            for name in FACET_FIELDS}
        aggs["days"] = {"date_histogram": {"field": "published", "fixed_interval": "1d", "min_doc_count": 1}}
        result = searcher.aggregate(query, aggs)

        def terms(name: str) -> list[tuple[str, int]]:
            buckets = (result.get(name) or {}).get("buckets") or []
            return top_counts((str(b["key"]), int(b["doc_count"])) for b in buckets)

        days = []
        for bucket in (result.get("days") or {}).get("buckets") or []:
            if int(bucket["doc_count"]) > 0:
                key = bucket.get("key_as_string") or datetime.fromtimestamp(
                    bucket["key"] / 1000, timezone.utc).isoformat()
                days.append((str(key)[:10], int(bucket["doc_count"])))
        days.sort()
        return Facets(entities={name: terms(name) for name in ENTITY_FIELDS},
                      sources=terms("source"), topics=terms("topic"), days=days)

    def __repr__(self) -> str:
        mode = "readonly" if self.readonly else "write"
        return f"TantivyIndex({str(self.path)!r}, {mode})"
