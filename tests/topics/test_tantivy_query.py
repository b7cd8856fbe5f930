"""The same topic must flag the same stories in-stream and as a tantivy search (backtest parity)."""

import random

import pytest
import tantivy

from newswatch.config import TopicSpec
from newswatch.fields import ENTITY_FIELDS, ENTITY_LABELS, entity_value
from newswatch.topics import MatchDoc, TopicMatcher, compile_topic, parse_query
from newswatch.topics.tantivy_query import regex_escape, to_tantivy, topic_to_tantivy
from tests.topics._gen import random_doc, random_query

RAW_FIELDS = ("source", "lang", "topic", "cluster", *ENTITY_FIELDS, "entity")


def build_schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("id", stored=True, tokenizer_name="raw")
    for name in ("title", "text"):
        sb.add_text_field(name, stored=True, tokenizer_name="default", index_option="position")
    for name in RAW_FIELDS:
        sb.add_text_field(name, stored=True, tokenizer_name="raw")
    return sb.build()


def build_index(path, docs: list[MatchDoc]):
    schema = build_schema()
    index = tantivy.Index(schema, path=str(path))
    writer = index.writer(heap_size=15_000_000, num_threads=1)
    for d in docs:
        td = tantivy.Document()
        td.add_text("id", d.id)
        td.add_text("title", d.title)
        td.add_text("text", d.text)
        if d.source:
            td.add_text("source", d.source.lower())
        if d.lang:
            td.add_text("lang", d.lang.lower())
        for label, canonical, _s, _e in d.entities:
            if label in ENTITY_LABELS:
                td.add_text(label.lower(), entity_value(canonical))
                td.add_text("entity", entity_value(canonical))
        writer.add_document(td)
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    return index, schema


def search_ids(index, query) -> set[str]:
    searcher = index.searcher()
    result = searcher.search(query, 10_000)
    return {searcher.doc(addr)["id"][0] for _score, addr in result.hits}


E = lambda *pairs: tuple(pairs)  # noqa: E731

DOCS = [
    MatchDoc("d01", "Russia denies arming Taliban", "Moscow rejected U.S. allegations about weapon sales.",
             "tass", "en", E(("GPE", "Russia", -1, -1), ("ORG", "Taliban", -1, -1))),
    MatchDoc("d02", "Bounties on US troops", "Russia offered Taliban fighters bounties for killing American soldiers.",
             "nyt", "en", E(("GPE", "Russia", 0, 6), ("ORG", "Taliban", 15, 22), ("NORP", "American", -1, -1))),
    MatchDoc("d03", "Bug bounty programme", "Hackers earn bug bounties for finding flaws; no troops involved.",
             "wired", "en", ()),
    MatchDoc("d04", "Bounty hunter returns", "The TV bounty hunter tracks soldiers of fortune.", "tv", "en", ()),
    MatchDoc("d05", "Wheat exports", "Russian wheat exports rose; Russia sold weapons too.", "reuters", "en",
             E(("GPE", "Russia", -1, -1))),
    MatchDoc("d06", "Talks in Doha", "Taliban and U.S. envoys met in Doha for talks.", "aljazeera", "en",
             E(("ORG", "Taliban", -1, -1), ("GPE", "Qatar", -1, -1))),
    MatchDoc("d07", "Weapons cache", "Police found weaponry and weapons in a cache.", "bbc-world", "en", ()),
    MatchDoc("d08", "Proximity", "paid the fighters to kill", "dw", "en", ()),
    MatchDoc("d09", "Proximity 2", "paid to kill", "dw", "en", ()),
    MatchDoc("d10", "Proximity 3", "kill paid", "dw", "en", ()),
    MatchDoc("d11", "Proximity 4", "paid x to x kill", "dw", "en", ()),
    MatchDoc("d12", "Proximity 5", "paid x x x kill", "dw", "en", ()),
    MatchDoc("d13", "US forces", "Smear U.S. forces in the country.", "newsweek", "en",
             E(("GPE", "United States", 5, 9))),
    MatchDoc("d14", "US forces 2", "us forces and u s forces differ only in punctuation", "newsweek", "en", ()),
    MatchDoc("d15", "Pompeo", "Mike Pompeo's assertion was disputed by Maria Zakharova.", "newsweek", "en",
             E(("PERSON", "Mike Pompeo", 0, 11), ("PERSON", "Maria Zakharova", 40, 55))),
    MatchDoc("d16", "Zakharova", "Zakharova told reporters.", "tass", "ru", E(("PERSON", "Maria Zakharova", 0, 9))),
    MatchDoc("d17", "Kremlin", "Kremlin spokesperson Dmitry Peskov said.", "tass", "en",
             E(("ORG", "Kremlin", 0, 7), ("PERSON", "Dmitry Peskov", 21, 34))),
    MatchDoc("d18", "Deutsch", "Russland und die Taliban.", "dw", "de", E(("GPE", "Russia", -1, -1))),
    MatchDoc("d19", "No lang", "A story with russia in it.", "misc", None, ()),
    MatchDoc("d20", "Repeated", "kill kill", "dw", "en", ()),
    MatchDoc("d21", "Single", "kill", "dw", "en", ()),
    MatchDoc("d22", "Long word", "russia " + "z" * 45 + " taliban", "dw", "en", ()),
    MatchDoc("d23", "Swap", "taliban russia", "dw", "en", ()),
    MatchDoc("d24", "Triple", "a russia b taliban c weapons", "dw", "en", ()),
    MatchDoc("d25", "Triple swap", "weapons russia taliban", "dw", "en", ()),
    MatchDoc("d26", "Servicemen", "Payments for killing servicemen were reported.", "wapo", "en", ()),
    MatchDoc("d27", "Coalition", "Coalition forces; bounty offered.", "wapo", "en", ()),
    MatchDoc("d28", "Empty-ish", "Nothing to see here.", "misc", "en", ()),
    MatchDoc("d29", "New York", "New York and Newark.", "misc", "en",
             E(("GPE", "New York", 0, 8), ("GPE", "Newark", 13, 19))),
    MatchDoc("d30", "AT&T", "AT&T Inc. (US) said", "misc", "en", E(("ORG", "AT&T Inc. (US)", 0, 14))),
]

QUERIES = [
    # prefix
    "weapon*", "weap*", "title:weapon*", "hacker*", "bount* AND NOT hunter",
    # NOT, pure negation, nested groups
    "russia AND NOT taliban", "NOT russia", "-russia -taliban", "NOT (russia OR taliban OR kill)",
    "(russia OR moscow) AND (taliban OR (weapons AND NOT wheat))", "russia OR NOT taliban",
    "+russia taliban -wheat", "russia taliban -doha", "((a AND b) OR (russia AND NOT (taliban OR wheat)))",
    # proximity slop 0 / 1 / 3, swaps, repeated words, 3-word sloppy phrases, position holes
    '"paid to kill"', '"paid kill"~1', '"paid kill"~3', '"paid kill"~2', '"kill paid"~2', '"paid kill"',
    '"kill kill"', '"kill kill"~1', '"russia taliban"~1', '"russia taliban"', '"russia taliban"~2',
    '"russia taliban weapons"~2', '"russia taliban weapons"~4', '"weapons russia taliban"~2',
    '"taliban russia weapons"~3', '"paid to kill"~2', '"paid x kill"~1',
    # phrases across punctuation
    '"U.S. forces"', "U.S.", "Pompeo's", '"us forces"', '"u.s. allegations"',
    # entity and keyword fields
    "gpe:Russia", "org:Taliban AND gpe:Russia", 'person:"Maria Zakharova"', "person:maria*", "entity:kremlin",
    "entity:russia AND NOT lang:en", "source:tass", "source:TASS AND lang:ru", "lang:de OR lang:ru",
    "gpe:new*", 'gpe:"new york"', r"gpe:new\ york*", "org:at&t*", r'org:"AT&T Inc. (US)"', "norp:american",
    "gpe:united*", "NOT lang:en",
    # boosts
    "russia^2 AND taliban", "(bounty OR bounties)^3 AND (troops OR soldiers)", '"paid kill"~1^2',
    # the shipped defaults
    "gpe:Russia AND org:Taliban",
    '(bounty OR bounties OR "paid to kill" OR "payments for killing") AND (troops OR soldiers OR servicemen '
    'OR "coalition forces" OR americans OR "u.s. forces")',
]


@pytest.fixture(scope="module")
def small_index(tmp_path_factory):
    return build_index(tmp_path_factory.mktemp("tantivy"), DOCS)


@pytest.mark.parametrize("query", QUERIES)
def test_parity_on_tricky_queries(small_index, query):
    index, schema = small_index
    matcher = TopicMatcher.compile([TopicSpec(id="t", query=query)])
    stream = {d.id for d in DOCS if matcher.match(d)}
    backtest = search_ids(index, to_tantivy(parse_query(query), schema))
    assert stream == backtest


def test_parity_is_not_vacuous(small_index):
    index, schema = small_index
    sizes = [len(search_ids(index, to_tantivy(parse_query(q), schema))) for q in QUERIES]
    assert sum(1 for s in sizes if 0 < s < len(DOCS)) > len(QUERIES) * 0.8


def test_topic_with_exclude(small_index):
    index, schema = small_index
    spec = TopicSpec(id="bounties", query="bounty OR bounties", exclude='"bug bounty" OR "bug bounties" OR hunter')
    topic = compile_topic(spec)
    matcher = TopicMatcher([topic])
    stream = {d.id for d in DOCS if matcher.match(d)}
    assert stream == search_ids(index, topic_to_tantivy(topic, schema)) == {"d02", "d27"}


def test_tantivy_native_slop_would_disagree(small_index):
    """Why 3-word sloppy phrases are expanded: tantivy's own slop depends on doc frequencies."""
    index, schema = small_index
    native = search_ids(index, tantivy.Query.phrase_query(schema, "text", ["kill", "kill"], 1))
    assert "d21" in native                       # one 'kill' matched twice
    ours = search_ids(index, to_tantivy(parse_query('"kill kill"~1'), schema))
    assert ours == {"d20"}


def test_regex_escape():
    assert regex_escape("at&t inc. (us)") == r"at\&t inc\. \(us\)"
    assert regex_escape("plain") == "plain"


def test_unknown_schema_field_is_explained():
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("title", tokenizer_name="default", index_option="position")
    sb.add_text_field("text", tokenizer_name="default", index_option="position")
    schema = sb.build()
    with pytest.raises(ValueError, match="'gpe'"):
        to_tantivy(parse_query("gpe:Russia"), schema)


def test_parity_on_random_queries(tmp_path):
    rng = random.Random(99)
    docs = [random_doc(rng, i) for i in range(60)]
    index, schema = build_index(tmp_path, docs)
    checked = 0
    for _ in range(400):
        query = random_query(rng)
        matcher = TopicMatcher.compile([TopicSpec(id="t", query=query)])
        stream = {d.id for d in docs if matcher.match(d)}
        backtest = search_ids(index, to_tantivy(parse_query(query), schema))
        assert stream == backtest, query
        checked += 0 < len(stream) < len(docs)
    assert checked > 150
