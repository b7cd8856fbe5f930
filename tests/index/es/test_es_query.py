"""Query DSL built from topic queries and search requests, asserted structurally (no server)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from newswatch.fields import ENTITY_FIELDS
from newswatch.index.base import FACET_SIZE, SearchParams
from newswatch.index.es_query import (
    FACET_FIELDS,
    MATCH_ALL,
    es_date,
    facets_from_aggs,
    filter_clauses,
    phrase_is_exact,
    search_body,
    sort_clause,
    to_es,
    translate,
)
from newswatch.topics.nodes import Phrase
from newswatch.topics.parse import TopicSyntaxError

UTC = timezone.utc


def both(clause_title: dict, clause_text: dict) -> dict:
    return {"bool": {"should": [clause_title, clause_text], "minimum_should_match": 1}}


def test_word_searches_title_or_text_as_an_exact_token():
    assert translate("Russia") == both({"term": {"title": {"value": "russia"}}},
                                       {"term": {"text": {"value": "russia"}}})


def test_fielded_word_and_prefix_on_text_field():
    assert translate("title:Kremlin") == {"term": {"title": {"value": "kremlin"}}}
    assert translate("text:weapon*") == {"prefix": {"text": {"value": "weapon"}}}
    assert translate("bount*") == both({"prefix": {"title": {"value": "bount"}}},
                                       {"prefix": {"text": {"value": "bount"}}})


def test_entity_and_keyword_fields_are_terms_on_normalised_values():
    assert translate('person:"Maria  Zakharova"') == {"term": {"person": {"value": "maria zakharova"}}}
    assert translate("gpe:Russia") == {"term": {"gpe": {"value": "russia"}}}
    assert translate("source:BBC-World") == {"term": {"source": {"value": "bbc-world"}}}
    assert translate("org:tali*") == {"prefix": {"org": {"value": "tali"}}}


def test_phrases_keep_slop_and_split_words_become_phrases():
    assert translate('text:"paid to kill"~2') == {
        "match_phrase": {"text": {"query": "paid to kill", "slop": 2}}}
    # U.S. is two tokens for our tokenizer: an exact phrase, on both text fields
    assert translate("U.S.") == both({"match_phrase": {"title": {"query": "u s", "slop": 0}}},
                                     {"match_phrase": {"text": {"query": "u s", "slop": 0}}})


def test_and_not_is_must_and_must_not():
    q = translate("title:russia AND NOT title:wheat")
    assert q == {"bool": {"must": [{"term": {"title": {"value": "russia"}}}],
                          "must_not": [{"term": {"title": {"value": "wheat"}}}]}}


def test_pure_negation_matches_everything_else():
    assert translate("NOT title:wheat") == {"bool": {"must": [MATCH_ALL],
                                                     "must_not": [{"term": {"title": {"value": "wheat"}}}]}}


def test_or_needs_one_clause():
    q = translate("title:a OR title:b")
    assert q == {"bool": {"should": [{"term": {"title": {"value": "a"}}}, {"term": {"title": {"value": "b"}}}],
                          "minimum_should_match": 1}}


def test_required_and_optional_clauses():
    # +a b -c: a required, c excluded, b only scores
    q = translate("+title:a title:b -title:c")
    body = q["bool"]
    assert body["must"] == [{"term": {"title": {"value": "a"}}}]
    assert body["must_not"] == [{"term": {"title": {"value": "c"}}}]
    assert body["should"] == [{"term": {"title": {"value": "b"}}}]
    assert body["minimum_should_match"] == 0


def test_optional_clause_with_only_negated_required_keeps_match_all():
    # +(-c) b: nothing positive is required, b only scores. Without the explicit
    # match_all, Elasticsearch would make the should clause required.
    q = translate("+(-title:c) title:b")
    assert q == {"bool": {"must": [MATCH_ALL], "must_not": [{"term": {"title": {"value": "c"}}}],
                          "should": [{"term": {"title": {"value": "b"}}}], "minimum_should_match": 0}}


def test_boost_wraps_with_bool_boost():
    assert translate("title:taliban^3") == {"bool": {"must": [{"term": {"title": {"value": "taliban"}}}],
                                                     "boost": 3.0}}


def test_invalid_syntax_is_refused_before_reaching_the_server():
    with pytest.raises(TopicSyntaxError):
        translate("*")
    with pytest.raises(TypeError):
        to_es("russia")  # type: ignore[arg-type]


def test_phrase_exactness_rule():
    assert phrase_is_exact(Phrase(("a", "b", "c"), None, 2))
    assert phrase_is_exact(Phrase(("a", "a"), None, 0))
    assert not phrase_is_exact(Phrase(("bounty", "for", "bounty"), None, 2))


# ---------------------------------------------------------------- requests
def test_filters_entities_topic_source_and_dates():
    since = datetime(2024, 3, 1, 12, 0, 0, 900_000, tzinfo=timezone(timedelta(hours=2)))
    until = datetime(2024, 3, 2, tzinfo=UTC)
    params = SearchParams.build(entities={"GPE": ["Russia", "United  States"], "person": "Mike Pompeo"},
                                topic="Russia-Taliban", source="BBC", since=since, until=until)
    assert filter_clauses(params) == [
        {"term": {"gpe": "russia"}}, {"term": {"gpe": "united states"}}, {"term": {"person": "mike pompeo"}},
        {"term": {"topic": "russia-taliban"}}, {"term": {"source": "bbc"}},
        {"range": {"published": {"gte": "2024-03-01T10:00:00Z", "lt": "2024-03-02T00:00:00Z"}}}]


def test_search_body_page_sort_facets_and_search_after():
    params = SearchParams.build(limit=7, offset=14, sort="newest")
    query = {"term": {"text": {"value": "x"}}}
    body = search_body(query, params)
    assert body["query"] == query
    assert body["size"] == 7 and body["from"] == 14
    assert body["sort"] == [{"published": {"order": "desc"}}, {"id": {"order": "asc"}}]
    assert body["track_total_hits"] is True
    assert body["_source"] == ["doc"]
    assert set(body["aggs"]) == {*FACET_FIELDS, "days"}
    assert body["aggs"]["days"]["date_histogram"]["calendar_interval"] == "1d"
    assert body["aggs"]["days"]["date_histogram"]["time_zone"] == "UTC"
    paged = search_body(query, params, search_after=["2024-03-01T00:00:00Z", "s1"])
    assert paged["search_after"] == ["2024-03-01T00:00:00Z", "s1"] and "from" not in paged
    plain = search_body(None, SearchParams.build(facets=False, entities={"org": "Taliban"}))
    assert plain["query"] == {"bool": {"must": [MATCH_ALL], "filter": [{"term": {"org": "taliban"}}]}}
    assert "aggs" not in plain and "from" not in plain
    assert sort_clause("relevance") == [{"_score": {"order": "desc"}}, {"id": {"order": "asc"}}]


def test_facets_from_aggs_top_n_ties_by_value_days_sorted():
    buckets = [{"key": f"v{i:02d}", "doc_count": 3 if i < 12 else 1} for i in range(15)]
    aggs = {"person": {"buckets": list(reversed(buckets))}, "source": {"buckets": [{"key": "b", "doc_count": 2},
                                                                                  {"key": "a", "doc_count": 2}]},
            "days": {"buckets": [{"key": 1709337600000, "key_as_string": "2024-03-02", "doc_count": 1},
                                 {"key": 1709251200000, "doc_count": 4},
                                 {"key": 1709424000000, "key_as_string": "2024-03-03", "doc_count": 0}]}}
    f = facets_from_aggs(aggs)
    assert f.entities["person"] == [(f"v{i:02d}", 3) for i in range(FACET_SIZE)]
    assert set(f.entities) == set(ENTITY_FIELDS) and f.entities["org"] == []
    assert f.sources == [("a", 2), ("b", 2)]
    assert f.days == [("2024-03-01", 4), ("2024-03-02", 1)]
    assert f.topics == []


def test_es_date_is_utc_whole_seconds_and_refuses_naive():
    assert es_date(datetime(2024, 1, 1, 23, 30, 5, 999_999, tzinfo=timezone(timedelta(hours=-1)))) == \
        "2024-01-02T00:30:05Z"
    with pytest.raises(ValueError):
        es_date(datetime(2024, 1, 1))
