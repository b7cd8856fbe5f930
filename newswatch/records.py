"""The record shapes that travel between connectors, bus, pipeline, index and notifier.

One versioned schema module. Every record is a frozen pydantic model with
tz-aware datetimes; ``to_json``/``from_json`` give the wire format used on the
bus (UTF-8 JSON with ``schema_version``). Ids are stable (see ``newswatch.ids``):
the same story polled twice is one record everywhere.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from newswatch.ids import alert_id, article_id, canonical_url, digest

SCHEMA_VERSION = 1


def utcnow() -> datetime:
    """Now, tz-aware UTC."""
    return datetime.now(timezone.utc)


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_json(self) -> str:
        """Serialize as one line of JSON (the bus and NDJSON wire format)."""
        return self.model_dump_json()

    @classmethod
    def from_json(cls, data: str | bytes) -> Self:
        """Parse and validate one JSON record; raises ``pydantic.ValidationError``."""
        return cls.model_validate_json(data)


class RawArticle(_Record):
    """An article as a connector saw it, before any processing.

    ``id`` is derived from the canonical URL (else GUID) by :meth:`create`; a
    record whose id does not match its URL/GUID is still accepted (ids from
    older versions stay valid), but connectors always go through ``create``.
    """

    kind: str = "raw_article"
    schema_version: int = SCHEMA_VERSION
    id: str
    source_id: str
    feed_url: str | None = None
    guid: str | None = None
    url: str | None = None
    title: str = ""
    summary: str = ""
    content: str = ""
    authors: tuple[str, ...] = ()
    published: AwareDatetime | None = None
    fetched_at: AwareDatetime
    language: str | None = None
    tags: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _has_text(self) -> "RawArticle":
        if not (self.title.strip() or self.summary.strip() or self.content.strip()):
            raise ValueError("article has no title, summary or content")
        return self

    @classmethod
    def create(cls, *, source_id: str, title: str = "", url: str | None = None,
               guid: str | None = None, fetched_at: datetime | None = None,
               published: datetime | None = None, **fields: Any) -> "RawArticle":
        """Build an article with its stable id and canonical URL."""
        canon = canonical_url(url)
        pid = published.isoformat() if published else ""
        return cls(id=article_id(url, guid, source_id=source_id, title=title, published=pid),
                   source_id=source_id, url=canon, guid=guid, title=title,
                   published=published, fetched_at=fetched_at or utcnow(), **fields)

    def content_hash(self) -> str:
        """A hash of what the pipeline reads; a changed hash means re-process."""
        return digest(self.title, self.summary, self.content, length=16)


class Entity(_Record):
    """A named entity mention: surface text, label, canonical name, char offsets in ``Story.text``."""

    text: str
    label: str
    canonical: str
    start: int = -1
    end: int = -1


class MatchedTerm(_Record):
    """One query clause that fired: the term, the field and where in that field."""

    term: str
    field: str
    start: int = -1
    end: int = -1


class TopicMatch(_Record):
    """A watch topic that flagged a story, with its score and what fired."""

    id: str
    score: float
    matched: tuple[MatchedTerm, ...] = ()


class Story(RawArticle):
    """A processed article: clean text, language, entities, topics, cluster."""

    kind: str = "story"
    text: str = ""
    lang: str | None = None
    entities: tuple[Entity, ...] = ()
    topics: tuple[TopicMatch, ...] = ()
    cluster_id: str | None = None
    pipeline_version: str = ""

    @classmethod
    def from_article(cls, article: RawArticle, **fields: Any) -> "Story":
        data = article.model_dump()
        data.pop("kind", None)
        data.update(fields)
        return cls(**data)

    def article(self) -> RawArticle:
        """The RawArticle this story was made from."""
        keep = RawArticle.model_fields.keys() - {"kind"}
        return RawArticle(**{k: v for k, v in self.model_dump().items() if k in keep})


class Alert(_Record):
    """A topic fired on a story. Delivery is at-least-once; ``id`` = (topic, story)
    so channels and the alert log dedup by it."""

    kind: str = "alert"
    schema_version: int = SCHEMA_VERSION
    id: str
    topic_id: str
    topic_name: str = ""
    story_id: str
    cluster_id: str | None = None
    title: str = ""
    url: str | None = None
    source_id: str = ""
    published: AwareDatetime | None = None
    score: float = 0.0
    why: tuple[MatchedTerm, ...] = ()
    created_at: AwareDatetime = Field(default_factory=utcnow)

    @classmethod
    def for_story(cls, story: Story, match: TopicMatch, topic_name: str = "") -> "Alert":
        return cls(id=alert_id(match.id, story.id), topic_id=match.id, topic_name=topic_name,
                   story_id=story.id, cluster_id=story.cluster_id, title=story.title,
                   url=story.url, source_id=story.source_id, published=story.published,
                   score=match.score, why=match.matched)


class DeadLetter(_Record):
    """Input that could not be processed: where, why, and the original payload.

    Never dropped: dead letters are stored (bus dead-letter table or topic) and
    counted in metrics so an operator can inspect and replay them.
    """

    kind: str = "dead_letter"
    schema_version: int = SCHEMA_VERSION
    id: str
    stage: str
    reason: str
    payload: str
    source: str = ""
    created_at: AwareDatetime = Field(default_factory=utcnow)

    @classmethod
    def of(cls, stage: str, reason: str, payload: Any, source: str = "") -> "DeadLetter":
        """Build a dead letter; any payload (bytes, model, dict) is kept as text."""
        if isinstance(payload, bytes):
            text = payload.decode("utf-8", "replace")
        elif isinstance(payload, BaseModel):
            text = payload.model_dump_json()
        elif isinstance(payload, str):
            text = payload
        else:
            try:
                text = json.dumps(payload, default=str, ensure_ascii=False)
            except (TypeError, ValueError):
                text = repr(payload)
        return cls(id=digest(stage, reason, text, source), stage=stage, reason=reason[:2000],
                   payload=text, source=source)
