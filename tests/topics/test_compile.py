import pytest

from newswatch.config import TopicSpec
from newswatch.topics import TopicMatcher, TopicSyntaxError, anchors_of, compile_topic, parse_query
from newswatch.topics.compile import (MAX_GROUPS, anchor_cost, requirements_of, token_key, token_prefix_key,
                                      value_key, value_prefix_key)


def anchors(query: str):
    return anchors_of(parse_query(query))


def test_leaf_anchors():
    assert anchors("russia") == {token_key("russia")}
    assert anchors("title:russia") == {token_key("russia")}
    assert anchors("weapon*") == {token_prefix_key("weapon")}
    assert anchors("gpe:Russia") == {value_key("gpe", "russia")}
    assert anchors("person:zakh*") == {value_prefix_key("person", "zakh")}
    assert anchors("source:tass") == {value_key("source", "tass")}
    assert anchors("russia^3") == {token_key("russia")}


def test_phrase_anchors_on_its_rarest_word():
    assert anchors('"paid to kill"') == {token_key("paid")}
    assert anchors('"u.s. forces"') == {token_key("forces")}
    assert anchors('"payments for killing"~2') == {token_key("payments")}


def test_or_is_the_union():
    assert anchors("a OR bb OR gpe:x*") == {token_key("a"), token_key("bb"), value_prefix_key("gpe", "x")}
    assert anchors("a b") == {token_key("a"), token_key("b")}


def test_and_takes_the_cheapest_child():
    # an entity is rarer than a word; a long word is rarer than a short one; lang: is everywhere
    assert anchors("russia AND org:Taliban") == {value_key("org", "taliban")}
    assert anchors("us AND servicemen") == {token_key("servicemen")}
    assert anchors("lang:en AND us") == {token_key("us")}
    # one alternative is cheaper than several
    assert anchors("(bounty OR bounties) AND (troops OR soldiers OR americans)") == \
        {token_key("bounty"), token_key("bounties")}
    assert anchor_cost(token_prefix_key("we")) > anchor_cost(token_key("we"))


def test_not_contributes_nothing():
    assert anchors("russia AND NOT weapons") == {token_key("russia")}
    assert anchors("+russia -weapons talks") == {token_key("russia")}   # optional clause: no anchor
    assert anchors("russia talks -weapons") == {token_key("russia"), token_key("talks")}


@pytest.mark.parametrize("query", ["NOT russia", "-a -b", "a OR NOT b", "NOT (a AND b)", "(NOT a)^2"])
def test_unanchorable_queries_are_always_evaluated(query):
    assert anchors(query) is None


def groups(query: str):
    return set(requirements_of(parse_query(query)))


def test_requirement_groups_are_a_conjunction():
    k = token_key
    assert groups("gpe:Russia AND org:Taliban") == {frozenset({value_key("gpe", "russia")}),
                                                   frozenset({value_key("org", "taliban")})}
    # every word of a phrase is required; a short word filters nothing and is left out
    assert groups('"paid to kill"') == {frozenset({k("paid")}), frozenset({k("kill")})}
    assert groups('"u.s. forces"') == {frozenset({k("forces")})}
    # OR: one group, the cheapest group of each alternative
    assert groups('(bounty OR "paid to kill") AND troops') == {frozenset({k("bounty"), k("paid")}),
                                                                frozenset({k("troops")})}
    assert groups("(alpha AND beta) OR gamma") == {frozenset({k("alpha"), k("gamma")})}
    # NOT and optional clauses require nothing; a group implied by a smaller one is dropped
    assert groups("russia AND NOT weapons") == {frozenset({k("russia")})}
    assert groups("+russia talks") == {frozenset({k("russia")})}
    assert groups("alpha AND (alpha OR beta)") == {frozenset({k("alpha")})}
    assert groups("NOT russia") == set() and groups("russia OR NOT doha") == set()
    assert len(requirements_of(parse_query("aaaa AND bbbb AND cccc AND dddd AND eeee AND ffff"))) == MAX_GROUPS


def test_compile_topic_and_stats():
    specs = [
        TopicSpec(id="russia-taliban", query="gpe:Russia AND org:Taliban"),
        TopicSpec(id="bounties",
                  query='(bounty OR bounties OR "paid to kill" OR "payments for killing") AND (troops OR soldiers '
                        'OR servicemen OR "coalition forces" OR americans OR "u.s. forces")',
                  exclude='"bug bounty" OR "bug bounties" OR "bounty hunter" OR "bounty hunters" OR hacker*'),
        TopicSpec(id="no-doha", query="NOT doha"),
        TopicSpec(id="weapons", query="weapon*", enabled=False),
        TopicSpec(id="strict", query="russia", min_score=2),
    ]
    t = compile_topic(specs[1])
    assert t.exclude is not None and t.min_score == 0
    assert t.anchors == {token_key("bounty"), token_key("bounties"), token_key("paid"), token_key("payments")}
    m = TopicMatcher.compile(specs)
    stats = m.stats()
    assert (stats.topics, stats.disabled, stats.always_evaluate) == (4, 1, 1)
    assert stats.always_evaluate_ids == ("no-doha",)
    # every requirement group is in the automaton: gpe:russia, org:taliban; bounty, bounties, paid,
    # payments; troops, soldiers, servicemen, coalition, americans, forces; russia
    assert stats.anchors == 13 and stats.value_anchors == 2 and stats.token_anchors == 11
    assert "4 topics (1 disabled)" in str(stats)
    assert [t.id for t in m.topics] == ["russia-taliban", "bounties", "no-doha", "strict"]


def test_compile_error_names_the_topic_and_key():
    with pytest.raises(TopicSyntaxError) as info:
        TopicMatcher.compile([TopicSpec(id="ok", query="a"), TopicSpec(id="bad", query="a", exclude="b and c")])
    assert info.value.key == "bad.exclude" and info.value.token == "and"


def test_blank_exclude_is_no_exclude():
    assert compile_topic(TopicSpec(id="x", query="a", exclude="  ")).exclude is None
