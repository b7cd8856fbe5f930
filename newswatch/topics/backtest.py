"""Backtest a watch topic against the story index: "what would this topic have flagged?".

:func:`backtest` runs a topic query (stored or draft) as one
:meth:`~newswatch.index.base.StoryIndex.search` — the index translates the same
topic language the in-stream matcher evaluates, so the two agree on which
stories match (``tests/topics/test_agreement.py`` checks it on a real corpus)
— and reports the hits, newest first, with counts per day and per source
from the index's facets.

What the index cannot express, and how it is handled:

* ``exclude`` is folded into the query as ``(query) AND NOT (exclude)``: exact.
* ``min_score`` (the sum of boosts of the clauses that fired) has no index
  equivalent (index scores are BM25). When ``min_score > 0`` every index hit
  (up to :data:`~newswatch.index.base.MAX_WINDOW`) is re-evaluated with the
  in-stream :func:`newswatch.topics.evaluate` on the stored story, and total,
  hits and counts are computed from the survivors. The result says so
  (``post_filtered``, ``scanned``, ``truncated``).
* ``topic:`` and ``cluster:`` clauses match what the index stored for a story
  (topics that fired, its near-duplicate cluster); in-stream they are not
  known yet, so a topic using them flags nothing live.

Delivery promise: read-only; the result reflects the index's last commit at the
time of the search (one searcher serves hits and facets).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Sequence

from newswatch.config import TopicSpec
from newswatch.index.base import MAX_WINDOW, Hit, StoryIndex, story_date
from newswatch.topics.compile import compile_topic
from newswatch.topics.matcher import MatchDoc, evaluate
from newswatch.topics.parse import TopicSyntaxError, parse_query


@dataclass(frozen=True)
class BacktestResult:
    """What a topic query flags in the index.

    * ``total``: matching stories (after ``min_score`` when post-filtered);
    * ``hits``: up to ``limit`` of them, newest first (``score`` is the index's
      relevance, or the topic score when post-filtered);
    * ``per_day``: ``(YYYY-MM-DD, count)`` oldest first, every day with a match;
    * ``per_source``: ``(source id, count)`` most first — the index's top
      :data:`~newswatch.index.base.FACET_SIZE` sources unless post-filtered
      (then all sources);
    * ``index_query``: the query string the index ran (exclude folded in);
    * ``post_filtered`` / ``scanned`` / ``truncated``: ``min_score`` was applied by
      re-evaluating ``scanned`` index hits in-stream; ``truncated`` when the index
      had more hits than could be scanned (counts are then a lower bound).
    """

    index_query: str
    total: int
    hits: list[Hit]
    per_day: list[tuple[str, int]]
    per_source: list[tuple[str, int]]
    min_score: float = 0.0
    post_filtered: bool = False
    scanned: int = 0
    truncated: bool = False
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``newswatch topics test --json``)."""
        return {"index_query": self.index_query, "total": self.total, "min_score": self.min_score,
                "post_filtered": self.post_filtered, "scanned": self.scanned, "truncated": self.truncated,
                "notes": list(self.notes),
                "hits": [{"id": h.story.id, "score": round(h.score, 4), "title": h.story.title,
                          "source": h.story.source_id, "url": h.story.url,
                          "date": story_date(h.story).isoformat()} for h in self.hits],
                "per_day": [{"day": d, "count": n} for d, n in self.per_day],
                "per_source": [{"source": s, "count": n} for s, n in self.per_source]}


def index_query(query: str, exclude: str | None = None) -> str:
    """The query string the index runs: ``(query) AND NOT (exclude)``; both are syntax-checked first.

    Raises :class:`~newswatch.topics.TopicSyntaxError` (key ``query``/``exclude``).
    """
    try:
        parse_query(query)
    except TopicSyntaxError as exc:
        raise exc.located(key="query") from None
    if exclude is None or not exclude.strip():
        return query
    try:
        parse_query(exclude)
    except TopicSyntaxError as exc:
        raise exc.located(key="exclude") from None
    return f"({query}) AND NOT ({exclude})"


def backtest(index: StoryIndex, query: str, exclude: str | None = None, *,
             since: datetime | None = None, until: datetime | None = None, limit: int = 20,
             min_score: float = 0.0) -> BacktestResult:
    """Run a topic query over the index (``since`` inclusive, ``until`` exclusive, tz-aware).

    See the module docstring for ``exclude`` and ``min_score``.
    """
    q = index_query(query, exclude)
    if min_score <= 0:
        res = index.search(q, since=since, until=until, limit=limit, sort="newest", facets=True)
        return BacktestResult(index_query=q, total=res.total, hits=list(res.hits), per_day=list(res.facets.days),
                              per_source=list(res.facets.sources))
    topic = compile_topic(TopicSpec(id="backtest", query=query, exclude=exclude, min_score=min_score))
    res = index.search(q, since=since, until=until, limit=MAX_WINDOW, sort="newest", facets=False)
    kept: list[Hit] = []
    for h in res.hits:
        m = evaluate(topic, MatchDoc.from_story(h.story))
        if m is not None:
            kept.append(Hit(h.story, m.score))
    days: dict[str, int] = {}
    sources: dict[str, int] = {}
    for h in kept:
        key = _utc_day(story_date(h.story))
        days[key] = days.get(key, 0) + 1
        src = " ".join(h.story.source_id.split()).lower()
        sources[src] = sources.get(src, 0) + 1
    truncated = res.total > len(res.hits)
    notes = [f"min_score {min_score:g} is not expressible in the index: {len(res.hits)} index hit(s) were "
             f"re-evaluated in-stream and {len(kept)} reached the score"]
    if truncated:
        notes.append(f"the index had {res.total} hits; only the newest {len(res.hits)} were scanned, "
                     "so counts are a lower bound (narrow --since)")
    return BacktestResult(index_query=q, total=len(kept), hits=kept[:limit], per_day=sorted(days.items()),
                          per_source=sorted(sources.items(), key=lambda kv: (-kv[1], kv[0])),
                          min_score=min_score, post_filtered=True, scanned=len(res.hits), truncated=truncated,
                          notes=tuple(notes))


def backtest_topic(index: StoryIndex, spec: TopicSpec, *, query: str | None = None, exclude: str | None = None,
                   since: datetime | None = None, until: datetime | None = None,
                   limit: int = 20) -> BacktestResult:
    """Backtest a stored topic; ``query``/``exclude`` replace its own (a draft edit of it)."""
    return backtest(index, query if query is not None else spec.query,
                    exclude if exclude is not None else spec.exclude,
                    since=since, until=until, limit=limit, min_score=spec.min_score)


def find_topic(specs: Sequence[TopicSpec], topic_id: str) -> TopicSpec | None:
    """The topic with this id, or None."""
    return next((t for t in specs if t.id == topic_id), None)


def _utc_day(value: datetime) -> str:
    try:
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d")
    except (OverflowError, ValueError):
        return value.strftime("%Y-%m-%d")
