"""Record factories shared by the bus and alerts tests."""

from __future__ import annotations

from newswatch.ids import alert_id
from newswatch.records import Alert, MatchedTerm, RawArticle


def make_article(i: int, *, title: str | None = None, source: str = "test", **kw) -> RawArticle:
    return RawArticle.create(source_id=source, title=title or f"Story number {i}",
                             url=f"https://example.com/{source}/{i}", summary=kw.pop("summary", "summary"), **kw)


def make_alert(topic: str, story: str, **kw) -> Alert:
    kw.setdefault("why", (MatchedTerm(term="russia", field="text"), MatchedTerm(term="taliban", field="text")))
    return Alert(id=alert_id(topic, story), topic_id=topic, story_id=story, title=kw.pop("title", f"story {story}"),
                 source_id=kw.pop("source_id", "bbc-world"), **kw)
