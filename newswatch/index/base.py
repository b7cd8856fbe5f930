"""The interface every story index backend implements, and what it promises.

Two backends share it: the embedded tantivy index (one machine, on disk under
``data_dir``) and Elasticsearch (scaled out). Callers — the pipeline's index
sink, ``newswatch search``, the web UI, topic backtests — only see
:class:`StoryIndex`, :class:`SearchResult` and :func:`story_fields`, so they
work unchanged on either backend.

Delivery promises (every backend):

* **Idempotent by story id.** :meth:`StoryIndex.upsert` replaces any indexed
  story with the same id; re-delivering a batch (the bus is at-least-once) never
  duplicates a story. Within one ``upsert`` call the *last* story with a given id
  wins.
* **Invisible until commit.** Writes (upserts, deletes) become visible to
  :meth:`StoryIndex.search`, :meth:`StoryIndex.get` and
  :meth:`StoryIndex.count` only after :meth:`StoryIndex.commit` returns.
* **Durable on commit.** When ``commit()`` returns, the writes survive a crash
  of the process (tantivy fsyncs segment files and ``meta.json``; ES: refresh
  plus translog). A crash before ``commit()`` loses exactly the uncommitted
  writes and leaves a readable index.
* **Same result shape.** :class:`SearchResult` and :class:`Facets` look the same
  for every backend; facet values are the indexed (normalised) values, so any
  facet value can be fed straight back as a filter.

What is indexed for a story is defined once, by :func:`story_fields`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, Iterable, Literal, Mapping, Self, Sequence

from newswatch.errors import NewswatchError
from newswatch.fields import ANY_ENTITY_FIELD, ENTITY_FIELDS, entity_value
from newswatch.records import DeadLetter, Story

Sort = Literal["relevance", "newest"]
SORTS: tuple[str, ...] = ("relevance", "newest")
#: Entity filter/facet fields: one per spaCy label plus ``entity`` (any label).
ENTITY_FILTER_FIELDS: tuple[str, ...] = (*ENTITY_FIELDS, ANY_ENTITY_FIELD)
#: How many values each term facet (entity label, source, topic) reports.
FACET_SIZE = 10
#: Largest ``limit + offset`` a search accepts (deep paging is a scan, not a search).
MAX_WINDOW = 10_000


# ------------------------------------------------------------------ errors
class IndexBackendError(NewswatchError):
    """Base class of the errors index backends raise on purpose."""


class IndexLockedError(IndexBackendError):
    """Another process holds the index's single writer lock."""


class IndexMissingError(IndexBackendError):
    """A read-only index was opened where no index exists yet."""


class IndexSchemaError(IndexBackendError):
    """The index on disk was built with a different schema than this version uses."""


class ReadOnlyIndexError(IndexBackendError):
    """A write was attempted on an index opened with ``readonly=True``."""


class QueryError(IndexBackendError, ValueError):
    """A search request is invalid (unknown entity label, naive datetime, bad sort...)."""


# ------------------------------------------------------------------ results
@dataclass(frozen=True, slots=True)
class Hit:
    """One matching story.

    ``score`` is the backend's relevance score for ``sort="relevance"`` and
    ``0.0`` for ``sort="newest"`` (no relevance is computed when sorting by date).
    """

    story: Story
    score: float


@dataclass(frozen=True, slots=True)
class Facets:
    """Counts over *all* matching stories (not just the returned page).

    * ``entities``: label field (``person``, ``org``, ``gpe``...) → up to
      :data:`FACET_SIZE` ``(value, story count)``, most frequent first; values
      are normalised canonical names (:func:`newswatch.fields.entity_value`).
      Every label field is present, possibly with an empty list.
    * ``sources`` / ``topics``: up to :data:`FACET_SIZE` ``(id, story count)``.
    * ``days``: ``(YYYY-MM-DD, story count)`` per UTC day of ``published``
      (falling back to ``fetched_at``), oldest first; days without stories are
      omitted.

    Ties are ordered by value so results are deterministic.
    """

    entities: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    sources: list[tuple[str, int]] = field(default_factory=list)
    topics: list[tuple[str, int]] = field(default_factory=list)
    days: list[tuple[str, int]] = field(default_factory=list)

    @classmethod
    def empty(cls) -> "Facets":
        return cls(entities={f: [] for f in ENTITY_FIELDS})

    def to_dict(self) -> dict[str, Any]:
        pair = lambda items: [{"value": v, "count": c} for v, c in items]  # noqa: E731
        return {"entities": {k: pair(v) for k, v in self.entities.items()},
                "sources": pair(self.sources), "topics": pair(self.topics),
                "days": [{"day": d, "count": c} for d, c in self.days]}


@dataclass(frozen=True, slots=True)
class SearchResult:
    """A page of hits, the total number of matching stories, and facets.

    ``total`` counts every matching story (not only this page); ``facets`` is
    :meth:`Facets.empty` when the search was made with ``facets=False``.
    """

    total: int
    hits: list[Hit]
    facets: Facets

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (CLI ``--json``, web API)."""
        return {"total": self.total,
                "hits": [{"score": h.score, "story": h.story.model_dump(mode="json")} for h in self.hits],
                "facets": self.facets.to_dict()}


# ------------------------------------------------------------------ request
@dataclass(frozen=True, slots=True)
class SearchParams:
    """A validated, normalised search request (shared by all backends).

    ``entities`` maps a label field to normalised values, all of which must be
    present (AND); ``since`` is inclusive and ``until`` exclusive, both UTC.
    """

    entities: tuple[tuple[str, tuple[str, ...]], ...] = ()
    topic: str | None = None
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 20
    offset: int = 0
    sort: Sort = "relevance"
    facets: bool = True

    @classmethod
    def build(cls, *, entities: Mapping[str, Sequence[str] | str] | None = None,
              topic: str | None = None, source: str | None = None,
              since: datetime | None = None, until: datetime | None = None,
              limit: int = 20, offset: int = 0, sort: str = "relevance",
              facets: bool = True) -> "SearchParams":
        """Validate and normalise search arguments; raises :class:`QueryError`."""
        ents: list[tuple[str, tuple[str, ...]]] = []
        for key, values in (entities or {}).items():
            name = key.strip().lower()
            if name not in ENTITY_FILTER_FIELDS:
                raise QueryError(f"unknown entity field {key!r}; use one of: {', '.join(ENTITY_FILTER_FIELDS)}")
            if isinstance(values, str):
                values = [values]
            vals = tuple(dict.fromkeys(v for v in (entity_value(x) for x in values) if v))
            if vals:
                ents.append((name, vals))
        if sort not in SORTS:
            raise QueryError(f"unknown sort {sort!r}; use one of: {', '.join(SORTS)}")
        if limit < 0 or offset < 0:
            raise QueryError("limit and offset must be >= 0")
        if limit + offset > MAX_WINDOW:
            raise QueryError(f"limit + offset must be <= {MAX_WINDOW}; narrow the search instead of paging deeper")
        return cls(entities=tuple(ents), topic=keyword_value(topic or "") or None,
                   source=keyword_value(source or "") or None,
                   since=_utc(since, "since"), until=_utc(until, "until"),
                   limit=limit, offset=offset, sort=sort, facets=facets)  # type: ignore[arg-type]


def _utc(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise QueryError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise QueryError(f"{name} must be tz-aware (e.g. datetime(..., tzinfo=timezone.utc))")
    try:
        return value.astimezone(timezone.utc)
    except OverflowError as exc:
        raise QueryError(f"{name} is out of range: {value.isoformat()}") from exc


# ------------------------------------------------------------------ documents
def story_date(story: Story) -> datetime:
    """The date a story is filed, sorted and faceted under: ``published``, else ``fetched_at``.

    Returned as given (tz-aware, not converted: a year-1 date in UTC+5 has no
    UTC equivalent); backends convert to UTC and may clamp to their date range.
    """
    return story.published or story.fetched_at


def story_text(story: Story) -> str:
    """The body searched as ``text:``: the clean text, else the content, else the summary.

    The same rule as the in-stream matcher
    (:meth:`newswatch.topics.matcher.MatchDoc.from_story`), or a backtest would
    flag different stories than the live stream.
    """
    return story.text or story.content or story.summary


def keyword_value(value: str) -> str:
    """How ``source``/``lang``/``topic``/``cluster`` values are stored and compared:
    lower-cased, whitespace collapsed (as the in-stream matcher does)."""
    return " ".join(value.split()).lower()


def story_fields(story: Story) -> dict[str, list[str]]:
    """The searchable values of a story, by index field (backend-neutral).

    * ``id``; ``title`` and ``text`` (:func:`story_text`): analysed full text.
    * ``source`` (``source_id``), ``lang`` (``lang``, else the ``language``
      hint), ``topic`` (ids of matched topics), ``cluster``: exact values,
      normalised with :func:`keyword_value`.
    * one field per entity label (``person``, ``org``, ``gpe``...) holding
      :func:`~newswatch.fields.entity_value` of the canonical names, and
      ``entity`` with the values of every label. Entities whose label is not
      in :data:`newswatch.fields.ENTITY_LABELS` (``DATE``, ``MONEY``...) or
      whose canonical name is empty are not indexed — the matcher ignores them
      too.

    Multi-valued fields are de-duplicated (order kept) so facet counts are story
    counts. Dates are not included: see :func:`story_date`.
    """
    def kw(*values: str | None) -> list[str]:
        return list(dict.fromkeys(v for v in (keyword_value(x) for x in values if x) if v))

    out: dict[str, list[str]] = {"id": [story.id], "title": [story.title], "text": [story_text(story)],
                                 "source": kw(story.source_id), "lang": kw(story.lang or story.language),
                                 "topic": kw(*(t.id for t in story.topics)), "cluster": kw(story.cluster_id)}
    by_label: dict[str, dict[str, None]] = {f: {} for f in ENTITY_FILTER_FIELDS}
    for ent in story.entities:
        label = ent.label.strip().lower()
        value = entity_value(ent.canonical)
        if not value or label not in ENTITY_FIELDS:
            continue
        by_label[label][value] = None
        by_label[ANY_ENTITY_FIELD][value] = None
    out.update({label: list(values) for label, values in by_label.items()})
    return out


def top_counts(counts: Iterable[tuple[str, int]], size: int = FACET_SIZE) -> list[tuple[str, int]]:
    """The ``size`` most frequent ``(value, count)`` pairs, ties by value (deterministic)."""
    return sorted((c for c in counts if c[1] > 0), key=lambda c: (-c[1], c[0]))[:size]


# ------------------------------------------------------------------ interface
class StoryIndex(abc.ABC):
    """A searchable store of :class:`~newswatch.records.Story`, keyed by story id.

    See the module docstring for the delivery promises. Implementations are
    safe to share between threads of one process. Use as a context manager or
    call :meth:`close`.

    ``search`` takes a query in the topic language (the Lucene subset analysts
    write in ``topics.yaml``: AND/OR/NOT, phrases, proximity, prefix,
    ``field:``). Each backend translates it itself — user syntax is never handed
    to the engine raw. Backends may also offer a native-query variant (tantivy:
    ``TantivyIndex.search_query``).
    """

    #: Backend name as registered in :mod:`newswatch.registry`.
    name: str = ""

    @abc.abstractmethod
    def upsert(self, stories: Iterable[Story]) -> int:
        """Index ``stories``, replacing any indexed story with the same id.

        Returns how many distinct stories were written (duplicates of an id in
        ``stories`` collapse to the last one). Not visible until :meth:`commit`
        (a backend that must flush early under back-pressure, like Elasticsearch,
        may make some visible at its next refresh; they are never lost).
        """

    @abc.abstractmethod
    def delete(self, ids: Iterable[str]) -> None:
        """Remove the stories with these ids (unknown ids are ignored). Not visible until :meth:`commit`."""

    @abc.abstractmethod
    def commit(self) -> None:
        """Make every write so far durable and visible to searches; a no-op when nothing was written."""

    @abc.abstractmethod
    def get(self, story_id: str) -> Story | None:
        """The committed story with this id, exactly as it was upserted, or None."""

    @abc.abstractmethod
    def count(self) -> int:
        """How many committed stories the index holds."""

    def search(self, query: str | None = None, *,
               entities: Mapping[str, Sequence[str] | str] | None = None,
               topic: str | None = None, source: str | None = None,
               since: datetime | None = None, until: datetime | None = None,
               limit: int = 20, offset: int = 0, sort: Sort = "relevance",
               facets: bool = True) -> SearchResult:
        """Search committed stories.

        * ``query``: topic-language query string; None or blank matches all.
        * ``entities``: label field (``person``, ``org``, ``gpe``, ..., or
          ``entity`` for any label) → canonical names; every value must be on
          the story (AND). Names are normalised with
          :func:`~newswatch.fields.entity_value`, so ``{"gpe": ["Russia"]}`` works.
        * ``topic`` / ``source``: topic id / source id (case-insensitive, see
          :func:`keyword_value`).
        * ``since`` (inclusive) / ``until`` (exclusive): tz-aware bounds on the
          story date (:func:`story_date`), compared at whole-second precision.
        * ``sort``: ``"relevance"`` (score, best first) or ``"newest"``.
        * ``limit`` / ``offset``: the page (``limit + offset`` ≤ :data:`MAX_WINDOW`).
        * ``facets``: compute :class:`Facets` over all matches (costs a few ms).

        Raises :class:`QueryError` for an invalid request and
        :class:`~newswatch.topics.parse.TopicSyntaxError` for bad query syntax.
        """
        params = SearchParams.build(entities=entities, topic=topic, source=source, since=since,
                                    until=until, limit=limit, offset=offset, sort=sort, facets=facets)
        native = None
        if query is not None and query.strip():
            try:
                native = self._native_query(query)
            except NewswatchError:
                raise
            except ValueError as exc:
                raise QueryError(f"invalid query {query!r}: {exc}") from exc
        return self._search(native, params)

    @abc.abstractmethod
    def _native_query(self, query: str) -> Any:
        """The backend's query object for a non-blank topic-language query string."""

    @abc.abstractmethod
    def _search(self, native: Any, params: SearchParams) -> SearchResult:
        """Run a backend query (None = all stories) with validated parameters."""

    def take_dead_letters(self) -> list[DeadLetter]:
        """Stories the index refused for good since the last call (e.g. mapping
        errors), as dead letters for the pipeline to store. Embedded: never any."""
        return []

    @abc.abstractmethod
    def close(self) -> None:
        """Release resources (and the writer lock). Uncommitted writes are discarded: commit first."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
