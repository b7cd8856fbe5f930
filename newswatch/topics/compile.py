"""Compile topics once: parse their queries and extract prefilter anchors.

The prefilter works like Lucene Monitor / Luwak. For each topic we extract a set
of *anchors* such that every story the query matches contains at least one of
them:

* a word or phrase on a text field: one token (for a phrase, its rarest-looking
  word — every word must be present anyway);
* ``stem*`` on a text field: the stem, as a prefix of a token;
* a keyword or entity value: ``field + value`` (or its prefix);
* OR: the union of its children's anchors (no anchor if any child has none);
* AND: the anchors of its cheapest required child (optional clauses and NOTs
  can't be required, so they are skipped);
* NOT: nothing. A query with no anchor at all (``NOT x``, ``a OR NOT b``) is
  evaluated on every story.

All anchors of all topics go into one Aho-Corasick automaton
(:mod:`newswatch.topics.matcher`); a story is fed to it once as a string of its
distinct tokens and ``field value`` keys, and only the topics whose anchors
occur are evaluated. The prefilter never drops a match (the induction above is
exact); it may let through candidates that then fail evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

from newswatch.config import TopicSpec
from newswatch.topics.nodes import And, Boost, Node, Not, Or, Phrase, Prefix, Term, field_kind
from newswatch.topics.parse import TopicSyntaxError, parse_query

#: Separators of the automaton's key space: tokens are letters and digits only, so
#: these never occur in them. ``TOK`` starts and ends a text token, ``VAL`` starts a
#: ``field value`` entry (ended by ``TOK``), ``SEP`` splits field from value.
TOK, VAL, SEP = "\x1e", "\x1d", "\x1f"


def token_key(token: str) -> str:
    """Anchor key of one whole text token."""
    return TOK + token + TOK


def token_prefix_key(stem: str) -> str:
    """Anchor key of a text prefix: matches any token starting with ``stem``."""
    return TOK + stem


def value_key(field: str, value: str) -> str:
    """Anchor key of one exact keyword/entity value."""
    return VAL + field + SEP + value + TOK


def value_prefix_key(field: str, stem: str) -> str:
    """Anchor key of a keyword/entity value prefix."""
    return VAL + field + SEP + stem


# Rough relative likelihood that an anchor occurs in a story (lower = rarer =
# better). Without corpus statistics: longer words are rarer, prefixes are
# wider than words, entity values are rare, ``lang:`` is on nearly every story.
_FIELD_COST = {"lang": 8.0, "source": 1.0, "topic": 1.0, "cluster": 0.5}


def anchor_cost(key: str) -> float:
    """Estimated cost (chance of firing) of one anchor key."""
    if key.startswith(VAL):
        field, _, rest = key[1:].partition(SEP)
        exact = rest.endswith(TOK)
        base = _FIELD_COST.get(field, 0.1)
        return base if exact else base * 2.0
    if key.endswith(TOK):
        return 1.0 / max(1, len(key) - 2)
    return 3.0 / max(1, len(key) - 1)


def _leaf_anchor(node: Term | Prefix | Phrase) -> str:
    kind = field_kind(node.field)
    if isinstance(node, Term):
        return token_key(node.value) if kind == "text" else value_key(node.field, node.value)  # type: ignore[arg-type]
    if isinstance(node, Prefix):
        return token_prefix_key(node.stem) if kind == "text" else value_prefix_key(node.field, node.stem)  # type: ignore[arg-type]
    # a phrase needs all its words: anchor on the rarest-looking one
    return min((token_key(t) for t in node.terms), key=anchor_cost)


def anchors_of(node: Node) -> frozenset[str] | None:
    """Anchor keys one of which every match of ``node`` contains; None if there are none."""
    if isinstance(node, (Term, Prefix, Phrase)):
        return frozenset((_leaf_anchor(node),))
    if isinstance(node, Boost):
        return anchors_of(node.child)
    if isinstance(node, Not):
        return None
    if isinstance(node, Or):
        out: set[str] = set()
        for child in node.children:
            sub = anchors_of(child)
            if sub is None:
                return None
            out |= sub
        return frozenset(out)
    if isinstance(node, And):
        best: frozenset[str] | None = None
        best_cost = float("inf")
        for child in node.children:
            sub = anchors_of(child)
            if sub is None:
                continue
            cost = sum(anchor_cost(k) for k in sub)
            if cost < best_cost:
                best, best_cost = sub, cost
        return best
    raise TypeError(f"not a query node: {node!r}")


@dataclass(frozen=True, slots=True)
class CompiledTopic:
    """One enabled topic ready to match: parsed query and exclude, and its anchors.

    ``anchors`` is None when the query has no required positive term (it is
    then evaluated on every story).
    """

    id: str
    query: Node
    exclude: Node | None
    min_score: float
    anchors: frozenset[str] | None
    spec: TopicSpec | None = None


def compile_topic(spec: TopicSpec) -> CompiledTopic:
    """Parse a topic's ``query`` and ``exclude``.

    Raises :class:`TopicSyntaxError` with ``key`` set to ``<id>.query`` or
    ``<id>.exclude`` (the file and line are added by
    :meth:`newswatch.topics.matcher.TopicMatcher.from_file`).
    """
    try:
        query = parse_query(spec.query)
    except TopicSyntaxError as exc:
        raise exc.located(key=f"{spec.id}.query") from None
    exclude = None
    if spec.exclude is not None and spec.exclude.strip():
        try:
            exclude = parse_query(spec.exclude)
        except TopicSyntaxError as exc:
            raise exc.located(key=f"{spec.id}.exclude") from None
    return CompiledTopic(id=spec.id, query=query, exclude=exclude, min_score=spec.min_score,
                         anchors=anchors_of(query), spec=spec)
