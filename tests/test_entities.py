import pytest

from newswatch.config import ConfigSet, EntitiesFile, parse_model
from newswatch.entities import Gazetteer, normalize_mention, resolve_entities, unique_entities

from .conftest import CONFIG


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return Gazetteer.from_config(ConfigSet.load(CONFIG).entities)


@pytest.mark.parametrize("raw,norm", [("Mike Pompeo's", "Mike Pompeo"), ("the Kremlin", "Kremlin"),
                                      ("“Taliban”", "Taliban"), ("Taliban’", "Taliban"), ("U.S.", "U.S.")])
def test_normalize_mention(raw, norm):
    assert normalize_mention(raw) == norm


def test_alias_overrides_model_label_and_possessive(gaz):
    text = "Zakharova said. Mike Pompeo's claim."
    ents = resolve_entities([("Zakharova", "ORG", 0, 9), ("Mike Pompeo's", "PERSON", 16, 29)], text, gaz)
    pairs = unique_entities(ents)
    assert ("PERSON", "Maria Zakharova") in pairs and ("PERSON", "Mike Pompeo") in pairs
    # a Russian official implies Russia
    assert ("GPE", "Russia") in pairs


def test_metonyms_map_to_country(gaz):
    text = "the Kremlin said"
    ents = resolve_entities([("Kremlin", "ORG", 4, 11)], text, gaz)
    assert [(e.label, e.canonical, e.start, e.end) for e in ents] == [("GPE", "Russia", 4, 11)]


def test_ignore_list_and_non_entity_labels_dropped(gaz):
    text = "Secretary of State on Thursday paid $5"
    ents = resolve_entities([("State", "ORG", 13, 18), ("Thursday", "DATE", 22, 30), ("$5", "MONEY", 36, 38)],
                            text, gaz)
    assert ents == []


def test_gazetteer_adds_missed_aliases_on_word_boundaries_case_sensitively(gaz):
    text = "Talks with the Taliban in Moscow; tell us about Talibanistan"
    ents = resolve_entities([], text, gaz)
    got = [(e.canonical, text[e.start:e.end]) for e in ents]
    assert ("Taliban", "the Taliban") in got or ("Taliban", "Taliban") in got
    assert ("Russia", "Moscow") in got
    assert not any(c == "United States" for c, _ in got)  # "us" is not "US"
    assert all(t != "Talibanistan" for _, t in got)


def test_scan_off_uses_model_only(gaz):
    assert resolve_entities([], "the Taliban", gaz, scan=False) == []


def test_unknown_entities_keep_model_label():
    g = Gazetteer.from_config(parse_model("entities: []", EntitiesFile))
    ents = resolve_entities([("Acme Corp", "ORG", 0, 9)], "Acme Corp", g)
    assert [(e.label, e.canonical) for e in ents] == [("ORG", "Acme Corp")]
