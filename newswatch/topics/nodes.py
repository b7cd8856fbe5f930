"""The typed, immutable query tree a watch topic compiles to.

One tree serves both sides: :mod:`newswatch.topics.matcher` evaluates it on
one article in-stream and :mod:`newswatch.topics.tantivy_query` turns it into a
``tantivy.Query`` for a backtest, so the two agree by construction.

Fields live on the leaves (a ``title:(a OR b)`` group is distributed onto its
leaves while parsing). ``field=None`` means the default fields: ``title`` OR
``text``. Leaves on text fields hold tokens made by :func:`newswatch.fields.tokenize`;
leaves on keyword and entity fields hold one exact, lower-cased value
(:func:`newswatch.fields.entity_value` for entities).

``str(node)`` renders canonical query syntax that parses back to an equal tree.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Iterator, Union

from newswatch.fields import (ANY_ENTITY_FIELD, ENTITY_FIELDS, KEYWORD_FIELDS,
                              TEXT_FIELDS)

#: Every field a query may name.
ALL_FIELDS: tuple[str, ...] = (*TEXT_FIELDS, *KEYWORD_FIELDS, *ENTITY_FIELDS, ANY_ENTITY_FIELD)
#: Fields holding whole values (not tokenized): keyword and entity fields.
VALUE_FIELDS: frozenset[str] = frozenset((*KEYWORD_FIELDS, *ENTITY_FIELDS, ANY_ENTITY_FIELD))
#: Entity fields, including ``entity`` (any label).
ENTITY_QUERY_FIELDS: frozenset[str] = frozenset((*ENTITY_FIELDS, ANY_ENTITY_FIELD))

#: A sloppy phrase of 3+ words (or with a repeated word) runs on tantivy as an OR
#: of exact phrases, one per allowed arrangement; above this many the query is refused.
MAX_PHRASE_VARIANTS = 1024


def field_kind(field: str | None) -> str:
    """``"text"`` (None, title, text), ``"keyword"`` or ``"entity"``."""
    if field is None or field in TEXT_FIELDS:
        return "text"
    if field in ENTITY_QUERY_FIELDS:
        return "entity"
    if field in KEYWORD_FIELDS:
        return "keyword"
    raise ValueError(f"unknown field {field!r}")


_PLAIN = re.compile(r"^[^\W_]+$")
_SPECIAL = re.compile(r'([+\-!(){}\[\]^"~*?:\\/&| ])')


def _quote_value(value: str) -> str:
    if _PLAIN.match(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _with_field(field: str | None, body: str) -> str:
    return f"{field}:{body}" if field else body


@dataclass(frozen=True, slots=True)
class Term:
    """One token on a text field, or one exact value on a keyword/entity field."""

    value: str
    field: str | None = None

    @property
    def label(self) -> str:
        return self.value

    def __str__(self) -> str:
        return _with_field(self.field, _quote_value(self.value))


@dataclass(frozen=True, slots=True)
class Prefix:
    """``stem*``: any token (text fields) or value (keyword/entity fields) starting with ``stem``."""

    stem: str
    field: str | None = None

    @property
    def label(self) -> str:
        return self.stem + "*"

    def __str__(self) -> str:
        stem = _SPECIAL.sub(r"\\\1", self.stem)
        return _with_field(self.field, stem + "*")


@dataclass(frozen=True, slots=True)
class Phrase:
    """Two or more tokens of one text field, in order (``slop`` 0) or near each other.

    Slop semantics (the same in-stream and on tantivy): the phrase matches when
    each word i occurs at a position p_i, all p_i distinct, with
    ``max(p_i - i) - min(p_i - i) <= slop``. So slop counts moves: ``"a b"~1``
    matches ``a x b``; ``"a b c"~1`` matches ``a x b c`` but not ``a x b x c``;
    a swap costs 2 (``"a b"~2`` matches ``b a``). This is Lucene's sloppy-phrase
    definition evaluated exactly (Lucene's own sweep can miss some arrangements
    when words repeat).
    """

    terms: tuple[str, ...]
    field: str | None = None
    slop: int = 0

    @property
    def label(self) -> str:
        return " ".join(self.terms) + (f"~{self.slop}" if self.slop else "")

    def __str__(self) -> str:
        body = '"' + " ".join(self.terms) + '"' + (f"~{self.slop}" if self.slop else "")
        return _with_field(self.field, body)


@dataclass(frozen=True, slots=True)
class Not:
    """Logical complement: matches when ``child`` does not. Contributes no score."""

    child: "Node"

    def __str__(self) -> str:
        return f"NOT {_wrap(self.child)}"


@dataclass(frozen=True, slots=True)
class And:
    """All ``children`` must match; ``optional`` children only add score and explanation.

    ``optional`` comes from Lucene's ``+a b`` (``b`` is optional once a clause is
    required). A pure-negative And (every child a :class:`Not`) matches every
    story that none of the negated clauses match.
    """

    children: tuple["Node", ...]
    optional: tuple["Node", ...] = ()

    def __str__(self) -> str:
        req = " AND ".join(_wrap(c) for c in self.children)
        if not self.optional:
            return req
        if all(isinstance(c, Not) for c in self.children):  # '-x b' would make b required
            parts = ["+(" + " AND ".join(_wrap(c) for c in self.children) + ")"]
        else:
            parts = [f"+{_wrap(c)}" if not isinstance(c, Not) else f"-{_wrap(c.child)}" for c in self.children]
        parts += [f"({c})" if isinstance(c, Not) else _wrap(c) for c in self.optional]
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Or:
    """At least one child must match; score is the sum of the children that matched."""

    children: tuple["Node", ...]

    def __str__(self) -> str:
        return " OR ".join(_wrap(c) for c in self.children)


@dataclass(frozen=True, slots=True)
class Boost:
    """``child^factor``: multiplies the score of everything inside ``child``."""

    child: "Node"
    factor: float

    def __str__(self) -> str:
        f = int(self.factor) if float(self.factor).is_integer() else self.factor
        return f"{_wrap(self.child, boost=True)}^{f}"


Node = Union[Term, Prefix, Phrase, Not, And, Or, Boost]
Leaf = Union[Term, Prefix, Phrase]
LEAF_TYPES = (Term, Prefix, Phrase)


def _wrap(node: Node, *, boost: bool = False) -> str:
    if isinstance(node, (And, Or)) or (boost and isinstance(node, (Not, Boost))):
        return f"({node})"
    return str(node)


def leaves(node: Node, *, positive_only: bool = False) -> Iterator[Leaf]:
    """All leaves of ``node`` (only those not under a :class:`Not` if ``positive_only``)."""
    if isinstance(node, LEAF_TYPES):
        yield node
    elif isinstance(node, Not):
        if not positive_only:
            yield from leaves(node.child)
    elif isinstance(node, Boost):
        yield from leaves(node.child, positive_only=positive_only)
    elif isinstance(node, And):
        for c in (*node.children, *node.optional):
            yield from leaves(c, positive_only=positive_only)
    elif isinstance(node, Or):
        for c in node.children:
            yield from leaves(c, positive_only=positive_only)


def phrase_needs_variants(phrase: Phrase) -> bool:
    """True when tantivy's native slop can't be trusted for this phrase.

    tantivy's native sloppy phrase agrees with :class:`Phrase` semantics for two
    distinct words; with 3+ words its result depends on the index's document
    frequencies, and a repeated word may match a single occurrence.
    """
    return phrase.slop > 0 and (len(phrase.terms) > 2 or len(set(phrase.terms)) < len(phrase.terms))


def phrase_variant_bound(n_terms: int, slop: int) -> int:
    """Upper bound of :func:`phrase_variants` (before removing collisions)."""
    return (slop + 1) ** n_terms - slop ** n_terms


def phrase_variants(n_terms: int, slop: int) -> Iterator[tuple[int, ...]]:
    """Every arrangement a sloppy phrase allows, as word offsets for an exact phrase.

    Offsets ``o_i = i + d_i`` with ``d_i`` in ``[0, slop]``, ``min(d) == 0`` and all
    offsets distinct: an exact phrase with these offsets matching somewhere is the
    same as the sloppy phrase matching with that arrangement.
    """
    for ds in itertools.product(range(slop + 1), repeat=n_terms):
        if min(ds) != 0:
            continue
        offsets = tuple(i + d for i, d in enumerate(ds))
        if len(set(offsets)) == n_terms:
            yield offsets
