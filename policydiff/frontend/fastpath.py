"""The fast path of the Rego parser: a tokenizer written for `grammars/rego.lark` and an
LALR loop over the tables lark computed for it.

Lark's own lexer and parser loop cost most of a large policy's parse (a method call,
a lexer-state object and a regex alternation per token). This room does the same work
in two tight loops: one regular expression finds every token, the parser state in hand
decides what lark's contextual lexer decides (a keyword or `:=`/`=` where the state
accepts it, a name or an assignment operator otherwise), the post-lexer
(`rego._LineBreaks`) runs unchanged between them, and the reductions call the same
callbacks lark would. Any text the fast path does not accept raises `Fallback`: the
caller then runs lark itself, which gives the error its diagnostic (or, should the fast
path ever refuse a valid text, parses it). So errors, hints and positions are lark's.
"""

from __future__ import annotations

import re

from lark import Lark, Token
from lark.parse_tree_builder import ChildFilterLALR_NoPlaceholders, ExpandSingleChild
from lark.parsers.lalr_analysis import Shift


class Fallback(Exception):  # a signal, not an error: let lark do it
    """The fast path cannot take this text; lark's parser must."""


# One match per token, with the blanks and comments before it; group names are the
# grammar's terminals (or the text decides: `op`, `word`). Patterns as in
# `grammars/rego.lark`.
_TRIVIA = r"(?:[ \t\r\n\f]++|#[^\n]*+)*+"  # possessive: never given back
_TOKEN = re.compile(
    _TRIVIA
    + r"(?:(?P<word>[a-zA-Z_][a-zA-Z0-9_]*)"
    r"|(?P<NUMBER>(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)"
    r'|(?P<STRING>"(?:\\.|[^"\\\n])*")'
    r"|(?P<RAW_STRING>`[^`]*`)"
    r"|(?P<op>:=|==|!=|<=|>=|[<>|&+\-*/%{}()\[\].,:;=])"
    r"|(?P<eof>\Z))"  # the blanks and comments that end the text
)
_KINDS = (None, *sorted(_TOKEN.groupindex, key=_TOKEN.groupindex.get))

# Words the grammar reserves where its state accepts them (lark's contextual lexer
# turns a NAME into the keyword only then).
_KEYWORDS = {
    "if": "_IF", "else": "ELSE", "not": "NOT", "some": "SOME", "every": "EVERY",
    "with": "WITH", "in": "IN", "true": "TRUE", "false": "FALSE", "null": "NULL",
    "package": "PACKAGE", "as": "AS", "import": "IMPORT", "default": "DEFAULT",
    "contains": "CONTAINS",
}
_OPS = {
    "==": "RELOP", "!=": "RELOP", "<=": "RELOP", ">=": "RELOP", "<": "RELOP", ">": "RELOP",
    "|": "OR", "&": "AND", "+": "PLUS", "-": "MINUS", "*": "MULOP", "/": "MULOP",
    "%": "MULOP", "{": "LBRACE", "}": "RBRACE", "(": "LPAR", ")": "RPAR", "[": "LSQB",
    "]": "RSQB", ".": "DOT", ",": "COMMA", ":": "COLON", ";": "SEMICOLON",
}
# `:=` and `=` are the statement operators where accepted, else a rule head's operator.
_ASSIGN = {":=": "__ANON_0", "=": "EQUAL"}


class Tables:
    """Lark's LALR tables for one grammar, in the shape the loop reads: per state, per
    terminal, `(True, next_state)` for a shift or `(False, (size, include, expand,
    callback, rule name))` for a reduction, where lark's wrappers around the callback
    (which children it keeps or splices, whether a single child stands for the rule)
    are spelled out so that the loop applies them without a call each."""

    def __init__(self, lark: Lark):
        parser = lark.parser.parser.parser  # ParsingFrontend -> LALR_Parser -> _Parser
        table, callbacks = parser.parse_table, parser.callbacks
        rules: dict = {}
        self.states: dict[int, dict[str, tuple]] = {}
        for state, row in table.states.items():
            out = {}
            for term, (action, arg) in row.items():
                if action is Shift:
                    out[term] = (True, arg)
                else:
                    if arg not in rules:
                        rules[arg] = (len(arg.expansion), *_unwrap(callbacks[arg]), arg.origin.name)
                    out[term] = (False, rules[arg])
            self.states[state] = out
        self.start_states = dict(table.start_states)
        self.end_states = dict(table.end_states)
        _check_names(lark)


def _check_names(lark: Lark) -> None:
    """The terminal names above are lark's for this grammar (anonymous ones such as
    `__ANON_0` are numbered in grammar order): a grammar edit that renames one fails
    here, at the first parse, rather than mistyping tokens."""
    strings = {t.pattern.value: t.name for t in lark.terminals if t.pattern.type == "str"}
    names = {t.name for t in lark.terminals}
    for text, name in (*_KEYWORDS.items(), *_OPS.items(), *_ASSIGN.items()):
        if strings.get(text, name) != name or name not in names:
            raise RuntimeError(f"fastpath: `{text}` is lark's {strings.get(text)}, not {name}")


def _unwrap(callback) -> tuple:
    """`(include, expand, callback)` from lark's wrapper chain: `include` the kept
    children as `(index, splice)` pairs (None: all, unchanged), `expand` whether one
    child is the result itself."""
    include, expand = None, False
    if type(callback) is ChildFilterLALR_NoPlaceholders:
        include = tuple(callback.to_include)
        callback = callback.node_builder
    if type(callback) is ExpandSingleChild:
        expand = True
        callback = callback.node_builder
    if isinstance(callback, (ChildFilterLALR_NoPlaceholders, ExpandSingleChild)):
        raise TypeError("unexpected lark wrapper chain")  # a lark upgrade: fail loudly
    return include, expand, callback


def _reduce(value_stack: list, state_stack: list, rule: tuple):
    size, include, expand, callback, _ = rule
    if size:
        children = value_stack[-size:]
        del state_stack[-size:]
        del value_stack[-size:]
    else:
        children = []
    if include is not None:
        kept: list = []
        for i, splice in include:
            if not splice:
                kept.append(children[i])
            elif kept:
                kept.extend(children[i].children)
            else:  # a left-recursive list (`rule*`) grows in place, as lark does it
                kept = children[i].children
        children = kept
    if expand and len(children) == 1:
        return children[0]
    return callback(children)


def tokens(text: str, states: dict[int, dict], stack: list[int]):
    """The tokens of `text` as lark's contextual lexer makes them, reading the parser's
    current state from `stack` (the post-lexer sits between: a token is made only when
    the parser has taken the one before)."""
    new, kinds, count, rfind = str.__new__, _KINDS, text.count, text.rfind
    line, line_start = 1, 0
    end = 0
    for m in _TOKEN.finditer(text):
        at = m.start()
        if at != end:  # a character no token starts with
            raise Fallback
        g = m.lastindex
        start, end = m.span(g)
        if start != at:  # blanks or comments came first
            n = count("\n", at, start)
            if n:
                line += n
                line_start = rfind("\n", 0, start) + 1
        kind = kinds[g]
        if kind == "eof":
            return
        value = m.group(g)
        if kind == "word":
            kind = _KEYWORDS.get(value)
            if kind is None or kind not in states[stack[-1]]:
                kind = "NAME"
        elif kind == "op":
            kind = _OPS.get(value)
            if kind is None:
                kind = _ASSIGN[value]
                if kind not in states[stack[-1]]:
                    kind = "_ASSIGN_OP"
        tok = new(Token, value)
        tok.type = kind
        tok.value = value
        tok.start_pos = start
        tok.end_pos = end
        tok.line = tok.end_line = line
        tok.column = start - line_start + 1
        if kind == "RAW_STRING" and "\n" in value:
            line += value.count("\n")
            line_start = start + value.rindex("\n") + 1
            tok.end_line = line
        tok.end_column = end - line_start + 1
        yield tok
    if end != len(text):
        raise Fallback


def parse(tables: Tables, text: str, start: str, postlex):
    """Parse `text` from the rule `start`, calling the grammar's callbacks; `Fallback`
    when lark must take over."""
    states = tables.states
    end_state = tables.end_states[start]
    state_stack = [tables.start_states[start]]
    value_stack: list = []
    push_state, push_value, reduce = state_stack.append, value_stack.append, _reduce
    pop_state = state_stack.pop
    for tok in postlex.process(tokens(text, states, state_stack)):
        kind = tok.type
        while True:
            action = states[state_stack[-1]].get(kind)
            if action is None:
                raise Fallback
            if action[0]:
                push_state(action[1])
                push_value(tok)
                break
            rule = action[1]
            if rule[0] == 1 and rule[2] and rule[1] is None:  # `?a: b`: b stands for a
                pop_state()
            else:
                push_value(reduce(value_stack, state_stack, rule))
            push_state(states[state_stack[-1]][rule[4]][1])
    while True:
        action = states[state_stack[-1]].get("$END")
        if action is None or action[0]:
            raise Fallback
        rule = action[1]
        push_value(reduce(value_stack, state_stack, rule))
        push_state(states[state_stack[-1]][rule[4]][1])
        if state_stack[-1] == end_state:
            return value_stack[-1]
