"""Prometheus metrics of one newswatch process.

Counters only grow; ``newswatch status`` reads the durable state (queue, index,
alert log) instead, so numbers survive restarts. Set ``NEWSWATCH_METRICS_PORT``
to serve ``/metrics``.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server

FEED_POLLS = Counter("newswatch_feed_polls_total", "Feed/wire polls by outcome", ["source", "status"])
ARTICLES_FETCHED = Counter("newswatch_articles_fetched_total", "New or changed articles published to the bus", ["source"])
STORIES_INDEXED = Counter("newswatch_stories_indexed_total", "Stories written to the index")
ALERTS_FIRED = Counter("newswatch_alerts_fired_total", "New alerts added to the outbox", ["topic"])
ALERTS_DELIVERED = Counter("newswatch_alerts_delivered_total", "Alerts delivered", ["channel"])
DEAD_LETTERS = Counter("newswatch_dead_letters_total", "Records that became dead letters", ["stage"])
BATCH_SECONDS = Histogram("newswatch_pipeline_batch_seconds", "Wall time of one pipeline micro-batch",
                          buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120))
BATCH_SIZE = Histogram("newswatch_pipeline_batch_size", "Messages per pipeline micro-batch",
                       buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500))
QUEUE_PENDING = Gauge("newswatch_queue_pending", "Messages waiting in the local bus")
TOPICS_LOADED = Gauge("newswatch_topics_loaded", "Watch topics live in the matcher")


def serve(port: int, registry: CollectorRegistry = REGISTRY) -> None:
    """Serve /metrics on 127.0.0.1:port in a daemon thread."""
    start_http_server(port, addr="127.0.0.1", registry=registry)
