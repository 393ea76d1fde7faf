"""Lowering: the Rego grammar's rules to IR nodes, called by the parser as it reduces.

`Lower` has one method per grammar rule (or alias) of `grammars/rego.lark`; `Inline`
adapts it to lark's embedded-transformer interface, giving each method the span its
children cover (lark's own position propagation costs as much as parsing). Constructs
the grammar accepts but policydiff does not evaluate become `unsupported` diagnostics;
binary operator chains are grouped here by OPA's precedence.
"""

from __future__ import annotations

import dis
import json
from fractions import Fraction

from lark import Token, Tree

from policydiff import ir
from policydiff.errors import Code, Diagnostic
from policydiff.source import Span

_PRECEDENCE = {"IN": 1, "RELOP": 2, "OR": 3, "AND": 4, "PLUS": 5, "MINUS": 5, "MULOP": 6}
_BINOPS = {
    "==": "equal", "!=": "neq", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte",
    "+": "plus", "-": "minus", "*": "mul", "/": "div", "%": "rem", "&": "and", "|": "or",
}



class _Meta:
    __slots__ = ("column", "empty", "end_column", "end_line", "line")


def _first(c):
    t = type(c)
    if t is Token:
        return c.line, c.column
    if t is tuple or t is list:
        for x in c:
            p = _first(x)
            if p is not None:
                return p
        return None
    sp = getattr(c, "span", None)
    if sp is not None and sp.line:
        return sp.line, sp.col
    return None


def _last(c):
    t = type(c)
    if t is Token:
        return c.end_line, c.end_column
    if t is tuple or t is list:
        for x in reversed(c):
            p = _last(x)
            if p is not None:
                return p
        return None
    sp = getattr(c, "span", None)
    if sp is not None and sp.line:
        return sp.end_line, sp.end_col
    return None


def _meta(children) -> _Meta:
    """The positions `children` cover: `_first` of the first child that has one, `_last`
    of the last (a token child, the common case, is read in place)."""
    m = _Meta()
    for c in children:
        if type(c) is Token:
            m.line, m.column = c.line, c.column
            break
        p = _first(c)
        if p is not None:
            m.line, m.column = p
            break
    else:
        m.empty = True
        return m
    m.empty = False
    for c in reversed(children):
        if type(c) is Token:
            m.end_line, m.end_column = c.end_line, c.end_column
            break
        p = _last(c)
        if p is not None:
            m.end_line, m.end_column = p
            break
    return m


class Inline:
    """Lark's embedded-transformer interface over `Lower`: callback `name(children)`
    calls `Lower.name(meta, children)` with the positions the children span. Rules
    without a method (lark's own `__x_star` helpers) stay trees for lark to splice."""

    def __init__(self, lower: Lower):
        self._lower = lower

    def __getattr__(self, name: str):
        method = getattr(type(self._lower), name, None)
        if method is None or name.startswith("_"):
            raise AttributeError(name)
        lower = self._lower
        if name in _TOKEN_NODES:  # one token child: its span, without `_Meta`
            make = _TOKEN_NODES[name]

            def token_callback(children):
                (tok,) = children
                if type(tok) is not Token:
                    return method(lower, _meta(children), children)
                return make(lower, Span(file=lower.file, line=tok.line, col=tok.column,
                                        end_line=tok.end_line, end_col=tok.end_column), tok)

            return token_callback
        if name == "dot":  # `x.y`, the commonest rule: the term's start, the name's end

            def dot_callback(children):
                term, tok = children
                sp = getattr(term, "span", None)
                if type(tok) is not Token or type(term) in (Token, tuple, list) or sp is None or not sp.line:
                    return method(lower, _meta(children), children)
                return lower._dot(Span(file=lower.file, line=sp.line, col=sp.col, end_line=tok.end_line,
                                       end_col=tok.end_column), term, tok)

            return dot_callback
        if not _reads_meta(method):  # a third of the calls: no positions to gather

            def blind_callback(children):
                return method(lower, None, children)

            return blind_callback

        def callback(children):
            return method(lower, _meta(children), children)

        return callback

    def __default__(self, data, children, meta):
        return Tree(data, children)


def _reads_meta(method) -> bool:
    """Whether a `Lower` method reads its `meta` argument (directly, or from a nested
    function or comprehension)."""
    code = method.__code__
    return "meta" in code.co_cellvars or any(
        "meta" in (i.argval if isinstance(i.argval, tuple) else (i.argval,))  # 3.12's LOAD_FAST_LOAD_FAST
        for i in dis.get_instructions(code) if i.opname.startswith("LOAD"))


# Grammar rules of one token whose node is built from its span and text alone, as
# `Lower.var` and `Lower.string` build them (`tests/test_rego_fastpath.py` compares).
_TOKEN_NODES = {
    "var": lambda lower, span, tok: ir.Var(span=span, name=str(tok)),
    "string": lambda lower, span, tok: ir.Scalar(span=span, value=lower._text(tok, span)),
}


def _span(file: str, meta) -> Span:
    if meta.empty:
        return Span(file=file)
    return Span(file=file, line=meta.line, col=meta.column, end_line=meta.end_line,
                end_col=meta.end_column)


def _tok_span(file: str, tok: Token) -> Span:
    return Span(file=file, line=tok.line, col=tok.column, end_line=tok.end_line,
                end_col=tok.end_column)


class Lower:
    """Grammar rules to IR, called by the parser as it reduces. Collects diagnostics
    (`unsupported` constructs, a missing `if`) instead of stopping at the first."""

    def __init__(self):
        self.reset("<input>")

    def reset(self, file: str) -> None:
        self.file = file
        self.diags: list[Diagnostic] = []
        self._chains = 0
        self._in_chain: dict[int, int] = {}  # id of an `in` call -> the chain that wrote it
        self._written_as_float: set[int] = set()  # ids of integral numbers written `1.0`
        self._exponents: set[int] = set()  # ids of numbers written with an exponent
        self._path_span: Span | None = None  # of the last `path` read: the package's, when `package` reads it

    def _sp(self, meta) -> Span:
        return _span(self.file, meta)

    def _unsupported(self, what: str, span: Span, help: str | None = None) -> None:
        self.diags.append(Diagnostic(code=Code.UNSUPPORTED, message=f"{what} is not supported",
                                     span=span, help=help))

    # ---- module

    def module(self, meta, children):
        (package, where), *rest = children
        imports = tuple(c for c in rest if isinstance(c, ir.Import))
        rules: list[ir.Rule] = [c for c in rest if isinstance(c, ir.Rule)]
        return ir.Module(span=self._sp(meta), package=package, imports=imports, rules=tuple(rules),
                         package_span=where)

    def package(self, meta, children):
        return children[0], self._path_span or self._sp(meta)

    def path(self, meta, children):
        self._path_span = _tok_span(self.file, children[0]) if children else None  # for `package`
        return tuple(self._text(t, self._sp(meta)) if t.type == "STRING" else str(t) for t in children)

    def _text(self, token: str, span) -> str:
        """A string literal's value: OPA reads JSON's escapes, and control characters as
        they stand; another escape is an illegal token."""
        try:
            return json.loads(token, strict=False)
        except json.JSONDecodeError:
            self.diags.append(Diagnostic(code=Code.REGO_PARSE_ERROR, message="illegal token", span=span,
                                         help="a string escape JSON does not have"))
            return ""

    def import_(self, meta, children):
        path = children[0]
        alias = str(children[1]) if len(children) > 1 else None
        span = self._sp(meta)
        if path[0] not in ("data", "input", "rego", "future"):
            self._unsupported(f"import of `{'.'.join(path)}`", span)
        if path[0] == "future" and path[:2] != ("future", "keywords"):
            self._unsupported(f"import of `{'.'.join(path)}`", span)
        return ir.Import(span=span, path=path, alias=alias)

    def query(self, meta, children):
        return children[0]

    # ---- rules

    def default_rule(self, meta, children):
        name, value = children
        self._default_value(value, self._sp(meta))
        return ir.Rule(span=self._sp(meta), kind="complete", name=str(name), value=value, default=True)

    def default_func(self, meta, children):
        name, *rest = children
        value = rest[-1]
        args = rest[0] if len(rest) == 2 else ()
        self._default_value(value, self._sp(meta))
        return ir.Rule(span=self._sp(meta), kind="function", name=str(name), args=args,
                       value=value, default=True)

    def _default_value(self, value: ir.Term, span: Span) -> None:
        """A `default` value is a constant: OPA's parser refuses a variable, a reference
        or a call in it (comprehensions aside), each as an illegal default rule."""
        for kind in _unconstant(value):
            self.diags.append(Diagnostic(code=Code.REGO_PARSE_ERROR, span=span,
                                         message=f"illegal default rule (value cannot contain {kind})"))

    def default_ref(self, meta, children):
        *parts, value = children
        self._default_value(value, self._sp(meta))
        name, ref = self._fold(parts)
        if ref:
            self._unmovable_default(ref, self._sp(meta))
        return ir.Rule(span=self._sp(meta), kind="complete", name=name, value=value, default=True)

    def default_ref_func(self, meta, children):
        value = children[-1]
        self._default_value(value, self._sp(meta))
        parts = children[:-1]
        args: tuple = ()
        if parts and isinstance(parts[-1], tuple):
            args = parts.pop()
        name, ref = self._fold(parts)
        if ref:
            self._unsupported("a function named with a bracketed key", self._sp(meta))
        return ir.Rule(span=self._sp(meta), kind="function", name=name, args=args, value=value, default=True)

    def _unmovable_default(self, ref, span: Span) -> None:
        """A `default` head must be ground: a variable in it is unsafe, as OPA says."""
        names = sorted({v for t in ref for v in _vars(t)})
        if names:
            for v in names:
                self.diags.append(Diagnostic(code=Code.REGO_UNSAFE_VAR_ERROR, message=f"var `{v}` is unsafe",
                                             span=span))
        else:
            self._unsupported("`default` on a rule whose head has a key that is not a name", span)

    def _fold(self, parts) -> tuple[str, tuple[ir.Term, ...]]:
        """A reference head's parts (name tokens, bracketed terms) as the dotted name of
        its leading names, string keys included (`a["b"].c` is "a.b.c", as OPA reads
        it), and the terms of the rest."""
        names = [str(parts[0])]
        i = 1
        while i < len(parts):
            p = parts[i]
            if isinstance(p, Token):
                names.append(str(p))
            elif isinstance(p, ir.Scalar) and type(p.value) is str and p.value and "." not in p.value:
                names.append(p.value)
            else:
                break
            i += 1
        ref = tuple(ir.Scalar(span=_tok_span(self.file, p), value=str(p)) if isinstance(p, Token) else p
                    for p in parts[i:])
        return ".".join(names), ref

    def plain_rule(self, meta, children):
        head = children[0]
        body: tuple[ir.Literal, ...] | None = None
        elses = []
        for c in children[1:]:
            if isinstance(c, _Else):
                elses.append(c)
            else:
                body = c
        span = self._sp(meta)
        kind, name, key, value, args, ref = head
        name = str(name)  # a token until here, so that the rule's span starts at its name
        head_vars = {v for t in ref + ((key,) if kind == "partial_object" else ()) for v in _vars(t)}
        if elses and head_vars:
            self.diags.append(Diagnostic(code=Code.REGO_PARSE_ERROR, span=elses[0].span,
                                         message="else keyword cannot be used on rules with variables in head"))
        elif elses and (kind not in ("complete", "function") or ref):
            self._unsupported("`else` on a multi-value rule" if kind != "complete"
                              else "`else` on a rule whose head has a key that is not a name", elses[0].span)
        if head_vars or kind not in ("complete", "function") or ref:
            elses = []  # reported above: left out, so that later passes can still run
        else_rule = None
        for e in reversed(elses):
            else_rule = ir.Rule(span=e.span, kind=kind, name=name, args=args,
                                value=e.value if e.value is not None else ir.Scalar(span=e.span, value=True),
                                body=e.body or (), else_=else_rule)
        return ir.Rule(span=span, kind=kind, name=name, ref=ref, body=body or (), key=key, value=value,
                       args=args, else_=else_rule)

    def head_true(self, meta, children):
        return ("complete", children[0], None, ir.Scalar(span=self._sp(meta), value=True), (), ())

    def head_value(self, meta, children):
        return ("complete", children[0], None, children[1], (), ())

    def head_contains(self, meta, children):
        return ("partial_set", children[0], children[1], None, (), ())

    def head_func_true(self, meta, children):
        args = children[1] if len(children) > 1 else ()
        return ("function", children[0], None, ir.Scalar(span=self._sp(meta), value=True), args, ())

    def head_func_value(self, meta, children):
        args = children[1] if len(children) > 2 else ()
        return ("function", children[0], None, children[-1], args, ())

    def head_ref(self, meta, children):
        """`a.b`, `a[k] := v`, `a[x].b[y] contains z`, `a.f(x)`: the leading names (and
        string keys) make the rule's name; one key term after them is a partial object
        (`a.b[k] := v`, value `true` when left out); any other rest is a general
        reference head, kept in `ref`."""
        parts = list(children)
        kind, key, value, args = "complete", None, None, ()
        if parts and isinstance(parts[-1], tuple):
            kind, key, value, args = parts.pop()
        name, ref = self._fold(parts)
        token = Token.new_borrow_pos("NAME", name, parts[0])
        if value is None and kind != "partial_set":
            value = ir.Scalar(span=self._sp(meta), value=True)
        if kind == "function" and ref:
            self._unsupported("a function named with a bracketed key", self._sp(meta))
            ref = ()
        if kind == "complete" and len(ref) == 1 and not isinstance(ref[0], ir.Scalar):
            return ("partial_object", token, ref[0], value, args, ())
        return (kind, token, key, value, args, ref)

    def rest_value(self, meta, children):
        return ("complete", None, children[0], ())

    def rest_contains(self, meta, children):
        return ("partial_set", children[0], None, ())

    def rest_func(self, meta, children):
        return ("function", None, None, children[0] if children else ())

    def rest_func_value(self, meta, children):
        return ("function", None, children[-1], children[0] if len(children) == 2 else ())

    def args(self, meta, children):
        return tuple(children)

    items = args

    def braced_body(self, meta, children):
        return children[0]

    def single_body(self, meta, children):
        return (children[0],)

    def if_object(self, meta, children):  # `if {k: v, …}`: an object, not a body
        span = self._sp(meta)
        return (ir.Expr(span=span, term=ir.Object(span=span, items=children[0])),)

    def if_object_compr(self, meta, children):  # `if {k: v | …}`
        span = self._sp(meta)
        return (ir.Expr(span=span, term=self.object_compr(meta, children)),)

    def body_without_if(self, meta, children):
        brace = children[0]
        self.diags.append(Diagnostic(code=Code.REGO_PARSE_ERROR,
                                     message="`if` keyword is required before a rule body",
                                     span=_tok_span(self.file, brace),
                                     help="Rego v1 writes `name if { … }`"))
        return children[1]

    def else_clause(self, meta, children):
        value = None
        body: tuple = ()
        for c in children[1:]:
            if isinstance(c, tuple):
                body = c
            else:
                value = c
        return _Else(self._sp(meta), value, body)

    # ---- bodies

    def body(self, meta, children):
        return tuple(children)

    def expr_literal(self, meta, children):
        expr, *mods = children
        if isinstance(expr, (ir.Assign, ir.Unify)):
            return self._with(expr, mods, meta)
        return self._with(ir.Expr(span=self._sp(meta), term=expr), mods, meta)

    def not_literal(self, meta, children):
        _, expr, *mods = children
        if isinstance(expr, ir.Assign):
            self._unsupported("`:=` under `not`", expr.span)
            return ir.Expr(span=self._sp(meta), term=expr.rhs, negated=True)
        if isinstance(expr, ir.Unify):
            term = ir.Call(span=expr.span, func="internal.unify", args=(expr.lhs, expr.rhs))
            return self._with(ir.Expr(span=self._sp(meta), term=term, negated=True), mods, meta)
        return self._with(ir.Expr(span=self._sp(meta), term=expr, negated=True), mods, meta)

    def _with(self, lit: ir.Literal, mods, meta) -> ir.Literal:
        """`lit with t as v, …`: each target written out as a path (`input.a`,
        `data.x.y`, `count`, `time.now_ns`)."""
        if not mods:
            return lit
        targets, values, where = [], [], []
        for m in mods:
            where.append(m.span)
            path = _target_path(m.target)
            if path is None:
                self._unsupported("a `with` target that is not a plain reference", m.span)
                path = ("input",)
            targets.append(path)
            values.append(m.value)
        return ir.With(span=self._sp(meta), literal=lit, targets=tuple(targets), values=tuple(values),
                       where=tuple(where))

    def with_mod(self, meta, children):
        target, value = [c for c in children if not isinstance(c, Token)]
        return _With(self._sp(meta), target, value)

    def _strip_with(self, children):
        mods = [c for c in children if isinstance(c, _With)]
        return [c for c in children if not isinstance(c, _With)], mods

    def some_lit(self, meta, children):
        """`some x, y` declares; `some v in xs` / `some k, v in xs` iterates (the last
        chain then has `in` on top)."""
        children, mods = self._strip_with(children)
        terms = children[1:]
        last = terms[-1]
        if len(terms) <= 2 and self._top_in(last):
            key = terms[0] if len(terms) == 2 else None
            value, coll = last.args
            return self._with(ir.SomeIn(span=self._sp(meta), key=key, value=value, collection=coll), mods, meta)
        names = []
        for t in terms:
            if isinstance(t, ir.Var):
                names.append(t.name)
            else:
                self.diags.append(Diagnostic(code=Code.REGO_PARSE_ERROR,
                                             message="`some` declares variables: expected a name",
                                             span=t.span))
        return ir.Some(span=self._sp(meta), vars=tuple(names))

    def every(self, meta, children):
        children, mods = self._strip_with(children)
        terms = children[1:-1]
        body = children[-1]
        last = terms[-1]
        if not self._top_in(last):
            self.diags.append(Diagnostic(code=Code.REGO_PARSE_ERROR,
                                         message="`every` needs `x in domain`", span=last.span))
            return ir.Some(span=self._sp(meta), vars=())
        value, domain = last.args
        names = terms[:-1] + [value]
        for t in names:
            if not isinstance(t, ir.Var):
                self.diags.append(Diagnostic(code=Code.REGO_PARSE_ERROR,
                                             message="`every` binds variables: expected a name",
                                             span=t.span))
            elif t.name in ("data", "input"):  # OPA reads these as references, not variables
                self.diags.append(Diagnostic(code=Code.REGO_PARSE_ERROR, span=t.span,
                                             message=f"`every` binds variables: expected a name, not `{t.name}`"))
        names = [t.name if isinstance(t, ir.Var) else "_" for t in names]
        key = names[0] if len(names) == 2 else None
        every = ir.Every(span=self._sp(meta), key=key, value=names[-1], domain=domain, body=body)
        return self._with(every, mods, meta)

    def assign(self, meta, children):
        return ir.Assign(span=self._sp(meta), lhs=children[0], rhs=children[1])

    def unify(self, meta, children):
        return ir.Unify(span=self._sp(meta), lhs=children[0], rhs=children[1])

    # ---- terms

    def in_expr(self, meta, children):
        """A chain `a op b op c …`, grouped by OPA's precedence (all left-associative)."""
        operands = [children[0]]
        ops: list[Token] = []
        chain = self._chains = self._chains + 1
        for i in range(1, len(children), 2):
            op = children[i]
            prec = _PRECEDENCE[op.type]
            while ops and _PRECEDENCE[ops[-1].type] >= prec:
                self._reduce(operands, ops.pop(), chain)
            ops.append(op)
            operands.append(children[i + 1])
        while ops:
            self._reduce(operands, ops.pop(), chain)
        return operands[0]


    def _reduce(self, operands: list, op: Token, chain: int) -> None:
        rhs = operands.pop()
        lhs = operands.pop()
        func = "internal.member_2" if op.type == "IN" else _BINOPS[str(op)]
        start, end = lhs.span, rhs.span
        span = Span(file=self.file, line=start.line, col=start.col, end_line=end.end_line,
                    end_col=end.end_col) if start.line and end.line else (start if start.line else end)
        call = ir.Call(span=span, func=func, args=(lhs, rhs))
        if op.type == "IN":
            self._in_chain[id(call)] = chain
        operands.append(call)

    def _top_in(self, t) -> bool:
        """Whether `t` is an `in` its own chain wrote (not one inside parentheses)."""
        return isinstance(t, ir.Call) and t.func == "internal.member_2" and id(t) in self._in_chain

    def kv_in(self, meta, children):
        """`k, v in xs in ys…`: the innermost `in` of the second chain takes the key."""
        key, rest = children
        if not self._top_in(rest):
            self.diags.append(Diagnostic(code=Code.REGO_PARSE_ERROR,
                                         message="expected `key, value in collection`", span=self._sp(meta)))
            return rest
        chain = self._in_chain[id(rest)]
        spine = [rest]
        while True:
            left = spine[-1].args[0]
            if isinstance(left, ir.Call) and left.func == "internal.member_2" \
                    and self._in_chain.get(id(left)) == chain:
                spine.append(left)
            else:
                break
        inner = spine.pop()
        value, coll = inner.args
        term = ir.Call(span=self._sp(meta), func="internal.member_3", args=(key, value, coll))
        while spine:
            outer = spine.pop()
            term = ir.Call(span=outer.span, func="internal.member_2", args=(term, outer.args[1]))
        return term

    def negative(self, meta, children):
        span = self._sp(meta)
        text = "-" + str(children[-1])
        return ir.Scalar(span=span, value=-self._in_range(children[-1], span), text=_number_text(text))

    def dot(self, meta, children):
        term, name = children
        return self._dot(self._sp(meta), term, name)

    def _dot(self, span: Span, term, name: Token):
        return self._extend(span, term, ir.Scalar(span=_tok_span(self.file, name), value=str(name)))

    def index(self, meta, children):
        key = children[1]
        if id(key) in self._written_as_float:  # OPA's checker refuses `[1, 2][1.0]`
            key = ir.Scalar(span=key.span, value=float(key.value), text=key.text)
        if id(key) in self._exponents and not _in_input(children[0]):
            # OPA's type checker looks such a key up in a collection it knows by rules of
            # its own (`{1: 2}[1e0]` is an error there); in the input it is an ordinary key
            self._unsupported("a key written with an exponent", key.span, "write it as `1` or `1.0`")
        return self._extend(self._sp(meta), children[0], key)

    def _in_range(self, tok, span: Span) -> int | float:
        """The literal's nearest Python number (the evaluator computes from its text, so
        1e309 is no infinity). OPA's parser refuses a number whose binary exponent
        passes 100000 either way (`1e40000`)."""
        if _too_big(str(tok)):
            self.diags.append(Diagnostic(code=Code.REGO_PARSE_ERROR, message="number too big", span=span))
            return 0
        return _number(tok)

    def _extend(self, span: Span, term, key):
        if isinstance(term, ir.Ref):
            return ir.Ref(span=span, head=term.head, path=term.path + (key,))
        if isinstance(term, ir.Scalar):  # as OPA: `"abc"[0]`, `1.x` are not references
            kind = "null" if term.value is None else type(term.value).__name__.replace("str", "string")
            self.diags.append(Diagnostic(code=Code.REGO_PARSE_ERROR,
                                         message=f"illegal ref (head cannot be {kind})", span=term.span))
        return ir.Ref(span=span, head=term, path=(key,))

    def call(self, meta, children):
        callee = children[0]
        args = children[1] if len(children) > 2 else ()  # the last child is `)`, kept for the span
        span = self._sp(meta)
        name = _dotted(callee)
        if name is None:
            self.diags.append(Diagnostic(code=Code.REGO_PARSE_ERROR,
                                         message="only named functions can be called", span=span))
            return ir.Scalar(span=span, value=None)
        if name == "set" and not args:
            return ir.Set(span=span, items=())
        return ir.Call(span=span, func=name, args=args)

    def var(self, meta, children):
        return ir.Var(span=self._sp(meta), name=str(children[0]))

    def string(self, meta, children):
        span = self._sp(meta)
        return ir.Scalar(span=span, value=self._text(children[0], span))

    def raw_string(self, meta, children):
        return ir.Scalar(span=self._sp(meta), value=str(children[0])[1:-1])

    def number(self, meta, children):
        span = self._sp(meta)
        out = ir.Scalar(span=span, value=self._in_range(children[0], span), text=_number_text(str(children[0])))
        if type(out.value) is int and any(c in children[0] for c in ".eE"):
            self._written_as_float.add(id(out))
        if any(c in children[0] for c in "eE"):
            self._exponents.add(id(out))
        return out

    def true(self, meta, children):
        return ir.Scalar(span=self._sp(meta), value=True)

    def false(self, meta, children):
        return ir.Scalar(span=self._sp(meta), value=False)

    def null(self, meta, children):
        return ir.Scalar(span=self._sp(meta), value=None)

    def array(self, meta, children):
        return ir.Array(span=self._sp(meta), items=children[0] if children else ())

    def empty_object(self, meta, children):
        return ir.Object(span=self._sp(meta), items=())

    def set(self, meta, children):
        return ir.Set(span=self._sp(meta), items=children[0])

    def object(self, meta, children):
        return ir.Object(span=self._sp(meta), items=children[0])

    def pairs(self, meta, children):
        return tuple(children)

    def pair(self, meta, children):
        return (children[0], children[1])

    def array_compr(self, meta, children):
        return ir.ArrayCompr(span=self._sp(meta), term=children[0], body=children[1])

    def set_compr(self, meta, children):
        return ir.SetCompr(span=self._sp(meta), term=children[0], body=children[1])

    def object_compr(self, meta, children):
        return ir.ObjectCompr(span=self._sp(meta), key=children[0], value=children[1], body=children[2])


class _With:
    __slots__ = ("span", "target", "value")

    def __init__(self, span, target, value):
        self.span = span
        self.target = target
        self.value = value


def _target_path(t) -> tuple[str, ...] | None:
    """`input.a["b"]` as `("input", "a", "b")`; None for a target with a computed key."""
    if isinstance(t, ir.Var):
        return (t.name,)
    if isinstance(t, ir.Ref) and isinstance(t.head, ir.Var) and all(
            isinstance(k, ir.Scalar) and isinstance(k.value, str) for k in t.path):
        return (t.head.name,) + tuple(k.value for k in t.path)
    return None


class _Else:
    __slots__ = ("body", "span", "value")

    def __init__(self, span, value, body):
        self.span, self.value, self.body = span, value, body


def _number(tok: str) -> int | float:
    text = str(tok)
    if any(c in text for c in ".eE"):
        f = float(text)
        return int(f) if f.is_integer() and abs(f) < 2**53 and "e" not in text.lower() else f
    return int(text)


def _in_input(term) -> bool:
    head = term.head if isinstance(term, ir.Ref) else term
    return isinstance(head, ir.Var) and head.name == "input"


def _number_text(text: str) -> str | None:
    """What the IR keeps of a number as written: nothing for a plain integer."""
    return None if text.lstrip("-").isdigit() and text != "-0" else text


def _too_big(text: str) -> bool:
    """Whether a literal's binary exponent passes ±100000, OPA's limit (bounded first
    by its decimal exponent, so that `1e999999999` is never expanded)."""
    whole, _, rest = text.lower().partition(".")
    frac, _, exp = rest.partition("e") if "." in text else ("", "", whole.partition("e")[2])
    whole = whole.partition("e")[0]
    digits = (whole + frac).lstrip("0")
    if not digits:
        return False
    magnitude = int(exp or 0) - len(frac) + len(digits)  # 10**(magnitude - 1) <= |x| < 10**magnitude
    if abs(magnitude) < 30000:
        return False
    if abs(magnitude) > 30200:
        return True
    v = Fraction(text)
    return v >= 2**100000 or v < Fraction(1, 2**100001)


def _unconstant(t) -> list[str]:
    """OPA's kinds ("var", "ref", "call") of the terms of `t` that are not constants, in
    the order its parser walks them, comprehensions left out."""
    match t:
        case ir.Var(name="input" | "data"):
            return ["ref"]
        case ir.Var():
            return ["var"]
        case ir.Ref():
            return ["ref"]
        case ir.Call():
            return ["call"]
        case ir.Array(items=items) | ir.Set(items=items):
            return [k for x in items for k in _unconstant(x)]
        case ir.Object(items=pairs):
            return [k for kv in pairs for x in kv for k in _unconstant(x)]
    return []


def _vars(t) -> set[str]:
    """The variables a head term names (`input` and `data` are documents, not variables)."""
    if isinstance(t, ir.Var):
        return set() if t.name in ("input", "data") else {t.name}
    out: set[str] = set()
    for f in getattr(t, "__struct_fields__", ()):
        if f == "span":
            continue
        x = getattr(t, f)
        for y in (x if isinstance(x, tuple) else (x,)):
            for z in (y if isinstance(y, tuple) else (y,)):
                if isinstance(z, ir.Node):
                    out |= _vars(z)
    return out


def _dotted(term) -> str | None:
    if isinstance(term, ir.Var):
        return term.name
    if isinstance(term, ir.Ref) and isinstance(term.head, ir.Var):
        parts = [term.head.name]
        for k in term.path:
            if not (isinstance(k, ir.Scalar) and isinstance(k.value, str)):
                return None
            parts.append(k.value)
        return ".".join(parts)
    return None
