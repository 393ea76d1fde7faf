"""Set and object literals with non-constant members, built as OPA builds them.

Which of two equal members a literal keeps shows when they are written differently:
`{input.n, 0.0}` with `input.n = 0` is `{0.0}`, `{input.n: 1, 0.0: 2}` is `{0.0: 1}`
(the first-inserted key stays, the last-inserted value wins). OPA fixes the order in
two steps, and `construction` follows both:

1. The parser merges members that are equal as terms (`{input.n: 1, input.n: 2}` is
   one pair, its first key and last value; `0` and `0.0` are one term too).
2. The compiler rewrites every non-constant member (a reference, a call, a
   comprehension, a variable) to a generated variable, and evaluation inserts the
   members in OPA's order of terms over the rewritten literal: constant scalars by
   value, then variables, then arrays (element by element), objects and sets.

That value is what a builtin receives (`json.marshal({input.n, 0.0})`). Everywhere
else (bound to a variable, a rule's value, iterated, looked up) OPA keeps the literal's
term: iterating `s := {input.s, "x"}` with `input.s = "x"` yields "x" twice and `o.x`
of `o := {input.s: 1, "x": 2}` is 2 while `o` is `{"x": 1}`. So equal members are
refused `unsupported` there (`set_builder`, `object_builder`), and wherever the names
of generated variables would decide (two members that may collide, neither before
the other by type or by a constant element), or where OPA's object loses keys after
merging two.

A kept term is also iterated in its own order of terms, not the value's: with
`input.s = "a"`, `[e | some e in s]` of `s := {input.s, "x"}` is `["x", "a"]` in OPA
(the constant before the rewritten variable), as is `[k | o[k]]` of `o := {input.s: 1,
"x": 2}`. `compile.observe` follows a literal iterated where it stands or bound to a
local (and its copies), and tells the builders how it is used (`Use`): a `some … in`,
an `every` or a reference walks (or looks up) the members the builder leaves in a slot
in OPA's order (`_walk`: each member, an object's value looked up by each key, the
first equal key found; refused only where generated names order two members written
apart); never iterated, the literal is its value (as a builtin's
argument); iterated otherwise where no order shows, equal members are refused only if
written apart; where the order shows, a literal out of value order is refused. A
literal it cannot follow is refused when built where some order is observed
(`OrderWatch`): an array comprehension in the policy's rules, or in the query that
builds it or that reads the rules, or a query whose solutions, listed in order, may
come from iterating.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cmp_to_key
from typing import Any

from policydiff import ir
from policydiff.compile.values import (
    UNDEFINED,
    Obj,
    canon,
    compare,
    equal,
    identical,
    obj_of,
    set_of,
)
from policydiff.compile.values.build import NOT_LITERAL, literal
from policydiff.errors import Code, PolicyError

Fn = Callable[[list], Any]

# OPA's order of term types, with the kinds a rewritten member can have
_NULL, _BOOL, _NUMBER, _STRING, _VAR, _ARRAY, _OBJECT, _SET = 0, 1, 2, 3, 4, 6, 7, 8
_GROUND_RANK = {type(None): _NULL, bool: _BOOL, int: _NUMBER, str: _STRING, tuple: _ARRAY,
                Obj: _OBJECT, frozenset: _SET}
_GROUND, _WITH_VARS = 0, 1


def _shape(t) -> tuple:
    """`(rank, kind, payload)`: a constant with its value, an array of shapes, or an
    opaque variable, object or set (payload None)."""
    c = literal(t)
    if c is not NOT_LITERAL:
        return (_GROUND_RANK.get(type(c), _NUMBER), _GROUND, c)
    match t:
        case ir.Array(items=xs):
            return (_ARRAY, _WITH_VARS, tuple(_shape(x) for x in xs))
        case ir.Object():
            return (_OBJECT, _WITH_VARS, None)
        case ir.Set():
            return (_SET, _WITH_VARS, None)
    return (_VAR, _WITH_VARS, None)


def _elements(s: tuple) -> tuple:
    if s[1] == _GROUND:
        return tuple((_GROUND_RANK.get(type(x), _NUMBER), _GROUND, x) for x in s[2])
    return s[2]


def _cmp(a: tuple, b: tuple) -> int | None:
    """OPA's order of two rewritten members: -1, 0 or 1, or None when generated
    variables' names decide."""
    if a[0] != b[0]:
        return -1 if a[0] < b[0] else 1
    if a[1] == _GROUND and b[1] == _GROUND:
        return compare(a[2], b[2])
    if a[0] != _ARRAY:
        return None
    xs, ys = _elements(a), _elements(b)
    for x, y in zip(xs, ys):
        c = _cmp(x, y)
        if c != 0:
            return c
    return (len(xs) > len(ys)) - (len(xs) < len(ys))


def _same_term(a, b) -> bool:
    """Whether OPA's parser takes two members for one term (it keeps one of them)."""
    ca, cb = literal(a), literal(b)
    if ca is not NOT_LITERAL or cb is not NOT_LITERAL:
        return ca is not NOT_LITERAL and cb is not NOT_LITERAL and equal(ca, cb)
    match a, b:
        case ir.Var(name=x), ir.Var(name=y):
            return x == y and x != "_"
        case ir.Ref(), ir.Ref():
            return len(a.path) == len(b.path) and _same_term(a.head, b.head) and all(
                _same_term(x, y) for x, y in zip(a.path, b.path))
        case ir.Call(), ir.Call():
            return a.func == b.func and len(a.args) == len(b.args) and all(
                _same_term(x, y) for x, y in zip(a.args, b.args))
        case ir.Array(), ir.Array():
            return len(a.items) == len(b.items) and all(_same_term(x, y) for x, y in zip(a.items, b.items))
    return False  # told apart even where OPA may merge: then a collision is refused


def _distinct_terms(a, b) -> bool:
    """Whether OPA's parser surely takes two members for two terms (`_same_term` may
    tell apart two it merges: two comprehensions written alike)."""
    ca, cb = literal(a), literal(b)
    if ca is not NOT_LITERAL or cb is not NOT_LITERAL:
        return not (ca is not NOT_LITERAL and cb is not NOT_LITERAL and equal(ca, cb))
    if type(a) is not type(b):
        return True
    match a, b:
        case ir.Var(name=x), ir.Var(name=y):
            return x != y
        case ir.Ref(), ir.Ref():
            return len(a.path) != len(b.path) or _distinct_terms(a.head, b.head) or any(
                _distinct_terms(x, y) for x, y in zip(a.path, b.path))
        case ir.Call(), ir.Call():
            return a.func != b.func or len(a.args) != len(b.args) or any(
                _distinct_terms(x, y) for x, y in zip(a.args, b.args))
        case ir.Array(), ir.Array():
            return len(a.items) != len(b.items) or any(_distinct_terms(x, y) for x, y in zip(a.items, b.items))
    return False


class Construction:
    """How OPA builds one literal: `members` are the source indices of the terms the
    parser keeps (for an object, `(key index, value index)`: the first key, the last
    value), in source order; `order` the positions in `members` in insertion order;
    `unordered` the pairs of positions in `order` whose order OPA's variable names
    decide; `plain` when no two members can be equal (all constant); `alike` the
    pairs of positions in `order` OPA's parser may have merged into one term."""

    __slots__ = ("alike", "members", "order", "plain", "unordered")

    def __init__(self, members: list, order: list[int], unordered: list[tuple[int, int]], plain: bool,
                 alike: list[tuple[int, int]] = ()):
        self.members = members
        self.order = order
        self.unordered = unordered
        self.plain = plain
        self.alike = alike


def construction(keys: list) -> Construction:
    """The construction of a set of `keys`, or of an object with these keys (the pairs'
    values do not order them)."""
    firsts: list[int] = []
    lasts: list[int] = []
    for i, k in enumerate(keys):
        for m, j in enumerate(firsts):
            if _same_term(keys[j], k):
                lasts[m] = i
                break
        else:
            firsts.append(i)
            lasts.append(i)
    shapes = [_shape(keys[i]) for i in firsts]
    n = len(firsts)
    rel = [[_cmp(shapes[i], shapes[j]) if i != j else 0 for j in range(n)] for i in range(n)]
    order: list[int] = []
    placed = [False] * n
    for _ in range(n):  # the first member no unplaced member surely precedes
        free = [i for i in range(n) if not placed[i]]
        i = next((i for i in free if not any(rel[j][i] == -1 for j in free)), free[0])
        placed[i] = True
        order.append(i)
    position = {m: p for p, m in enumerate(order)}
    unordered = sorted((min(position[i], position[j]), max(position[i], position[j]))
                       for i in range(n) for j in range(i + 1, n) if not rel[i][j])
    plain = len(keys) == n and all(s[1] == _GROUND for s in shapes)
    alike = sorted((min(position[i], position[j]), max(position[i], position[j])) for i in range(n)
                   for j in range(i + 1, n) if not _distinct_terms(keys[firsts[i]], keys[firsts[j]]))
    return Construction(list(zip(firsts, lasts)), order, unordered, plain, alike)


def _refuse(what: str, span, why: str) -> PolicyError:
    return PolicyError.at(Code.UNSUPPORTED, f"two members of this {what} are equal here: {why}", span,
                          help="write the members so that they cannot be equal, or build the value "
                               "with a comprehension")


_ITERATED = ("OPA iterates and looks up such a literal member by member, seeing both, while its value "
             "holds one")
_NAMED = "which one OPA keeps depends on the names of the variables its compiler generates"
_REHASHED = "OPA's object loses track of keys of one hash after such a merge"


class OrderWatch:
    """Whether a compiled unit (a program's rules, or one query) may see the order of an
    iteration (`observed`), and whether a kept literal out of value order was built
    without refusal while it did not (`kept`)."""

    __slots__ = ("kept", "observed")

    def __init__(self, observed: bool = False):
        self.observed = observed
        self.kept = False


def _refuse_order(what: str, span) -> PolicyError:
    return PolicyError.at(Code.UNSUPPORTED,
                          f"OPA iterates this {what} literal in its own order of members, which here "
                          "differs from (or is not known to match) the order of its values; an array "
                          "comprehension or other iteration over it would see that order",
                          span, help="build the value with a comprehension or a builtin (e.g. "
                                     "`s := {e | some e in [...]}`), or write the constant members "
                                     "after the others in value order")


def _out_of_order(keys: list, unordered: list[tuple[int, int]]) -> bool:
    """Whether OPA's order of iterating a kept literal (`keys` in insertion order) may
    differ from the value order policydiff iterates in."""
    if any(not equal(keys[a], keys[b]) for a, b in unordered):
        return True
    # told apart as OPA tells them (Python's `==` takes `true` for 1)
    return not all(identical(a, b) for a, b in zip(sorted(keys, key=cmp_to_key(compare)), keys))


def _kept(what: str, out, n: int, keys: list, unordered: list[tuple[int, int]],
          watch: OrderWatch, span, use, value: Callable[[], Any], values: list | None = None):
    """`out`, the value of a literal OPA keeps as a term (of `n` members, `keys` in OPA's
    insertion order, and for an object their `values`) and iterates in value order
    (other than at a site of `observe`). `use` says where (`observe.Use`); None when
    that could not be followed, and then `watch` says whether any iteration's order
    shows. Refused when its order may differ from the value order and may show, or when
    two members are equal (OPA's iteration sees both) unless, where no order shows,
    they are written alike (an object's values too). Then its value is OPA's
    (`value()`, as a builtin's argument)."""
    if len(out) != n:
        if use is None or use.ordered or not (
                _alike(keys) if values is None else _alike_values(keys, values)):
            raise _refuse(what, span, _ITERATED)
        out = value()
    if _out_of_order(keys, unordered):
        if use is not None:
            if use.ordered:
                raise _refuse_order(what, span)
            return out
        if watch.observed:
            raise _refuse_order(what, span)
        watch.kept = True
    return out


def _alike(keys: list) -> bool:
    """Whether members that are equal are also written alike (`1` and `1.0` are not)."""
    return all(identical(a, b) for i, a in enumerate(keys) for b in keys[i + 1:] if equal(a, b))


def _alike_values(keys: list, values: list) -> bool:
    """Whether equal keys, and their values, are written alike."""
    return all(identical(values[i], values[j]) and identical(keys[i], keys[j])
               for i in range(len(keys)) for j in range(i + 1, len(keys)) if equal(keys[i], keys[j]))


def _walk(pairs: list, plan: Construction, what: str, span) -> list:
    """The `(key, value)` pairs a `some … in` meets walking a kept literal (`pairs` its
    members in OPA's insertion order): each member, even two equal ones, and for an
    object the value of the first equal key (OPA looks each key up). Refused where
    generated names order two members that are not written alike, or where two equal
    members may be one term to OPA's parser."""
    for a, b in plan.unordered:
        (ka, va), (kb, vb) = pairs[a], pairs[b]
        if not (identical(ka, kb) and identical(va, vb)):
            raise _refuse_order(what, span)
    for a, b in plan.alike:
        if equal(pairs[a][0], pairs[b][0]):
            raise _refuse(what, span, "OPA's parser may have merged them into one")
    if what == "set" or len(set_of([k for k, _ in pairs])) == len(pairs):
        return pairs
    out = []
    for k, _ in pairs:
        out.append((k, next(v for k2, v in pairs if equal(k2, k))))
    return out


def set_builder(fs: list[Fn], plan: Construction, span, plugged: bool, watch: OrderWatch,
                use=None) -> Fn:
    """A set literal's builder: `fs` the members' functions in source order. `plugged`:
    the literal is an argument of a builtin, which OPA hands the set's value; elsewhere
    OPA keeps the literal's term: its sites (`observe.Use`) walk its members in OPA's
    order, left in the use's slot (`_walk`); where it is not iterated otherwise, only
    its value is seen, as a builtin's; otherwise equal members, and members out of
    value order, are refused where they may show (`_kept`)."""
    walked = use is not None and bool(use.sites)
    kept = [fs[i] for i, _ in plan.members]
    order, unordered, n = plan.order, plan.unordered, len(plan.members)

    def value(items: list) -> frozenset:
        for a, b in unordered:
            if equal(items[a], items[b]) and not identical(items[a], items[b]):
                raise _refuse("set", span, _NAMED)
        return set_of(items)

    def build(env):
        vs = []
        for f in kept:
            v = f(env)
            if v is UNDEFINED:
                return v
            vs.append(v)
        items = [vs[i] for i in order]
        if walked:
            env[use.slot] = _walk([(v, v) for v in items], plan, "set", span)
        # `use` read here: compiling the rest of the unit may add uses after this builder
        if not plugged and (use is None or use.iterated):
            return _kept("set", set_of(vs), n, items, unordered, watch, span, use, lambda: value(items))
        return value(items)

    return build


def object_builder(kfs: list[Fn], vfs: list[Fn], plan: Construction, span, plugged: bool,
                   watch: OrderWatch, use=None) -> Fn:
    """An object literal's builder: `kfs`, `vfs` the pairs' functions in source order;
    `plugged`, `watch` and `use` as for `set_builder`."""
    walked = use is not None and bool(use.sites)
    kept = [(kfs[k], vfs[v]) for k, v in plan.members]
    order, unordered, n = plan.order, plan.unordered, len(plan.members)

    def value(items: list) -> Obj:
        for a, b in unordered:
            (ka, va), (kb, vb) = items[a], items[b]
            if equal(ka, kb) and not (identical(ka, kb) and identical(va, vb)):
                raise _refuse("object", span, _NAMED)
        out = obj_of(items)
        if len(out) != n and sum(type(k) is not str for k in out) > 1:
            raise _refuse("object", span, _REHASHED)
        return out

    def build(env):
        pairs = []
        for kf, vf in kept:
            k = kf(env)
            if k is UNDEFINED:
                return k
            v = vf(env)
            if v is UNDEFINED:
                return v
            pairs.append((k, v))
        items = [pairs[i] for i in order]
        if walked:
            env[use.slot] = _walk(items, plan, "object", span)
        if not plugged and (use is None or use.iterated):
            return _kept("object", obj_of(pairs), n, [k for k, _ in items], unordered, watch, span, use,
                         lambda: value(items), [v for _, v in items])
        return value(items)

    return build


def _collision(span) -> PolicyError:
    return PolicyError.at(Code.UNSUPPORTED, "two elements of this comprehension are equal but written apart "
                          "(like `0` and `0.0`) and come from iterating a set or object literal OPA iterates "
                          "in its own order of members: which one OPA keeps depends on that order", span,
                          help="build the literal's value with a comprehension or a builtin first")


def guarded_set(span) -> Callable[[list], frozenset]:
    """A set comprehension's finish where it iterates a kept literal out of OPA's order
    (`observe`): of two equal elements OPA keeps the first it meets, so two written
    apart are refused."""

    def finish(items: list) -> frozenset:
        out = set_of(items)
        if len(out) != len(items):
            first: dict = {}
            for x in items:
                y = first.setdefault(canon(x), x)
                if y is not x and not identical(x, y):
                    raise _collision(span)
        return out

    return finish


def guarded_object(span, finish: Callable[[list], Obj]) -> Callable[[list], Obj]:
    """An object comprehension's `finish` where it iterates a kept literal out of OPA's
    order: two equal keys, or their values, written apart are refused."""

    def guarded(pairs: list) -> Obj:
        out = finish(pairs)
        if len(out) != len(pairs):
            first: dict = {}
            for k, v in pairs:
                k2, v2 = first.setdefault(canon(k), (k, v))
                if k2 is not k and not (identical(k, k2) and identical(v, v2)):
                    raise _collision(span)
        return out

    return guarded
