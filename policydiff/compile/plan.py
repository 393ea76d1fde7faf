"""Safety and ordering: which variables each body literal binds, and in what order the
literals of a body can run.

Like OPA, a body is a conjunction whose literals may be written in any order; this pass
puts them in an order in which every variable is bound before it is read (keeping the
written order where it already works), and reports `rego_unsafe_var_error` for
variables nothing can bind. The same analysis tells the closure compiler, for a given
set of bound variables, which side of a `=` is the pattern and which references
iterate.

Variables are the resolved local names (`resolve` has turned rules, imports and the
two roots into references); `input` and `data` are never local.
"""

from __future__ import annotations

import msgspec

from policydiff import ir
from policydiff.errors import Code, Diagnostic

ROOTS = frozenset({"input", "data"})


def is_local(name: str) -> bool:
    return name not in ROOTS


def is_wildcard(name: str) -> bool:
    return name.startswith("$")


# The variable that iterates a relation builtin's solutions (`walk(x)` alone is
# `walk(x)[$rel_N]`): it is the call's own output, so a negation may leave it unbound,
# as OPA accepts `not walk(x)`.
RELATION_OUTPUT = "$rel_"


def display(name: str) -> str:
    """A variable as the author wrote it (`_`, `x`), not as resolution renamed it."""
    return "_" if is_wildcard(name) else name.split("~")[0]


# ------------------------------------------------------------------------ free variables


def term_vars(t: ir.Term | None, out: set[str], deep: bool = True) -> set[str]:
    """Every local variable in `t`; inside comprehensions too unless `deep` is false."""
    kind = type(t)  # by exact type: the IR's node classes have no subclasses
    if kind is _VAR:
        if t.name not in ROOTS:
            out.add(t.name)
    elif kind is _REF:
        term_vars(t.head, out, deep)
        for k in t.path:
            if type(k) is not _SCALAR:
                term_vars(k, out, deep)
    elif kind is _SCALAR or t is None:
        pass
    elif kind is _CALL or kind is _ARRAY or kind is _SET:
        for x in t.items if kind is not _CALL else t.args:
            term_vars(x, out, deep)
    elif kind is _OBJECT:
        for k, v in t.items:
            term_vars(k, out, deep)
            term_vars(v, out, deep)
    elif (kind is _ARRAY_COMPR or kind is _SET_COMPR) and deep:
        term_vars(t.term, out)
        body_vars(t.body, out)
    elif kind is _OBJECT_COMPR and deep:
        term_vars(t.key, out)
        term_vars(t.value, out)
        body_vars(t.body, out)
    return out


_VAR, _REF, _SCALAR, _CALL, _ARRAY, _SET, _OBJECT = ir.Var, ir.Ref, ir.Scalar, ir.Call, ir.Array, ir.Set, ir.Object
_ARRAY_COMPR, _SET_COMPR, _OBJECT_COMPR = ir.ArrayCompr, ir.SetCompr, ir.ObjectCompr


def body_vars(body, out: set[str]) -> set[str]:
    for lit in body:
        literal_vars(lit, out)
    return out


def literal_vars(lit: ir.Literal, out: set[str], deep: bool = True) -> set[str]:
    """Every local variable of `lit`; with `deep` false, not those of its comprehensions
    and `every` body."""
    match lit:
        case ir.Expr(term=t):
            term_vars(t, out, deep)
        case ir.Assign(lhs=a, rhs=b) | ir.Unify(lhs=a, rhs=b):
            term_vars(a, out, deep)
            term_vars(b, out, deep)
        case ir.Some(vars=vs):
            out.update(vs)
        case ir.SomeIn(key=k, value=v, collection=c):
            term_vars(k, out, deep)
            term_vars(v, out, deep)
            term_vars(c, out, deep)
        case ir.Every(key=k, value=v, domain=d, body=b):
            term_vars(d, out, deep)
            if deep:
                if k:
                    out.add(k)
                out.add(v)
                body_vars(b, out)
        case ir.With(literal=inner, values=values):
            literal_vars(inner, out, deep)
            for t in values:
                term_vars(t, out, deep)
    return out


def shallow_vars(body) -> set[str]:
    """Variables of a body outside its comprehensions and `every` bodies: the names a
    nested body shares with it."""
    out: set[str] = set()
    for lit in body:
        literal_vars(lit, out, deep=False)
    return out


def declared_in(body) -> set[str]:
    """Names a nested body declares for itself (`some`, `:=`, `some … in`)."""
    out: set[str] = set()
    for lit in body:
        match lit:
            case ir.Some(vars=vs):
                out.update(vs)
            case ir.Assign(lhs=lhs):
                term_vars(lhs, out)
            case ir.SomeIn(key=k, value=v):
                term_vars(k, out)
                term_vars(v, out)
            case ir.With(literal=inner):
                out |= declared_in((inner,))
    return out


def captured(t, outer: frozenset[str]) -> set[str]:
    """The variables a comprehension (or `every`) takes from the enclosing body."""
    match t:
        case ir.ArrayCompr(term=term, body=body) | ir.SetCompr(term=term, body=body):
            free = term_vars(term, set())
            body_vars(body, free)
        case ir.ObjectCompr(key=key, value=value, body=body):
            free = term_vars(key, set())
            term_vars(value, free)
            body_vars(body, free)
        case ir.Every(key=k, value=v, domain=_, body=body):
            free = body_vars(body, set())
            free -= {k, v}
        case _:
            return set()
    free -= declared_in(body)
    return free & outer


# ----------------------------------------------------------------- what a literal needs


class Needs:
    """The outcome of analysing a literal against a set of bound variables."""

    __slots__ = ("binds", "missing")

    def __init__(self):
        self.missing: set[str] = set()
        self.binds: set[str] = set()

    @property
    def ok(self) -> bool:
        return not self.missing


def value(t, bound, n: Needs, outer: frozenset[str]) -> None:
    """`t` must produce a value: its variables must be bound, except those in reference
    keys, which iteration binds."""
    match t:
        case None | ir.Scalar():
            pass
        case ir.Var(name=name):
            if is_local(name) and name not in bound and name not in n.binds:
                n.missing.add(name)
        case ir.Ref(head=head, path=path):
            value(head, bound, n, outer)
            for k in path:
                pattern(k, bound, n, outer)
        case ir.Call(args=items) | ir.Array(items=items) | ir.Set(items=items):
            for x in items:
                value(x, bound, n, outer)
        case ir.Object(items=items):
            for k, v in items:
                value(k, bound, n, outer)
                value(v, bound, n, outer)
        case ir.ArrayCompr() | ir.SetCompr() | ir.ObjectCompr():
            n.missing |= {v for v in captured(t, outer) if v not in bound and v not in n.binds}


def pattern(t, bound, n: Needs, outer: frozenset[str]) -> None:
    """`t` is matched against a value: unbound variables in it get bound."""
    match t:
        case ir.Var(name=name):
            if is_local(name) and name not in bound:
                n.binds.add(name)
        case ir.Array(items=items):
            for x in items:
                pattern(x, bound, n, outer)
        case ir.Object(items=items):
            for k, v in items:
                value(k, bound, n, outer)
                pattern(v, bound, n, outer)
        case _:
            value(t, bound, n, outer)


def _heads_keyed_by_themselves(t) -> set[str]:
    """The variables heading a reference of `t` whose keys hold the same variable."""
    out: set[str] = set()
    if isinstance(t, ir.Ref) and isinstance(t.head, ir.Var):
        keys: set[str] = set()
        for k in t.path:
            term_vars(k, keys, deep=False)
        if t.head.name in keys:
            out.add(t.head.name)
    for f in getattr(t, "__struct_fields__", ()):
        x = getattr(t, f)
        for y in x if isinstance(x, tuple) else (x,):
            if isinstance(y, ir.Node) and not isinstance(y, (ir.ArrayCompr, ir.SetCompr, ir.ObjectCompr)):
                out |= _heads_keyed_by_themselves(y)
    return out


def ground(t, bound, outer) -> bool:
    n = Needs()
    value(t, bound, n, outer)
    return n.ok and not n.binds


def analyse(lit: ir.Literal, bound, outer: frozenset[str]) -> Needs:
    n = Needs()
    match lit:
        case ir.Expr(term=t, negated=False):
            # a variable one operand's iteration binds is bound for every operand
            # (`k[0] == input.o[k]`): the iterations run before the expression
            value(t, bound, n, outer)
            if n.missing and n.binds:
                binds = n.binds
                n = Needs()
                # but not a reference's own head through its keys (`x[x]`, unsafe in OPA)
                value(t, bound | (binds - _heads_keyed_by_themselves(t)), n, outer)
                n.binds |= binds
        case ir.Expr(term=t, negated=True):
            value(t, bound, n, outer)
            if isinstance(t, ir.Call) and t.func == "internal.unify":
                inner = analyse(ir.Unify(lhs=t.args[0], rhs=t.args[1]), bound, outer)
                n.missing = set(inner.missing)
                n.binds = set(inner.binds)
            # as OPA: a negation binds nothing, not even `_` (but a relation's own output)
            n.missing |= {v for v in n.binds if not v.startswith(RELATION_OUTPUT)}
            n.binds = set()
        case ir.Assign(lhs=lhs, rhs=rhs):
            value(rhs, bound, n, outer)
            pattern(lhs, bound, n, outer)
        case ir.Unify(lhs=lhs, rhs=rhs):
            for a, b in ((lhs, rhs), (rhs, lhs)):
                n = Needs()
                value(b, bound, n, outer)
                if n.ok:
                    pattern(a, bound | n.binds, n, outer)
                    if n.ok:
                        return n
            n = Needs()
            value(lhs, bound, n, outer)
            value(rhs, bound, n, outer)
        case ir.Some():
            pass
        case ir.SomeIn(key=k, value=v, collection=c):
            value(c, bound, n, outer)
            if k is not None:
                pattern(k, bound, n, outer)
            pattern(v, bound | n.binds, n, outer)
        case ir.Every(domain=d):
            # the domain's iteration variables are bound outside the `every` (OPA
            # evaluates the domain first), and the body may read them
            value(d, bound, n, outer)
            n.missing |= {v for v in captured(lit, outer) if v not in bound and v not in n.binds}
        case ir.With(literal=inner, values=values):
            n = analyse(inner, bound, outer)
            for t in values:  # evaluated first, outside the replaced context: they bind nothing
                m = Needs()
                value(t, bound, m, outer)
                n.missing |= m.missing | m.binds
    return n


# ------------------------------------------------------------------------------ ordering


def split_unify(body) -> list[ir.Literal]:
    """`[a, b] = [c, d]` is `a = c` and `b = d`: each half can then bind either way.
    A pattern that cannot match the literal it is unified with (`[a, b] := [1]`) binds
    none of the variables where it fails, as in OPA: it is a comparison then, so they
    must be bound elsewhere or are unsafe."""
    out: list[ir.Literal] = []
    for lit in body:
        if isinstance(lit, ir.With) and any(term_vars(v, set(), deep=False) for v in lit.values):
            # OPA evaluates a `with` value holding variables first, as a literal of its
            # own (`input.b[x]` iterates, binding `x`), and the `with` takes its value
            values = []
            for i, v in enumerate(lit.values):
                if term_vars(v, set(), deep=False):
                    tmp = ir.Var(span=v.span, name=f"$with{id(lit)}_{i}")
                    out.append(ir.Unify(span=v.span, lhs=tmp, rhs=v))
                    v = tmp
                values.append(v)
            out.append(ir.With(span=lit.span, literal=lit.literal, targets=lit.targets, values=tuple(values),
                               replacements=lit.replacements, where=lit.where))
        elif isinstance(lit, (ir.Unify, ir.Assign)) and (parts := _pairs(lit.lhs, lit.rhs)) is not None and (
                isinstance(lit, ir.Unify) or _unbound(lit.lhs, lit.rhs)):
            # position by position (key by key): where one fails to match, the others
            # still bind, as OPA's safety check has it (`[b, [a]] = [1, 1]` binds `b`)
            out.extend(split_unify([ir.Unify(span=lit.span, lhs=a, rhs=b) for a, b in parts]))
        elif isinstance(lit, (ir.Unify, ir.Assign)) and _unbound(lit.lhs, lit.rhs):
            out.append(ir.Expr(span=lit.span, term=ir.Call(span=lit.span, func="equal", args=(lit.lhs, lit.rhs))))
        else:
            out.append(lit)
    return out


def _pairs(a, b) -> list | None:
    """The positions of two array literals of one length, or the values of two object
    literals of the same constant keys, paired; None for any other two terms."""
    if isinstance(a, ir.Array) and isinstance(b, ir.Array) and len(a.items) == len(b.items):
        return list(zip(a.items, b.items))
    if isinstance(a, ir.Object) and isinstance(b, ir.Object):
        ka, kb = _const_keys(a), _const_keys(b)
        if ka is not None and kb is not None and set(ka) == set(kb) and len(ka) == len(kb):
            values = dict(zip(kb, (v for _, v in b.items)))
            return [(v, values[k]) for k, (_, v) in zip(ka, a.items)]
    return None


_COMPOSITES = (ir.Array, ir.Object, ir.Set, ir.Scalar, ir.ArrayCompr, ir.SetCompr, ir.ObjectCompr)


def _unbound(a, b) -> bool:
    """Whether unifying `a` with `b` leaves a variable of either unbound for want of
    a match (OPA's unifier matches arrays of one length, objects of the same keys)."""
    ta, tb = type(a), type(b)
    if ta not in _COMPOSITES or tb not in _COMPOSITES or ta is ir.Scalar and tb is ir.Scalar:
        return False
    if ta is ir.Array and tb is ir.ArrayCompr or tb is ir.Array and ta is ir.ArrayCompr:
        return False  # the comprehension's value binds the pattern
    if ta is ir.Array and tb is ir.Array and len(a.items) == len(b.items):
        return any(_unbound(x, y) for x, y in zip(a.items, b.items))
    if ta is ir.Object and tb is ir.Object and len(a.items) == len(b.items):
        ka, kb = _const_keys(a), _const_keys(b)
        if ka is None or kb is None:
            # OPA pairs the values of keys that are the same term (`{k: [x]} = {k: [v]}`):
            # a key only evaluation knows (`{input.a: b} = {"q": 1}`) binds nothing
            keys_b = [k for k, _ in b.items]
            if all(k in keys_b for k, _ in a.items) and all(k in [x for x, _ in a.items] for k in keys_b):
                return any(_unbound(v, next(w for k2, w in b.items if k2 == k)) for k, v in a.items)
            return bool(term_vars(a, set()) or term_vars(b, set()))
        values = dict(zip(kb, (v for _, v in b.items)))
        return any(_unbound(v, values[k]) if k in values else bool(term_vars(v, set()))
                   for k, (_, v) in zip(ka, a.items))
    if ta in (ir.Array, ir.Object) or tb in (ir.Array, ir.Object):
        return bool(term_vars(a, set()) if ta in (ir.Array, ir.Object) else set()) or bool(
            term_vars(b, set()) if tb in (ir.Array, ir.Object) else set())
    return False


def _const_keys(obj: ir.Object):
    keys = []
    for k, _ in obj.items:
        if not isinstance(k, ir.Scalar) or isinstance(k.value, (bool, float)):
            return None
        keys.append(k.value)
    return keys if len(set(keys)) == len(keys) else None


def redeclarations(body, before: set[str]) -> list[Diagnostic]:
    """`x := …` and `some x …` declare `x`: OPA rejects the declaration when
    `x` already appears earlier in the same body (or is an argument), since the author
    meant two different variables."""
    seen = set(before)
    assigned: set[str] = set()
    declared: set[str] = set()
    diags = []
    for lit in body:
        names: set[str] = set()
        match lit:
            case ir.Assign(lhs=lhs):
                term_vars(lhs, names)
            case ir.SomeIn(key=k, value=v):
                term_vars(k, names)
                term_vars(v, names)
            case ir.Some(vars=vs):
                names.update(vs)
        # the right of `x := …` is read before `x` is declared: an `x` there is one above
        prior = seen | term_vars(lit.rhs, set(), deep=False) if isinstance(lit, ir.Assign) else seen
        # `some x in input[x]` after an `x`: OPA accepts it, declaring no second `x`, so
        # that it tests `x in input[x]` (a nested body's are declined by `resolve`)
        reread = term_vars(lit.collection, set(), deep=False) if isinstance(lit, ir.SomeIn) else set()
        for v in sorted(names):
            if is_wildcard(v) or v in reread:
                continue
            if v in prior:
                how = "assigned" if v in assigned else "declared" if v in declared else "referenced"
                diags.append(Diagnostic(code=Code.REGO_COMPILE_ERROR, message=f"var `{display(v)}` {how} above",
                                        span=_var_span(lit, v) or lit.span))
        if isinstance(lit, ir.Assign):
            assigned |= names
        else:
            declared |= names
        if isinstance(lit, ir.Every):  # its variables and body are its own scope
            term_vars(lit.domain, seen, deep=False)
        else:
            _visible(lit, seen)
    return diags


def _visible(lit, out: set[str]) -> None:
    """The variables of `lit` an enclosing body shares: its own. A variable a
    comprehension binds is the comprehension's, unless the body has it already (then
    it is in `out`): `x := count(y)` after `y := {x | xs[x]}` declares a new `x`."""
    literal_vars(lit, out, deep=False)


def _comprehensions(node):
    if isinstance(node, (ir.ArrayCompr, ir.SetCompr, ir.ObjectCompr)):
        yield node
        return
    for f in getattr(node, "__struct_fields__", ()):
        x = getattr(node, f)
        for y in (x if isinstance(x, tuple) else (x,)):
            for z in (y if isinstance(y, tuple) else (y,)):
                if isinstance(z, ir.Node) and not isinstance(z, ir.Every):
                    yield from _comprehensions(z)


def unused_declarations(body) -> list[Diagnostic]:
    """`some x` and `every k, v` declare variables that must be used (OPA's
    `declared var x unused`): an unused one is usually a misspelling."""
    diags = []
    for i, lit in enumerate(body):
        match lit:
            case ir.Some(vars=vs):
                used: set[str] = set()
                for j, other in enumerate(body):
                    if j != i:
                        literal_vars(other, used)
                missing = [v for v in vs if v not in used and not is_wildcard(v)]
            case ir.Every(key=k, value=v, body=inner):
                used = body_vars(inner, set())
                missing = [x for x in (k, v) if x and x not in used and not is_wildcard(x)]
            case _:
                continue
        for v in missing:
            diags.append(Diagnostic(code=Code.REGO_COMPILE_ERROR, message=f"declared var `{display(v)}` unused",
                                    span=lit.span))
    return diags


def order(body, bound: set[str], outer: frozenset[str], file_span) -> tuple[list[ir.Literal], set[str], list[Diagnostic]]:
    """Order `body` so every literal runs with its variables bound.

    Returns the ordered literals, the variables bound after the body, and the unsafe
    variable diagnostics (empty when the body is safe)."""
    todo = split_unify(body)
    hidden = _hidden_duplicates(todo, bound, outer) if len(todo) == len(body) else []
    done: list[ir.Literal] = []
    bound = set(bound)
    while todo:
        for i, lit in enumerate(todo):
            n = analyse(lit, bound, outer)
            if n.ok:
                done.append(lit)
                bound |= n.binds
                del todo[i]
                break
        else:
            diags = []
            # the compiler's own variables (a head's `$hv`, a comprehension's `$compr1`)
            # are unsafe only through a variable of the author's, which OPA names
            seen: set[str] = {v for lit in todo for v in analyse(lit, bound, outer).missing if _internal(v)}
            for lit in todo:
                for v in sorted(analyse(lit, bound, outer).missing):
                    if v not in seen:
                        seen.add(v)
                        shown = display(v)
                        diags.append(Diagnostic(code=Code.REGO_UNSAFE_VAR_ERROR,
                                                message=f"var `{shown}` is unsafe",
                                                span=_var_span(lit, v) or lit.span or file_span))
            return done + todo, bound, diags
    if hidden:
        return done, bound, _unsafe(hidden, file_span)
    return done, bound, []


def _unsafe(found: list[tuple[ir.Literal, set[str]]], file_span) -> list[Diagnostic]:
    return [Diagnostic(code=Code.REGO_UNSAFE_VAR_ERROR, message=f"var `{display(v)}` is unsafe",
                       span=_var_span(lit, v) or lit.span or file_span)
            for lit, missing in found for v in sorted(missing)]


def _hidden_duplicates(lits: list[ir.Literal], bound: set[str], outer: frozenset[str]):
    """The literals OPA's safety reordering loses, with the variables it then finds
    unsafe in them. OPA adds, pass after pass, every literal that has become safe to
    its new order (renumbering it by its place there), skipping a literal already in
    it; but that test compares literals by their number too, so a literal is skipped,
    and its variables stay unsafe, when a copy of it already stands at its own number:
    `x == input.u; x == input.u; input.p = [x]` is unsafe in OPA, as each copy is not
    when the binding literal stands between them. Only a body with two equal literals
    is worked through."""
    lits = list(lits)
    while lits and isinstance(lits[-1], ir.Unify) and isinstance(lits[-1].lhs, ir.Var) and _internal(lits[-1].lhs.name):
        lits.pop()  # a comprehension's head, bound after its body: no literal of OPA's
    try:
        if len(set(lits)) == len(lits):
            return []
    except TypeError:
        return []
    placed: list[ir.Literal] = []
    taken: set[int] = set()
    missing: dict[int, set[str]] = {}
    bound = set(bound)
    progress = True
    while progress:
        progress = False
        for i, lit in enumerate(lits):
            if i in taken or (i < len(placed) and placed[i] == lit and _kept_whole(lit)):
                continue
            n = analyse(lit, bound, outer)
            missing[i] = n.missing
            if n.ok:
                placed.append(lit)
                taken.add(i)
                bound |= n.binds
                progress = True
    return [(lit, missing[i]) for i, lit in enumerate(lits)
            if i not in taken and i < len(placed) and placed[i] == lit and _kept_whole(lit) and missing.get(i)]


def _kept_whole(lit: ir.Literal) -> bool:
    """Whether OPA's copies of `lit` stay equal until its safety check: an expression
    (negated or not) or a unification without a call inside its operands (OPA moves a nested call out into a
    literal of its own, binding a variable of a fresh name each time)."""
    match lit:
        case ir.Expr(term=ir.Call(args=args)):
            return not any(_has_call(a) for a in args)
        case ir.Expr(term=term):
            return not _has_call(term)
        case ir.Unify(lhs=lhs, rhs=rhs):
            return not _has_call(lhs) and not _has_call(rhs)
    return False


def _has_call(t) -> bool:
    if isinstance(t, ir.Call):
        return True
    for f in getattr(t, "__struct_fields__", ()):
        x = getattr(t, f)
        for y in (x if isinstance(x, tuple) else (x,)):
            if isinstance(y, tuple) and any(_has_call(z) for z in y) or isinstance(y, ir.Node) and _has_call(y):
                return True
    return False


def _internal(name: str) -> bool:
    """A variable the compiler made (not one the author wrote, nor a renamed `_`)."""
    return is_wildcard(name) and not name.startswith("$_")


def _var_span(lit, name):
    found = []

    def walk(t):
        if found or t is None:
            return
        if isinstance(t, ir.Var) and t.name == name:
            found.append(t.span)
            return
        for f in getattr(t, "__struct_fields__", ()):
            if f == "span":
                continue
            x = getattr(t, f)
            if isinstance(x, tuple):
                for y in x:
                    if isinstance(y, tuple):
                        for z in y:
                            walk(z)
                    elif isinstance(y, ir.Node):
                        walk(y)
            elif isinstance(x, ir.Node):
                walk(x)

    walk(lit)
    return found[0] if found else None


# ---------------------------------------------------------------------------------- with

_WITH_TAG = b'"type":"with"'


def _may_have_with(rules) -> bool:
    """False only when no `with` is anywhere in `rules`: their JSON encoding (msgspec's,
    in C, ~40 times cheaper than walking the nodes in Python) has no `with` tag. A tag
    cannot be forged from inside a string, where its quotes would be escaped. One rule
    at a time, into one buffer (the encoding is ~20 times the policy's text). Anything
    the encoder refuses goes the slow way."""
    encode_into, buf = msgspec.json.Encoder().encode_into, bytearray()
    try:
        for r in rules:
            encode_into(r, buf)
            if _WITH_TAG in buf:
                return True
    except (TypeError, ValueError, OverflowError, RecursionError, msgspec.EncodeError):
        return True
    return False



def with_targets(rules) -> set[tuple[str, ...]]:
    """The targets of every `with` in `rules` (and their else chains), nested bodies too."""
    out: set[tuple[str, ...]] = set()
    if not _may_have_with(rules):
        return out

    def walk(node) -> None:
        if isinstance(node, ir.With):
            out.update(node.targets)
        for f in getattr(node, "__struct_fields__", ()):
            x = getattr(node, f)
            for y in (x if isinstance(x, tuple) else (x,)):
                if isinstance(y, ir.Node):
                    walk(y)

    for r in rules:
        walk(r)
    return out


# ------------------------------------------------------------------------------ negation


def hoist_negated(t, out: list, fresh) -> ir.Term:
    """`t` (the term of a negated expression) with what OPA evaluates outside the
    negation replaced by variables named by `fresh()`, appended to `out` as
    `(name, term)`: references
    and calls that are operands of calls (but not the operands of `==` and `=`, which
    OPA unifies), anything nested in composite operands, and reference keys."""

    def take(x):
        name = fresh()
        out.append((name, x))
        return ir.Var(span=x.span, name=name)

    def inside(x):  # a term nested somewhere: refs and calls move out
        match x:
            case ir.Ref() | ir.Call():
                return take(x)
            case ir.Array(items=xs):
                return ir.Array(span=x.span, items=tuple(inside(i) for i in xs))
            case ir.Set(items=xs):
                return ir.Set(span=x.span, items=tuple(inside(i) for i in xs))
            case ir.Object(items=pairs):
                return ir.Object(span=x.span, items=tuple((inside(k), inside(v)) for k, v in pairs))
        return x

    def keys(x):  # a reference that stays: only what its keys nest moves out
        if isinstance(x, ir.Ref):
            return ir.Ref(span=x.span, head=x.head, path=tuple(inside(k) for k in x.path))
        return x

    def composite(x):
        return inside(x) if isinstance(x, (ir.Array, ir.Set, ir.Object)) else x

    match t:
        case ir.Ref():
            return keys(t)
        case ir.Call(func="equal" | "internal.unify", args=args):
            return ir.Call(span=t.span, func=t.func,
                           args=tuple(keys(a) if isinstance(a, ir.Ref) else inside(a) for a in args))
        case ir.Call(args=args):
            return ir.Call(span=t.span, func=t.func, args=tuple(inside(a) for a in args))
    return composite(t)
