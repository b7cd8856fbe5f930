"""Translate the topic language and search requests into Elasticsearch query DSL.

Pure functions, no client: :func:`to_es` turns a query tree from
:func:`newswatch.topics.parse_query` into a query clause; :func:`search_body`
adds the filters, paging, sort and facet aggregations of a
:class:`~newswatch.index.base.SearchParams`; :func:`facets_from_aggs` reads the
aggregations back into the backend-neutral :class:`~newswatch.index.base.Facets`.

User syntax never reaches Elasticsearch's ``query_string`` parser (its
defaults differ from ours: ``a AND NOT b``, analyzers, wildcards). The tree is
built into DSL directly, with the semantics of the in-stream matcher:

================================  ==================================================
topic language                    Elasticsearch DSL
================================  ==================================================
word (text field)                 ``term`` on ``title`` / ``text`` (the token as our
                                  tokenizer makes it: the index analyzer makes the
                                  same tokens, see :mod:`newswatch.index.es_setup`)
unfielded                         ``bool.should`` over ``title`` and ``text``
``stem*`` (text field)            ``prefix`` on the analysed field
``"a b"`` / ``"a b"~N``           ``match_phrase`` with ``slop`` N
``field:value`` (keyword/entity)  ``term`` on the keyword field
``field:val*``                    ``prefix`` on the keyword field
``a AND b``, ``NOT``, ``+a b``    ``bool`` ``must`` / ``must_not`` / ``should``
``a OR b``                        ``bool.should`` with ``minimum_should_match: 1``
``NOT x`` alone                   ``bool`` ``must: match_all`` + ``must_not``
``x^2``                           ``bool`` ``must: [x]`` with ``boost: 2``
================================  ==================================================

Sloppy phrases: for distinct words, Lucene's sloppy phrase is exactly
:class:`~newswatch.topics.nodes.Phrase`'s definition (``max(p_i - i) -
min(p_i - i) <= slop``, so a swap costs 2). When a word repeats inside a
sloppy phrase (``"bounty for bounty"~2``) Lucene's matcher may miss some
arrangements that the in-stream matcher and tantivy find; the query DSL has no
exact equivalent (an OR of exact phrases with explicit offsets cannot be
written in DSL), so such phrases run natively and the difference is
documented (docs/elasticsearch.md). :func:`phrase_is_exact` tells which.

Scores are BM25 sums like tantivy's, not the topic score (boost sums), so
``min_score`` is not applied here either.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from newswatch.fields import ENTITY_FIELDS, TEXT_FIELDS
from newswatch.index.base import FACET_SIZE, Facets, SearchParams, top_counts
from newswatch.topics.nodes import And, Boost, Node, Not, Or, Phrase, Prefix, Term, field_kind

#: Fields with a ``terms`` facet (all entity labels, source, topic), as in tantivy.
FACET_FIELDS: tuple[str, ...] = (*ENTITY_FIELDS, "source", "topic")
#: Buckets asked per terms facet before keeping the top FACET_SIZE with ties by value.
FACET_CANDIDATES = 5 * FACET_SIZE
#: The date every story is filed, sorted and faceted under (``story_date``), whole seconds, UTC.
DATE_FIELD = "published"
#: Tie-breaker of every sort, so ``search_after`` pages are stable.
ID_FIELD = "id"
#: What a hit returns: only the stored Story.
SOURCE_FIELDS = ["doc"]

MATCH_ALL: dict[str, Any] = {"match_all": {}}

# Elasticsearch dates are epoch milliseconds: keep clear of the edges.
_MIN_DATE = datetime(1, 1, 1, tzinfo=timezone.utc)
_MAX_DATE = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)


def es_date(value: datetime) -> str:
    """A tz-aware datetime as stored and compared: UTC, whole seconds, ISO 8601 with ``Z``.

    Whole seconds because tantivy stores whole seconds: both backends must
    agree on ``since``/``until`` boundaries.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: dates must be tz-aware")
    try:
        utc = value.astimezone(timezone.utc)
    except OverflowError:
        utc = _MIN_DATE if value.year < 2 else _MAX_DATE
    return utc.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def phrase_is_exact(node: Phrase) -> bool:
    """True when Elasticsearch's ``match_phrase`` agrees with our phrase semantics.

    Exact phrases and sloppy phrases of distinct words: yes. A word repeated
    in a sloppy phrase: Lucene's sloppy matcher may miss arrangements.
    """
    return node.slop == 0 or len(set(node.terms)) == len(node.terms)


def _should(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    if len(clauses) == 1:
        return clauses[0]
    return {"bool": {"should": clauses, "minimum_should_match": 1}}


def _leaf(node: Term | Prefix | Phrase) -> dict[str, Any]:
    kind = field_kind(node.field)
    if kind != "text":
        if isinstance(node, Term):
            return {"term": {node.field: {"value": node.value}}}
        return {"prefix": {node.field: {"value": node.stem}}}  # type: ignore[union-attr]
    fields = TEXT_FIELDS if node.field is None else (node.field,)
    out: list[dict[str, Any]] = []
    for name in fields:
        if isinstance(node, Term):
            out.append({"term": {name: {"value": node.value}}})
        elif isinstance(node, Prefix):
            out.append({"prefix": {name: {"value": node.stem}}})
        else:
            out.append({"match_phrase": {name: {"query": " ".join(node.terms), "slop": node.slop}}})
    return _should(out)


def to_es(node: Node) -> dict[str, Any]:
    """The Elasticsearch query clause matching the stories ``node`` matches in-stream.

    Raises ``TypeError`` for something that is not a query node.
    """
    if isinstance(node, (Term, Prefix, Phrase)):
        return _leaf(node)
    if isinstance(node, Boost):
        return {"bool": {"must": [to_es(node.child)], "boost": float(node.factor)}}
    if isinstance(node, Not):
        return {"bool": {"must": [MATCH_ALL], "must_not": [to_es(node.child)]}}
    if isinstance(node, Or):
        return {"bool": {"should": [to_es(c) for c in node.children], "minimum_should_match": 1}}
    if isinstance(node, And):
        must = [to_es(c) for c in node.children if not isinstance(c, Not)]
        must_not = [to_es(c.child) for c in node.children if isinstance(c, Not)]
        body: dict[str, Any] = {"must": must or [MATCH_ALL]}
        if must_not:
            body["must_not"] = must_not
        if node.optional:  # only add score: must is never empty, so should stays optional
            body["should"] = [to_es(c) for c in node.optional]
            body["minimum_should_match"] = 0
        return {"bool": body}
    raise TypeError(f"not a query node: {node!r}")


def translate(text: str) -> dict[str, Any]:
    """Parse a topic-language query string and translate it (raises ``TopicSyntaxError``)."""
    from newswatch.topics.parse import parse_query

    return to_es(parse_query(text))


# ------------------------------------------------------------------ requests
def filter_clauses(params: SearchParams) -> list[dict[str, Any]]:
    """The non-scoring filters of a search: entities (AND), topic, source, date range."""
    out: list[dict[str, Any]] = []
    for name, values in params.entities:
        out.extend({"term": {name: v}} for v in values)
    if params.topic:
        out.append({"term": {"topic": params.topic}})
    if params.source:
        out.append({"term": {"source": params.source}})
    if params.since or params.until:
        rng: dict[str, Any] = {}
        if params.since:
            rng["gte"] = es_date(params.since)
        if params.until:
            rng["lt"] = es_date(params.until)
        out.append({"range": {DATE_FIELD: rng}})
    return out


def sort_clause(sort: str) -> list[dict[str, Any]]:
    """``relevance``: score, then id; ``newest``: date descending, then id (stable for search_after)."""
    if sort == "newest":
        return [{DATE_FIELD: {"order": "desc"}}, {ID_FIELD: {"order": "asc"}}]
    return [{"_score": {"order": "desc"}}, {ID_FIELD: {"order": "asc"}}]


def facet_aggs() -> dict[str, Any]:
    """One ``terms`` aggregation per faceted field plus a per-UTC-day ``date_histogram``."""
    aggs: dict[str, Any] = {name: {"terms": {"field": name, "size": FACET_CANDIDATES}} for name in FACET_FIELDS}
    aggs["days"] = {"date_histogram": {"field": DATE_FIELD, "calendar_interval": "1d", "min_doc_count": 1,
                                       "time_zone": "UTC", "format": "yyyy-MM-dd"}}
    return aggs


def query_clause(query: dict[str, Any] | None, params: SearchParams) -> dict[str, Any]:
    """``query`` (scored) AND the filters of ``params`` (not scored)."""
    filters = filter_clauses(params)
    if not filters:
        return query if query is not None else MATCH_ALL
    return {"bool": {"must": [query if query is not None else MATCH_ALL], "filter": filters}}


def search_body(query: dict[str, Any] | None, params: SearchParams, *,
                search_after: list[Any] | None = None) -> dict[str, Any]:
    """The full ``_search`` body: query + filters, page, sort, exact total, facets.

    With ``search_after`` (the ``sort`` values of the last hit of the previous
    page) the page starts after that hit and ``from`` is not sent.
    """
    body: dict[str, Any] = {"query": query_clause(query, params), "size": params.limit,
                            "sort": sort_clause(params.sort), "track_total_hits": True,
                            "_source": SOURCE_FIELDS}
    if search_after is not None:
        body["search_after"] = list(search_after)
    elif params.offset:
        body["from"] = params.offset
    if params.facets:
        body["aggs"] = facet_aggs()
    return body


def facets_from_aggs(aggs: dict[str, Any] | None) -> Facets:
    """Facets in the backend-neutral shape (top FACET_SIZE, ties by value; days oldest first)."""
    aggs = aggs or {}

    def terms(name: str) -> list[tuple[str, int]]:
        buckets = (aggs.get(name) or {}).get("buckets") or []
        return top_counts((str(b["key"]), int(b["doc_count"])) for b in buckets)

    days = []
    for bucket in (aggs.get("days") or {}).get("buckets") or []:
        if int(bucket["doc_count"]) > 0:
            key = bucket.get("key_as_string") or datetime.fromtimestamp(
                bucket["key"] / 1000, timezone.utc).strftime("%Y-%m-%d")
            days.append((str(key)[:10], int(bucket["doc_count"])))
    days.sort()
    return Facets(entities={name: terms(name) for name in ENTITY_FIELDS},
                  sources=terms("source"), topics=terms("topic"), days=days)

