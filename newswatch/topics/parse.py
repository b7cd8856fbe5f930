"""Parse a watch-topic query (Lucene query-string syntax) into a :mod:`~newswatch.topics.nodes` tree.

``luqum`` does the parsing; this module decides what the syntax means and
refuses, with a :class:`TopicSyntaxError` naming the token, its column and a
fix, everything that a Lucene user might write but that we would otherwise
evaluate silently wrong.

Semantics
---------
* Juxtaposition is Lucene's default operator, **OR**: ``russia taliban`` means
  ``russia OR taliban``. ``AND`` binds tighter than ``OR`` (luqum's precedence):
  ``a OR b AND c`` is ``a OR (b AND c)``.
* In a juxtaposed list, Lucene's clause prefixes are honoured: ``+x`` is
  required, ``-x`` and ``NOT x`` are excluded, plain clauses are optional once
  any clause is required (``+a b -c`` matches ``a AND NOT c``; ``b`` only adds
  score), otherwise at least one plain clause must match (``a b -c`` is
  ``(a OR b) AND NOT c``).
* ``NOT`` is the logical complement of its operand. ``a AND NOT b`` is what it
  says, and so is ``a OR NOT b`` (a, or anything without b; Lucene itself would
  read this as ``a AND NOT b``). ``+x``/``-x`` inside an explicit ``OR`` are
  ambiguous for the same reason and are refused.
* A query that is only negative (``NOT x``, ``-x``) matches every story
  without ``x``.
* Unfielded terms search ``title`` OR ``text``. Words and phrases on text
  fields are tokenized with :func:`newswatch.fields.tokenize`, so a word that
  splits (``U.S.``, ``Pompeo's``, ``a-b``) becomes an exact phrase
  (``"u s"``, ``"pompeo s"``, ``"a b"``).
* Keyword fields (``source``, ``lang``, ``topic``, ``cluster``) and entity
  fields (``person:``, ``gpe:``... and ``entity:`` for any label) compare one
  whole lower-cased value exactly (``gpe:Russia``, ``person:"Maria Zakharova"``);
  ``value*`` is a prefix of that value.
* ``term^2`` multiplies the score of what it wraps; a topic's score is the sum of
  the boosts of the positive clauses that fired.
* ``"a b"~N`` is a sloppy phrase: see :class:`newswatch.topics.nodes.Phrase`.

Not supported (refused with an explanation): ranges ``[a TO b]``, ``>x``,
fuzzy ``word~``, regular expressions ``/re/``, ``?`` and inner or leading ``*``
wildcards, a lone ``*``.
"""

from __future__ import annotations

import difflib
import functools
import re
from decimal import Decimal
from typing import NoReturn

from luqum import tree as lt
from luqum.exceptions import ParseError
from luqum.thread import parse as luqum_parse

from newswatch.errors import ConfigError
from newswatch.fields import entity_value, tokenize
from newswatch.topics.nodes import (ALL_FIELDS, MAX_PHRASE_VARIANTS, And, Boost, Node, Not, Or, Phrase,
                                    Prefix, Term, field_kind, phrase_variant_bound)

_EXAMPLE = 'e.g. gpe:Russia AND (bounty OR "paid to kill")'


class TopicSyntaxError(ConfigError):
    """A watch-topic query that can't be used, with the offending token and the fix.

    ``column`` is 1-based within the query string; ``token`` is the text at fault;
    ``suggestion`` says what to write instead (also ``fix``, as on any
    :class:`~newswatch.errors.ConfigError`). ``path``/``line``/``key`` locate the
    query in a topics file once known (see :meth:`located`).
    """

    def __init__(self, message: str, *, query: str, token: str, column: int, suggestion: str,
                 path: str | None = None, line: int | None = None, key: str | None = None) -> None:
        self.query, self.token, self.column, self.suggestion = query, token, column, suggestion
        self.message = message
        shown = f" at column {column}" + (f" ({token!r})" if token else "")
        super().__init__(message + shown + ".", path=path, line=line, key=key, fix=suggestion)

    def located(self, *, path: str | None = None, line: int | None = None,
                key: str | None = None) -> "TopicSyntaxError":
        """The same error, placed in a file (``path:line key``)."""
        return TopicSyntaxError(self.message, query=self.query, token=self.token, column=self.column,
                                suggestion=self.suggestion, path=path, line=line, key=key)

    def __reduce__(self):  # picklable (Beam ships errors between workers)
        return (_rebuild, (self.message, self.query, self.token, self.column, self.suggestion,
                           self.path, self.line, self.key))


def _rebuild(message, query, token, column, suggestion, path, line, key) -> TopicSyntaxError:
    return TopicSyntaxError(message, query=query, token=token, column=column, suggestion=suggestion,
                            path=path, line=line, key=key)


# ------------------------------------------------------------------ helpers
class _Ctx:
    """The query being parsed, to raise errors with a column."""

    def __init__(self, query: str) -> None:
        self.query = query

    def fail(self, message: str, pos: int | None, token: str, suggestion: str) -> NoReturn:
        col = (pos or 0) + 1
        raise TopicSyntaxError(message, query=self.query, token=token, column=col, suggestion=suggestion)

    def text_of(self, item: lt.Item) -> str:
        pos, size = getattr(item, "pos", None), getattr(item, "size", None)
        if pos is not None and size is not None:
            return self.query[pos:pos + size].strip()
        return str(item).strip()


def _prescan(ctx: _Ctx) -> None:
    """Find unbalanced quotes and parentheses before luqum does (its messages are vague)."""
    q = ctx.query
    in_quote: int | None = None
    opens: list[int] = []
    i = 0
    while i < len(q):
        ch = q[i]
        if ch == "\\":
            i += 2
            continue
        if in_quote is not None:
            if ch == '"':
                in_quote = None
        elif ch == '"':
            in_quote = i
        elif ch == "(":
            opens.append(i)
        elif ch == ")":
            if not opens:
                ctx.fail("unbalanced parenthesis: ')' closes nothing", i, ")",
                         "remove this ')' or add the '(' that it should close.")
            opens.pop()
        i += 1
    if in_quote is not None:
        ctx.fail("unbalanced quote: this phrase is never closed", in_quote, q[in_quote:in_quote + 20],
                 "close the phrase with a second '\"' (or escape a literal quote as \\\").")
    if opens:
        ctx.fail("unbalanced parenthesis: '(' is never closed", opens[-1], "(",
                 "add the matching ')' (or remove this '(').")


_LUQUM_POS = re.compile(r"position (\d+)")
_LUQUM_TOKEN = re.compile(r"unexpected\s+'([^']*)'")
_OPERATORS = ("AND", "OR", "NOT", "TO")


def _luqum_error(ctx: _Ctx, exc: Exception) -> NoReturn:
    msg = str(exc)
    m = _LUQUM_POS.search(msg)
    tok = _LUQUM_TOKEN.search(msg)
    if "end of expression" in msg or "at the end" in msg:
        words = ctx.query.split()
        last = words[-1] if words else ""
        ctx.fail("the query ends where a term is expected", len(ctx.query.rstrip()) - len(last), last,
                 f"add a term after {last!r} or remove it ({_EXAMPLE}).")
    pos = int(m.group(1)) if m else 0
    token = tok.group(1) if tok else ctx.query[pos:pos + 10].split(" ")[0]
    if token.upper() in ("AND", "OR"):
        ctx.fail(f"operator {token!r} needs a term on each side", pos, token,
                 f"put a term before and after {token} ({_EXAMPLE}).")
    if token.startswith(":") or token == ":":
        ctx.fail("a ':' needs a field name before it and a value after it", pos, token,
                 r"write field:value, or escape a literal colon as '\:' or quote the text.")
    ctx.fail(f"cannot parse the query here: {msg}", pos, token,
             f"check the syntax near this token ({_EXAMPLE}).")


def _unescape(value: str) -> tuple[str, list[int], list[int]]:
    """Remove backslash escapes; return the text and the indexes of unescaped ``*`` and ``?``."""
    out: list[str] = []
    stars: list[int] = []
    qmarks: list[int] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            out.append(value[i + 1])
            i += 2
            continue
        if ch == "*":
            stars.append(len(out))
        elif ch == "?":
            qmarks.append(len(out))
        out.append(ch)
        i += 1
    return "".join(out), stars, qmarks


def _value(field: str, raw: str) -> str:
    if field_kind(field) == "entity":
        return entity_value(raw)
    return " ".join(raw.split()).lower()


# --------------------------------------------------------------- conversion
class _Converter:
    def __init__(self, ctx: _Ctx) -> None:
        self.ctx = ctx

    # entry point for any luqum item, in the scope of ``field`` (None: default fields)
    def convert(self, item: lt.Item, field: str | None) -> Node:
        ctx = self.ctx
        if isinstance(item, lt.SearchField):
            name = item.name
            if name not in ALL_FIELDS:
                close = difflib.get_close_matches(name.lower(), ALL_FIELDS, n=1, cutoff=0.6)
                hint = (f"did you mean '{close[0]}:'?" if close else
                        r"escape the colon ('\:') or quote the text if it is not a field;")
                ctx.fail(f"unknown field '{name}'", item.pos, name + ":",
                         f"{hint} Fields: {', '.join(ALL_FIELDS)}.")
            if field is not None and field != name:
                ctx.fail(f"field '{name}:' inside '{field}:'", item.pos, name + ":",
                         f"use one field per clause, e.g. {field}:(...) OR {name}:(...).")
            return self.convert(item.expr, name)
        if isinstance(item, (lt.Group, lt.FieldGroup)):
            return self.convert(item.expr, field)
        if isinstance(item, lt.AndOperation):
            return _and([self.clause(c, field, in_or=False) for c in item.children])
        if isinstance(item, lt.OrOperation):
            return _or([self.clause(c, field, in_or=True) for c in item.children])
        if isinstance(item, lt.UnknownOperation):
            return self.implicit(item, field)
        if isinstance(item, lt.Plus):
            return self.convert(item.a, field)
        if isinstance(item, (lt.Prohibit, lt.Not)):
            return Not(self.convert(item.a, field))
        if isinstance(item, lt.Boost):
            force = item.force
            factor = float(force) if isinstance(force, (int, float, Decimal)) else float(str(force))
            if factor < 0:
                ctx.fail("a boost must not be negative", item.pos, ctx.text_of(item), "use ^0 or more.")
            return Boost(self.convert(item.expr, field), factor)
        if isinstance(item, lt.Proximity):
            return self.phrase(item.term, field, slop=item.degree, item=item)
        if isinstance(item, lt.Phrase):
            return self.phrase(item, field, slop=0, item=item)
        if isinstance(item, lt.Fuzzy):
            word = ctx.text_of(item)
            ctx.fail("fuzzy matching ('word~') is not supported", item.pos, word,
                     f"list the spellings you want, e.g. ({item.term.value} OR ...), or use a prefix "
                     f"({item.term.value}*); to search near words write a quoted phrase \"a b\"~N.")
        if isinstance(item, lt.Regex):
            ctx.fail("regular expressions ('/.../') are not supported", item.pos, item.value,
                     "use words, \"phrases\" or a prefix (stem*).")
        if isinstance(item, (lt.Range, lt.From, lt.To)):
            ctx.fail("range queries are not supported", item.pos, ctx.text_of(item),
                     "topics match words and entities; remove the range (filter dates in the search UI).")
        if isinstance(item, lt.Word):
            return self.word(item, field)
        ctx.fail(f"unsupported syntax ({type(item).__name__})", getattr(item, "pos", 0), ctx.text_of(item),
                 f"rewrite it with AND/OR/NOT, words, \"phrases\" and field:value ({_EXAMPLE}).")

    def clause(self, item: lt.Item, field: str | None, *, in_or: bool) -> Node:
        """A child of an explicit AND/OR."""
        if in_or and isinstance(item, (lt.Plus, lt.Prohibit)):
            sign = "+" if isinstance(item, lt.Plus) else "-"
            fix = ("write 'a AND b' (required) instead of '+'" if sign == "+"
                   else "write 'a AND NOT b' to exclude, or 'a OR (NOT b)' for 'a, or anything without b'")
            self.ctx.fail(f"'{sign}' inside an OR is ambiguous (Lucene applies it to the whole group)",
                          item.pos, self.ctx.text_of(item), fix + ".")
        return self.convert(item, field)

    def implicit(self, item: lt.UnknownOperation, field: str | None) -> Node:
        """Juxtaposed clauses: Lucene's default operator OR, with +required and -excluded."""
        ctx = self.ctx
        for child in item.children:
            if isinstance(child, lt.Word) and child.value.lower() in ("and", "or", "not") \
                    and child.value != child.value.upper():
                up = child.value.upper()
                ctx.fail(f"'{child.value}' is searched as a word, not used as an operator (operators are "
                         "upper case)", child.pos, child.value,
                         f"write {up} in upper case; to search the word itself, quote it: \"{child.value}\".")
        required: list[Node] = []  # +x and -x/NOT x, in the order written
        must_not: list[Node] = []
        should: list[Node] = []
        has_must = False
        for child in item.children:
            if isinstance(child, lt.Plus):
                has_must = True
                required.append(self.convert(child.a, field))
            elif isinstance(child, (lt.Prohibit, lt.Not)):
                node = Not(self.convert(child.a, field))
                required.append(node)
                must_not.append(node)
            else:
                should.append(self.convert(child, field))
        if has_must:
            return _and(required, optional=should)
        if should and must_not:
            return _and([_or(should), *must_not])
        if should:
            return _or(should)
        return _and(must_not)

    def word(self, item: lt.Word, field: str | None) -> Node:
        ctx = self.ctx
        raw = item.value
        if raw in ("&&", "||") or raw.startswith("!"):
            op = {"&&": "AND", "||": "OR"}.get(raw, "NOT")
            ctx.fail(f"'{raw[:2]}' is not an operator here", item.pos, raw,
                     f"write {op} (upper case), e.g. a {op} b." if op != "NOT" else "write NOT word.")
        text, stars, qmarks = _unescape(raw)
        if raw == "*" or (stars == [0] and len(text) == 1):
            ctx.fail("a lone '*' would match every story", item.pos, raw,
                     "name a word, phrase or field:value; to watch everything except x, write NOT x.")
        if (stars and stars[0] == 0) or (qmarks and qmarks[0] == 0):
            ctx.fail("leading wildcards ('*foo') are not supported", item.pos, raw,
                     f"write the word out, or list the variants ({text.strip('*?')} OR ...); only a "
                     "trailing '*' (prefix) is supported.")
        if qmarks:
            ctx.fail("the single-character wildcard '?' is not supported", item.pos, raw,
                     f"use a prefix ({text[:qmarks[0]]}*) or list the spellings.")
        if stars and (stars != [len(text) - 1]):
            ctx.fail("wildcards inside a word are not supported; only a trailing '*' (prefix) is", item.pos, raw,
                     f"use the prefix {text[:stars[0]]}* or list the variants.")
        fld = field
        kind = field_kind(fld)
        if stars:  # prefix
            stem = text[:-1]
            if kind == "text":
                toks = tokenize(stem)
                if len(toks) != 1 or toks[0].start != 0 or toks[0].end != len(stem):
                    ctx.fail("a prefix must be one word of letters and digits", item.pos, raw,
                             "drop the punctuation, or quote the exact phrase instead of using '*'.")
                return Prefix(toks[0].text, fld)
            value = _value(fld, stem)
            if not value:
                ctx.fail("a lone '*' would match every story", item.pos, raw,
                         f"give the start of a {fld} value, e.g. {fld}:abc*.")
            return Prefix(value, fld)
        return self.text_or_value(text, fld, item, slop=0)

    def phrase(self, term: lt.Item, field: str | None, *, slop, item: lt.Item) -> Node:
        ctx = self.ctx
        if not isinstance(term, lt.Phrase):
            ctx.fail("proximity '~N' applies to a quoted phrase", item.pos, ctx.text_of(item),
                     'write "word1 word2"~N.')
        try:
            slop_int = int(slop)
        except (TypeError, ValueError):
            ctx.fail("proximity must be a whole number", item.pos, ctx.text_of(item), 'write "a b"~3.')
        if slop_int != Decimal(str(slop)) or slop_int < 0:
            ctx.fail("proximity must be a whole number", item.pos, ctx.text_of(item), 'write "a b"~3.')
        inner = term.value[1:-1]
        text, stars, qmarks = _unescape(inner)
        if field_kind(field) == "text" and (stars or qmarks):
            ctx.fail("wildcards inside quotes are not supported", term.pos, term.value,
                     "take the word out of the phrase and use a prefix: \"a b\" AND stem*.")
        return self.text_or_value(text, field, term if not slop_int else item, slop=slop_int)

    def text_or_value(self, text: str, field: str | None, item: lt.Item, *, slop: int) -> Node:
        ctx = self.ctx
        kind = field_kind(field)
        if kind != "text":
            if slop:
                ctx.fail(f"proximity '~' does not apply to {field}: values (they match whole)", item.pos,
                         ctx.text_of(item), f"remove the ~{slop}.")
            value = _value(field, text)
            if not value:
                ctx.fail(f"empty {field}: value", item.pos, ctx.text_of(item), f"write {field}:value.")
            return Term(value, field)
        toks = [t.text for t in tokenize(text)]
        if not toks:
            ctx.fail("nothing searchable here (no letters or digits, or only words over 40 bytes)", item.pos,
                     ctx.text_of(item), "search for words with letters or digits.")
        if len(toks) == 1:
            return Term(toks[0], field)
        if slop and phrase_variant_bound(len(toks), slop) > MAX_PHRASE_VARIANTS and \
                (len(toks) > 2 or len(set(toks)) < 2):
            limit = max(s for s in range(1, 64) if phrase_variant_bound(len(toks), s) <= MAX_PHRASE_VARIANTS) \
                if phrase_variant_bound(len(toks), 1) <= MAX_PHRASE_VARIANTS else 0
            ctx.fail(f"proximity ~{slop} over {len(toks)} words is too wide to search consistently", item.pos,
                     ctx.text_of(item),
                     (f"use at most ~{limit} for {len(toks)} words, " if limit else "")
                     + "or split it into pairs: \"a b\"~N AND \"b c\"~N.")
        return Phrase(tuple(toks), field, slop)


def _and(children: list[Node], optional: list[Node] | tuple[Node, ...] = ()) -> Node:
    flat: list[Node] = []
    for c in children:
        if isinstance(c, And) and not c.optional:
            flat.extend(c.children)
        else:
            flat.append(c)
    if len(flat) == 1 and not optional:
        return flat[0]
    return And(tuple(flat), tuple(optional))


def _or(children: list[Node]) -> Node:
    flat: list[Node] = []
    for c in children:
        if isinstance(c, Or):
            flat.extend(c.children)
        else:
            flat.append(c)
    return flat[0] if len(flat) == 1 else Or(tuple(flat))


# ------------------------------------------------------------------- public
#: Parsed trees kept for reuse (luqum's parser costs ~0.3 ms a query; a hot reload of a
#: large topics file re-parses only the queries that changed). Trees are immutable.
PARSE_CACHE_SIZE = 262_144


def parse_query(query: str) -> Node:
    """Parse one topic query into a :data:`~newswatch.topics.nodes.Node` tree.

    Raises :class:`TopicSyntaxError` with the offending token, its (1-based)
    column and a suggested fix. Results are cached by query string (errors are not).
    """
    return _parse_cached(query if isinstance(query, str) else str(query))


@functools.lru_cache(maxsize=PARSE_CACHE_SIZE)
def _parse_cached(query: str) -> Node:
    ctx = _Ctx(query)
    if not ctx.query.strip():
        ctx.fail("the query is empty", 0, "", f"write at least one term, {_EXAMPLE}.")
    _prescan(ctx)
    try:
        tree = luqum_parse(ctx.query)
    except ParseError as exc:
        _luqum_error(ctx, exc)
    except ValueError as exc:  # luqum: int("1.5") on a proximity
        m = re.search(r"~\s*([0-9.]+)", ctx.query)
        if m and "int()" in str(exc):
            ctx.fail("proximity must be a whole number", m.start(), m.group(0), 'write "a b"~3.')
        _luqum_error(ctx, exc)
    except ArithmeticError:  # luqum: Decimal() of a malformed number after '^' or '~', such as '^.'
        for m in re.finditer(r"[\^~]([^\s()\"]*)", ctx.query):
            if not re.fullmatch(r"\d+(\.\d+)?", m.group(1)):
                if m.group(0).startswith("^"):
                    ctx.fail("a boost must be a number", m.start(), m.group(0), "write word^2 or (group)^0.5.")
                ctx.fail("a number must follow '~'", m.start(), m.group(0), 'write "a b"~3 for words near each other.')
        ctx.fail("malformed number in the query", 0, ctx.query[:10], "boosts are word^2, proximity is \"a b\"~3.")
    return _Converter(ctx).convert(tree, None)


def check_query(query: str) -> TopicSyntaxError | None:
    """The syntax error of ``query``, or None when it parses."""
    try:
        parse_query(query)
    except TopicSyntaxError as exc:
        return exc
    return None
