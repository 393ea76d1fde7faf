"""The Rego frontend: source text to `ir.Module`.

Owns the lark parser (built once per process from `grammars/rego.lark`), the post-lexer
that gives line breaks their meaning, and the mapping of lark's errors to
`rego_parse_error` diagnostics with hints for common mistakes. The lowering of grammar
rules to IR lives in `lower`; everything about meaning is left to `compile`.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from pathlib import Path
from typing import ClassVar

from lark import Lark, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from policydiff import ir
from policydiff.errors import Code, Diagnostic, PolicyError
from policydiff.frontend import fastpath
from policydiff.frontend.lower import Inline, Lower
from policydiff.source import Source, Span

# `policydiff/grammars` links to the repository's `grammars/`, so the grammar ships in the
# wheel as package data and an editable install reads the file reviewers edit.
GRAMMAR = Path(__file__).resolve().parents[1] / "grammars" / "rego.lark"


MAX_NESTING = 1000  # brackets open at once; README.md, Limits


class _LineBreaks:
    """Post-lexer: retypes `[`, `(` and `-` that open a line, `[` and `(` after a term and
    a blank (OPA reads a new term there, not an index or a call), a `.` with a blank on
    either side (to a type no rule takes: OPA refuses it), `{` after `if`, and the `|`
    that is a comprehension bar; refuses nesting deeper than `MAX_NESTING` (later passes
    recurse over the nesting). Keeps the last token in `_AHEAD` for `_Parse._glued`."""

    always_accept = ()
    _AT_LINE_START: ClassVar[dict[str, str]] = {"LSQB": "_NL_LSQB", "LPAR": "_NL_LPAR", "MINUS": "_NL_MINUS"}
    _OPEN: ClassVar[frozenset[str]] = frozenset({"LSQB", "LPAR", "LBRACE"})
    _CLOSE: ClassVar[frozenset[str]] = frozenset({"RSQB", "RPAR", "RBRACE"})
    _AFTER_BLANK: ClassVar[dict[str, str]] = {"LSQB": "_NL_LSQB", "LPAR": "_NL_LPAR"}

    def process(self, stream):
        prev = None
        frames: list[_Frame] = []
        at_line_start, closers, keywords = self._AT_LINE_START, self._CLOSE, _KEYWORD_TYPES
        openers = self._OPEN | _OPENERS
        after_blank, term_end = self._AFTER_BLANK, _TERM_END
        ahead, dots = _AHEAD, ("DOT", "_BLANK_DOT")
        for tok in stream:
            t = tok.type
            if prev is not None:
                if tok.start_pos != prev.end_pos:  # blanks or a comment between
                    if t in at_line_start and tok.line > prev.end_line:
                        t = tok.type = at_line_start[t]
                    elif t in after_blank and prev.type in term_end:  # `a [0]`, `f (x)`: a new term
                        t = tok.type = after_blank[t]
                    elif t == "DOT":  # `input .x`: no reference; the parser refuses it
                        t = tok.type = "_BLANK_DOT"
                    elif prev.type in dots:  # `input. x`
                        t = tok.type = "_AFTER_BLANK_DOT"
                    elif t == "LBRACE" and prev.type == "_IF":
                        t = tok.type = "_IF_LBRACE"
                elif prev.type in keywords and _continues_word(tok):
                    raise PolicyError.at(
                        Code.REGO_PARSE_ERROR, f"unexpected `{prev}{tok}`",
                        Span(file=_LOWER.file, line=prev.line, col=prev.column,
                             end_line=tok.end_line, end_col=tok.end_column),
                        help=f"`{prev}` is a keyword here: separate it from the name with a blank")
                elif t == "LBRACE" and prev.type == "_IF":
                    t = tok.type = "_IF_LBRACE"
            if frames and frames[-1].kind != "done":  # a settled bracket sees no more
                frames[-1].see(tok)
                t = tok.type
            if t in openers:
                if len(frames) >= MAX_NESTING:
                    raise PolicyError.at(Code.TOO_DEEP, f"more than {MAX_NESTING} brackets open at once",
                                         Span(file=_LOWER.file, line=tok.line, col=tok.column,
                                              end_line=tok.line, end_col=tok.column + 1))
                frames.append(_Frame(t, prev))
            elif t in closers and frames:
                frames.pop()
            prev = ahead[0] = tok  # the parser's lookahead while it reduces (`_glued`)
            yield tok


_AHEAD: list = [None]  # the token the post-lexer gave last (parses take turns: `_LOCK`)


class _Parse(Inline):
    """The transformer lark runs: `Inline` plus the separator check."""


    def _glued(self, children):
        """A literal follows another with no `;` between: refused unless a line break
        separates them (only blanks may stand between the line break and the literal:
        a comment runs to the end of its line)."""
        tok = _AHEAD[0]
        text, i = _TEXT[0], tok.start_pos - 1
        while i >= 0 and text[i] in " \t\f":
            i -= 1
        if i < 0 or text[i] not in "\r\n":
            raise PolicyError.at(
                Code.REGO_PARSE_ERROR, f"unexpected `{tok}`: expected a line break or `;` before it",
                Span(file=_LOWER.file, line=tok.line, col=tok.column, end_line=tok.line,
                     end_col=tok.column + max(len(str(tok)) if tok.line == tok.end_line else 1, 1)),
                help="two literals on one line are separated by `;`")
        return Tree("_glued", [])


# A keyword token, and a test of whether a token that follows it without a blank
# continues its word: lark's contextual lexer, in a state that accepts a keyword but no
# name, reads `packagelse` as `package` `lse`, where OPA reads one name (and refuses it).
_KEYWORD_TYPES = frozenset(fastpath._KEYWORDS.values())


_WORD_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _continues_word(tok) -> bool:
    return tok[:1] in _WORD_START


# Tokens that open a bracket after the post-lexer's retyping, and those that end a term
# (a `[` after one indexes, a `{` after one opens an `every` body or a v0 rule body).
_OPENERS = frozenset({"_NL_LSQB", "_NL_LPAR", "_IF_LBRACE"})
_TERM_END = frozenset({"NAME", "STRING", "RAW_STRING", "NUMBER", "TRUE", "FALSE", "NULL",
                       "RSQB", "RPAR", "RBRACE"})
# Tokens that may continue a single term (OPA's `parseTerm`): a comprehension's head, and
# an object comprehension's key and value, are one term each, directly followed by `|`.
_IN_TERM = _TERM_END | {"DOT", "LSQB", "LPAR", "LBRACE", "_NL_LSQB", "_NL_LPAR"}


class _Frame:
    """One open bracket, seen by the post-lexer: whether a `|` at its top level is the
    comprehension bar. OPA reads `[t | …`, `{t | …` and `{k: v | …` as comprehensions
    when `t`, `k` and `v` are single terms, nothing else precedes the `|` and what
    follows it can be a body (`_body_follows`); any other `|` is a set union (`{"a": {1} | {2}, "b": 1}`, `[1, a | b]`). A `{` after `if`
    opens a rule body unless a `:` follows its first term: then it is an object."""

    __slots__ = ("kind", "started")

    def __init__(self, kind: str, prev):
        after_term = prev is not None and prev.type in _TERM_END
        if kind == "_IF_LBRACE":
            self.kind = "if"
        elif kind == "_NL_LSQB" or (kind in ("LSQB", "LBRACE") and not after_term):
            self.kind = "literal"
        else:  # a call, an index, a parenthesis, an `every` or v0 rule body
            self.kind = "done"
        self.started = False  # the current single term (head, key or value) has a token

    def see(self, tok) -> None:  # a token at this bracket's top level (or a nested opener)
        if self.kind == "done":
            return
        t = tok.type
        if t in _IN_TERM or (t in ("MINUS", "_NL_MINUS") and not self.started):
            self.started = True
        elif t == "COLON" and self.started:
            self.kind, self.started = "literal", False
        elif t == "OR" and self.kind == "literal" and self.started:
            if _body_follows(_TEXT[0], tok.end_pos):
                tok.type = "_BAR"
            self.kind = "done"
        else:  # a `,`, an operator: no comprehension here
            self.kind = "done"


def _body_follows(text: str, pos: int) -> bool:
    """Whether the text after a candidate comprehension bar, up to its closing bracket,
    can be a body. OPA tries the body and falls back to a literal when it does not
    parse: `{"a": {1} | {2}, "b": 3}` is an object, `{k: v | some k, v in o}` a
    comprehension. A body has no top-level `,` except in `some`/`every`/`k, v in xs`."""
    depth, comma, has_in, word = 0, False, False, []
    lead = None  # the first word of the current literal (`some x, y` declares)
    i, n = pos, len(text)
    while i < n:
        c = text[i]
        if c.isalnum() or c == "_":
            word.append(c)
            i += 1
            continue
        if word:
            w = "".join(word)
            has_in = has_in or (depth == 0 and w == "in")
            if depth == 0 and lead is None:
                lead = w
            word = []
        if c == '"':
            i += 1
            while i < n and text[i] not in '"\n':
                i += 2 if text[i] == "\\" else 1
        elif c == "`":
            i = text.find("`", i + 1) % (n + 1)
        elif c == "#":
            i = text.find("\n", i) % (n + 1) - 1
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and c in ";\n":
            if comma and not has_in and lead != "some":
                return False
            comma = has_in = False
            lead = None
        elif depth == 0 and c == ",":
            comma = True
        elif depth == 0 and lead is None and not c.isspace():
            lead = ""  # the literal starts with no word
        i += 1
    return not (comma and not has_in and lead != "some")


_TEXT = [""]  # the text being parsed, for `_body_follows` (parses take turns: `_LOCK`)
_LOCK = threading.RLock()  # one embedded transformer per process: parses take turns


@functools.cache
def _parser() -> Lark:
    # The transformer runs inside the LALR parser (no parse tree is built, and lark's
    # position propagation, which costs as much as parsing, is off): `Inline` gives
    # each IR node the span its children cover.
    return Lark(
        GRAMMAR.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        postlex=_LineBreaks(),
        start=["module", "query"],
        maybe_placeholders=False,
        transformer=_Parse(_LOWER),
        cache=_cache_file(),
    )


def _cache_file() -> str | bool:
    """Lark's analysed tables, kept between processes (the CLI starts fresh each time)."""
    import tempfile

    try:
        import lark

        d = Path(tempfile.gettempdir()) / f"policydiff-{os.getuid() if hasattr(os, 'getuid') else 0}"
        d.mkdir(mode=0o700, exist_ok=True)
        digest = hashlib.sha256(GRAMMAR.read_bytes() + lark.__version__.encode()).hexdigest()[:16]
        return str(d / f"rego-{digest}.lark-cache")
    except OSError:
        return False


def parse(source: Source) -> ir.Module:
    """Parse and lower one Rego module; raises `PolicyError` with every diagnostic."""
    return _lower(source, "module")


def parse_collecting(source: Source, *, fast: bool = True) -> tuple[ir.Module | None, list[Diagnostic]]:
    """Parse one module, returning its diagnostics instead of raising them, so that a
    caller can go on to report what later passes find as well. The module is `None`
    when the text does not parse; otherwise the constructs the diagnostics name are
    left out of it. `fast=False` runs lark's own lexer and parser loop instead of the
    fast path (`fastpath`), with the same result: benches and tests compare the two."""
    with _LOCK:
        _LOWER.reset(source.name)
        try:
            module = _run(source, "module", fast)
        except PolicyError as e:
            return None, list(e.diagnostics)
        return module, list(_LOWER.diags)


def parse_query(text: str, name: str = "<query>") -> tuple[ir.Literal, ...]:
    """Parse a query: a body of literals, as `opa eval` takes it."""
    return _lower(Source(name=name, text=text), "query")


def _lower(source: Source, start: str):
    with _LOCK:
        _LOWER.reset(source.name)
        result = _run(source, start)
        diags = list(_LOWER.diags)
    if diags:
        raise PolicyError(diags)
    return result


# ------------------------------------------------------------------------- parse errors

# Common mistakes and the hint each gets (a missing `if` is caught by the grammar itself).
_EXAMPLES = {
    "`package` declaration is required first": ["allow if { true }", "import rego.v1"],
    "rule bodies need `{ ... }` or a single expression after `if`": ["package p\nallow if"],
    "use `==` to compare and `:=` to assign inside a body; `=` here is out of place": [
        "package p\nallow if { x := 1 = 2 }",
    ],
    "a reference's `.` takes no blank before or after it (`input.x`)": [
        "package p\nx := input .a", "package p\nx := input. a",
        "package p\nallow if { input .a }", "package p\nallow if { input. a }",
        "package a .b", "package a. b", "package p\nimport data .x", "package p\nimport data. x",
    ],
}


def _parse_text(text: str, start: str, fast: bool = True):
    _TEXT[0] = text
    if fast:
        try:
            return fastpath.parse(_tables(), text, start, _LineBreaks())
        except fastpath.Fallback:  # an error (or a text the fast path cannot take): lark's turn
            _LOWER.reset(_LOWER.file)
    return _parser().parse(text, start=start)


@functools.cache
def _tables() -> fastpath.Tables:
    return fastpath.Tables(_parser())


def _run(source: Source, start: str, fast: bool = True):
    try:
        return _parse_text(source.text, start, fast)
    except UnexpectedInput as e:
        raise PolicyError(_parse_diagnostic(source, e, start)) from None


def _parse_diagnostic(source: Source, e: UnexpectedInput, start: str) -> Diagnostic:
    line, col = getattr(e, "line", 0) or 0, getattr(e, "column", 0) or 0
    width = 1
    if isinstance(e, UnexpectedToken) and e.token is not None and e.token.type != "$END":
        width = max(len(str(e.token)), 1)
        what = f"unexpected `{e.token}`"
    elif isinstance(e, UnexpectedCharacters):
        what = f"unexpected character `{source.text[e.pos_in_stream]}`"
    else:
        what = "unexpected end of input"
        lines = source.text.splitlines() or [""]
        line, col = len(lines), len(lines[-1]) + 1
    hint = None
    if start == "module":
        try:
            hint = e.match_examples(lambda text: _parse_text(text, "module"), _EXAMPLES,
                                    use_accepts=True)
        except (UnexpectedInput, PolicyError, ValueError):  # no example fits: no hint
            hint = None
    if hint is None and isinstance(e, UnexpectedToken):
        expected = sorted(_pretty(t) for t in e.accepts or e.expected)
        if expected and len(expected) <= 6:
            hint = "expected " + ", ".join(expected)
    message = f"{what}: {hint}" if hint and hint.startswith("`") else what
    help_ = None if message.endswith(hint or "\0") else hint
    return Diagnostic(
        code=Code.REGO_PARSE_ERROR, message=message,
        span=Span(file=source.name, line=line, col=col, end_line=line, end_col=col + width),
        help=help_,
    )


def _pretty(terminal: str) -> str:
    names = {"NAME": "a name", "STRING": "a string", "NUMBER": "a number", "_IF": "`if`",
             "RBRACE": "`}`", "RSQB": "`]`", "RPAR": "`)`", "LBRACE": "`{`", "COMMA": "`,`"}
    return names.get(terminal, f"`{terminal.lower().lstrip('_')}`")


_LOWER = Lower()
