import pickle
import random
from pathlib import Path

import pytest

from newswatch.config import TopicSpec
from newswatch.errors import ConfigError
from newswatch.fields import tokenize
from newswatch.records import Entity, RawArticle, Story
from newswatch.topics import MatchDoc, TopicMatcher, TopicSyntaxError, compile_topic, evaluate
from newswatch.topics.matcher import DocIndex
from tests.topics._gen import random_doc, random_query

SEED = Path(__file__).resolve().parents[3] / "shared" / "data" / "seed-story.txt"

DEFAULT_TOPICS = [
    TopicSpec(id="russia-taliban", query="gpe:Russia AND org:Taliban"),
    TopicSpec(id="bounties",
              query='(bounty OR bounties OR "paid to kill" OR "payments for killing") AND (troops OR soldiers OR '
                    'servicemen OR "coalition forces" OR americans OR "u.s. forces")',
              exclude='"bug bounty" OR "bug bounties" OR "bounty hunter" OR "bounty hunters" OR hacker*'),
]


def doc(text="", title="", **kw) -> MatchDoc:
    return MatchDoc(id=kw.pop("id", "d"), title=title, text=text, **kw)


def fires(query: str, d: MatchDoc, **spec) -> bool:
    return evaluate(compile_topic(TopicSpec(id="t", query=query, **spec)), d) is not None


def score(query: str, d: MatchDoc) -> float | None:
    m = evaluate(compile_topic(TopicSpec(id="t", query=query)), d)
    return None if m is None else m.score


# --------------------------------------------------------------- semantics
def test_terms_prefixes_and_default_fields():
    d = doc("Russian weapon sales.", title="Moscow says")
    assert fires("weapon", d) and fires("WEAPON", d)
    assert not fires("weapons", d)
    assert fires("weap*", d) and fires("weapon*", d) and not fires("weapons*", d)
    assert fires("moscow", d) and fires("title:moscow", d) and not fires("text:moscow", d)
    assert fires("text:sales", d) and not fires("title:sales", d)


def test_boolean_logic():
    d = doc("russia taliban talks")
    assert fires("russia AND taliban", d)
    assert not fires("russia AND doha", d)
    assert fires("russia OR doha", d)
    assert fires("russia doha", d)              # implicit OR
    assert not fires("russia AND NOT talks", d)
    assert fires("russia AND NOT doha", d)
    assert fires("NOT doha", d) and not fires("NOT russia", d)
    assert fires("doha OR NOT qatar", d)        # logical: anything without qatar
    assert fires("+russia doha", d)             # doha optional once russia is required
    assert not fires("+doha russia", d)
    assert not fires("russia doha -talks", d)
    assert fires("-doha -qatar", d)
    assert fires("(russia AND (doha OR talks)) OR qatar", d)


def test_phrases_across_punctuation():
    d = doc("Smear U.S. forces, Mike Pompeo's assertion; al-Qaeda.")
    assert fires('"U.S. forces"', d) and fires('"u s forces"', d) and fires("U.S.", d)
    assert fires("Pompeo's", d) and fires('"pompeo s assertion"', d)
    assert fires("al-qaeda", d)
    assert not fires('"forces pompeo"', d)       # 'mike' in between
    assert fires('"forces pompeo"~1', d)


def test_slop_semantics():
    d = doc("a x b x c")
    assert not fires('"a b"', d) and fires('"a b"~1', d)
    assert fires('"a b c"~2', d) and not fires('"a b c"~1', d)   # slop is a budget over the phrase
    assert fires('"a b x c"~1', d)
    rev = doc("b a")
    assert not fires('"a b"~1', rev) and fires('"a b"~2', rev)     # a swap costs 2
    one = doc("a")
    assert not fires('"a a"~3', one)                               # distinct positions
    assert fires('"a a"~1', doc("a x a"))
    assert not fires('"b a c"~2', d) and fires('"b a c"~3', d)


def test_positions_count_dropped_long_words_like_tantivy():
    long_word = "z" * 45
    d = doc(f"russia {long_word} taliban")
    assert [t.text for t in tokenize(d.text)] == ["russia", "taliban"]
    assert not fires('"russia taliban"', d)
    assert fires('"russia taliban"~1', d)


def test_entities_and_keywords():
    d = doc("The Kremlin said.", source="TASS", lang="EN",
            entities=[("GPE", "Russia"), ("PERSON", "Maria  Zakharova", 0, 3), ("DATE", "Thursday")])
    assert fires("gpe:Russia", d) and fires("gpe:russia", d) and fires("entity:russia", d)
    assert not fires("org:Russia", d) and not fires("gpe:Russ", d)
    assert fires('person:"Maria Zakharova"', d) and fires("person:maria*", d) and not fires("person:maria", d)
    assert not fires("entity:thursday", d)                       # label outside ENTITY_LABELS
    assert fires("source:tass", d) and fires("lang:en", d) and not fires("lang:de", d)
    assert not fires("topic:bounties", d)                        # unknown in-stream
    assert fires("topic:bounties", doc("x", topics=("bounties",)))
    assert not fires("russia", d)                                 # entities are not text


def test_score_is_the_sum_of_fired_positive_boosts():
    d = doc("russia taliban weapons")
    assert score("russia", d) == 1
    assert score("russia OR taliban OR doha", d) == 2
    assert score("russia^2 AND taliban", d) == 3
    assert score("(russia OR taliban)^0.5", d) == 1
    assert score("russia AND NOT doha", d) == 1                   # NOT never scores
    assert score("+russia taliban doha", d) == 2                  # optional clauses add score
    assert score("NOT doha", d) == 0
    assert score("(doha AND russia) OR taliban", d) == 1          # a failed branch scores nothing


def test_min_score_and_exclude():
    d = doc("russia taliban")
    assert not fires("russia OR doha", d, min_score=2)
    assert fires("russia OR taliban", d, min_score=2)
    assert not fires("russia", d, exclude="taliban")
    assert fires("russia", d, exclude="doha")


# ------------------------------------------------------------ explanations
def test_matched_terms_point_at_the_text():
    title = "Russian Weapon Sales"
    text = "Moscow offered Taliban fighters bounties for killing American soldiers. U.S. forces, bounties."
    d = doc(text, title=title, entities=[("GPE", "Russia", -1, -1), ("ORG", "Taliban", 15, 22)])
    m = evaluate(compile_topic(TopicSpec(
        id="t", query='weap* AND bounties AND "u.s. forces" AND "fighters killing"~2 AND org:Taliban '
                      'AND gpe:Russia AND NOT doha')), d)
    assert m is not None
    got = {(t.term, t.field, t.start, t.end) for t in m.matched}
    src = {"title": title, "text": text}
    for term, field, start, end in got:
        if field in src:
            assert start >= 0
            seen = [t.text for t in tokenize(src[field][start:end])]
            if term.endswith("*"):
                assert seen[0].startswith(term[:-1])
            else:
                words = term.split("~")[0].split()
                assert seen[0] == words[0] and seen[-1] == words[-1]
    assert ("weap*", "title", 8, 14) in got
    assert sum(1 for t in got if t[0] == "bounties") == 2
    assert ("u s forces", "text", 72, 83) in got and text[72:83] == "U.S. forces"
    assert ("fighters killing~2", "text", 23, 52) in got
    assert ("taliban", "org", 15, 22) in got and text[15:22] == "Taliban"
    assert ("russia", "gpe", -1, -1) in got
    assert not any(t[0] == "doha" for t in got)


def test_matched_terms_are_capped_per_clause():
    d = doc(" ".join(["russia"] * 100))
    m = evaluate(compile_topic(TopicSpec(id="t", query="russia")), d)
    assert len(m.matched) == 20


# ------------------------------------------------------ the default topics
def seed_doc() -> MatchDoc:
    raw = SEED.read_text(encoding="utf-8")
    title, _, body = raw.partition("\n\n")
    ents = []
    for label, name in [("GPE", "Russia"), ("ORG", "Taliban"), ("PERSON", "Maria Zakharova"), ("GPE", "Afghanistan")]:
        i = body.find(name.split()[-1])
        ents.append((label, name, i, i + len(name.split()[-1])))
    return MatchDoc(id="seed", title=title, text=body, source="newsweek", lang="en", entities=tuple(ents))


def test_default_topics_flag_the_seed_story():
    m = TopicMatcher.compile(DEFAULT_TOPICS)
    res = {r.id: r for r in m.match(seed_doc())}
    assert set(res) == {"russia-taliban", "bounties"}
    terms = {t.term for t in res["bounties"].matched}
    assert {"bounties", "soldiers", "troops", "u s forces"} <= terms


@pytest.mark.parametrize("title, text, entities", [
    ("Russian wheat exports rise", "Russia exported record wheat to Egypt.", [("GPE", "Russia")]),
    ("Taliban talks in Doha", "Taliban and US envoys met in Doha; troops withdrawal discussed.",
     [("ORG", "Taliban"), ("GPE", "Qatar")]),
    ("TV bounty hunter returns", "The bounty hunter show featured soldiers of fortune.", []),
    ("Bug bounties", "Hackers earned bug bounties; Americans topped the list of researchers.", []),
    ("Bounty for hackers", "A bounty was paid to hackers, soldiers of code.", []),
])
def test_default_topics_skip_near_misses(title, text, entities):
    m = TopicMatcher.compile(DEFAULT_TOPICS)
    assert m.match(MatchDoc(id="x", title=title, text=text, entities=tuple(entities))) == []


def test_from_story():
    story = Story.from_article(
        RawArticle.create(source_id="tass", title="Russia and the Taliban", url="https://example.com/a"),
        text="Russia denies arming the Taliban.", lang="en",
        entities=(Entity(text="Russia", label="GPE", canonical="Russia", start=0, end=6),
                  Entity(text="Taliban", label="ORG", canonical="Taliban", start=25, end=32)))
    m = TopicMatcher.compile(DEFAULT_TOPICS)
    res = m.match(MatchDoc.from_story(story))
    assert [r.id for r in res] == ["russia-taliban"]
    assert {(t.field, t.start, t.end) for t in res[0].matched} == {("gpe", 0, 6), ("org", 25, 32)}


# ---------------------------------------------------- prefilter exactness
def test_prefilter_is_exact_on_random_topics():
    rng = random.Random(20240704)
    specs = []
    for i in range(2000):
        exclude = random_query(rng, 1) if rng.random() < 0.2 else None
        specs.append(TopicSpec(id=f"t{i}", query=random_query(rng), exclude=exclude,
                               min_score=rng.choice([0, 0, 0, 1, 2])))
    matcher = TopicMatcher.compile(specs)
    stats = matcher.stats()
    assert stats.topics == 2000 and 0 < stats.always_evaluate < 2000
    docs = [random_doc(rng, i) for i in range(50)]
    fired = evaluated = 0
    for d in docs:
        ix = DocIndex(d)
        fast = matcher.match(ix)
        slow = matcher.match_all_naive(DocIndex(d))
        assert fast == slow, d
        fired += len(fast)
        evaluated += len(matcher.candidates(ix))
    assert fired > 1000                              # the test exercises real matches
    assert evaluated < 2000 * 50                     # and the prefilter does skip topics


def test_matcher_is_picklable_and_checks_ids():
    m = TopicMatcher.compile(DEFAULT_TOPICS)
    back = pickle.loads(pickle.dumps(m))
    assert back.match(seed_doc()) == m.match(seed_doc())
    with pytest.raises(ConfigError, match="unique"):
        TopicMatcher([compile_topic(DEFAULT_TOPICS[0])] * 2)


def test_empty_matcher():
    m = TopicMatcher.compile([])
    assert m.match(doc("anything")) == [] and m.stats().anchors == 0


# ------------------------------------------------------------- from_file
def test_from_file(tmp_path):
    p = tmp_path / "topics.yaml"
    p.write_text("topics:\n  - id: a\n    query: russia\n  - id: b\n    query: x\n    enabled: false\n")
    m = TopicMatcher.from_file(p)
    assert len(m) == 1 and m.stats().disabled == 1 and m["a"].query is not None


def test_from_file_locates_a_bad_query(tmp_path):
    p = tmp_path / "topics.yaml"
    p.write_text("topics:\n  - id: a\n    query: russia\n\n  - id: b\n    name: B\n    query: russia and taliban\n")
    with pytest.raises(TopicSyntaxError) as info:
        TopicMatcher.from_file(p)
    e = info.value
    assert (e.path, e.line, e.key, e.token) == (str(p), 7, "topics[1].query", "and")
    assert str(e).startswith(f"{p}:7 topics[1].query: 'and' is searched as a word")


def test_from_file_missing(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        TopicMatcher.from_file(tmp_path / "nope.yaml")
