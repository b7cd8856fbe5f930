from newswatch.ids import alert_id, article_id, canonical_url


def test_canonical_url_drops_tracking_and_fragment():
    assert canonical_url("HTTPS://Www.Example.COM:443/a/b?utm_source=rss&id=7&fbclid=x#top") == \
        "https://www.example.com/a/b?id=7"


def test_canonical_url_keeps_meaningful_params_and_port():
    assert canonical_url("http://example.com:8080/story?id=1&page=2") == "http://example.com:8080/story?id=1&page=2"


def test_non_http_guid_is_left_alone():
    assert canonical_url(" tag:example.com,2020:1 ") == "tag:example.com,2020:1"
    assert canonical_url("") is None and canonical_url(None) is None


def test_article_id_is_stable_across_tracking_variants():
    a = article_id("https://example.com/x?utm_medium=feed", None)
    b = article_id("https://EXAMPLE.com/x#comments", "other-guid")
    assert a == b


def test_article_id_falls_back_to_guid_then_content():
    assert article_id(None, "g1") == article_id("", "g1")
    assert article_id(None, "g1") != article_id(None, "g2")
    assert article_id(None, None, source_id="s", title="T") != article_id(None, None, source_id="s", title="U")


def test_alert_id_is_per_topic_and_story():
    assert alert_id("t", "s") == alert_id("t", "s")
    assert alert_id("t", "s") != alert_id("u", "s")
