"""Cheap language identification for routing articles to the right NER model.

Feeds usually declare a language (channel ``<language>``, ``xml:lang``); the hint
wins when present. Without one, a stop-word vote over the first ~200 words and a
script check (Cyrillic, CJK, Arabic, Devanagari…) decide. It only has to be good
enough to keep a non-English article away from the English NER model.
"""

from __future__ import annotations

import re
import unicodedata

_STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset("the and of to in is that for on with as was by it at from are has have said".split()),
    "de": frozenset("der die und das ist nicht ein eine zu den mit von auf für sich dem des".split()),
    "fr": frozenset("le la les et des est une un du que en pour dans qui sur pas au".split()),
    "es": frozenset("el la los las y de que en un una es por con para del se su".split()),
    "it": frozenset("il la che di e un una per non sono con del della gli le nel".split()),
    "pt": frozenset("o a os as e de que em um uma para com não do da dos se no".split()),
    "nl": frozenset("de het een en van is dat op te in niet met voor zijn".split()),
}
_SCRIPTS = (("CYRILLIC", "ru"), ("CJK", "zh"), ("HIRAGANA", "ja"), ("KATAKANA", "ja"), ("HANGUL", "ko"),
            ("ARABIC", "ar"), ("DEVANAGARI", "hi"), ("HEBREW", "he"), ("GREEK", "el"), ("THAI", "th"))
_WORD = re.compile(r"[^\W\d_]+")


def normalize_tag(tag: str | None) -> str | None:
    """``'en-US'`` / ``'EN_gb'`` → ``'en'``; empty → None."""
    if not tag:
        return None
    tag = tag.strip().replace("_", "-").split("-")[0].lower()
    return tag if tag.isalpha() and 2 <= len(tag) <= 3 else None


def detect_language(text: str, hint: str | None = None) -> str | None:
    """The article's language: the hint if valid, else a guess, else None."""
    tag = normalize_tag(hint)
    if tag:
        return tag
    sample = text[:2000]
    letters = [c for c in sample if c.isalpha()]
    if not letters:
        return None
    counts: dict[str, int] = {}
    for c in letters[:600]:
        if ord(c) < 0x250:
            continue
        name = unicodedata.name(c, "")
        for script, lang in _SCRIPTS:
            if script in name:
                counts[lang] = counts.get(lang, 0) + 1
                break
    if counts:
        lang, n = max(counts.items(), key=lambda kv: kv[1])
        if n > 0.3 * min(len(letters), 600):
            return lang
    words = [w.lower() for w in _WORD.findall(sample)][:200]
    if not words:
        return None
    votes = {lang: sum(w in sw for w in words) for lang, sw in _STOPWORDS.items()}
    best, score = max(votes.items(), key=lambda kv: kv[1])
    return best if score >= max(1, len(words) // 25) else None
