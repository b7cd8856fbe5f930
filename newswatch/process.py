"""The pipeline's business logic as plain functions, one per stage.

Each stage takes and returns records; the Beam DoFns in ``pipelines/`` are thin
wrappers around these, and ``newswatch match`` calls them directly (no Beam
fixed cost for one file). A stage raises :class:`RecordError` with a readable
reason for bad input; the pipeline turns it into a dead letter.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any, Iterable, Sequence

from pydantic import ValidationError

from newswatch import PIPELINE_VERSION
from newswatch.config import EntitiesFile, TopicSpec
from newswatch.entities import Gazetteer, resolve_entities
from newswatch.language import detect_language
from newswatch.records import Alert, RawArticle, Story
from newswatch.text import html_to_text, normalize_text

#: NER reads at most this many characters of a story (long wire copy is cut; the
#: index still gets the whole text).
MAX_NER_CHARS = 100_000


class RecordError(ValueError):
    """A record cannot be processed; the message is the dead-letter reason."""


# ------------------------------------------------------------------- decode
def decode_article(payload: bytes | str) -> RawArticle:
    """Bus payload (JSON of a RawArticle, any schema version ≤ ours) → RawArticle."""
    if isinstance(payload, bytes):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RecordError(f"payload is not UTF-8: {exc}") from None
    try:
        data = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise RecordError(f"payload is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RecordError(f"payload is JSON {type(data).__name__}, expected an object")
    if data.get("kind", "raw_article") != "raw_article":
        raise RecordError(f"payload kind is {data.get('kind')!r}, expected 'raw_article'")
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or version > RawArticle.model_fields["schema_version"].default:
        raise RecordError(f"unsupported schema_version {version!r}")
    try:
        return RawArticle.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "record"
        raise RecordError(f"invalid RawArticle: {where}: {first['msg']}") from None


# ------------------------------------------------------------------ prepare
def story_text(article: RawArticle) -> str:
    """Clean text of an article: title, blank line, body (content, else summary)."""
    title = normalize_text(html_to_text(article.title)) if "<" in article.title else normalize_text(article.title)
    summary = html_to_text(article.summary) if article.summary else ""
    content = html_to_text(article.content) if article.content else ""
    body = content if len(content) > len(summary) else summary
    if summary and content and summary not in content and len(summary) < len(content):
        body = summary + "\n\n" + content
    return "\n\n".join(p for p in (title, body.strip()) if p)


def prepare(article: RawArticle) -> Story:
    """RawArticle → Story with clean text and language (no entities yet)."""
    text = story_text(article)
    if not text.strip():
        raise RecordError("article has no text after HTML cleaning")
    lang = detect_language(text, article.language)
    return Story.from_article(article, text=text, lang=lang, pipeline_version=PIPELINE_VERSION)


# ----------------------------------------------------------------- entities
def needs_ner(story: Story, model_lang: str) -> bool:
    """Run the model only on stories in its language (or of unknown language)."""
    return story.lang is None or story.lang == model_lang


def with_entities(story: Story, mentions: Sequence[tuple[str, str, int, int]], gazetteer: Gazetteer) -> Story:
    """Attach canonical entities from model mentions plus gazetteer hits."""
    ents = resolve_entities(mentions, story.text, gazetteer)
    return story.model_copy(update={"entities": tuple(ents)})


def add_entities(stories: Sequence[Story], nlp: Any, gazetteer: Gazetteer, batch_size: int = 32) -> list[Story]:
    """Entities for a batch of stories with one batched ``nlp.pipe`` call."""
    from newswatch.nlp import extract_mentions, model_language

    lang = model_language(nlp)
    todo = [i for i, s in enumerate(stories) if needs_ner(s, lang)]
    mentions: dict[int, list[tuple[str, str, int, int]]] = {}
    texts = (stories[i].text[:MAX_NER_CHARS] for i in todo)
    for i, ms in zip(todo, extract_mentions(nlp, texts, batch_size=batch_size)):
        mentions[i] = ms
    return [with_entities(s, mentions.get(i, ()), gazetteer) for i, s in enumerate(stories)]


# ------------------------------------------------------------------- topics
_matchers: dict[str, Any] = {}
_matchers_lock = threading.Lock()


def topics_key(specs: Sequence[TopicSpec]) -> str:
    """A content hash of a topic set: the cache key for its compiled matcher."""
    blob = json.dumps([s.model_dump(mode="json") for s in specs], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


_last: list[tuple[Any, Any]] = [(None, None)]  # (specs object, matcher) of the live set, by identity


def compiled_topics(specs: Sequence[TopicSpec]) -> Any:
    """The compiled matcher for ``specs``, compiled once per process per topic set.

    The live topic set is passed as the same tuple object until it is reloaded,
    so the common case is an identity check, not a hash of every topic.
    """
    from newswatch.topics.matcher import TopicMatcher

    last_specs, last_matcher = _last[0]
    if last_specs is specs:
        return last_matcher
    key = topics_key(specs)
    with _matchers_lock:
        m = _matchers.get(key)
        if m is None:
            import gc

            m = TopicMatcher.compile([s for s in specs if s.enabled])
            _matchers.clear()  # keep only the live set
            _matchers[key] = m
            gc.collect()  # a large compile leaves garbage that slows the first matches
        _last[0] = (specs, m)
        return m


def match_doc(story: Story) -> Any:
    from newswatch.topics.matcher import MatchDoc

    return MatchDoc.from_story(story)


def with_topics(story: Story, matcher: Any) -> Story:
    """Attach the watch topics that fire on ``story`` (with their explanations)."""
    matches = matcher.match(match_doc(story))
    return story.model_copy(update={"topics": tuple(matches)})


def alerts_for(story: Story, names: dict[str, str] | None = None) -> list[Alert]:
    """One alert per topic that fired on the story."""
    names = names or {}
    return [Alert.for_story(story, m, names.get(m.id, "")) for m in story.topics]


# -------------------------------------------------------------- all at once
class Processor:
    """All stages in one object, for one-shot use (``newswatch match``, benchmarks).

    Thread-compatible, not thread-safe. The Beam pipeline uses the same functions
    stage by stage.
    """

    def __init__(self, *, model: str, entities: EntitiesFile | None, topics: Sequence[TopicSpec],
                 batch_size: int = 32) -> None:
        from newswatch.nlp import load_model

        self.nlp = load_model(model)
        self.gazetteer = Gazetteer.from_config(entities)
        self.topics = tuple(topics)
        self.matcher = compiled_topics(self.topics)
        self.batch_size = batch_size

    def process(self, articles: Iterable[RawArticle]) -> tuple[list[Story], list[tuple[RawArticle, str]]]:
        """Stories for the good articles, and (article, reason) for the bad ones."""
        prepared: list[Story] = []
        bad: list[tuple[RawArticle, str]] = []
        for a in articles:
            try:
                prepared.append(prepare(a))
            except RecordError as exc:
                bad.append((a, str(exc)))
        with_ents = add_entities(prepared, self.nlp, self.gazetteer, self.batch_size)
        return [with_topics(s, self.matcher) for s in with_ents], bad
