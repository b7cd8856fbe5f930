"""Exception types with messages written for the person who has to fix them."""

from __future__ import annotations


class NewswatchError(Exception):
    """Base class of all errors newswatch raises on purpose."""


class ConfigError(NewswatchError):
    """A configuration file or setting is invalid.

    The message names the file, the line and key where known, what is wrong and
    how to fix it, e.g. ``config/topics.yaml:7 topics[1].query: unbalanced quote
    ... Fix: close the phrase with a second '"'``.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 key: str | None = None, fix: str | None = None) -> None:
        self.path, self.line, self.key, self.fix, self.detail = path, line, key, fix, message
        where = ""
        if path:
            where = f"{path}:{line}" if line else str(path)
        if key:
            where = f"{where} {key}" if where else key
        text = f"{where}: {message}" if where else message
        if fix:
            text += f" Fix: {fix}"
        super().__init__(text)


class MissingDependencyError(NewswatchError):
    """An optional backend was selected but its package is not installed."""


class ModelNotFoundError(NewswatchError):
    """The configured spaCy model is not installed."""
