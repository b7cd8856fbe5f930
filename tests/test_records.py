from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from newswatch.records import Alert, DeadLetter, Entity, MatchedTerm, RawArticle, Story, TopicMatch


def art(**kw):
    base = dict(source_id="s", title="Title", url="https://e.com/a?utm_source=x")
    base.update(kw)
    return RawArticle.create(**base)


def test_create_canonicalizes_url_and_sets_stable_id():
    a, b = art(), art(url="https://e.com/a")
    assert a.url == "https://e.com/a" and a.id == b.id
    assert a.fetched_at.tzinfo is not None


def test_json_round_trip_with_schema_version():
    a = art(published=datetime(2020, 7, 2, 12, tzinfo=timezone.utc), tags=("x",))
    data = a.to_json()
    assert '"schema_version":1' in data
    assert RawArticle.from_json(data) == a


def test_naive_datetimes_are_rejected():
    with pytest.raises(ValidationError):
        RawArticle(id="x", source_id="s", title="t", fetched_at=datetime(2020, 1, 1))


def test_article_needs_some_text():
    with pytest.raises(ValidationError, match="no title, summary or content"):
        art(title="  ")


def test_records_are_frozen_and_strict():
    a = art()
    with pytest.raises(ValidationError):
        a.title = "x"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        RawArticle.model_validate({**a.model_dump(), "unknown": 1})


def test_story_round_trips_to_article_and_alert():
    a = art()
    m = TopicMatch(id="t", score=2.0, matched=(MatchedTerm(term="taliban", field="text", start=0, end=7),))
    s = Story.from_article(a, text="Title", entities=(Entity(text="X", label="ORG", canonical="X"),), topics=(m,))
    assert s.article() == a
    assert Story.from_json(s.to_json()) == s
    alert = Alert.for_story(s, m, "Topic")
    assert alert.story_id == s.id and alert.why == m.matched and alert.topic_name == "Topic"
    assert Alert.for_story(s, m).id == alert.id


def test_dead_letter_keeps_any_payload_as_text():
    assert DeadLetter.of("decode", "bad", b"\xff\x00abc").payload.endswith("abc")
    assert DeadLetter.of("decode", "bad", {"a": 1}).payload == '{"a": 1}'
    d1, d2 = DeadLetter.of("s", "r", "p"), DeadLetter.of("s", "r", "p")
    assert d1.id == d2.id
