from newswatch.language import detect_language, normalize_tag


def test_hint_wins_and_is_normalized():
    assert detect_language("whatever", "en-US") == "en"
    assert normalize_tag("DE_at") == "de" and normalize_tag("") is None and normalize_tag("x-1") is None


def test_guesses():
    assert detect_language("Russia has rejected U.S. allegations that it has been arming the Taliban in the war") == "en"
    assert detect_language("Die Regierung hat die Reform beschlossen, und das ist nicht gut für die Stadt") == "de"
    assert detect_language("Россия отвергла обвинения США в поставках оружия") == "ru"
    assert detect_language("中国外交部发言人表示") == "zh"
    assert detect_language("12345 ---") is None
