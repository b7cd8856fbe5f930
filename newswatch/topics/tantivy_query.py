"""Translate a topic's query tree into a ``tantivy.Query`` (backtests on the embedded index).

User syntax never reaches tantivy's query parser (it silently turns ``weapon*``
into an exact term and returns nothing for ``a AND NOT b``): the tree from
:func:`newswatch.topics.parse_query` is built into Query objects directly, with
the same semantics as the in-stream matcher. Expected schema (owned by the index
module; these names are the contract):

* ``title``, ``text``: tokenizer ``default``, ``index_option="position"``;
* ``source``, ``lang``, ``topic``, ``cluster``: tokenizer ``raw``, lower-cased values;
* ``person``, ``org``, ``gpe``, ``norp``, ``loc``, ``fac``, ``event``,
  ``product``, ``entity``: tokenizer ``raw``, values
  :func:`newswatch.fields.entity_value` of the canonical names (``entity``: all labels).

Mapping: word → ``term_query``; unfielded → Should over ``title`` and
``text``; ``stem*`` → ``regex_query`` ``<escaped stem>.*``; exact phrase →
``phrase_query``; sloppy phrase of two distinct words → ``phrase_query`` with
slop (tantivy's two-word slop is exactly ours); any other sloppy phrase → an OR
of exact phrases with explicit word offsets, one per arrangement the slop allows
(tantivy's own 3+-word slop depends on document frequencies, so it would not
agree); AND → Must (NOT children → MustNot, optional → Should); OR → Should;
pure negation → ``all_query`` Must plus MustNot; ``^b`` → ``boost_query``.

What tantivy can't express: ``min_score`` (its scores are BM25, not our boost
sums). A backtest that needs ``min_score`` re-evaluates hits with
:func:`newswatch.topics.evaluate` on the stored text.
"""

from __future__ import annotations

from typing import Any

import tantivy

from newswatch.fields import TEXT_FIELDS
from newswatch.topics.compile import CompiledTopic
from newswatch.topics.nodes import (And, Boost, Node, Not, Or, Phrase, Prefix, Term, field_kind,
                                    phrase_needs_variants, phrase_variants)

Occur = tantivy.Occur
Query = tantivy.Query

# Characters with a meaning in tantivy's (Rust regex-syntax) patterns.
_REGEX_META = frozenset("\\.+*?()|[]{}^$#&-~")


def regex_escape(text: str) -> str:
    """Escape ``text`` for a literal match in a tantivy ``regex_query``."""
    return "".join("\\" + ch if ch in _REGEX_META else ch for ch in text)


def _fields(field: str | None) -> tuple[str, ...]:
    return TEXT_FIELDS if field is None else (field,)


def _any(queries: list[Any]) -> Any:
    if len(queries) == 1:
        return queries[0]
    return Query.boolean_query([(Occur.Should, q) for q in queries])


def _field_query(schema: Any, name: str, build) -> Any:
    try:
        return build(name)
    except ValueError as exc:
        raise ValueError(f"cannot search field {name!r} on this index ({exc}); the topic index schema "
                         "must define it (see newswatch.topics.tantivy_query)") from None


def _phrase(schema: Any, node: Phrase, name: str) -> Any:
    words = list(node.terms)
    if node.slop == 0:
        return Query.phrase_query(schema, name, words)
    if not phrase_needs_variants(node):
        return Query.phrase_query(schema, name, words, node.slop)
    variants = [Query.phrase_query(schema, name, [(o, w) for o, w in zip(offsets, words)])
                for offsets in phrase_variants(len(words), node.slop)]
    return _any(variants)


def _leaf(node: Term | Prefix | Phrase, schema: Any) -> Any:
    kind = field_kind(node.field)
    if kind != "text":
        name = node.field
        if isinstance(node, Term):
            return _field_query(schema, name, lambda f: Query.term_query(schema, f, node.value))
        return _field_query(schema, name, lambda f: Query.regex_query(schema, f, regex_escape(node.stem) + ".*"))
    out = []
    for name in _fields(node.field):
        if isinstance(node, Term):
            out.append(_field_query(schema, name, lambda f: Query.term_query(schema, f, node.value)))
        elif isinstance(node, Prefix):
            out.append(_field_query(schema, name,
                                    lambda f: Query.regex_query(schema, f, regex_escape(node.stem) + ".*")))
        else:
            out.append(_field_query(schema, name, lambda f: _phrase(schema, node, f)))
    return _any(out)


def to_tantivy(node: Node, schema: Any) -> Any:
    """The ``tantivy.Query`` matching exactly the stories ``node`` matches in-stream."""
    if isinstance(node, (Term, Prefix, Phrase)):
        return _leaf(node, schema)
    if isinstance(node, Boost):
        return Query.boost_query(to_tantivy(node.child, schema), float(node.factor))
    if isinstance(node, Not):
        return Query.boolean_query([(Occur.Must, Query.all_query()),
                                    (Occur.MustNot, to_tantivy(node.child, schema))])
    if isinstance(node, Or):
        return Query.boolean_query([(Occur.Should, to_tantivy(c, schema)) for c in node.children])
    if isinstance(node, And):
        clauses = []
        positive = False
        for child in node.children:
            if isinstance(child, Not):
                clauses.append((Occur.MustNot, to_tantivy(child.child, schema)))
            else:
                positive = True
                clauses.append((Occur.Must, to_tantivy(child, schema)))
        if not positive:
            clauses.insert(0, (Occur.Must, Query.all_query()))
        clauses.extend((Occur.Should, to_tantivy(c, schema)) for c in node.optional)
        return Query.boolean_query(clauses)
    raise TypeError(f"not a query node: {node!r}")


def topic_to_tantivy(topic: CompiledTopic, schema: Any) -> Any:
    """A compiled topic's query minus its exclude (``min_score`` is not applied; see module doc)."""
    query = to_tantivy(topic.query, schema)
    if topic.exclude is None:
        return query
    return Query.boolean_query([(Occur.Must, query), (Occur.MustNot, to_tantivy(topic.exclude, schema))])
