from pathlib import Path

from newswatch.topics import check_topics, check_topics_text

BROKEN = """\
# analysts' topics
topics:
  - id: russia-taliban
    query: 'gpe:Russia and org:Taliban'

  - id: bounties
    name: Bounties
    query: >-
      (bounty OR bounties OR "paid to kill)
      AND (troops OR soldiers)
    exclude: '"bug bounty" OR titel:hacker'

  - id: fine
    query: russia AND taliban
    exclude: doha

  - id: disabled-but-broken
    enabled: false
    query: "*weapons"
    min_scor: 2
"""


def test_reports_every_problem_with_its_line(tmp_path):
    p = tmp_path / "topics.yaml"
    p.write_text(BROKEN, encoding="utf-8")
    problems = check_topics(p)
    by_key = {(pr.topic, pr.key): pr for pr in problems}
    assert len(problems) == 5, [str(x) for x in problems]

    low = by_key[("russia-taliban", "query")]
    assert (low.file, low.line, low.token, low.column) == (str(p), 4, "and", 12)
    assert "AND" in low.suggestion

    quote = by_key[("bounties", "query")]
    assert quote.line == 8 and quote.token.startswith('"paid to kill')
    assert "unbalanced quote" in quote.message and "close the phrase" in quote.suggestion

    field = by_key[("bounties", "exclude")]
    assert (field.line, field.token) == (11, "titel:")
    assert "did you mean 'title:'" in field.suggestion

    wildcard = by_key[("disabled-but-broken", "query")]
    assert wildcard.line == 19 and "leading wildcards" in wildcard.message

    shape = by_key[("disabled-but-broken", "topics[3].min_scor")]
    assert shape.line == 20 and "min_score" in shape.suggestion
    assert [pr.line for pr in problems] == sorted(pr.line for pr in problems)
    assert str(low).startswith(f"{p}:4: topic 'russia-taliban' query: 'and' is searched as a word")


def test_clean_file_has_no_problems(tmp_path):
    p = tmp_path / "topics.yaml"
    p.write_text("topics:\n  - id: a\n    query: gpe:Russia AND org:Taliban\n    exclude: doha\n")
    assert check_topics(p) == []


def test_yaml_syntax_error_is_one_problem():
    problems = check_topics_text("topics:\n  - id: a\n    query: 'unclosed\n", "t.yaml")
    assert len(problems) == 1 and "not valid YAML" in problems[0].message and problems[0].file == "t.yaml"


def test_non_string_query_is_a_shape_error_only():
    problems = check_topics_text("topics:\n  - id: a\n    query: [a, b]\n", "t.yaml")
    assert len(problems) == 1 and problems[0].key == "topics[0].query" and problems[0].line == 3


def test_duplicate_ids_and_missing_file(tmp_path):
    problems = check_topics_text("topics:\n  - id: a\n    query: x\n  - id: a\n    query: y\n")
    assert len(problems) == 1 and "unique" in problems[0].message
    missing = check_topics(tmp_path / "nope.yaml")
    assert len(missing) == 1 and missing[0].message == "file not found"


def test_shipped_topics_file_if_present():
    shipped = Path(__file__).resolve().parents[2] / "config" / "topics.yaml"
    if shipped.exists():  # the shipped topics must at least compile
        assert check_topics(shipped) == [], [str(p) for p in check_topics(shipped)]
