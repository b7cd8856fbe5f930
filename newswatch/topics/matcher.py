"""Match every watch topic against one article: prefilter, then evaluate candidates.

:class:`TopicMatcher` holds all enabled topics compiled once (see
:mod:`newswatch.topics.compile`) and one Aho-Corasick automaton over all their
anchors. :meth:`TopicMatcher.match` indexes the article once
(:class:`DocIndex`: token → positions per field, entity and keyword values),
feeds its distinct tokens and ``field value`` keys through the automaton to get
the candidate topics, and evaluates only those (plus the few topics without
anchors). :meth:`TopicMatcher.match_all_naive` evaluates every topic, for tests.

Evaluation semantics (the tantivy translation in
:mod:`newswatch.topics.tantivy_query` returns the same stories):

* a word matches a token of the field (unfielded: ``title`` or ``text``); a
  prefix matches any token starting with the stem; phrases match within one
  field, positions counted as tantivy counts them (a dropped over-long token
  still takes a position);
* keyword and entity fields compare whole lower-cased values; entity mentions
  with a label outside :data:`newswatch.fields.ENTITY_LABELS` are ignored;
* score = sum of the boosts of the positive clauses that fired (1 each by
  default; a clause under NOT never scores); a topic fires when its query
  matches, its exclude does not, and score >= ``min_score``.

Each :class:`~newswatch.records.TopicMatch` lists what fired as
:class:`~newswatch.records.MatchedTerm`: the clause (``bounties``,
``weapon*``, ``paid to kill``, ``russia``), the field it fired in and the
character offsets in that field (entity fields: offsets of the mention in
``text`` when known, else -1). At most :data:`MAX_OCCURRENCES` occurrences per
clause and field are listed.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import re
from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import ahocorasick
import numpy as np

from newswatch.config import TopicSpec, TopicsFile, parse_model
from newswatch.errors import ConfigError
from newswatch.fields import ENTITY_LABELS, TEXT_FIELDS, entity_value, tokenize
from newswatch.records import MatchedTerm, TopicMatch
from newswatch.topics.compile import SEP, TOK, VAL, CompiledTopic, anchor_cost, anchors_of, compile_topic
from newswatch.topics.nodes import ANY_ENTITY_FIELD, And, Boost, Node, Not, Or, Phrase, Prefix, Term, field_kind
from newswatch.topics.parse import TopicSyntaxError

#: Occurrences listed per clause and field in a TopicMatch (the match itself sees all).
MAX_OCCURRENCES = 20

_LABELS = frozenset(ENTITY_LABELS)
# Every run of letters/digits: tantivy gives each a position, including the
# over-long ones the default analyzer then drops (fields.tokenize drops them too).
_WORD = re.compile(r"[^\W_]+")


# ------------------------------------------------------------------ the doc
@dataclass(frozen=True, slots=True)
class MatchDoc:
    """What the matcher sees of one article.

    ``entities`` are ``(label, canonical, start, end)`` tuples (labels as in
    :data:`newswatch.fields.ENTITY_LABELS`, offsets into ``text``, -1 when
    unknown); ``(label, canonical)`` pairs are accepted and padded with -1.
    ``topics`` and ``cluster`` are only known once a story is indexed; in-stream
    they are normally empty, so ``topic:``/``cluster:`` clauses never fire there.
    """

    id: str
    title: str = ""
    text: str = ""
    source: str = ""
    lang: str | None = None
    entities: tuple[tuple[str, str, int, int], ...] = ()
    topics: tuple[str, ...] = ()
    cluster: str | None = None

    def __post_init__(self) -> None:
        ents = []
        for ent in self.entities:
            if len(ent) == 2:
                ents.append((str(ent[0]).upper(), ent[1], -1, -1))
            elif len(ent) == 4:
                ents.append((str(ent[0]).upper(), ent[1], int(ent[2]), int(ent[3])))
            else:
                raise ValueError(f"entity must be (label, canonical[, start, end]), got {ent!r}")
        object.__setattr__(self, "entities", tuple(ents))
        object.__setattr__(self, "topics", tuple(self.topics))

    @classmethod
    def from_story(cls, story: Any) -> "MatchDoc":
        """From a :class:`newswatch.records.Story`, with the values the index stores
        (:func:`newswatch.index.base.story_fields`) so a backtest sees what the stream saw:
        text = clean text, else content, else summary; lang = ``lang``, else the ``language``
        hint; plus entities, matched topic ids and cluster id."""
        return cls(id=story.id, title=story.title, text=story.text or story.content or story.summary,
                   source=story.source_id, lang=story.lang or story.language,
                   entities=tuple((e.label, e.canonical, e.start, e.end) for e in story.entities),
                   topics=tuple(t.id for t in story.topics), cluster=story.cluster_id)


class _FieldIndex:
    """Tokens of one text field: token → indexes, with positions and char offsets."""

    __slots__ = ("name", "tokens", "positions", "postings", "_sorted", "_by_pos", "_posets")

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        toks = tokenize(text)
        self.tokens = toks
        starts = [m.start() for m in _WORD.finditer(text)] if text else []
        if len(starts) == len(toks):
            self.positions = list(range(len(toks)))
        else:  # some words were dropped: keep their positions as holes, like tantivy
            pos_of = {s: i for i, s in enumerate(starts)}
            self.positions = [pos_of.get(t.start, i) for i, t in enumerate(toks)]
        postings: dict[str, list[int]] = {}
        for i, t in enumerate(toks):
            lst = postings.get(t.text)
            if lst is None:
                postings[t.text] = [i]
            else:
                lst.append(i)
        self.postings = postings
        self._sorted: list[str] | None = None
        self._by_pos: dict[int, int] | None = None
        self._posets: dict[str, frozenset[int]] = {}

    def sorted_terms(self) -> list[str]:
        if self._sorted is None:
            self._sorted = sorted(self.postings)
        return self._sorted

    def with_prefix(self, stem: str) -> list[str]:
        terms = self.sorted_terms()
        i = bisect.bisect_left(terms, stem)
        out = []
        while i < len(terms) and terms[i].startswith(stem):
            out.append(terms[i])
            i += 1
        return out

    def token_at(self, pos: int) -> int:
        if self._by_pos is None:
            self._by_pos = {p: i for i, p in enumerate(self.positions)}
        return self._by_pos[pos]

    def term_positions(self, term: str) -> list[int]:
        idx = self.postings.get(term)
        if not idx:
            return []
        pos = self.positions
        return [pos[i] for i in idx]

    def position_set(self, term: str) -> frozenset[int]:
        """Positions of ``term`` as a set (built once per article and term)."""
        got = self._posets.get(term)
        if got is None:
            got = self._posets[term] = frozenset(self.term_positions(term))
        return got


class DocIndex:
    """One article indexed for evaluation; leaf results are memoized per article."""

    __slots__ = ("doc", "fields", "values", "memo", "bmemo")

    def __init__(self, doc: MatchDoc) -> None:
        self.doc = doc
        self.fields = {"title": _FieldIndex("title", doc.title or ""),
                       "text": _FieldIndex("text", doc.text or "")}
        values: dict[str, dict[str, list[tuple[int, int]]]] = {}

        def add(fld: str, value: str, start: int = -1, end: int = -1) -> None:
            if value:
                values.setdefault(fld, {}).setdefault(value, []).append((start, end))

        if doc.source:
            add("source", " ".join(doc.source.split()).lower())
        if doc.lang:
            add("lang", " ".join(doc.lang.split()).lower())
        for t in doc.topics:
            add("topic", " ".join(t.split()).lower())
        if doc.cluster:
            add("cluster", " ".join(doc.cluster.split()).lower())
        for label, canonical, start, end in doc.entities:
            if label not in _LABELS:
                continue
            value = entity_value(canonical)
            add(label.lower(), value, start, end)
            add(ANY_ENTITY_FIELD, value, start, end)
        self.values = values
        self.memo: dict[Node, list[tuple[str, str, int, int]]] = {}
        self.bmemo: dict[int, bool] = {}

    def automaton_text(self) -> str:
        """The string fed to the prefilter automaton: distinct tokens, then ``field value`` keys."""
        toks: set[str] = set()
        for f in self.fields.values():
            toks.update(f.postings)
        parts = [TOK, TOK.join(toks), TOK]
        for fld, vals in self.values.items():
            for v in vals:
                parts.append(VAL + fld + SEP + v + TOK)
        return "".join(parts)


# --------------------------------------------------------------- evaluation
Hit = tuple[str, str, int, int]


def _text_fields(field: str | None) -> Sequence[str]:
    return TEXT_FIELDS if field is None else (field,)


def _leaf_hits(node: Term | Prefix | Phrase, ix: DocIndex) -> list[Hit]:
    cached = ix.memo.get(node)
    if cached is not None:
        return cached
    kind = field_kind(node.field)
    label = node.label
    hits: list[Hit] = []
    if kind != "text":
        vals = ix.values.get(node.field, {})  # type: ignore[arg-type]
        if isinstance(node, Term):
            spans = vals.get(node.value, ())
            hits = [(label, node.field, s, e) for s, e in spans[:MAX_OCCURRENCES]]  # type: ignore[misc]
        else:
            for v, spans in vals.items():
                if v.startswith(node.stem):  # type: ignore[union-attr]
                    hits.extend((label, node.field, s, e) for s, e in spans[:MAX_OCCURRENCES])  # type: ignore[misc]
    else:
        for fname in _text_fields(node.field):
            fi = ix.fields[fname]
            if isinstance(node, Term):
                idx = fi.postings.get(node.value)
                if idx:
                    toks = fi.tokens
                    hits.extend((label, fname, toks[i].start, toks[i].end) for i in idx[:MAX_OCCURRENCES])
            elif isinstance(node, Prefix):
                found: list[int] = []
                for term in fi.with_prefix(node.stem):
                    found.extend(fi.postings[term])
                if found:
                    found.sort()
                    toks = fi.tokens
                    hits.extend((label, fname, toks[i].start, toks[i].end) for i in found[:MAX_OCCURRENCES])
            else:
                hits.extend((label, fname, s, e) for s, e in _phrase_spans(node, fi))
    ix.memo[node] = hits
    return hits


def _phrase_spans(node: Phrase, fi: _FieldIndex) -> list[tuple[int, int]]:
    """Char spans of the phrase's occurrences in one field (see :class:`Phrase` for slop)."""
    plists = []
    for t in node.terms:
        p = fi.term_positions(t)
        if not p:
            return []
        plists.append(p)
    k = len(plists)
    found: list[tuple[int, int]] = []
    if node.slop == 0:
        # walk the rarest word's positions (ascending, so the first occurrences are kept)
        j = min(range(k), key=lambda i: len(plists[i]))
        others = [(i, fi.position_set(node.terms[i])) for i in range(k) if i != j]
        for pj in plists[j]:
            p0 = pj - j
            for i, ps in others:
                if (p0 + i) not in ps:
                    break
            else:
                found.append((p0, p0 + k - 1))
                if len(found) >= MAX_OCCURRENCES:
                    break
    else:
        slop = node.slop
        lows = sorted({p - i for i, plist in enumerate(plists) for p in plist})
        seen: set[tuple[int, int]] = set()
        for lo in lows:
            hi = lo + slop
            cands = []
            for i, plist in enumerate(plists):
                a = bisect.bisect_left(plist, lo + i)
                b = bisect.bisect_right(plist, hi + i)
                if a == b:
                    break
                cands.append(plist[a:b])
            else:
                chosen = _assign(cands, 0, set())
                if chosen is not None:
                    span = (min(chosen), max(chosen))
                    if span not in seen:
                        seen.add(span)
                        found.append(span)
                        if len(found) >= MAX_OCCURRENCES:
                            break
    toks = fi.tokens
    out = []
    for first, last in found:
        out.append((toks[fi.token_at(first)].start, toks[fi.token_at(last)].end))
    return out


def _assign(cands: list[list[int]], i: int, used: set[int]) -> list[int] | None:
    """Pick one position per word from ``cands``, all distinct (backtracking; lists are tiny)."""
    if i == len(cands):
        return []
    for p in cands[i]:
        if p in used:
            continue
        used.add(p)
        rest = _assign(cands, i + 1, used)
        used.discard(p)
        if rest is not None:
            return [p, *rest]
    return None


def _eval(node: Node, ix: DocIndex) -> tuple[bool, float, list[Hit]]:
    """(matched, score, hits) of ``node`` on one article."""
    t = type(node)
    if t is Term or t is Prefix or t is Phrase:
        hits = _leaf_hits(node, ix)  # type: ignore[arg-type]
        return (True, 1.0, hits) if hits else (False, 0.0, hits)
    if t is And:
        score = 0.0
        hits: list[Hit] = []
        for child in node.children:  # type: ignore[union-attr]
            m, s, h = _eval(child, ix)
            if not m:
                return False, 0.0, []
            score += s
            if h:
                hits.extend(h)
        for child in node.optional:  # type: ignore[union-attr]
            m, s, h = _eval(child, ix)
            if m:
                score += s
                hits.extend(h)
        return True, score, hits
    if t is Or:
        matched = False
        score = 0.0
        hits = []
        for child in node.children:  # type: ignore[union-attr]
            m, s, h = _eval(child, ix)
            if m:
                matched = True
                score += s
                hits.extend(h)
        return matched, score, hits
    if t is Not:
        m, _, _ = _eval(node.child, ix)  # type: ignore[union-attr]
        return (not m), 0.0, []
    if t is Boost:
        m, s, h = _eval(node.child, ix)  # type: ignore[union-attr]
        return m, s * node.factor, h  # type: ignore[union-attr]
    raise TypeError(f"not a query node: {node!r}")


def _matches(node: Node, ix: DocIndex) -> bool:
    return _eval(node, ix)[0]


def evaluate(topic: CompiledTopic, doc: MatchDoc | DocIndex) -> TopicMatch | None:
    """Evaluate one compiled topic on one article (no prefilter); the match or None.

    This tree-walking evaluator is the reference; :class:`TopicMatcher` uses
    compiled closures to decide matches and this to score and explain them.
    """
    ix = doc if isinstance(doc, DocIndex) else DocIndex(doc)
    m, score, hits = _eval(topic.query, ix)
    if not m or score < topic.min_score:
        return None
    if topic.exclude is not None and _matches(topic.exclude, ix):
        return None
    return _topic_match(topic, score, hits)


def _topic_match(topic: CompiledTopic, score: float, hits: list[Hit]) -> TopicMatch:
    seen: set[Hit] = set()
    matched = []
    for h in hits:
        if h not in seen:
            seen.add(h)
            matched.append(MatchedTerm(term=h[0], field=h[1], start=h[2], end=h[3]))
    return TopicMatch(id=topic.id, score=score, matched=tuple(matched))


# ------------------------------------------------- compiled boolean matching
def _leaf_predicate(node: Term | Prefix | Phrase) -> Callable[[DocIndex], bool]:
    """A fast does-it-occur test for one leaf (no offsets); same answer as ``bool(_leaf_hits)``."""
    kind = field_kind(node.field)
    if kind != "text":
        fld = node.field
        if isinstance(node, Term):
            value = node.value
            return lambda ix: value in ix.values.get(fld, ())
        stem = node.stem  # type: ignore[union-attr]
        return lambda ix: any(v.startswith(stem) for v in ix.values.get(fld, ()))
    names = _text_fields(node.field)
    if isinstance(node, Term):
        tok = node.value
        if len(names) == 2:
            return lambda ix: tok in ix.fields["title"].postings or tok in ix.fields["text"].postings
        name = names[0]
        return lambda ix: tok in ix.fields[name].postings
    if isinstance(node, Prefix):
        stem = node.stem

        def prefix(ix: DocIndex) -> bool:
            for name in names:
                terms = ix.fields[name].sorted_terms()
                i = bisect.bisect_left(terms, stem)
                if i < len(terms) and terms[i].startswith(stem):
                    return True
            return False
        return prefix
    terms = node.terms

    if node.slop == 0 and len(terms) == 2:
        first, second = terms

        def exact2(ix: DocIndex) -> bool:
            for name in names:
                fi = ix.fields[name]
                pa = fi.postings.get(first)
                if pa is None:
                    continue
                pb = fi.postings.get(second)
                if pb is None:
                    continue
                pos = fi.positions
                if len(pa) <= len(pb):  # walk the rarer word
                    after = fi.position_set(second)
                    for i in pa:
                        if pos[i] + 1 in after:
                            return True
                else:
                    before = fi.position_set(first)
                    for i in pb:
                        if pos[i] - 1 in before:
                            return True
            return False
        return exact2
    if node.slop == 0:
        k = len(terms)

        def exact(ix: DocIndex) -> bool:
            for name in names:
                fi = ix.fields[name]
                postings = fi.postings
                if not all(t in postings for t in terms):
                    continue
                j = min(range(k), key=lambda i: len(postings[terms[i]]))
                others = [(i, fi.position_set(terms[i])) for i in range(k) if i != j]
                for pj in fi.term_positions(terms[j]):
                    p0 = pj - j
                    if all((p0 + i) in ps for i, ps in others):
                        return True
            return False
        return exact

    def phrase(ix: DocIndex) -> bool:
        for name in names:
            fi = ix.fields[name]
            if all(t in fi.postings for t in terms) and _phrase_spans(node, fi):
                return True
        return False
    return phrase


class _BoolCompiler:
    """Turns query trees into closures ``f(DocIndex) -> bool`` over one shared, memoized leaf table."""

    def __init__(self) -> None:
        self.leaf_ids: dict[Node, int] = {}

    def compile(self, node: Node) -> Callable[[DocIndex], bool]:
        if isinstance(node, (Term, Prefix, Phrase)):
            i = self.leaf_ids.setdefault(node, len(self.leaf_ids))
            pred = _leaf_predicate(node)

            def leaf(ix: DocIndex) -> bool:
                memo = ix.bmemo
                v = memo.get(i)
                if v is None:
                    v = memo[i] = pred(ix)
                return v
            return leaf
        if isinstance(node, Boost):
            return self.compile(node.child)
        if isinstance(node, Not):
            inner = self.compile(node.child)
            return lambda ix: not inner(ix)
        if isinstance(node, Or):
            subs = tuple(self.compile(c) for c in node.children)

            def any_(ix: DocIndex) -> bool:
                for f in subs:
                    if f(ix):
                        return True
                return False
            return any_
        if isinstance(node, And):
            # cheapest (rarest) children first so a miss is found early; NOTs last
            order = sorted(node.children, key=_cost)
            subs = tuple(self.compile(c) for c in order)

            def all_(ix: DocIndex) -> bool:
                for f in subs:
                    if not f(ix):
                        return False
                return True
            return all_
        raise TypeError(f"not a query node: {node!r}")

    def compile_score(self, node: Node) -> Callable[[DocIndex], float]:
        """A closure giving ``node``'s score on an article, or -1.0 when it does not match.

        Same score as :func:`_eval` (sum of the boosts of the positive clauses
        that fired) without collecting hits: topics with a ``min_score`` are
        decided with it, and only the ones that pass are explained.
        """
        if isinstance(node, (Term, Prefix, Phrase)):
            pred = self.compile(node)
            return lambda ix: 1.0 if pred(ix) else -1.0
        if isinstance(node, Boost):
            inner = self.compile_score(node.child)
            factor = node.factor

            def boost(ix: DocIndex) -> float:
                s = inner(ix)
                return s * factor if s >= 0.0 else -1.0
            return boost
        if isinstance(node, Not):
            pred = self.compile(node.child)
            return lambda ix: -1.0 if pred(ix) else 0.0
        if isinstance(node, Or):
            subs = tuple(self.compile_score(c) for c in node.children)

            def or_(ix: DocIndex) -> float:
                total, matched = 0.0, False
                for f in subs:
                    s = f(ix)
                    if s >= 0.0:
                        total += s
                        matched = True
                return total if matched else -1.0
            return or_
        if isinstance(node, And):
            req = tuple(self.compile_score(c) for c in sorted(node.children, key=_cost))
            opt = tuple(self.compile_score(c) for c in node.optional)

            def and_(ix: DocIndex) -> float:
                total = 0.0
                for f in req:
                    s = f(ix)
                    if s < 0.0:
                        return -1.0
                    total += s
                for f in opt:
                    s = f(ix)
                    if s >= 0.0:
                        total += s
                return total
            return and_
        raise TypeError(f"not a query node: {node!r}")


def _cost(node: Node) -> float:
    keys = anchors_of(node)
    return float("inf") if keys is None else sum(anchor_cost(k) for k in keys)


# ------------------------------------------------------------------ matcher
@dataclass(frozen=True)
class MatcherStats:
    """What :class:`TopicMatcher` compiled: counts for logs and ``newswatch topics`` output."""

    topics: int
    disabled: int
    anchors: int
    token_anchors: int
    prefix_anchors: int
    value_anchors: int
    always_evaluate: int
    always_evaluate_ids: tuple[str, ...] = dc_field(default=())

    def __str__(self) -> str:
        return (f"{self.topics} topics ({self.disabled} disabled), {self.anchors} anchors "
                f"({self.token_anchors} words, {self.prefix_anchors} prefixes, {self.value_anchors} field values), "
                f"{self.always_evaluate} evaluated on every story")


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building a large, long-lived object graph.

    Compiling 100k topics allocates millions of small objects; each allocation burst
    triggers collections that rescan everything built so far (measured: compile
    2-3x slower). Nothing here creates garbage cycles worth collecting mid-build.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class TopicMatcher:
    """All enabled topics, compiled once; ``match(doc)`` returns the topics that fire.

    Thread-safe for concurrent ``match`` calls (read-only after construction)
    and picklable (Beam ships it to workers).
    """

    def __init__(self, topics: Iterable[CompiledTopic], *, disabled: int = 0) -> None:
        with _no_gc():
            self._setup(topics, disabled)

    def _setup(self, topics: Iterable[CompiledTopic], disabled: int) -> None:
        self.topics: tuple[CompiledTopic, ...] = tuple(topics)
        ids = [t.id for t in self.topics]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise ConfigError(f"topic ids must be unique; repeated: {', '.join(dup)}")
        self.disabled = disabled
        # Prefilter: every topic's requirement groups get consecutive ids (in topic
        # order, so group -> topic is non-decreasing); each anchor key maps to the
        # groups it satisfies. A topic is a candidate when all its groups are hit.
        by_key: dict[str, list[int]] = {}
        always: list[int] = []
        group_topic: list[int] = []
        group_weight: list[float] = []
        need: list[float] = []
        for i, t in enumerate(self.topics):
            groups = t.groups or ((t.anchors,) if t.anchors is not None else ())
            weights = t.weights or (1.0,) * len(groups)
            need.append(t.need if t.weights else float(len(groups)))
            if not groups:
                always.append(i)
                continue
            for group, weight in zip(groups, weights):
                gid = len(group_topic)
                group_topic.append(i)
                group_weight.append(weight)
                for key in group:
                    by_key.setdefault(key, []).append(gid)
        self._always = tuple(always)
        self._keys = by_key
        self._group_topic = np.asarray(group_topic, dtype=np.int64)
        self._group_weight = np.asarray(group_weight, dtype=np.float64)
        self._need = np.asarray(need, dtype=np.float64) - 1e-9  # float sums of boosts
        self._automaton = self._build(by_key)
        bc = _BoolCompiler()
        self._query_fns = tuple(bc.compile(t.query) for t in self.topics)
        self._score_fns = tuple(bc.compile_score(t.query) if t.min_score > 0 else None for t in self.topics)
        self._exclude_fns = tuple(bc.compile(t.exclude) if t.exclude is not None else None for t in self.topics)
        self._n_leaves = len(bc.leaf_ids)

    def __getstate__(self) -> dict[str, Any]:
        return {"topics": self.topics, "disabled": self.disabled}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["topics"], disabled=state["disabled"])  # type: ignore[misc]

    @staticmethod
    def _build(by_key: dict[str, list[int]]) -> Any:
        if not by_key:
            return None
        automaton = ahocorasick.Automaton()
        for key, idx in by_key.items():
            automaton.add_word(key, np.asarray(idx, dtype=np.int64))
        automaton.make_automaton()
        return automaton

    # -- construction
    @classmethod
    def compile(cls, specs: Iterable[TopicSpec]) -> "TopicMatcher":
        """Compile topic specs; disabled topics are skipped (and counted).

        Raises :class:`TopicSyntaxError` (key ``<id>.query``/``<id>.exclude``) on the first bad query.
        """
        compiled = []
        disabled = 0
        with _no_gc():
            for spec in specs:
                if not spec.enabled:
                    disabled += 1
                    continue
                compiled.append(compile_topic(spec))
        return cls(compiled, disabled=disabled)

    @classmethod
    def from_file(cls, path: str | Path) -> "TopicMatcher":
        """Load, validate and compile a topics.yaml.

        Raises :class:`~newswatch.errors.ConfigError` (YAML/shape) or
        :class:`TopicSyntaxError` located at the file, line and key of the bad query.
        """
        path = Path(path)
        if not path.exists():
            raise ConfigError("file not found", path=str(path),
                              fix="create it (see config/topics.yaml in the repository).")
        text = path.read_text(encoding="utf-8")
        model = parse_model(text, TopicsFile, path=str(path))
        try:
            return cls.compile(model.topics)
        except TopicSyntaxError as exc:
            from newswatch.topics.check import locate_in_file
            raise locate_in_file(exc, path, text) from None

    # -- matching
    def index(self, doc: MatchDoc) -> DocIndex:
        """Index one article (reusable across :meth:`match`/:func:`evaluate` calls)."""
        return DocIndex(doc)

    def candidates(self, doc: MatchDoc | DocIndex) -> list[int]:
        """Indexes (into ``self.topics``) of the topics worth evaluating, in topic order."""
        ix = doc if isinstance(doc, DocIndex) else DocIndex(doc)
        found: list[int] = []
        if self._automaton is not None:
            hits = [gids for _end, gids in self._automaton.iter(ix.automaton_text())]
            if hits:
                groups = np.unique(np.concatenate(hits))           # sorted distinct groups hit
                topics = self._group_topic[groups]                 # non-decreasing: runs per topic
                starts = np.flatnonzero(np.r_[True, topics[1:] != topics[:-1]])
                tids = topics[starts]
                reached = np.add.reduceat(self._group_weight[groups], starts)
                found = tids[reached >= self._need[tids]].tolist()
        if not self._always:
            return found
        return sorted(set(found).union(self._always))

    def match(self, doc: MatchDoc | DocIndex) -> list[TopicMatch]:
        """The topics that fire on ``doc``, in topic order, each with its score and what fired."""
        ix = doc if isinstance(doc, DocIndex) else DocIndex(doc)
        out = []
        topics, qfns, sfns, xfns = self.topics, self._query_fns, self._score_fns, self._exclude_fns
        for i in self.candidates(ix):
            sfn = sfns[i]
            if sfn is None:
                if not qfns[i](ix):
                    continue
            elif sfn(ix) < topics[i].min_score:
                continue
            xfn = xfns[i]
            if xfn is not None and xfn(ix):
                continue
            topic = topics[i]
            _m, score, hits = _eval(topic.query, ix)
            if score >= topic.min_score:
                out.append(_topic_match(topic, score, hits))
        return out

    def match_all_naive(self, doc: MatchDoc | DocIndex) -> list[TopicMatch]:
        """Like :meth:`match` but evaluating every topic (no prefilter): the reference for tests."""
        ix = doc if isinstance(doc, DocIndex) else DocIndex(doc)
        return [m for t in self.topics if (m := evaluate(t, ix)) is not None]

    def stats(self) -> MatcherStats:
        keys = self._keys
        token = sum(1 for k in keys if k.startswith(TOK) and k.endswith(TOK))
        value = sum(1 for k in keys if k.startswith(VAL))
        return MatcherStats(topics=len(self.topics), disabled=self.disabled, anchors=len(keys),
                            token_anchors=token, prefix_anchors=len(keys) - token - value, value_anchors=value,
                            always_evaluate=len(self._always),
                            always_evaluate_ids=tuple(self.topics[i].id for i in self._always))

    def __len__(self) -> int:
        return len(self.topics)

    def __getitem__(self, topic_id: str) -> CompiledTopic:
        for t in self.topics:
            if t.id == topic_id:
                return t
        raise KeyError(topic_id)
