"""Watch topics: Lucene-syntax queries compiled once and matched in-stream or run as index searches.

* :func:`parse_query` — query string → typed tree (:mod:`.nodes`), or a
  :class:`TopicSyntaxError` naming the token, column and fix.
* :class:`TopicMatcher` — all topics compiled once; ``match(MatchDoc)`` prefilters
  candidates with one Aho-Corasick pass and evaluates only those.
* :func:`check_topics` — every problem of a topics.yaml, with lines.
* :func:`to_tantivy` (``newswatch.topics.tantivy_query``) — the same tree as a
  ``tantivy.Query`` for backtests (imported lazily: tantivy is only needed there).
"""

from newswatch.topics.check import TopicProblem, check_topics, check_topics_text
from newswatch.topics.compile import CompiledTopic, anchors_of, compile_topic
from newswatch.topics.matcher import MatchDoc, MatcherStats, TopicMatcher, evaluate
from newswatch.topics.nodes import And, Boost, Node, Not, Or, Phrase, Prefix, Term
from newswatch.topics.parse import TopicSyntaxError, check_query, parse_query

__all__ = [
    "And", "Boost", "CompiledTopic", "MatchDoc", "MatcherStats", "Node", "Not", "Or", "Phrase", "Prefix",
    "Term", "TopicMatcher", "TopicProblem", "TopicSyntaxError", "anchors_of", "check_query", "check_topics",
    "check_topics_text", "compile_topic", "evaluate", "parse_query",
]
