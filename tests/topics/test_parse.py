import pickle
import random

import pytest

from newswatch.errors import ConfigError
from newswatch.topics import And, Boost, Not, Or, Phrase, Prefix, Term, TopicSyntaxError, parse_query
from newswatch.topics.nodes import MAX_PHRASE_VARIANTS, phrase_variant_bound, phrase_variants
from tests.topics._gen import random_query

T = Term


# ------------------------------------------------------------ the language
@pytest.mark.parametrize("query, expected", [
    ("russia", T("russia")),
    ("Russia", T("russia")),
    # implicit operator is OR (Lucene's default)
    ("russia taliban", Or((T("russia"), T("taliban")))),
    ("russia AND taliban", And((T("russia"), T("taliban")))),
    ("a OR b AND c", Or((T("a"), And((T("b"), T("c")))))),
    ("a AND b AND c", And((T("a"), T("b"), T("c")))),
    ("(a OR b) AND c", And((Or((T("a"), T("b"))), T("c")))),
    # +required / -prohibited clauses
    ("+a b -c", And((T("a"), Not(T("c"))), (T("b"),))),
    ("a b -c", And((Or((T("a"), T("b"))), Not(T("c"))))),
    ("a NOT b", And((T("a"), Not(T("b"))))),
    ("NOT a b", And((T("b"), Not(T("a"))))),
    ("-a", Not(T("a"))),
    ("+a", T("a")),
    ("-a -b", And((Not(T("a")), Not(T("b"))))),
    ("a AND NOT b", And((T("a"), Not(T("b"))))),
    ("a AND -b", And((T("a"), Not(T("b"))))),
    ("a OR NOT b", Or((T("a"), Not(T("b"))))),
    ("NOT (a OR b)", Not(Or((T("a"), T("b"))))),
    # prefixes, phrases, slop
    ("weapon*", Prefix("weapon")),
    ("Weapon*", Prefix("weapon")),
    ('"paid to kill"', Phrase(("paid", "to", "kill"))),
    ('"russia taliban"~5', Phrase(("russia", "taliban"), slop=5)),
    ('"russia"~5', T("russia")),
    ('"U.S. forces"', Phrase(("u", "s", "forces"))),
    ("U.S.", Phrase(("u", "s"))),
    ("Pompeo's", Phrase(("pompeo", "s"))),
    ("al-Qaeda", Phrase(("al", "qaeda"))),
    (r"foo\*", T("foo")),
    # boosts
    ("russia^2", Boost(T("russia"), 2.0)),
    ('"a b"~2^3', Boost(Phrase(("a", "b"), slop=2), 3.0)),
    ("(a OR b)^0.5", Boost(Or((T("a"), T("b"))), 0.5)),
    # fields
    ("title:russia", T("russia", "title")),
    ("text:weapon*", Prefix("weapon", "text")),
    ("title:(a OR b)", Or((T("a", "title"), T("b", "title")))),
    ('title:"a b"~1', Phrase(("a", "b"), "title", 1)),
    ("gpe:Russia", T("russia", "gpe")),
    ('person:"Maria  Zakharova"', T("maria zakharova", "person")),
    ("org:Taliban^2", Boost(T("taliban", "org"), 2.0)),
    ("entity:Kremlin", T("kremlin", "entity")),
    ("gpe:unit*", Prefix("unit", "gpe")),
    (r"gpe:new\ york*", Prefix("new york", "gpe")),
    ("source:BBC-World", T("bbc-world", "source")),
    ("lang:EN", T("en", "lang")),
    ("topic:bounties", T("bounties", "topic")),
    ("cluster:abc123", T("abc123", "cluster")),
])
def test_parse(query, expected):
    assert parse_query(query) == expected


def test_default_topics_parse():
    rt = parse_query("gpe:Russia AND org:Taliban")
    assert rt == And((T("russia", "gpe"), T("taliban", "org")))
    b = parse_query('(bounty OR bounties OR "paid to kill" OR "payments for killing") AND (troops OR soldiers '
                    'OR servicemen OR "coalition forces" OR americans OR "u.s. forces")')
    assert isinstance(b, And) and len(b.children) == 2
    assert Phrase(("u", "s", "forces")) in b.children[1].children
    ex = parse_query('"bug bounty" OR "bug bounties" OR "bounty hunter" OR "bounty hunters" OR hacker*')
    assert Prefix("hacker") in ex.children


def test_nodes_are_immutable_and_hashable():
    node = parse_query("a AND (b OR c)")
    with pytest.raises(AttributeError):
        node.children = ()  # type: ignore[misc]
    assert hash(node) == hash(parse_query("a AND (b OR c)"))


@pytest.mark.parametrize("query", [
    "a OR b AND c", "+a b -c", 'title:"a b"~2^3', "gpe:Russia AND NOT (org:Taliban OR lang:de)",
    r"gpe:new\ york*", "NOT a AND NOT b", "(a OR NOT b)^2", 'person:"maria zakharova"', "a OR (NOT b)",
])
def test_str_round_trips(query):
    node = parse_query(query)
    assert parse_query(str(node)) == node


def test_str_round_trips_random():
    rng = random.Random(7)
    for _ in range(500):
        node = parse_query(random_query(rng))
        assert parse_query(str(node)) == node, str(node)


# ------------------------------------------------------------------ errors
def err(query: str) -> TopicSyntaxError:
    with pytest.raises(TopicSyntaxError) as info:
        parse_query(query)
    return info.value


@pytest.mark.parametrize("query, token, column, in_message, in_fix", [
    # lowercase operators
    ("russia and taliban", "and", 8, "searched as a word", "AND"),
    ("russia or taliban", "or", 8, "searched as a word", "OR"),
    ("not russia", "not", 1, "searched as a word", "NOT"),
    ("russia And taliban", "And", 8, "searched as a word", "AND"),
    ("a && b", "&&", 3, "not an operator", "AND"),
    ("a || b", "||", 3, "not an operator", "OR"),
    ("!a", "!a", 1, "not an operator", "NOT"),
    # unbalanced
    ('gpe:Russia AND "paid to kill', '"paid to kill', 16, "unbalanced quote", "close the phrase"),
    ("(a OR b", "(", 1, "never closed", "')'"),
    ("a OR b)", ")", 7, "closes nothing", "remove this ')'"),
    # fields
    ("titel:russia", "titel:", 1, "unknown field 'titel'", "did you mean 'title:'"),
    ("a AND orgg:Taliban", "orgg:", 7, "unknown field", "'org:'"),
    ("http://example.com", "http:", 1, "unknown field", r"escape the colon"),
    ("title:text:a", "text:", 7, "inside 'title:'", "one field per clause"),
    # empty, lone star, wildcards
    ("", "", 1, "empty", "at least one term"),
    ("   ", "", 1, "empty", "at least one term"),
    ("*", "*", 1, "lone '*'", "NOT x"),
    ("title:*", "*", 7, "lone '*'", "NOT x"),
    ("*foo", "*foo", 1, "leading wildcards", "trailing '*'"),
    ("russia AND ?oo", "?oo", 12, "leading wildcards", "trailing '*'"),
    ("te?t", "te?t", 1, "'?' is not supported", "te*"),
    ("weap*on", "weap*on", 1, "inside a word", "weap*"),
    ("u.s*", "u.s*", 1, "prefix must be one word", "quote the exact phrase"),
    ('"weap* sales"', '"weap* sales"', 1, "wildcards inside quotes", "prefix"),
    # unsupported syntax: say so
    ("[a TO b]", "[a TO b]", 1, "range queries are not supported", "remove the range"),
    ("title:>3", ">3", 7, "range queries are not supported", "remove the range"),
    ("russia~", "russia~", 1, "fuzzy matching", "prefix (russia*)"),
    ("russia~2", "russia~2", 1, "fuzzy matching", "spellings"),
    ("/russ.*/", "/russ.*/", 1, "regular expressions", "prefix"),
    ('"a b"~1.5', "~1.5", 6, "whole number", '"a b"~3'),
    ('gpe:"new york"~2', '"new york"~2', 5, "does not apply to gpe", "remove the ~2"),
    ('"a b c d e f"~9', '"a b c d e f"~9', 1, "too wide", "at most ~2"),
    # operators in the wrong place
    ("a AND", "AND", 3, "ends where a term is expected", "add a term"),
    ("OR a", "OR", 1, "needs a term on each side", "before and after"),
    ("a OR -b", "-b", 6, "ambiguous", "a AND NOT b"),
    ("+a OR b", "+a", 1, "ambiguous", "a AND b"),
    ('""', '""', 1, "nothing searchable", "letters or digits"),
])
def test_errors(query, token, column, in_message, in_fix):
    e = err(query)
    assert isinstance(e, ConfigError)
    assert e.token == token
    assert e.column == column
    assert in_message in e.message
    assert in_fix in e.suggestion
    assert e.fix == e.suggestion
    assert f"column {column}" in str(e) and "Fix:" in str(e)


def test_error_located_and_picklable():
    e = err("russia and taliban").located(path="config/topics.yaml", line=7, key="topics[0].query")
    assert str(e).startswith("config/topics.yaml:7 topics[0].query: 'and' is searched as a word")
    back = pickle.loads(pickle.dumps(e))
    assert (back.token, back.column, back.line, back.path) == ("and", 8, 7, "config/topics.yaml")


def test_quoted_lowercase_operator_is_a_word():
    assert parse_query('"rock and roll"') == Phrase(("rock", "and", "roll"))
    assert parse_query('a AND "and"') == And((T("a"), T("and")))


def test_phrase_variants_are_exactly_the_allowed_arrangements():
    # "a b"~1: "a b" or "a x b"; a swap costs 2 (offsets of the words in an exact phrase)
    assert sorted(phrase_variants(2, 1)) == [(0, 1), (0, 2)]
    variants = set(phrase_variants(2, 2))
    assert (2, 1) in variants          # swapped ("b a"): costs 2
    assert (0, 3) in variants          # two words in between
    assert (0, 1) in variants
    for n, slop in [(2, 1), (3, 2), (4, 1)]:
        vs = list(phrase_variants(n, slop))
        assert len(vs) == len(set(vs)) <= phrase_variant_bound(n, slop) <= MAX_PHRASE_VARIANTS
        for offsets in vs:
            d = [o - i for i, o in enumerate(offsets)]
            assert min(d) == 0 and max(d) <= slop and len(set(offsets)) == n


def test_malformed_numbers():
    assert err("a^.").token == "^." and "boost must be a number" in err("a^.").message
    assert "number must follow '~'" in err("a~.").message


def test_fuzz_raises_only_topic_syntax_errors():
    """Random syntax soup: every query parses or fails with a located TopicSyntaxError."""
    pieces = list("ab ") + ["AND ", "OR ", "NOT ", "and ", '"', "(", ")", "*", "?", "~", "~2", "^", "^2", ":",
                            "title:", "gpe:", "+", "-", "\\", "[", "]", "{", "}", "/", "!", "&&", "TO ", ".",
                            "'", "é", "\n", ">", "<", ",", "_", "^.", "~.5", '"a b"~', "x^0.5"]
    rng = random.Random(3)
    parsed = 0
    for _ in range(20_000):
        q = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 14)))
        try:
            parse_query(q)
            parsed += 1
        except TopicSyntaxError as e:
            assert 1 <= e.column <= len(q) + 1 and e.suggestion, q
    assert parsed > 100
