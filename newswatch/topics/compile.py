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


#: At most this many requirement groups per topic go into the prefilter (the cheapest ones).
MAX_GROUPS = 4


def requirements_of(node: Node) -> tuple[frozenset[str], ...]:
    """Anchor groups *all* of which every match of ``node`` touches (a conjunction of disjunctions).

    Where :func:`anchors_of` gives one group (the cheapest way to say "this
    topic might match"), this gives every group the query implies: each word
    of a phrase, each required child of an AND, and for an OR one group made of
    the cheapest group of each alternative. A topic is a candidate only when
    the article has at least one key of *every* group, which is what keeps the
    candidates few as topics grow (``entity AND word`` needs both, not either).

    Exact by construction: a match contains a key of every group. ``()`` means
    no requirement (the query can match without any positive term).
    """
    groups = _requirements(node)
    return _prune(groups)


def _requirements(node: Node) -> list[frozenset[str]]:
    if isinstance(node, (Term, Prefix)):
        return [frozenset((_leaf_anchor(node),))]
    if isinstance(node, Phrase):
        return [frozenset((token_key(t),)) for t in dict.fromkeys(node.terms)]
    if isinstance(node, Boost):
        return _requirements(node.child)
    if isinstance(node, Not):
        return []
    if isinstance(node, And):
        out: list[frozenset[str]] = []
        for child in node.children:
            out.extend(_requirements(child))
        return out
    if isinstance(node, Or):
        union: set[str] = set()
        for child in node.children:
            sub = _requirements(child)
            if not sub:
                return []
            union |= min(sub, key=_group_cost)
        return [frozenset(union)]
    raise TypeError(f"not a query node: {node!r}")


def _group_cost(group: frozenset[str]) -> float:
    return sum(anchor_cost(k) for k in group)


def _prune(groups: list[frozenset[str]]) -> tuple[frozenset[str], ...]:
    """Drop duplicate groups and groups implied by a smaller one; keep the cheapest :data:`MAX_GROUPS`."""
    kept: list[frozenset[str]] = []
    for g in sorted(set(groups), key=lambda g: (len(g), _group_cost(g), sorted(g))):
        if not any(k <= g for k in kept):
            kept.append(g)
    kept.sort(key=lambda g: (_group_cost(g), sorted(g)))
    # beyond the cheapest group, a group of only very short words (the, of, u, s) filters
    # almost nothing and costs a prefilter hit per topic on every article: leave it out
    return tuple(g for i, g in enumerate(kept[:MAX_GROUPS])
                 if i == 0 or max(anchor_cost(k) for k in g) < _WEAK_KEY)


#: A group with a key at least this costly (a word of up to 3 letters, a short prefix)
#: is satisfied by nearly every article: not worth checking in the prefilter.
_WEAK_KEY = 1.0 / 3.0 - 1e-9


def max_score(node: Node) -> float:
    """The highest score ``node`` can reach on any article (see the matcher's scoring)."""
    if isinstance(node, (Term, Prefix, Phrase)):
        return 1.0
    if isinstance(node, Boost):
        return node.factor * max_score(node.child)
    if isinstance(node, Not):
        return 0.0
    if isinstance(node, Or):
        return sum(max_score(c) for c in node.children)
    if isinstance(node, And):
        return sum(max_score(c) for c in (*node.children, *node.optional))
    raise TypeError(f"not a query node: {node!r}")


def threshold_groups(node: Node, min_score: float) -> tuple[tuple[frozenset[str], ...], tuple[float, ...], float] | None:
    """Prefilter groups of a weighted OR topic (``a^3 OR b^2 OR c`` with ``min_score``), or None.

    Each alternative becomes one group (its cheapest anchor group) weighted by
    the most it can add to the score; an article can reach ``min_score`` only if
    the weights of the groups it hits add up to ``min_score`` (alternatives
    that need no anchor add their weight unconditionally). Returns
    ``(groups, weights, need)``, or None when this does not apply (not an OR,
    no ``min_score``, or a threshold that anything reaches).
    """
    while isinstance(node, Boost):
        if node.factor <= 0:
            return None
        min_score = min_score / node.factor
        node = node.child
    if min_score <= 0 or not isinstance(node, Or):
        return None
    groups: list[frozenset[str]] = []
    weights: list[float] = []
    free = 0.0
    for child in node.children:
        w = max_score(child)
        if w <= 0:
            continue
        sub = _requirements(child)
        if not sub:
            free += w
            continue
        groups.append(min(sub, key=_group_cost))
        weights.append(w)
    need = min_score - free
    if need <= 0 or not groups:
        return None
    return tuple(groups), tuple(weights), need


@dataclass(frozen=True, slots=True)
class CompiledTopic:
    """One enabled topic ready to match: parsed query and exclude, and its anchors.

    ``anchors`` is None when the query has no required positive term (it is
    then evaluated on every story). ``groups`` (:func:`requirements_of`) are
    what the prefilter checks: a key of every group must occur — or, when
    ``weights`` is set (a weighted OR with ``min_score``, see
    :func:`threshold_groups`), the weights of the groups hit must reach ``need``.
    """

    id: str
    query: Node
    exclude: Node | None
    min_score: float
    anchors: frozenset[str] | None
    spec: TopicSpec | None = None
    groups: tuple[frozenset[str], ...] = ()
    weights: tuple[float, ...] = ()
    need: float = 0.0


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
    anchors = anchors_of(query)
    groups: tuple[frozenset[str], ...] = requirements_of(query) if anchors is not None else ()
    weights: tuple[float, ...] = ()
    need = float(len(groups))
    weighted = threshold_groups(query, spec.min_score) if anchors is not None else None
    if weighted is not None:
        groups, weights, need = weighted
    return CompiledTopic(id=spec.id, query=query, exclude=exclude, min_score=spec.min_score,
                         anchors=anchors, spec=spec, groups=groups, weights=weights, need=need)
